-- Issue 9: a lease's hold is closed only by its owning device or by the device's removal.
-- `/v1/capture` and `/v1/release` (ledger_apply of 0004) took any open hold of the caller,
-- a lease's included, so a stolen token could settle another device's lease behind its back.
-- The rule lives here, under every path: a capture or release entry that names a hold some
-- lease records is refused, unless the transaction first declared itself the sync code's
-- lease bookkeeping with `SELECT set_config('latchkey.lease_settle', 'on', true)` (local to
-- the transaction; only `sync::pg` does this, around renewals, pushes, give-backs and
-- removals). Expiry of a lapsed lease hold stays allowed everywhere: it settles nothing early.
-- The refusal raises SQLSTATE 'LK001' with {"error": "lease_hold"} (ledger_apply's refusal
-- convention), so the statement's transaction rolls back and nothing is recorded.
-- Forward-only: never edit this file once shipped.

-- The trigger's lookup (and any "whose hold is this" question) stays an index probe.
CREATE INDEX leases_by_hold ON leases (hold_seq) WHERE hold_seq IS NOT NULL;

CREATE FUNCTION entries_lease_hold_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('latchkey.lease_settle', true) IS DISTINCT FROM 'on'
       AND EXISTS (SELECT 1 FROM leases WHERE hold_seq = NEW.hold_seq) THEN
        RAISE EXCEPTION USING ERRCODE = 'LK001',
            MESSAGE = '{"error": "lease_hold"}',
            HINT = 'a lease''s hold is closed only by its device (sync) or by removing the device';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER entries_lease_hold_guard
    BEFORE INSERT ON entries
    FOR EACH ROW WHEN (NEW.kind IN ('capture', 'release'))
    EXECUTE FUNCTION entries_lease_hold_guard();
