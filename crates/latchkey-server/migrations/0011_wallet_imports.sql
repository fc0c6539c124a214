-- Importing a single-machine wallet (issue 9), see src/sync/import.rs for the rule.
--   * each local entry is imported at most once: (user, device, local entry id) is the key, and
--     its outcome is recorded in the transaction that applies it (append-only);
--   * an imported entry points at the ledger entry it wrote; a rejected one wrote none;
--   * what the device's imported wallet holds so far (counted, uncounted, spent from counted)
--     is kept per device, so a wallet sent in several batches is judged as one history.
-- Vouchers are credited once across all users by 0002's credit_sources ('voucher:<id>').
-- Forward-only: never edit this file once shipped.

CREATE TABLE wallet_imports (
    user_id     bigint NOT NULL,
    device_id   text NOT NULL,
    entry_id    bigint NOT NULL CHECK (entry_id > 0),
    kind        text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0 AND amount <= 1000000000000),
    local_time  timestamptz NOT NULL,
    memo        text,
    voucher     text,
    outcome     text NOT NULL CHECK (outcome IN ('imported', 'rejected')),
    reason      text CHECK (reason IN ('local_grant', 'invalid_voucher', 'already_redeemed',
                                       'uncounted', 'not_importable', 'invalid')),
    -- Credits it moved at the service (imported only; at most the local amount).
    applied     bigint CHECK (applied > 0 AND applied <= amount),
    entry_seq   bigint UNIQUE REFERENCES entries (server_seq),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, device_id, entry_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id),
    CHECK ((outcome = 'imported') = (entry_seq IS NOT NULL AND applied IS NOT NULL)),
    CHECK ((outcome = 'rejected') = (reason IS NOT NULL))
);

CREATE TRIGGER wallet_imports_append_only
    BEFORE UPDATE OR DELETE ON wallet_imports
    FOR EACH ROW EXECUTE FUNCTION entries_append_only();

CREATE TABLE wallet_import_state (
    user_id        bigint NOT NULL,
    device_id      text NOT NULL,
    counted        bigint NOT NULL CHECK (counted >= 0),
    uncounted      bigint NOT NULL CHECK (uncounted >= 0),
    spent_counted  bigint NOT NULL CHECK (spent_counted >= 0),
    PRIMARY KEY (user_id, device_id),
    FOREIGN KEY (user_id, device_id) REFERENCES devices (user_id, device_id)
);
