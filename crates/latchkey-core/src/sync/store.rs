//! The device's sync state, in `<data dir>/sync.sqlite` (0600): per account the pull cursor,
//! the registration, the lease as last read from the service, the offline entries with their
//! push outcomes, and every pulled service entry (each applied once, by its `server_seq`).
//!
//! A file of its own rather than a migration of the wallet's: the wallet file is the local-only
//! ledger whose `verify` proves its balances from its own entries, while with a credit service
//! the ledger is the service's and what is kept here is the device's side of the protocol
//! (pending spends from a lease, outcomes, cursor). Mixing the two would make the wallet's
//! balances disagree with its entries by design.

use crate::error::{Code, Error, Result};
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS state (
    account        TEXT PRIMARY KEY,
    registered     INTEGER NOT NULL DEFAULT 0,
    cursor         INTEGER NOT NULL DEFAULT 0 CHECK (cursor >= 0),
    last_synced_at TEXT,
    lease_id       INTEGER,
    lease_granted  INTEGER,
    lease_spent    INTEGER,
    lease_expires  TEXT,
    CHECK (lease_id IS NULL OR (lease_granted >= lease_spent AND lease_spent >= 0))
);
-- A spend made offline from a lease. `ready = 0` while its paid work runs (it counts against
-- the lease but is never pushed); `outcome` is written once, from the push answer or the pull.
CREATE TABLE IF NOT EXISTS offline_entries (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id   TEXT NOT NULL UNIQUE,
    account    TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    lease_id   INTEGER NOT NULL,
    local_time TEXT NOT NULL,
    memo       TEXT,
    ready      INTEGER NOT NULL DEFAULT 0 CHECK (ready IN (0, 1)),
    outcome    TEXT CHECK (outcome IN ('applied', 'already_applied', 'conflict', 'rejected')),
    server_seq INTEGER,
    reason     TEXT
);
CREATE TRIGGER IF NOT EXISTS offline_entries_outcome_once
BEFORE UPDATE ON offline_entries
WHEN OLD.outcome IS NOT NULL OR NEW.entry_id != OLD.entry_id OR NEW.amount != OLD.amount
  OR NEW.lease_id != OLD.lease_id OR (OLD.ready = 1 AND NEW.ready = 0)
BEGIN SELECT RAISE(ABORT, 'an offline entry is changed only to become ready or get its outcome'); END;
CREATE TRIGGER IF NOT EXISTS offline_entries_kept
BEFORE DELETE ON offline_entries WHEN OLD.ready = 1
BEGIN SELECT RAISE(ABORT, 'a ready offline entry is kept for ever'); END;
-- A hold made offline (`wallet reserve` with the service unreachable): its credits are taken
-- from the lease by the not-ready offline entry `entry_id` while it is open. Shown as id
-- -hold_id (negative: never one of the service's ids). A capture turns it into a ready spend
-- (the entry `settled_by`); a release, or its lapse, gives the credits back to the lease.
CREATE TABLE IF NOT EXISTS offline_holds (
    hold_id    INTEGER PRIMARY KEY,
    entry_id   TEXT NOT NULL UNIQUE,
    account    TEXT NOT NULL,
    amount     INTEGER NOT NULL CHECK (amount > 0),
    memo       TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    settled    TEXT CHECK (settled IN ('captured', 'released', 'expired')),
    settled_by TEXT,
    captured   INTEGER
);
CREATE TRIGGER IF NOT EXISTS offline_holds_settle_once
BEFORE UPDATE ON offline_holds WHEN OLD.settled IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'an offline hold settles once'); END;
-- The single-machine wallet's import (wallet.sqlite, used before a service was configured):
-- every local entry sent, with the service's outcome; `through` is the last local entry id read.
CREATE TABLE IF NOT EXISTS import_state (
    account TEXT PRIMARY KEY,
    through INTEGER NOT NULL CHECK (through >= 0)
);
CREATE TABLE IF NOT EXISTS imports (
    account  TEXT NOT NULL,
    entry_id INTEGER NOT NULL,
    kind     TEXT NOT NULL,
    amount   INTEGER NOT NULL,
    outcome  TEXT NOT NULL CHECK (outcome IN ('imported', 'rejected', 'conflict')),
    applied  INTEGER,
    reason   TEXT,
    PRIMARY KEY (account, entry_id)
);
-- The account's devices as the service last listed them: the names refused entries are shown
-- with (a pulled entry names only its device's id).
CREATE TABLE IF NOT EXISTS devices (
    account    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    removed_at TEXT,
    PRIMARY KEY (account, device_id)
);
-- Every service entry pulled, applied here once (the primary key).
CREATE TABLE IF NOT EXISTS pulled (
    account    TEXT NOT NULL,
    server_seq INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    entry_id   TEXT,
    device_id  TEXT,
    rejected   TEXT,
    memo       TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account, server_seq)
);
"#;

/// The lease as last read from the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalLease {
    pub id: i64,
    pub granted: i64,
    pub spent: i64,
    pub expires_at: DateTime<Utc>,
}

/// One offline entry waiting for its push.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub entry_id: String,
    pub amount: i64,
    pub lease_id: i64,
    pub local_time: DateTime<Utc>,
    pub memo: Option<String>,
}

/// An offline spend or open hold waiting for the sync: (local id, kind, amount, memo, when).
pub(crate) type Waiting = (i64, &'static str, i64, Option<String>, DateTime<Utc>);

/// An offline entry as kept here (for replays of a wallet command with the same key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OfflineEntry {
    /// Its local id, kept for ever (shown negated: `-seq`).
    pub seq: i64,
    pub amount: i64,
    pub memo: Option<String>,
    pub ready: bool,
    pub local_time: DateTime<Utc>,
}

/// A hold made offline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OfflineHold {
    /// Shown negated (`-hold_id`).
    pub hold_id: i64,
    /// The entry (and idempotency key) that made it.
    pub entry_id: String,
    pub amount: i64,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `captured`, `released` or `expired`; `None` while open.
    pub settled: Option<String>,
    /// The key of the capture or release that settled it.
    pub settled_by: Option<String>,
    /// Credits a capture spent.
    pub captured: Option<i64>,
}

/// An offline entry the service refused (or that conflicted), kept to show the user.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Refused {
    /// The entry's id.
    pub entry_id: String,
    /// Credits it tried to spend.
    pub amount: i64,
    /// `rejected` or `conflict`.
    pub outcome: String,
    /// For `rejected`: the service's reason (`device_removed`, `beyond_lease`...).
    pub reason: Option<String>,
    /// What for.
    pub memo: Option<String>,
}

/// An entry the service refused, from any device of the account, as kept here: pulled (every
/// device's rejected pushes) or only answered to this device (a conflict, which the service does
/// not store, or a rejection not pulled yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefusedRow {
    pub entry_id: String,
    /// The device that sent it (`None`: the service did not say).
    pub device_id: Option<String>,
    /// That device's name, as last listed.
    pub device_name: Option<String>,
    pub kind: String,
    pub amount: i64,
    /// `rejected` or `conflict`.
    pub outcome: String,
    /// The reason's code (`conflict` for a conflict).
    pub reason: String,
    pub memo: Option<String>,
    /// When the service refused it; for what only this device knows, when it was made here.
    pub at: DateTime<Utc>,
    /// When it was made, for this device's own entries.
    pub made_at: Option<DateTime<Utc>>,
}

fn storage(e: impl std::fmt::Display) -> Error {
    Error::new(Code::Storage, format!("the sync state (sync.sqlite): {e}"))
}

/// A time as kept where SQL compares it as text: fixed width, UTC.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn time(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(storage)
}

pub(crate) struct Store {
    conn: Connection,
}

/// The data dir's `sync.sqlite`, created 0600 before SQLite opens it, with the settings every
/// user of the file needs (WAL, full fsync, foreign keys, a wait for the other process's lock);
/// each user adds its own tables.
pub(super) fn connect(data_dir: &Path) -> Result<Connection> {
    let path = data_dir.join("sync.sqlite");
    latchkey_auth::create_private_dir(data_dir).map_err(storage)?;
    latchkey_auth::open_private(&path).map_err(storage)?;
    let conn = Connection::open(&path).map_err(storage)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(storage)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        .map_err(storage)?;
    Ok(conn)
}

impl Store {
    /// Opens (creating, 0600) the data dir's sync state.
    pub fn open(data_dir: &Path) -> Result<Store> {
        let conn = connect(data_dir)?;
        conn.execute_batch(SCHEMA).map_err(storage)?;
        Ok(Store { conn })
    }

    fn ensure(&self, account: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO state (account) VALUES (?1)",
                params![account],
            )
            .map_err(storage)?;
        Ok(())
    }

    pub fn registered(&self, account: &str) -> Result<bool> {
        self.ensure(account)?;
        self.conn
            .query_row(
                "SELECT registered FROM state WHERE account = ?1",
                params![account],
                |r| r.get::<_, i64>(0),
            )
            .map(|v| v == 1)
            .map_err(storage)
    }

    pub fn set_registered(&self, account: &str) -> Result<()> {
        self.ensure(account)?;
        self.conn
            .execute(
                "UPDATE state SET registered = 1 WHERE account = ?1",
                params![account],
            )
            .map_err(storage)?;
        Ok(())
    }

    pub fn cursor(&self, account: &str) -> Result<i64> {
        self.ensure(account)?;
        self.conn
            .query_row(
                "SELECT cursor FROM state WHERE account = ?1",
                params![account],
                |r| r.get(0),
            )
            .map_err(storage)
    }

    pub fn last_synced_at(&self, account: &str) -> Result<Option<DateTime<Utc>>> {
        self.ensure(account)?;
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT last_synced_at FROM state WHERE account = ?1",
                params![account],
                |r| r.get(0),
            )
            .map_err(storage)?;
        s.as_deref().map(time).transpose()
    }

    pub fn set_synced(&self, account: &str, at: DateTime<Utc>) -> Result<()> {
        self.ensure(account)?;
        self.conn
            .execute(
                "UPDATE state SET last_synced_at = ?2 WHERE account = ?1",
                params![account, at.to_rfc3339()],
            )
            .map_err(storage)?;
        Ok(())
    }

    pub fn lease(&self, account: &str) -> Result<Option<LocalLease>> {
        self.ensure(account)?;
        let row: Option<(i64, i64, i64, String)> = self
            .conn
            .query_row(
                "SELECT lease_id, lease_granted, lease_spent, lease_expires FROM state
                 WHERE account = ?1 AND lease_id IS NOT NULL",
                params![account],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(storage)?;
        row.map(|(id, granted, spent, exp)| {
            Ok(LocalLease {
                id,
                granted,
                spent,
                expires_at: time(&exp)?,
            })
        })
        .transpose()
    }

    /// Keeps the service's view of the lease (`None`: no open lease).
    pub fn set_lease(&self, account: &str, lease: Option<&latchkey_wire::Lease>) -> Result<()> {
        self.ensure(account)?;
        let open = lease.filter(|l| l.closed_at.is_none());
        self.conn
            .execute(
                "UPDATE state SET lease_id = ?2, lease_granted = ?3, lease_spent = ?4,
                 lease_expires = ?5 WHERE account = ?1",
                params![
                    account,
                    open.map(|l| l.lease_id),
                    open.map(|l| l.granted),
                    open.map(|l| l.spent),
                    open.map(|l| l.expires_at.to_rfc3339()),
                ],
            )
            .map_err(storage)?;
        Ok(())
    }

    /// Credits of `lease` taken by offline entries the service has not answered yet.
    /// An offline hold that lapsed by `now` takes nothing any more, even before
    /// [`Store::expire_holds`] records it.
    fn pending_on(conn: &Connection, account: &str, lease: i64, now: DateTime<Utc>) -> Result<i64> {
        conn.query_row(
            "SELECT COALESCE(SUM(amount), 0) FROM offline_entries
             WHERE account = ?1 AND lease_id = ?2 AND outcome IS NULL
               AND entry_id NOT IN (SELECT entry_id FROM offline_holds
                                    WHERE settled IS NULL AND expires_at <= ?3)",
            params![account, lease, stamp(now)],
            |r| r.get(0),
        )
        .map_err(storage)
    }

    /// What this device may still spend offline now: the lease's remainder (as last read)
    /// minus what is spent from it and not yet answered; 0 when there is no lease or it lapsed.
    pub fn offline_available(&self, account: &str, now: DateTime<Utc>) -> Result<Option<i64>> {
        let Some(lease) = self.lease(account)? else {
            return Ok(None);
        };
        if lease.expires_at <= now {
            return Ok(Some(0));
        }
        let pending = Self::pending_on(&self.conn, account, lease.id, now)?;
        Ok(Some((lease.granted - lease.spent - pending).max(0)))
    }

    /// Takes `amount` from the lease as a not-yet-ready offline entry, in one `BEGIN
    /// IMMEDIATE` transaction (two processes cannot both take the last credits). Returns
    /// `Ok(false)` when `entry_id` is already a ready entry (the run was paid before).
    ///
    /// # Errors
    /// [`Code::InsufficientCredits`] with "available offline: N" when the lease cannot cover
    /// it; [`Code::ServiceUnavailable`] when there is no open lease (`offline` says why the
    /// service was needed).
    pub fn take(
        &mut self,
        account: &str,
        entry: &Pending,
        now: DateTime<Utc>,
        offline: impl FnOnce() -> Error,
    ) -> Result<bool> {
        self.ensure(account)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage)?;
        let ready: Option<i64> = tx
            .query_row(
                "SELECT ready FROM offline_entries WHERE entry_id = ?1",
                params![entry.entry_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        if ready == Some(1) {
            return Ok(false);
        }
        tx.execute(
            "DELETE FROM offline_entries WHERE entry_id = ?1 AND ready = 0",
            params![entry.entry_id],
        )
        .map_err(storage)?;
        let lease: Option<(i64, i64, i64, String)> = tx
            .query_row(
                "SELECT lease_id, lease_granted, lease_spent, lease_expires FROM state
                 WHERE account = ?1 AND lease_id IS NOT NULL",
                params![account],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(storage)?;
        let Some((id, granted, spent, expires)) = lease else {
            return Err(offline());
        };
        let left = if time(&expires)? <= now {
            0
        } else {
            (granted - spent - Self::pending_on(&tx, account, id, now)?).max(0)
        };
        if entry.amount > left {
            return Err(Error::new(
                Code::InsufficientCredits,
                format!(
                    "The credit service cannot be reached and this device's offline lease does \
                     not cover {} credits (available offline: {left}); nothing was run and \
                     nothing was charged. Sync when the service is back to renew the lease.",
                    entry.amount
                ),
            ));
        }
        tx.execute(
            "INSERT INTO offline_entries (entry_id, account, amount, lease_id, local_time, memo)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                entry.entry_id,
                account,
                entry.amount,
                id,
                entry
                    .local_time
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                entry.memo
            ],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(true)
    }

    /// The offline entry with this id, if any.
    pub fn entry(&self, account: &str, entry_id: &str) -> Result<Option<OfflineEntry>> {
        let row: Option<(i64, i64, Option<String>, i64, String)> = self
            .conn
            .query_row(
                "SELECT seq, amount, memo, ready, local_time FROM offline_entries
                 WHERE account = ?1 AND entry_id = ?2",
                params![account, entry_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(storage)?;
        row.map(|(seq, amount, memo, ready, at)| {
            Ok(OfflineEntry {
                seq,
                amount,
                memo,
                ready: ready == 1,
                local_time: time(&at)?,
            })
        })
        .transpose()
    }

    /// Spends from the lease now: a ready offline entry, pushed at the next sync. Returns the
    /// entry and whether it was made now (`false`: `entry_id` was spent before).
    ///
    /// # Errors
    /// As [`Store::take`].
    pub fn spend(
        &mut self,
        account: &str,
        entry: &Pending,
        now: DateTime<Utc>,
        offline: impl FnOnce() -> Error,
    ) -> Result<(OfflineEntry, bool)> {
        let fresh = self.take(account, entry, now, offline)?;
        self.make_ready(&entry.entry_id)?;
        let kept = self
            .entry(account, &entry.entry_id)?
            .ok_or_else(|| storage("an offline spend vanished"))?;
        Ok((kept, fresh))
    }

    /// Holds `entry.amount` of the lease until `expires_at` (an offline hold).
    ///
    /// # Errors
    /// As [`Store::take`].
    pub fn reserve(
        &mut self,
        account: &str,
        entry: &Pending,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        offline: impl FnOnce() -> Error,
    ) -> Result<OfflineHold> {
        self.expire_holds(account, now)?;
        self.take(account, entry, now, offline)?;
        let seq = self
            .entry(account, &entry.entry_id)?
            .ok_or_else(|| storage("an offline hold vanished"))?
            .seq;
        self.conn
            .execute(
                "INSERT INTO offline_holds (hold_id, entry_id, account, amount, memo, created_at,
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    seq,
                    entry.entry_id,
                    account,
                    entry.amount,
                    entry.memo,
                    now.to_rfc3339(),
                    stamp(expires_at)
                ],
            )
            .map_err(storage)?;
        self.hold(account, seq)?
            .ok_or_else(|| storage("an offline hold vanished"))
    }

    fn hold_where(
        &self,
        account: &str,
        clause: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<Option<OfflineHold>> {
        let sql = format!(
            "SELECT hold_id, entry_id, amount, memo, created_at, expires_at, settled, settled_by,
                    captured
             FROM offline_holds WHERE account = ?1 AND {clause} = ?2"
        );
        type Row = (
            i64,
            String,
            i64,
            Option<String>,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let row: Option<Row> = self
            .conn
            .query_row(&sql, params![account, value], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                ))
            })
            .optional()
            .map_err(storage)?;
        row.map(|r| {
            Ok(OfflineHold {
                hold_id: r.0,
                entry_id: r.1,
                amount: r.2,
                memo: r.3,
                created_at: time(&r.4)?,
                expires_at: time(&r.5)?,
                settled: r.6,
                settled_by: r.7,
                captured: r.8,
            })
        })
        .transpose()
    }

    /// The offline hold `hold_id`, if this account has it.
    pub fn hold(&self, account: &str, hold_id: i64) -> Result<Option<OfflineHold>> {
        self.hold_where(account, "hold_id", &hold_id)
    }

    /// The offline hold made by the entry (key) `entry_id`, if any.
    pub fn hold_made_by(&self, account: &str, entry_id: &str) -> Result<Option<OfflineHold>> {
        self.hold_where(account, "entry_id", &entry_id)
    }

    /// The offline hold a capture or release with key `key` settled, if any.
    pub fn hold_settled_by(&self, account: &str, key: &str) -> Result<Option<OfflineHold>> {
        self.hold_where(account, "settled_by", &key)
    }

    /// Open offline holds that lapsed by `now` give their credits back to the lease.
    pub fn expire_holds(&mut self, account: &str, now: DateTime<Utc>) -> Result<()> {
        let open: Vec<(i64, String, String)> = {
            let mut q = self
                .conn
                .prepare(
                    "SELECT hold_id, entry_id, expires_at FROM offline_holds
                     WHERE account = ?1 AND settled IS NULL",
                )
                .map_err(storage)?;
            let rows = q
                .query_map(params![account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(storage)?;
            rows.collect::<std::result::Result<_, _>>()
                .map_err(storage)?
        };
        for (id, entry_id, at) in open {
            if time(&at)? <= now {
                let tx = self.conn.transaction().map_err(storage)?;
                tx.execute(
                    "DELETE FROM offline_entries WHERE entry_id = ?1 AND ready = 0",
                    params![entry_id],
                )
                .map_err(storage)?;
                tx.execute(
                    "UPDATE offline_holds SET settled = 'expired' WHERE hold_id = ?1",
                    params![id],
                )
                .map_err(storage)?;
                tx.commit().map_err(storage)?;
            }
        }
        Ok(())
    }

    /// Settles the open offline hold `hold_id`, in one transaction: `capture` (its entry id,
    /// amount at most the hold's, memo) becomes a ready offline spend and the rest goes back to
    /// the lease; without it (a release, key `key`) everything goes back.
    ///
    /// # Errors
    /// [`Code::UnknownEntry`] when it is not an open hold of this account (or lapsed);
    /// [`Code::InvalidInput`] when the capture exceeds it.
    pub fn settle_hold(
        &mut self,
        account: &str,
        hold_id: i64,
        key: &str,
        capture: Option<(i64, Option<&str>)>,
        now: DateTime<Utc>,
    ) -> Result<OfflineHold> {
        self.expire_holds(account, now)?;
        let Some(hold) = self.hold(account, hold_id)?.filter(|h| h.settled.is_none()) else {
            return Err(Error::new(
                Code::UnknownEntry,
                format!("-{hold_id} is not an open offline hold of this account; nothing changed"),
            ));
        };
        if let Some((amount, _)) = capture {
            if !(1..=hold.amount).contains(&amount) {
                return Err(Error::new(
                    Code::InvalidInput,
                    format!(
                        "cannot capture {amount}: the offline hold is for {}; nothing changed",
                        hold.amount
                    ),
                ));
            }
        }
        let lease: i64 = self
            .conn
            .query_row(
                "SELECT lease_id FROM offline_entries WHERE entry_id = ?1",
                params![hold.entry_id],
                |r| r.get(0),
            )
            .map_err(storage)?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(storage)?;
        tx.execute(
            "DELETE FROM offline_entries WHERE entry_id = ?1 AND ready = 0",
            params![hold.entry_id],
        )
        .map_err(storage)?;
        if let Some((amount, memo)) = capture {
            tx.execute(
                "INSERT INTO offline_entries (entry_id, account, amount, lease_id, local_time,
                 memo, ready) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)",
                params![
                    key,
                    account,
                    amount,
                    lease,
                    now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    memo.or(hold.memo.as_deref())
                ],
            )
            .map_err(storage)?;
        }
        tx.execute(
            "UPDATE offline_holds SET settled = ?2, settled_by = ?3, captured = ?4
             WHERE hold_id = ?1",
            params![
                hold_id,
                if capture.is_some() {
                    "captured"
                } else {
                    "released"
                },
                key,
                capture.map(|c| c.0)
            ],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        self.hold(account, hold_id)?
            .ok_or_else(|| storage("an offline hold vanished"))
    }

    /// Offline spends not answered by the service yet, oldest first, and the offline holds
    /// still open at `now`: `(local id, kind, amount, memo, when)`.
    pub fn waiting(&self, account: &str, now: DateTime<Utc>) -> Result<Vec<Waiting>> {
        let mut q = self
            .conn
            .prepare(
                "SELECT o.seq, h.hold_id IS NOT NULL, o.amount, o.memo, o.local_time,
                        h.expires_at
                 FROM offline_entries o
                 LEFT JOIN offline_holds h ON h.entry_id = o.entry_id AND h.settled IS NULL
                 WHERE o.account = ?1 AND o.outcome IS NULL AND (o.ready = 1 OR h.hold_id IS NOT NULL)
                 ORDER BY o.seq",
            )
            .map_err(storage)?;
        type Row = (i64, bool, i64, Option<String>, String, Option<String>);
        let rows: Vec<Row> = q
            .query_map(params![account], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })
            .map_err(storage)?
            .collect::<std::result::Result<_, _>>()
            .map_err(storage)?;
        let mut out = Vec::new();
        for (seq, hold, amount, memo, at, expires) in rows {
            if expires
                .as_deref()
                .map(time)
                .transpose()?
                .is_some_and(|e| e <= now)
            {
                continue;
            }
            let kind = if hold { "reserve" } else { "spend" };
            out.push((seq, kind, amount, memo, time(&at)?));
        }
        Ok(out)
    }

    /// Credits spent offline (ready entries) that the service has not answered yet: what its
    /// balance does not show yet.
    pub fn unanswered_spent(&self, account: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT COALESCE(SUM(amount), 0) FROM offline_entries
                 WHERE account = ?1 AND ready = 1 AND outcome IS NULL",
                params![account],
                |r| r.get(0),
            )
            .map_err(storage)
    }

    /// The last local wallet entry id the import has read (0: none yet).
    pub fn imported_through(&self, account: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT COALESCE(MAX(through), 0) FROM import_state WHERE account = ?1",
                params![account],
                |r| r.get(0),
            )
            .map_err(storage)
    }

    /// Keeps one import answer (each entry's outcome, once) and moves `through`, together.
    pub fn record_import(
        &mut self,
        account: &str,
        sent: &[latchkey_wire::ImportEntry],
        answer: &latchkey_wire::ImportAnswer,
        through: i64,
    ) -> Result<()> {
        use latchkey_wire::ImportOutcome as O;
        let tx = self.conn.transaction().map_err(storage)?;
        for (e, o) in sent.iter().zip(&answer.outcomes) {
            let (word, applied, reason) = match &o.outcome {
                O::Imported { amount, .. } => ("imported", Some(*amount), None),
                O::Rejected { reason } => (
                    "rejected",
                    None,
                    serde_json::to_value(reason)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string)),
                ),
                O::Conflict => ("conflict", None, None),
            };
            tx.execute(
                "INSERT OR IGNORE INTO imports (account, entry_id, kind, amount, outcome,
                 applied, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    account,
                    e.entry_id,
                    e.kind.as_str(),
                    e.amount,
                    word,
                    applied,
                    reason
                ],
            )
            .map_err(storage)?;
        }
        tx.execute(
            "INSERT INTO import_state (account, through) VALUES (?1, ?2)
             ON CONFLICT (account) DO UPDATE SET through = MAX(through, excluded.through)",
            params![account, through],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)
    }

    /// The offline entry's work is done: it is kept and will be pushed.
    pub fn make_ready(&self, entry_id: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE offline_entries SET ready = 1 WHERE entry_id = ?1 AND ready = 0",
                params![entry_id],
            )
            .map_err(storage)?;
        Ok(())
    }

    /// The offline entry's work failed: its credits go back to the lease.
    pub fn give_back(&self, entry_id: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM offline_entries WHERE entry_id = ?1 AND ready = 0",
                params![entry_id],
            )
            .map_err(storage)?;
        Ok(())
    }

    /// Not-ready entries older than `before` belong to a run that crashed: given back.
    pub fn give_back_stale(&self, account: &str, before: DateTime<Utc>) -> Result<()> {
        let stale: Vec<(String, String)> = {
            let mut q = self
                .conn
                .prepare(
                    "SELECT entry_id, local_time FROM offline_entries WHERE account = ?1
                     AND ready = 0 AND entry_id NOT IN (SELECT entry_id FROM offline_holds)",
                )
                .map_err(storage)?;
            let rows = q
                .query_map(params![account], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(storage)?;
            rows.collect::<std::result::Result<_, _>>()
                .map_err(storage)?
        };
        for (id, at) in stale {
            if time(&at)? < before {
                self.give_back(&id)?;
            }
        }
        Ok(())
    }

    /// Ready entries without an outcome, oldest first, at most `limit`.
    pub fn unpushed(&self, account: &str, limit: usize) -> Result<Vec<Pending>> {
        let mut q = self
            .conn
            .prepare(
                "SELECT entry_id, amount, lease_id, local_time, memo FROM offline_entries
                 WHERE account = ?1 AND ready = 1 AND outcome IS NULL ORDER BY seq LIMIT ?2",
            )
            .map_err(storage)?;
        let rows = q
            .query_map(params![account, limit as i64], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get::<_, String>(3)?,
                    r.get(4)?,
                ))
            })
            .map_err(storage)?;
        let mut out = Vec::new();
        for row in rows {
            let (entry_id, amount, lease_id, at, memo) = row.map_err(storage)?;
            out.push(Pending {
                entry_id,
                amount,
                lease_id,
                local_time: time(&at)?,
                memo,
            });
        }
        Ok(out)
    }

    /// How many ready entries still wait for an answer.
    pub fn unpushed_count(&self, account: &str) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM offline_entries
                 WHERE account = ?1 AND ready = 1 AND outcome IS NULL",
                params![account],
                |r| r.get(0),
            )
            .map_err(storage)
    }

    /// Records a push answer: every outcome and the lease after it, in one transaction.
    pub fn record_push(&mut self, account: &str, answer: &latchkey_wire::PushAnswer) -> Result<()> {
        use latchkey_wire::Outcome;
        let tx = self.conn.transaction().map_err(storage)?;
        for o in &answer.outcomes {
            let (word, seq, reason) = match &o.outcome {
                Outcome::Applied { server_seq } => ("applied", Some(*server_seq), None),
                Outcome::AlreadyApplied { server_seq } => {
                    ("already_applied", Some(*server_seq), None)
                }
                Outcome::Conflict => ("conflict", None, None),
                Outcome::Rejected { server_seq, reason } => (
                    "rejected",
                    Some(*server_seq),
                    Some(reason_word(*reason).to_string()),
                ),
            };
            tx.execute(
                "UPDATE offline_entries SET outcome = ?2, server_seq = ?3, reason = ?4
                 WHERE entry_id = ?1 AND outcome IS NULL",
                params![o.entry_id, word, seq, reason],
            )
            .map_err(storage)?;
        }
        let open = answer.lease.as_ref().filter(|l| l.closed_at.is_none());
        tx.execute(
            "UPDATE state SET lease_id = ?2, lease_granted = ?3, lease_spent = ?4,
             lease_expires = ?5 WHERE account = ?1",
            params![
                account,
                open.map(|l| l.lease_id),
                open.map(|l| l.granted),
                open.map(|l| l.spent),
                open.map(|l| l.expires_at.to_rfc3339()),
            ],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)
    }

    /// Applies one pulled page once: each entry by its `server_seq`; an entry this device
    /// pushed whose answer was lost (a crash between the service's commit and its reply) gets
    /// its outcome from here; the cursor moves in the same transaction.
    pub fn apply_page(&mut self, account: &str, page: &latchkey_wire::PullPage) -> Result<usize> {
        let tx = self.conn.transaction().map_err(storage)?;
        let mut applied = 0;
        for e in &page.entries {
            applied += tx
                .execute(
                    "INSERT OR IGNORE INTO pulled (account, server_seq, kind, amount, entry_id,
                     device_id, rejected, memo, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        account,
                        e.server_seq,
                        e.kind.as_str(),
                        e.amount,
                        e.entry_id,
                        e.device_id,
                        e.rejected.map(reason_word),
                        e.memo,
                        e.created_at.to_rfc3339(),
                    ],
                )
                .map_err(storage)?;
            if let Some(id) = &e.entry_id {
                let (word, reason) = match e.rejected {
                    Some(r) => ("rejected", Some(reason_word(r))),
                    None => ("applied", None),
                };
                tx.execute(
                    "UPDATE offline_entries SET outcome = ?2, server_seq = ?3, reason = ?4
                     WHERE entry_id = ?1 AND account = ?5 AND ready = 1 AND outcome IS NULL",
                    params![id, word, e.server_seq, reason, account],
                )
                .map_err(storage)?;
            }
        }
        tx.execute(
            "UPDATE state SET cursor = MAX(cursor, ?2) WHERE account = ?1",
            params![account, page.cursor],
        )
        .map_err(storage)?;
        tx.commit().map_err(storage)?;
        Ok(applied)
    }

    /// Keeps the service's list of the account's devices (names, removals).
    pub fn set_devices(&mut self, account: &str, devices: &[latchkey_wire::Device]) -> Result<()> {
        let tx = self.conn.transaction().map_err(storage)?;
        for d in devices {
            tx.execute(
                "INSERT INTO devices (account, device_id, name, removed_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (account, device_id)
                 DO UPDATE SET name = excluded.name, removed_at = excluded.removed_at",
                params![
                    account,
                    d.device_id,
                    d.name,
                    d.removed_at.map(|t| t.to_rfc3339())
                ],
            )
            .map_err(storage)?;
        }
        tx.commit().map_err(storage)
    }

    /// Every entry of the account the service refused, from any device (`me` is this one),
    /// newest first: the rejected entries pulled, and this device's refusals the pull has not
    /// brought (conflicts, which the service does not store; rejections not pulled yet).
    pub fn refused_everywhere(&self, account: &str, me: &str) -> Result<Vec<RefusedRow>> {
        let mut q = self
            .conn
            .prepare(
                "SELECT p.entry_id, p.device_id, d.name, p.kind, p.amount, 'rejected', p.rejected,
                        p.memo, p.created_at, o.local_time
                 FROM pulled p
                 LEFT JOIN devices d ON d.account = p.account AND d.device_id = p.device_id
                 LEFT JOIN offline_entries o ON o.account = p.account
                      AND o.server_seq = p.server_seq AND p.device_id = ?2
                 WHERE p.account = ?1 AND p.rejected IS NOT NULL
                 UNION ALL
                 SELECT o.entry_id, ?2, d.name, 'spend', o.amount, o.outcome,
                        COALESCE(o.reason, o.outcome), o.memo, o.local_time, o.local_time
                 FROM offline_entries o
                 LEFT JOIN devices d ON d.account = o.account AND d.device_id = ?2
                 WHERE o.account = ?1 AND o.outcome IN ('rejected', 'conflict')
                   AND NOT EXISTS (SELECT 1 FROM pulled p WHERE p.account = o.account
                                   AND p.server_seq = o.server_seq AND p.rejected IS NOT NULL)",
            )
            .map_err(storage)?;
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
        );
        let rows: Vec<Row> = q
            .query_map(params![account, me], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })
            .map_err(storage)?
            .collect::<std::result::Result<_, _>>()
            .map_err(storage)?;
        let mut out = Vec::with_capacity(rows.len());
        for (entry_id, device_id, name, kind, amount, outcome, reason, memo, at, made) in rows {
            out.push(RefusedRow {
                entry_id: entry_id.unwrap_or_default(),
                device_id,
                device_name: name,
                kind,
                amount,
                outcome,
                reason,
                memo,
                at: time(&at)?,
                made_at: made.as_deref().map(time).transpose()?,
            });
        }
        // Times are kept in two text forms here: ordered once parsed.
        out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.entry_id.cmp(&a.entry_id)));
        Ok(out)
    }

    /// Offline entries the service refused or that conflicted, oldest first.
    pub fn refused(&self, account: &str) -> Result<Vec<Refused>> {
        let mut q = self
            .conn
            .prepare(
                "SELECT entry_id, amount, outcome, reason, memo FROM offline_entries
                 WHERE account = ?1 AND outcome IN ('rejected', 'conflict') ORDER BY seq",
            )
            .map_err(storage)?;
        let rows = q
            .query_map(params![account], |r| {
                Ok(Refused {
                    entry_id: r.get(0)?,
                    amount: r.get(1)?,
                    outcome: r.get(2)?,
                    reason: r.get(3)?,
                    memo: r.get(4)?,
                })
            })
            .map_err(storage)?;
        rows.collect::<std::result::Result<_, _>>().map_err(storage)
    }
}

/// The wire's word for a reason.
pub(crate) fn reason_word(r: latchkey_wire::RejectReason) -> &'static str {
    use latchkey_wire::RejectReason::*;
    match r {
        DeviceRemoved => "device_removed",
        BeyondLease => "beyond_lease",
        LeaseClosed => "lease_closed",
        LeaseExpired => "lease_expired",
        UnknownLease => "unknown_lease",
        NotPushable => "not_pushable",
        Invalid => "invalid",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        time(s).unwrap()
    }

    fn lease(id: i64, granted: i64, spent: i64) -> latchkey_wire::Lease {
        latchkey_wire::Lease {
            lease_id: id,
            device_id: "d".repeat(16),
            granted,
            spent,
            remaining: granted - spent,
            expires_at: t("2026-01-15T00:00:00Z"),
            closed_at: None,
            closed_by: None,
        }
    }

    fn spend(id: &str, amount: i64) -> Pending {
        Pending {
            entry_id: id.into(),
            amount,
            lease_id: 0,
            local_time: t("2026-01-01T00:00:00Z"),
            memo: None,
        }
    }

    fn offline() -> Error {
        Error::new(Code::ServiceUnavailable, "offline")
    }

    #[test]
    fn offline_spends_stop_at_the_lease_and_a_failed_run_gives_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let now = t("2026-01-02T00:00:00Z");
        let e = s.take("a", &spend("x", 1), now, offline).unwrap_err();
        assert_eq!(
            e.code,
            Code::ServiceUnavailable,
            "no lease: the service is needed"
        );
        s.set_lease("a", Some(&lease(7, 60, 0))).unwrap();
        assert!(s.take("a", &spend("x", 40), now, offline).unwrap());
        s.make_ready("x").unwrap();
        let e = s.take("a", &spend("y", 21), now, offline).unwrap_err();
        assert_eq!(e.code, Code::InsufficientCredits);
        assert!(e.message.contains("available offline: 20"), "{}", e.message);
        assert!(s.take("a", &spend("y", 20), now, offline).unwrap());
        assert_eq!(s.offline_available("a", now).unwrap(), Some(0));
        s.give_back("y").unwrap();
        assert_eq!(
            s.offline_available("a", now).unwrap(),
            Some(20),
            "a failed run costs nothing"
        );
        assert!(
            !s.take("a", &spend("x", 40), now, offline).unwrap(),
            "x was paid already"
        );
        assert_eq!(
            s.offline_available("a", t("2026-02-01T00:00:00Z")).unwrap(),
            Some(0),
            "nothing offline from a lapsed lease"
        );
        assert!(
            s.conn
                .execute("DELETE FROM offline_entries WHERE entry_id = 'x'", [])
                .is_err(),
            "a ready entry is kept for ever"
        );
    }

    #[test]
    fn offline_holds_take_from_the_lease_until_captured_released_or_lapsed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let now = t("2026-01-02T00:00:00Z");
        let later = t("2026-01-02T00:10:00Z");
        s.set_lease("a", Some(&lease(7, 20, 0))).unwrap();
        let h = s
            .reserve("a", &spend("r1", 8), later, now, offline)
            .unwrap();
        assert_eq!(s.offline_available("a", now).unwrap(), Some(12));
        let e = s
            .settle_hold("a", h.hold_id, "c1", Some((9, None)), now)
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidInput, "never more than the hold");
        s.settle_hold("a", h.hold_id, "c1", Some((5, None)), now)
            .unwrap();
        assert_eq!(
            s.offline_available("a", now).unwrap(),
            Some(15),
            "the uncaptured 3 went back"
        );
        assert_eq!(s.unpushed("a", 10).unwrap()[0].entry_id, "c1");
        assert_eq!(s.unanswered_spent("a").unwrap(), 5);
        let e = s.settle_hold("a", h.hold_id, "x", None, now).unwrap_err();
        assert_eq!(e.code, Code::UnknownEntry, "a hold settles once");

        let h2 = s
            .reserve("a", &spend("r2", 15), later, now, offline)
            .unwrap();
        assert_eq!(s.offline_available("a", now).unwrap(), Some(0));
        assert_eq!(
            s.offline_available("a", later).unwrap(),
            Some(15),
            "a lapsed hold takes nothing"
        );
        let e = s.settle_hold("a", h2.hold_id, "c2", Some((1, None)), later);
        assert_eq!(e.unwrap_err().code, Code::UnknownEntry, "it lapsed");
        assert_eq!(
            s.hold("a", h2.hold_id).unwrap().unwrap().settled.as_deref(),
            Some("expired")
        );
        assert_eq!(s.unanswered_spent("a").unwrap(), 5, "only the capture");
    }

    fn rejected_pull(seq: i64, entry: &str, device: &str, at: &str) -> latchkey_wire::PulledEntry {
        latchkey_wire::PulledEntry {
            server_seq: seq,
            kind: latchkey_wire::EntryKind::Spend,
            amount: 3,
            hold: None,
            expires_at: None,
            memo: Some("analytics run".into()),
            created_at: t(at),
            entry_id: Some(entry.into()),
            device_id: Some(device.into()),
            lease_id: Some(7),
            rejected: Some(latchkey_wire::RejectReason::DeviceRemoved),
        }
    }

    #[test]
    fn refused_entries_of_every_device_are_listed_once_newest_first_with_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let (me, phone) = ("m".repeat(16), "p".repeat(16));
        let now = t("2026-01-02T00:00:00Z");
        s.set_lease("a", Some(&lease(7, 20, 0))).unwrap();
        for id in ["x", "y"] {
            s.take("a", &spend(id, 2), now, offline).unwrap();
            s.make_ready(id).unwrap();
        }
        let answer = latchkey_wire::PushAnswer {
            outcomes: vec![
                latchkey_wire::EntryOutcome {
                    entry_id: "x".into(),
                    outcome: latchkey_wire::Outcome::Rejected {
                        server_seq: 5,
                        reason: latchkey_wire::RejectReason::DeviceRemoved,
                    },
                },
                latchkey_wire::EntryOutcome {
                    entry_id: "y".into(),
                    outcome: latchkey_wire::Outcome::Conflict,
                },
            ],
            lease: None,
            balance: latchkey_wire::Balance::new(0, 0),
        };
        s.record_push("a", &answer).unwrap();
        let before = s.refused_everywhere("a", &me).unwrap();
        assert_eq!(before.len(), 2, "this device's refusals, before any pull");
        assert!(before
            .iter()
            .all(|r| r.device_id.as_deref() == Some(me.as_str())));

        let page = latchkey_wire::PullPage {
            entries: vec![
                rejected_pull(5, "x", &me, "2026-01-03T00:00:00Z"),
                rejected_pull(6, "z", &phone, "2026-01-04T00:00:00Z"),
            ],
            cursor: 6,
            more: false,
        };
        s.apply_page("a", &page).unwrap();
        let device = |id: &str, name: &str| latchkey_wire::Device {
            device_id: id.into(),
            name: name.into(),
            created_at: now,
            last_seen_at: now,
            removed_at: None,
            lease: None,
        };
        s.set_devices("a", &[device(&me, "Laptop"), device(&phone, "Phone")])
            .unwrap();
        let rows = s.refused_everywhere("a", &me).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.entry_id.as_str()).collect();
        assert_eq!(
            ids,
            ["z", "x", "y"],
            "each refusal once (x pushed and pulled), newest first"
        );
        assert_eq!(rows[0].device_name.as_deref(), Some("Phone"));
        assert_eq!(rows[0].reason, "device_removed");
        assert_eq!(
            rows[0].made_at, None,
            "another device's local time is not known"
        );
        assert_eq!(
            rows[1].at,
            t("2026-01-03T00:00:00Z"),
            "when the service refused it"
        );
        assert_eq!(
            rows[1].made_at,
            Some(t("2026-01-01T00:00:00Z")),
            "when this device made it"
        );
        assert_eq!(rows[1].device_name.as_deref(), Some("Laptop"));
        assert_eq!(
            (rows[2].outcome.as_str(), rows[2].reason.as_str()),
            ("conflict", "conflict")
        );
        assert!(
            s.refused_everywhere("b", &me).unwrap().is_empty(),
            "another account's are not listed"
        );
    }

    #[test]
    fn an_answer_lost_in_a_crash_is_taken_from_the_pull_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let now = t("2026-01-02T00:00:00Z");
        s.set_lease("a", Some(&lease(7, 20, 0))).unwrap();
        s.take("a", &spend("x", 5), now, offline).unwrap();
        s.make_ready("x").unwrap();
        assert_eq!(s.unpushed("a", 10).unwrap().len(), 1);
        let pulled = latchkey_wire::PulledEntry {
            server_seq: 9,
            kind: latchkey_wire::EntryKind::Spend,
            amount: 5,
            hold: None,
            expires_at: None,
            memo: None,
            created_at: now,
            entry_id: Some("x".into()),
            device_id: Some("d".repeat(16)),
            lease_id: Some(7),
            rejected: None,
        };
        let page = latchkey_wire::PullPage {
            entries: vec![pulled],
            cursor: 9,
            more: false,
        };
        assert_eq!(s.apply_page("a", &page).unwrap(), 1);
        assert_eq!(
            s.apply_page("a", &page).unwrap(),
            0,
            "each service entry applies once"
        );
        assert_eq!(s.cursor("a").unwrap(), 9);
        assert!(
            s.unpushed("a", 10).unwrap().is_empty(),
            "its outcome came with the pull"
        );
    }
}
