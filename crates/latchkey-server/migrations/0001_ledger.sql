-- The authoritative credit ledger. Invariants live here, not only in Rust:
--   * entries are append-only (a trigger refuses UPDATE and DELETE);
--   * every entry moves the user's balance row in the same transaction (a trigger applies it),
--     and the balance row's CHECKs refuse held < 0 or posted - held < 0;
--   * amounts are positive and bounded; a hold settles once.
-- Forward-only: never edit this file once shipped; add 0002_*.sql instead.

CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    issuer      text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 2048),
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
    created_at  timestamptz NOT NULL,
    UNIQUE (issuer, subject)
);

CREATE TABLE balances (
    user_id  bigint PRIMARY KEY REFERENCES users (id),
    posted   bigint NOT NULL DEFAULT 0,
    held     bigint NOT NULL DEFAULT 0,
    CONSTRAINT held_not_negative CHECK (held >= 0),
    CONSTRAINT available_not_negative CHECK (posted - held >= 0)
);

CREATE TABLE entries (
    -- The global order of the ledger; the sync cursor of the next issue.
    server_seq  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    kind        text NOT NULL CHECK (kind IN ('grant', 'purchase', 'voucher', 'spend', 'refund',
                                              'hold', 'capture', 'release', 'expire')),
    amount      bigint NOT NULL CHECK (amount > 0 AND amount <= 1000000000000),
    -- capture, release and expire name the hold they settle; nothing else names one.
    hold_seq    bigint REFERENCES entries (server_seq),
    -- holds only: when an unsettled hold lapses.
    expires_at  timestamptz,
    memo        text CHECK (length(memo) <= 200),
    created_at  timestamptz NOT NULL,
    CHECK ((kind IN ('capture', 'release', 'expire')) = (hold_seq IS NOT NULL)),
    CHECK ((kind = 'hold') = (expires_at IS NOT NULL))
);
CREATE INDEX entries_user_seq ON entries (user_id, server_seq);

-- One row per hold: its state. Entries stay append-only; settling a hold fills `settled_seq`
-- once (a trigger refuses any later change).
CREATE TABLE holds (
    hold_seq     bigint PRIMARY KEY REFERENCES entries (server_seq),
    user_id      bigint NOT NULL REFERENCES users (id),
    amount       bigint NOT NULL CHECK (amount > 0 AND amount <= 1000000000000),
    expires_at   timestamptz NOT NULL,
    settled_seq  bigint REFERENCES entries (server_seq),
    captured     bigint NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount)
);
CREATE INDEX holds_open_by_user ON holds (user_id, expires_at) WHERE settled_seq IS NULL;

-- Stripe-style idempotency: the first successful result of (user, key) is kept and replayed
-- for the same operation and parameters; anything else under that key is a conflict.
CREATE TABLE idempotency_keys (
    user_id     bigint NOT NULL REFERENCES users (id),
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    operation   text NOT NULL,
    params      jsonb NOT NULL,
    result      jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE FUNCTION entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER entries_no_update_or_delete
    BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
CREATE TRIGGER entries_no_truncate
    BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();

-- Applies each new entry to its user's balance row, in the inserting transaction. The row's
-- CHECKs then refuse anything that would make held or available negative.
CREATE FUNCTION entries_apply_to_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d_posted bigint := 0;
    d_held   bigint := 0;
BEGIN
    CASE NEW.kind
        WHEN 'grant', 'purchase', 'voucher', 'refund' THEN d_posted := NEW.amount;
        WHEN 'spend' THEN d_posted := -NEW.amount;
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

CREATE TRIGGER entries_move_balance
    AFTER INSERT ON entries
    FOR EACH ROW EXECUTE FUNCTION entries_apply_to_balance();

CREATE FUNCTION holds_settle_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.settled_seq IS NOT NULL
       OR NEW.hold_seq <> OLD.hold_seq OR NEW.user_id <> OLD.user_id
       OR NEW.amount <> OLD.amount OR NEW.expires_at <> OLD.expires_at THEN
        RAISE EXCEPTION 'a hold settles once and is never otherwise changed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RETURN NEW;
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER holds_settle_once
    BEFORE UPDATE OR DELETE ON holds
    FOR EACH ROW EXECUTE FUNCTION holds_settle_once();
