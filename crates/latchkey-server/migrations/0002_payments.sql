-- Credits that come from somewhere: checkouts, the payment provider's events, and the one
-- table that makes every outside credit (a payment, a voucher, welcome credits) count once.
-- Forward-only: never edit this file once shipped.

-- Each outside source of credits is credited at most once, whoever asks and however often:
-- 'checkout:<id>' (a paid checkout), 'voucher:<id>' (a redeemed voucher), 'welcome:<user id>'.
CREATE TABLE credit_sources (
    source      text PRIMARY KEY CHECK (length(source) BETWEEN 1 AND 300),
    user_id     bigint NOT NULL REFERENCES users (id),
    entry_seq   bigint NOT NULL UNIQUE REFERENCES entries (server_seq),
    result      jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX credit_sources_user ON credit_sources (user_id);

-- A purchase started by a user. Whether it is paid is not stored here: it is paid exactly when
-- credit_sources holds 'checkout:<id>' (written in the ledger transaction that grants it).
CREATE TABLE checkouts (
    id               text PRIMARY KEY CHECK (id ~ '^co_[A-Za-z0-9_-]{16,64}$'),
    user_id          bigint NOT NULL REFERENCES users (id),
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    pack             text NOT NULL CHECK (length(pack) BETWEEN 1 AND 64),
    credits          bigint NOT NULL CHECK (credits > 0 AND credits <= 1000000000000),
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
    provider         text NOT NULL CHECK (provider IN ('demo', 'stripe')),
    -- Stripe's Checkout Session id (cs_...); none for the demo provider.
    provider_ref     text UNIQUE,
    url              text NOT NULL,
    -- Closed without paying: 'cancelled' (the buyer went back) or 'expired' (the provider
    -- said so). A payment that still arrives wins: paid is derived from credit_sources.
    closed           text CHECK (closed IN ('cancelled', 'expired')),
    created_at       timestamptz NOT NULL,
    UNIQUE (user_id, idempotency_key),
    CHECK ((provider = 'stripe') = (provider_ref IS NOT NULL))
);

-- Stripe delivers events at least once: each event id is processed once.
CREATE TABLE stripe_events (
    id           text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
    type         text NOT NULL,
    received_at  timestamptz NOT NULL
);
