-- The balance row moves once per INSERT statement, not once per entry (issue 9's push of 10,000
-- offline spends). 0001's trigger ran `UPDATE balances` for every new entry: a push of 250
-- spends updated the same row 250 times in one transaction, each update a new row version the
-- next one had to walk past (8 ms of a 250-entry batch's 12 ms INSERT, and 10,000 dead versions
-- of one row for the next writers and autovacuum after a 10,000-entry push).
--
-- Now an AFTER INSERT ... FOR EACH STATEMENT trigger reads the statement's new rows (a
-- transition table), sums them per user exactly as 0001/0009's CASE did, and moves each user's
-- row once, in user order. What stays the same:
--   * it runs inside the inserting statement, before the statement returns, so a writer that
--     reads its balance row right after (ledger_apply, the push) sees it moved, and a refusal
--     by the row's CHECKs (held >= 0, posted - held >= 0) aborts that statement and its
--     transaction, recording nothing;
--   * an entry whose user has no balance row is refused the same way (foreign_key_violation);
--   * entries stay append-only, holds settle once, the lease-hold guard of 0007 is untouched.
-- What changes: the CHECKs judge each statement's net effect per user rather than each row in
-- turn. No statement inserts credits and debits of one user together (the push inserts only
-- spends, already decided against what is available; every other writer inserts one entry per
-- statement), and available >= 0 still holds after every statement and at every commit.
-- Forward-only: never edit this file once shipped.

CREATE FUNCTION entries_apply_to_balances() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r        record;
    v_user   bigint;
    d_posted bigint := 0;
    d_held   bigint := 0;
BEGIN
    -- Nearly every statement is one user's (one entry, or a push's spends): sum its rows here,
    -- with 0001/0009's CASE, and move the row once.
    FOR r IN SELECT user_id, kind, amount FROM new_entries LOOP
        IF v_user IS NULL THEN
            v_user := r.user_id;
        ELSIF r.user_id <> v_user THEN
            v_user := NULL;
            EXIT;
        END IF;
        CASE r.kind
            WHEN 'grant', 'purchase', 'voucher', 'refund' THEN d_posted := d_posted + r.amount;
            WHEN 'spend', 'reversal' THEN d_posted := d_posted - r.amount;
            WHEN 'hold' THEN d_held := d_held + r.amount;
            WHEN 'capture' THEN d_posted := d_posted - r.amount; d_held := d_held - r.amount;
            WHEN 'release', 'expire' THEN d_held := d_held - r.amount;
        END CASE;
    END LOOP;
    IF v_user IS NOT NULL THEN
        UPDATE balances SET posted = posted + d_posted, held = held + d_held
            WHERE user_id = v_user;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no balance row for user %', v_user
                USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN NULL;
    END IF;
    -- Several users in one statement: the same sums per user, rows moved in user order.
    FOR r IN
        SELECT user_id,
               sum(CASE WHEN kind IN ('grant', 'purchase', 'voucher', 'refund') THEN amount
                        WHEN kind IN ('spend', 'reversal', 'capture') THEN -amount
                        WHEN kind IN ('hold', 'release', 'expire') THEN 0
                   END)::bigint AS d_posted,
               sum(CASE WHEN kind = 'hold' THEN amount
                        WHEN kind IN ('capture', 'release', 'expire') THEN -amount
                        WHEN kind IN ('grant', 'purchase', 'voucher', 'refund', 'spend',
                                      'reversal') THEN 0
                   END)::bigint AS d_held
        FROM new_entries
        GROUP BY user_id
        ORDER BY user_id
    LOOP
        UPDATE balances SET posted = posted + r.d_posted, held = held + r.d_held
            WHERE user_id = r.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no balance row for user %', r.user_id
                USING ERRCODE = 'foreign_key_violation';
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

DROP TRIGGER entries_move_balance ON entries;
DROP FUNCTION entries_apply_to_balance();

CREATE TRIGGER entries_move_balance
    AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_apply_to_balances();
