-- Offline-first across devices (issue 9): devices, their leases, and the entries they push.
--   * a lease is a ledger hold (holds/entries of 0001), so available >= 0 stays enforced by the
--     balance row's CHECK; `leases` only records whose hold it is and how much of it was spent;
--   * a device's entry id is applied at most once per user: (user_id, entry_id) is the key;
--   * an applied entry points at the ledger entry that applied it; a rejected one takes a
--     number from the ledger's own sequence, so `server_seq` is the one order of both.
-- Forward-only: never edit this file once shipped.

CREATE TABLE devices (
    user_id       bigint NOT NULL REFERENCES users (id),
    device_id     text NOT NULL CHECK (device_id ~ '^[A-Za-z0-9_-]{16,64}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    removed_at    timestamptz,
    PRIMARY KEY (user_id, device_id)
);

CREATE TABLE leases (
    lease_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    device_id   text NOT NULL,
    granted     bigint NOT NULL CHECK (granted >= 0 AND granted <= 1000000000000),
    spent       bigint NOT NULL DEFAULT 0 CHECK (spent >= 0 AND spent <= granted),
    -- The ledger hold that currently sets the unspent part aside (none when nothing is left).
    hold_seq    bigint REFERENCES holds (hold_seq),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    closed_at   timestamptz,
    closed_by   text CHECK (closed_by IN ('device', 'removal')),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id),
    CHECK ((closed_at IS NULL) = (closed_by IS NULL))
);
-- At most one open lease per device.
CREATE UNIQUE INDEX leases_one_open ON leases (user_id, device_id) WHERE closed_at IS NULL;

CREATE FUNCTION leases_close_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.closed_at IS NOT NULL
       OR NEW.user_id <> OLD.user_id OR NEW.device_id <> OLD.device_id
       OR NEW.spent < OLD.spent THEN
        RAISE EXCEPTION 'a lease is never deleted, reopened, moved or unspent'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RETURN NEW;
    END IF;
    RETURN OLD;
END $$;

CREATE TRIGGER leases_close_once
    BEFORE UPDATE OR DELETE ON leases
    FOR EACH ROW EXECUTE FUNCTION leases_close_once();

-- Every entry a device pushed, with what the service made of it (append-only).
CREATE TABLE device_entries (
    user_id     bigint NOT NULL,
    entry_id    text NOT NULL CHECK (length(entry_id) BETWEEN 1 AND 255),
    device_id   text NOT NULL,
    kind        text NOT NULL,
    amount      bigint NOT NULL,
    lease_id    bigint NOT NULL,
    local_time  timestamptz NOT NULL,
    memo        text,
    -- A replay is compared with (device_id, kind, amount, lease_id, local_time, memo): the same
    -- -> the first outcome; anything else -> a conflict.
    outcome     text NOT NULL CHECK (outcome IN ('applied', 'rejected')),
    reason      text CHECK (reason IN ('device_removed', 'beyond_lease', 'lease_closed',
                                       'lease_expired', 'unknown_lease', 'not_pushable',
                                       'invalid')),
    -- The pull order: the ledger entry's server_seq when applied, else a number of its own
    -- from the same sequence.
    server_seq  bigint NOT NULL UNIQUE,
    -- Applied entries only: the ledger entry.
    entry_seq   bigint UNIQUE REFERENCES entries (server_seq),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, entry_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id),
    CHECK ((outcome = 'applied') = (entry_seq IS NOT NULL)),
    CHECK ((outcome = 'rejected') = (reason IS NOT NULL)),
    CHECK (entry_seq IS NULL OR entry_seq = server_seq)
);
CREATE INDEX device_entries_rejected ON device_entries (user_id, server_seq)
    WHERE outcome = 'rejected';

CREATE TRIGGER device_entries_append_only
    BEFORE UPDATE OR DELETE ON device_entries
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();
