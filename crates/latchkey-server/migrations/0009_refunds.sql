-- Stripe refunds (`charge.refunded`): credits bought and then refunded are taken back.
--   * a new debit kind `reversal` (posted −), so the balance row's CHECK still refuses a
--     negative available: a reversal never takes more than is available;
--   * checkouts remember Stripe's PaymentIntent (from the completed session), which is what a
--     Charge names;
--   * `payment_refunds` keeps, per checkout, the credits a refund makes due and the part taken
--     back; what could not be taken (already spent) is the user's debt (`due - taken`), shown by
--     `report`. Each `charge.refunded` carries the CUMULATIVE `amount_refunded`, so duplicates,
--     replays and out-of-order events only ever raise `due` to the largest seen and take the
--     part not yet taken.
-- Forward-only: never edit this file once shipped.

ALTER TABLE entries DROP CONSTRAINT entries_kind_check;
ALTER TABLE entries ADD CONSTRAINT entries_kind_check
    CHECK (kind IN ('grant', 'purchase', 'voucher', 'spend', 'refund',
                    'hold', 'capture', 'release', 'expire', 'reversal'));

CREATE OR REPLACE FUNCTION entries_apply_to_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d_posted bigint := 0;
    d_held   bigint := 0;
BEGIN
    CASE NEW.kind
        WHEN 'grant', 'purchase', 'voucher', 'refund' THEN d_posted := NEW.amount;
        WHEN 'spend', 'reversal' THEN d_posted := -NEW.amount;
        WHEN 'hold' THEN d_held := NEW.amount;
        WHEN 'capture' THEN d_posted := -NEW.amount; d_held := -NEW.amount;
        WHEN 'release', 'expire' THEN d_held := -NEW.amount;
    END CASE;
    UPDATE balances SET posted = posted + d_posted, held = held + d_held
        WHERE user_id = NEW.user_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no balance row for user %', NEW.user_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;

ALTER TABLE checkouts ADD COLUMN payment_intent text UNIQUE
    CHECK (payment_intent ~ '^pi_[A-Za-z0-9_]{1,250}$');

CREATE TABLE payment_refunds (
    checkout_id      text PRIMARY KEY REFERENCES checkouts (id),
    user_id          bigint NOT NULL REFERENCES users (id),
    -- The largest cumulative amount refunded seen, in minor units.
    amount_refunded  bigint NOT NULL CHECK (amount_refunded > 0),
    -- Credits to take back in all: floor(credits * amount_refunded / amount), in the user's
    -- favour.
    credits_due      bigint NOT NULL CHECK (credits_due >= 0),
    -- Credits taken back so far (the sum of this checkout's reversal entries).
    credits_taken    bigint NOT NULL CHECK (credits_taken >= 0 AND credits_taken <= credits_due),
    updated_at       timestamptz NOT NULL
);
CREATE INDEX payment_refunds_debt ON payment_refunds (user_id) WHERE credits_taken < credits_due;

-- One refund event for a paid checkout, under the user's balance-row lock. Returns
-- {"due", "taken", "debt", "reversed"} (reversed: credits taken back by this call).
CREATE FUNCTION payment_refund(p_checkout text, p_amount_refunded bigint, p_now timestamptz)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    c        checkouts;
    v_posted bigint;
    v_held   bigint;
    v_due    bigint;
    v_taken  bigint := 0;
    v_take   bigint;
    r        payment_refunds;
BEGIN
    SELECT * INTO STRICT c FROM checkouts WHERE id = p_checkout;
    IF NOT EXISTS (SELECT 1 FROM credit_sources WHERE source = 'checkout:' || c.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'LK001', MESSAGE = '{"error": "not_paid"}';
    END IF;
    IF p_amount_refunded < 1 OR p_amount_refunded > c.amount THEN
        RAISE EXCEPTION USING ERRCODE = 'LK001', MESSAGE = '{"error": "refund_amount"}';
    END IF;
    SELECT posted, held INTO STRICT v_posted, v_held
        FROM balances WHERE user_id = c.user_id FOR UPDATE;
    v_due := floor(c.credits::numeric * p_amount_refunded / c.amount)::bigint;
    SELECT * INTO r FROM payment_refunds WHERE checkout_id = c.id FOR UPDATE;
    IF FOUND THEN
        v_due := greatest(v_due, r.credits_due);
        v_taken := r.credits_taken;
        p_amount_refunded := greatest(p_amount_refunded, r.amount_refunded);
    END IF;
    v_take := least(v_due - v_taken, greatest(v_posted - v_held, 0));
    IF v_take > 0 THEN
        INSERT INTO entries (user_id, kind, amount, memo, created_at)
            VALUES (c.user_id, 'reversal', v_take, 'Refund of purchase', p_now);
    END IF;
    INSERT INTO payment_refunds (checkout_id, user_id, amount_refunded, credits_due,
                                 credits_taken, updated_at)
        VALUES (c.id, c.user_id, p_amount_refunded, v_due, v_taken + v_take, p_now)
        ON CONFLICT (checkout_id) DO UPDATE
            SET amount_refunded = EXCLUDED.amount_refunded, credits_due = EXCLUDED.credits_due,
                credits_taken = EXCLUDED.credits_taken, updated_at = EXCLUDED.updated_at;
    RETURN jsonb_build_object('due', v_due, 'taken', v_taken + v_take,
                              'debt', v_due - v_taken - v_take, 'reversed', v_take);
END $$;
