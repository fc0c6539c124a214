//! The statements of [`super::Devices`], each prepared once per pooled connection.

pub const FIND_USER: &str = "SELECT id FROM users WHERE issuer = $1 AND subject = $2";
pub const LOCK_BALANCE: &str = "SELECT posted, held FROM balances WHERE user_id = $1 FOR UPDATE";
pub const READ_BALANCE: &str = "SELECT posted, held FROM balances WHERE user_id = $1";
pub const REGISTER: &str = "
    INSERT INTO devices (user_id, device_id, name, created_at, last_seen_at)
    VALUES ($1, $2, $3, $4, $4)
    ON CONFLICT (user_id, device_id) DO UPDATE
        SET name = EXCLUDED.name, last_seen_at = EXCLUDED.last_seen_at
        WHERE devices.removed_at IS NULL
    RETURNING device_id";
pub const DEVICES: &str = "
    SELECT d.device_id, d.name, d.created_at, d.last_seen_at, d.removed_at,
           l.lease_id, l.granted, l.spent, l.expires_at
    FROM devices d
    LEFT JOIN leases l ON l.user_id = d.user_id AND l.device_id = d.device_id
                      AND l.closed_at IS NULL
    WHERE d.user_id = $1 AND ($2::text IS NULL OR d.device_id = $2)
    ORDER BY d.created_at, d.device_id";
pub const TOUCH: &str =
    "UPDATE devices SET last_seen_at = $3 WHERE user_id = $1 AND device_id = $2";
pub const REMOVE: &str = "UPDATE devices SET removed_at = $3, last_seen_at = last_seen_at \
     WHERE user_id = $1 AND device_id = $2";
/// The device's open lease and the leases named in `$3`, with what their hold still holds.
pub const LEASES: &str = "
    SELECT l.lease_id, l.granted, l.spent, l.hold_seq, l.expires_at, l.closed_at,
           CASE WHEN h.settled_seq IS NULL THEN COALESCE(h.amount, 0) ELSE 0 END
    FROM leases l LEFT JOIN holds h ON h.hold_seq = l.hold_seq
    WHERE l.user_id = $1 AND l.device_id = $2
      AND (l.closed_at IS NULL OR l.lease_id = ANY($3))";
pub const INSERT_LEASE: &str = "
    INSERT INTO leases (user_id, device_id, granted, hold_seq, expires_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING lease_id";
pub const RENEW_LEASE: &str =
    "UPDATE leases SET granted = $2, hold_seq = $3, expires_at = $4 WHERE lease_id = $1";
pub const SPEND_LEASE: &str = "UPDATE leases SET spent = $2, hold_seq = $3 WHERE lease_id = $1";
pub const CLOSE_LEASE: &str =
    "UPDATE leases SET closed_at = $2, closed_by = $3 WHERE lease_id = $1";
pub const INSERT_ENTRY: &str = "
    INSERT INTO entries (user_id, kind, amount, hold_seq, expires_at, memo, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING server_seq";
pub const INSERT_HOLD: &str =
    "INSERT INTO holds (hold_seq, user_id, amount, expires_at) VALUES ($1, $2, $3, $4)";
pub const SETTLE_HOLD: &str = "UPDATE holds SET settled_seq = $2, captured = 0 WHERE hold_seq = $1";
/// Declares this transaction the lease bookkeeping that may release a lease's hold (the
/// guard of migrations/0007_lease_holds.sql refuses anyone else); ends with the transaction.
pub const LEASE_SETTLE: &str = "SELECT set_config('latchkey.lease_settle', 'on', true)";
/// The batch's ids that were pushed before, with their first outcome: one primary-key probe
/// per id, whatever the planner thinks of the user's row count (`entry_id = ANY($2)` let it
/// pick a scan of all the user's device entries, compared with every id of the batch: a
/// push that got slower with every entry ever pushed). `LIMIT 1` keeps the probe a
/// subquery of its own (the key allows at most one row anyway).
pub const PRIORS: &str = "
    SELECT d.entry_id, d.device_id, d.kind, d.amount, d.lease_id, d.local_time, d.memo,
           d.outcome, d.reason, d.server_seq
    FROM unnest($2::text[]) AS k(entry_id)
    CROSS JOIN LATERAL (
        SELECT * FROM device_entries
        WHERE user_id = $1 AND entry_id = k.entry_id
        LIMIT 1
    ) d";
/// The batch's spends, one statement; `server_seq`s are taken in the batch's order.
pub const INSERT_SPENDS: &str = "
    INSERT INTO entries (user_id, kind, amount, memo, created_at)
    SELECT $1, 'spend', t.amount, t.memo, $2
    FROM unnest($3::bigint[], $4::text[]) WITH ORDINALITY AS t(amount, memo, n)
    ORDER BY t.n
    RETURNING server_seq";
pub const NEXT_SEQS: &str = "
    SELECT nextval(pg_get_serial_sequence('entries', 'server_seq'))
    FROM generate_series(1, $1::bigint)";
pub const INSERT_DEVICE_ENTRIES: &str = "
    INSERT INTO device_entries (user_id, entry_id, device_id, kind, amount, lease_id,
        local_time, memo, outcome, reason, server_seq, entry_seq, created_at)
    SELECT $1, t.entry_id, $2, t.kind, t.amount, t.lease_id, t.local_time, t.memo,
           t.outcome, t.reason, t.server_seq, t.entry_seq, $3
    FROM unnest($4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[],
                $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[])
         AS t(entry_id, kind, amount, lease_id, local_time, memo, outcome, reason,
              server_seq, entry_seq)";
/// Every ledger entry of the user and every rejected device entry, in `server_seq` order.
/// Each side takes its own first `$3` by its index before the two are merged: the first `$3`
/// of the whole are among them, and a page no longer reads (and sorts) everything after the
/// cursor, which made pulling 100,000 entries by pages of 1,000 quadratic.
pub const PULL: &str = "
    SELECT * FROM (
        (SELECT e.server_seq, e.kind, e.amount, e.hold_seq, e.expires_at, e.memo,
                e.created_at, d.entry_id, d.device_id, d.lease_id, NULL::text AS reason
         FROM entries e LEFT JOIN device_entries d ON d.entry_seq = e.server_seq
         WHERE e.user_id = $1 AND e.server_seq > $2
         ORDER BY e.server_seq LIMIT $3)
        UNION ALL
        (SELECT d.server_seq, d.kind, d.amount, NULL, NULL, d.memo, d.created_at,
                d.entry_id, d.device_id, d.lease_id, d.reason
         FROM device_entries d
         WHERE d.user_id = $1 AND d.outcome = 'rejected' AND d.server_seq > $2
         ORDER BY d.server_seq LIMIT $3)
    ) x ORDER BY server_seq LIMIT $3";
