-- 0001: the wallet's first schema. Forward-only: once shipped, never edit this file; add a
-- new NNNN_*.sql instead.
--
-- `entries` is the ledger and the only source of truth. `accounts.posted/held` and
-- `open_holds` are derived state kept in the same transaction as each entry (O(1) reads);
-- `Wallet::verify` recomputes both from the ledger.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    issuer      TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    posted      INTEGER NOT NULL DEFAULT 0,
    held        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    UNIQUE (issuer, subject),
    -- available = posted - held never goes below zero.
    CHECK (held >= 0 AND posted >= held)
);

CREATE TABLE entries (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES accounts (id),
    kind          TEXT    NOT NULL CHECK (kind IN
                      ('grant', 'voucher', 'spend', 'refund', 'reserve', 'capture', 'release', 'expire')),
    amount        INTEGER NOT NULL CHECK (amount > 0),
    posted_after  INTEGER NOT NULL,
    held_after    INTEGER NOT NULL,
    -- The caller's idempotency key and the canonical JSON of the request it was first used
    -- with. NULL only for automatic entries (hold expiry).
    idem_key      TEXT,
    request       TEXT,
    memo          TEXT,
    -- refund -> the spend; capture/release/expire -> the reserve (the hold).
    related       INTEGER REFERENCES entries (id),
    expires_at    INTEGER,
    -- Milliseconds since the Unix epoch, UTC.
    created_at    INTEGER NOT NULL,
    CHECK (held_after >= 0 AND posted_after >= held_after),
    CHECK ((idem_key IS NULL) = (request IS NULL)),
    CHECK ((kind = 'reserve') = (expires_at IS NOT NULL)),
    CHECK ((kind IN ('refund', 'capture', 'release', 'expire')) = (related IS NOT NULL))
);

-- History pages newest first per account (the rowid is implicitly the last column).
CREATE INDEX entries_by_account ON entries (account_id);
-- Each idempotency key is applied at most once per account; keys are never deleted.
CREATE UNIQUE INDEX entries_by_key ON entries (account_id, idem_key) WHERE idem_key IS NOT NULL;
-- What is left of a spend to refund.
CREATE INDEX refunds_by_spend ON entries (related) WHERE kind = 'refund';
-- A hold is settled (captured, released or expired) at most once.
CREATE UNIQUE INDEX settlements_by_hold ON entries (related)
    WHERE kind IN ('capture', 'release', 'expire');

CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: entries cannot be updated');
END;

CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: entries cannot be deleted');
END;

-- Holds not yet settled; a row is removed in the same transaction as its settling entry.
CREATE TABLE open_holds (
    hold_id     INTEGER PRIMARY KEY REFERENCES entries (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    expires_at  INTEGER NOT NULL
);
CREATE INDEX open_holds_by_expiry ON open_holds (expires_at);

-- Every voucher redeemed on this machine, by any account: a voucher id is redeemed once.
CREATE TABLE redeemed_vouchers (
    voucher_id  TEXT    PRIMARY KEY,
    entry_id    INTEGER NOT NULL UNIQUE REFERENCES entries (id)
) WITHOUT ROWID;

CREATE TRIGGER redeemed_vouchers_no_update BEFORE UPDATE ON redeemed_vouchers
BEGIN
    SELECT RAISE(ABORT, 'redeemed vouchers are append-only');
END;

CREATE TRIGGER redeemed_vouchers_no_delete BEFORE DELETE ON redeemed_vouchers
BEGIN
    SELECT RAISE(ABORT, 'redeemed vouchers are append-only');
END;
