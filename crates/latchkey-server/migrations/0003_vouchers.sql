-- Voucher signing keys held by the service, and the vouchers it issued.
-- Redemptions are credit_sources rows ('voucher:<id>', UNIQUE): once across all users.
-- Forward-only: never edit this file once shipped.

CREATE TABLE voucher_keys (
    kid          text PRIMARY KEY,
    public_key   text NOT NULL UNIQUE CHECK (public_key LIKE 'LKVP1.%'),
    -- The Ed25519 seed. Never served, never logged; readable only by the service's role.
    seed         bytea NOT NULL CHECK (length(seed) = 32),
    active       boolean NOT NULL,
    created_at   timestamptz NOT NULL,
    -- The previous active key's signature (base64url) over 'latchkey-key-rotation:v1:' ||
    -- public_key: how a client that pinned the old key learns to trust this one.
    signed_by    text REFERENCES voucher_keys (kid),
    signature    text,
    CHECK ((signed_by IS NULL) = (signature IS NULL))
);
-- At most one active key.
CREATE UNIQUE INDEX voucher_keys_one_active ON voucher_keys (active) WHERE active;

CREATE TABLE vouchers_issued (
    id          text PRIMARY KEY,
    kid         text NOT NULL REFERENCES voucher_keys (kid),
    credits     bigint NOT NULL CHECK (credits > 0 AND credits <= 1000000000000),
    issuer      text,
    subject     text,
    created_at  timestamptz NOT NULL,
    CHECK ((issuer IS NULL) = (subject IS NULL))
);
