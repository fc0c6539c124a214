//! Devices, leases, push and pull against PostgreSQL (`migrations/0005_devices.sql`).
//!
//! Every write is one transaction that first locks the user's balance row, as the ledger's
//! writes do, so a push, a lease and any other write of the same user are serialised, and
//! `server_seq` numbers are taken in commit order within a user.

use super::{
    check_device_id, check_name, decide, params, Decision, LeasePolicy, LeaseState, SyncError,
};
use crate::ledger::{check_key, Account, Ledger, LedgerError, MAX_AMOUNT};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use latchkey_wire::{
    Balance, Device, DeviceList, EntryKind, EntryOutcome, Lease, LeaseClosedBy, Outcome, PullPage,
    PulledEntry, PushAnswer, PushBatch, RejectReason, DEFAULT_PULL_PAGE, MAX_PULL_PAGE,
    MAX_PUSH_ENTRIES,
};
use std::collections::{BTreeSet, HashMap};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// Devices, leases and sync over the ledger's pool. Cheap to clone; no state of its own.
#[derive(Clone)]
pub struct Devices {
    pool: Pool,
    policy: LeasePolicy,
}

mod sql {
    pub const FIND_USER: &str = "SELECT id FROM users WHERE issuer = $1 AND subject = $2";
    pub const LOCK_BALANCE: &str =
        "SELECT posted, held FROM balances WHERE user_id = $1 FOR UPDATE";
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
    pub const SETTLE_HOLD: &str =
        "UPDATE holds SET settled_seq = $2, captured = 0 WHERE hold_seq = $1";
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
    pub const PULL: &str = "
        SELECT * FROM (
            SELECT e.server_seq, e.kind, e.amount, e.hold_seq, e.expires_at, e.memo,
                   e.created_at, d.entry_id, d.device_id, d.lease_id, NULL::text AS reason
            FROM entries e LEFT JOIN device_entries d ON d.entry_seq = e.server_seq
            WHERE e.user_id = $1 AND e.server_seq > $2
            UNION ALL
            SELECT d.server_seq, d.kind, d.amount, NULL, NULL, d.memo, d.created_at,
                   d.entry_id, d.device_id, d.lease_id, d.reason
            FROM device_entries d
            WHERE d.user_id = $1 AND d.outcome = 'rejected' AND d.server_seq > $2
        ) x ORDER BY server_seq LIMIT $3";
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn one<C: GenericClient>(c: &C, q: &str, p: Params<'_>) -> Result<Row, SyncError> {
    Ok(c.query_one(&c.prepare_cached(q).await?, p).await?)
}

async fn opt<C: GenericClient>(c: &C, q: &str, p: Params<'_>) -> Result<Option<Row>, SyncError> {
    Ok(c.query_opt(&c.prepare_cached(q).await?, p).await?)
}

async fn all<C: GenericClient>(c: &C, q: &str, p: Params<'_>) -> Result<Vec<Row>, SyncError> {
    Ok(c.query(&c.prepare_cached(q).await?, p).await?)
}

async fn exec<C: GenericClient>(c: &C, q: &str, p: Params<'_>) -> Result<u64, SyncError> {
    Ok(c.execute(&c.prepare_cached(q).await?, p).await?)
}

/// A lease row with what its hold still sets aside (0 once settled or when it has none).
struct LeaseRow {
    id: i64,
    granted: i64,
    spent: i64,
    hold_seq: Option<i64>,
    expires_at: DateTime<Utc>,
    closed: bool,
    hold_open: i64,
}

impl LeaseRow {
    fn from_row(r: &Row) -> LeaseRow {
        let closed_at: Option<DateTime<Utc>> = r.get(5);
        LeaseRow {
            id: r.get(0),
            granted: r.get(1),
            spent: r.get(2),
            hold_seq: r.get(3),
            expires_at: r.get(4),
            closed: closed_at.is_some(),
            hold_open: r.get(6),
        }
    }
}

/// The first outcome stored for an entry id.
struct Prior {
    params: super::Params,
    outcome: Outcome,
}

fn reason_str(r: RejectReason) -> &'static str {
    match r {
        RejectReason::DeviceRemoved => "device_removed",
        RejectReason::BeyondLease => "beyond_lease",
        RejectReason::LeaseClosed => "lease_closed",
        RejectReason::LeaseExpired => "lease_expired",
        RejectReason::UnknownLease => "unknown_lease",
        RejectReason::NotPushable => "not_pushable",
        RejectReason::Invalid => "invalid",
    }
}

fn parse_reason(s: &str) -> Result<RejectReason, SyncError> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| corrupt("reason", s))
}

fn corrupt(what: &str, value: &str) -> SyncError {
    SyncError::Ledger(LedgerError::Db(crate::db::DbError::Corrupt(format!(
        "unknown {what} {value}"
    ))))
}

/// What the batch decided for one entry, before anything is written.
enum Plan {
    Apply {
        lease: i64,
    },
    Reject(RejectReason),
    /// A replay (stored earlier, or earlier in this batch: `same_as`), or a conflict.
    Answered(Outcome),
    SameAs(usize),
}

impl Devices {
    /// Devices over `pool` (a migrated database), lending by `policy`.
    pub fn new(pool: Pool, policy: LeasePolicy) -> Devices {
        Devices { pool, policy }
    }

    async fn user(&self, who: &Account) -> Result<Option<i64>, SyncError> {
        let client = self.pool.get().await?;
        Ok(opt(&client, sql::FIND_USER, &[&who.issuer, &who.subject])
            .await?
            .map(|r| r.get(0)))
    }

    async fn known_user(&self, who: &Account) -> Result<i64, SyncError> {
        self.user(who).await?.ok_or(SyncError::UnknownDevice)
    }

    /// Registers `device_id` for `who` (creating the account on first contact), or renames it
    /// and marks it seen. A removed device stays removed: [`SyncError::DeviceRemoved`].
    pub async fn register(
        &self,
        who: &Account,
        device_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, SyncError> {
        check_device_id(device_id)?;
        check_name(name)?;
        let user_id = Ledger::new(self.pool.clone()).user_id(who, now).await?;
        let client = self.pool.get().await?;
        if opt(&client, sql::REGISTER, &[&user_id, &device_id, &name, &now])
            .await?
            .is_none()
        {
            return Err(SyncError::DeviceRemoved);
        }
        device(&client, user_id, device_id).await
    }

    /// The caller's devices, oldest first, with their open leases.
    pub async fn list(&self, who: &Account) -> Result<DeviceList, SyncError> {
        let Some(user_id) = self.user(who).await? else {
            return Ok(DeviceList { devices: vec![] });
        };
        let client = self.pool.get().await?;
        let rows = all(&client, sql::DEVICES, &[&user_id, &None::<String>]).await?;
        Ok(DeviceList {
            devices: rows.iter().map(device_from_row).collect(),
        })
    }

    /// Removes a lost device: it can never sync again, its open lease is closed (its hold
    /// released) and whatever it pushes later is stored as rejected. Removing it again answers
    /// the same.
    pub async fn remove(
        &self,
        who: &Account,
        device_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, SyncError> {
        check_device_id(device_id)?;
        let user_id = self.known_user(who).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        let dev = device(&tx, user_id, device_id).await?;
        if dev.removed_at.is_some() {
            return Ok(dev);
        }
        exec(&tx, sql::REMOVE, &[&user_id, &device_id, &now]).await?;
        if let Some(lease) = open_lease(&tx, user_id, device_id).await? {
            close(&tx, user_id, &lease, LeaseClosedBy::Removal, now).await?;
        }
        let dev = device(&tx, user_id, device_id).await?;
        tx.commit().await?;
        Ok(dev)
    }

    /// Lends the device credits to spend offline, or renews its open lease: the lease then
    /// holds max(what it still has, min(asked or the default, the policy's maximum)), never
    /// more than is available, and lasts the policy's ttl from `now`.
    pub async fn lease(
        &self,
        who: &Account,
        device_id: &str,
        asked: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Lease, SyncError> {
        check_device_id(device_id)?;
        if asked.is_some_and(|a| !(0..=MAX_AMOUNT).contains(&a)) {
            return Err(SyncError::InvalidInput(format!(
                "credits must be 0 to {MAX_AMOUNT}"
            )));
        }
        let user_id = self.known_user(who).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        let mut free = row.get::<_, i64>(0) - row.get::<_, i64>(1);
        live_device(&tx, user_id, device_id).await?;
        let target = self.policy.target(asked);
        let expires_at = now + self.policy.ttl;
        let lease_id = match open_lease(&tx, user_id, device_id).await? {
            Some(l) => {
                if let Some(h) = l.hold_seq.filter(|_| l.hold_open > 0) {
                    release(&tx, user_id, h, l.hold_open, now).await?;
                    free += l.hold_open;
                }
                let remaining = l.granted - l.spent;
                let hold_amount = remaining.max(target).min(free);
                let hold = new_hold(&tx, user_id, hold_amount, expires_at, now).await?;
                let granted = l.spent + remaining.max(hold_amount);
                exec(
                    &tx,
                    sql::RENEW_LEASE,
                    &[&l.id, &granted, &hold, &expires_at],
                )
                .await?;
                l.id
            }
            None => {
                let hold_amount = target.min(free);
                let hold = new_hold(&tx, user_id, hold_amount, expires_at, now).await?;
                one(
                    &tx,
                    sql::INSERT_LEASE,
                    &[&user_id, &device_id, &hold_amount, &hold, &expires_at, &now],
                )
                .await?
                .get(0)
            }
        };
        exec(&tx, sql::TOUCH, &[&user_id, &device_id, &now]).await?;
        let dev = device(&tx, user_id, device_id).await?;
        tx.commit().await?;
        dev.lease
            .filter(|l| l.lease_id == lease_id)
            .ok_or_else(|| corrupt("lease", &lease_id.to_string()))
    }

    /// The owning device gives its open lease back (its hold is released). Nothing to give
    /// back is not an error.
    pub async fn close_lease(
        &self,
        who: &Account,
        device_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, SyncError> {
        check_device_id(device_id)?;
        let user_id = self.known_user(who).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        live_device(&tx, user_id, device_id).await?;
        if let Some(lease) = open_lease(&tx, user_id, device_id).await? {
            close(&tx, user_id, &lease, LeaseClosedBy::Device, now).await?;
        }
        exec(&tx, sql::TOUCH, &[&user_id, &device_id, &now]).await?;
        let dev = device(&tx, user_id, device_id).await?;
        tx.commit().await?;
        Ok(dev)
    }

    /// Applies a batch of the device's local entries in ONE transaction, in order, and answers
    /// each (see [`super::decide`] for the rules; replays get their first outcome, the same id
    /// with other parameters a conflict). A removed device's entries are all stored as
    /// rejected.
    pub async fn push(
        &self,
        who: &Account,
        device_id: &str,
        batch: &PushBatch,
        now: DateTime<Utc>,
    ) -> Result<PushAnswer, SyncError> {
        check_device_id(device_id)?;
        if batch.entries.len() > MAX_PUSH_ENTRIES {
            return Err(SyncError::InvalidInput(format!(
                "at most {MAX_PUSH_ENTRIES} entries per push; split the batch"
            )));
        }
        for e in &batch.entries {
            check_entry(e)?;
        }
        let user_id = self.known_user(who).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        let mut free = row.get::<_, i64>(0) - row.get::<_, i64>(1);
        let removed = device(&tx, user_id, device_id).await?.removed_at.is_some();

        let ids: Vec<&str> = batch.entries.iter().map(|e| e.entry_id.as_str()).collect();
        let mut priors = HashMap::new();
        for r in all(&tx, sql::PRIORS, &[&user_id, &ids]).await? {
            let id: String = r.get(0);
            let outcome: &str = r.get(7);
            let seq: i64 = r.get(9);
            let outcome = match outcome {
                "applied" => Outcome::AlreadyApplied { server_seq: seq },
                _ => Outcome::Rejected {
                    server_seq: seq,
                    reason: parse_reason(r.get::<_, Option<&str>>(8).unwrap_or("?"))?,
                },
            };
            let local: DateTime<Utc> = r.get(5);
            let params = super::Params {
                device_id: r.get(1),
                kind: r.get(2),
                amount: r.get(3),
                lease_id: r.get(4),
                local_micros: local.timestamp_micros(),
                memo: r.get(6),
            };
            priors.insert(id, Prior { params, outcome });
        }
        let named: Vec<i64> = batch.entries.iter().map(|e| e.lease_id).collect();
        let mut leases: HashMap<i64, LeaseRow> = HashMap::new();
        let mut states: HashMap<i64, LeaseState> = HashMap::new();
        for r in all(&tx, sql::LEASES, &[&user_id, &device_id, &named]).await? {
            let l = LeaseRow::from_row(&r);
            states.insert(
                l.id,
                LeaseState {
                    granted: l.granted,
                    spent: l.spent,
                    held: l.hold_open,
                    expires_at: l.expires_at,
                    closed: l.closed,
                },
            );
            leases.insert(l.id, l);
        }

        // Decide every entry first (nothing written yet).
        let mut plans = Vec::with_capacity(batch.entries.len());
        let mut seen: HashMap<&str, (super::Params, usize)> = HashMap::new();
        let mut touched = BTreeSet::new();
        for (i, e) in batch.entries.iter().enumerate() {
            let p = params(device_id, e);
            if let Some(prior) = priors.get(&e.entry_id) {
                plans.push(Plan::Answered(if prior.params == p {
                    prior.outcome.clone()
                } else {
                    Outcome::Conflict
                }));
                continue;
            }
            if let Some((first, j)) = seen.get(e.entry_id.as_str()) {
                plans.push(if *first == p {
                    Plan::SameAs(*j)
                } else {
                    Plan::Answered(Outcome::Conflict)
                });
                continue;
            }
            seen.insert(&e.entry_id, (p, i));
            let state = states.get_mut(&e.lease_id);
            match decide(e, removed, state.as_deref(), free, now) {
                Decision::Apply { from_hold } => {
                    let s = state.expect("an applied entry names a lease");
                    s.spent += e.amount;
                    s.held -= from_hold;
                    free -= e.amount - from_hold;
                    touched.insert(e.lease_id);
                    plans.push(Plan::Apply { lease: e.lease_id });
                }
                Decision::Reject(r) => plans.push(Plan::Reject(r)),
            }
        }

        // The touched leases' holds are released, the spends appended, the rest held again.
        for id in &touched {
            let l = &leases[id];
            if let Some(h) = l.hold_seq.filter(|_| l.hold_open > 0) {
                release(&tx, user_id, h, l.hold_open, now).await?;
            }
        }
        let (amounts, memos): (Vec<i64>, Vec<Option<&str>>) = batch
            .entries
            .iter()
            .zip(&plans)
            .filter(|(_, p)| matches!(p, Plan::Apply { .. }))
            .map(|(e, _)| (e.amount, e.memo.as_deref()))
            .unzip();
        let mut spend_seqs: Vec<i64> = if amounts.is_empty() {
            vec![]
        } else {
            all(&tx, sql::INSERT_SPENDS, &[&user_id, &now, &amounts, &memos])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        spend_seqs.sort_unstable();
        let rejected = plans
            .iter()
            .filter(|p| matches!(p, Plan::Reject(_)))
            .count() as i64;
        let reject_seqs: Vec<i64> = if rejected == 0 {
            vec![]
        } else {
            all(&tx, sql::NEXT_SEQS, &[&rejected])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        for id in &touched {
            let (l, s) = (&leases[id], &states[id]);
            let hold = if !l.closed && l.expires_at > now {
                new_hold(&tx, user_id, s.held, l.expires_at, now).await?
            } else {
                None
            };
            exec(&tx, sql::SPEND_LEASE, &[id, &s.spent, &hold]).await?;
        }

        // Record every new entry id with its outcome, and answer.
        let (mut spends, mut rejects) = (spend_seqs.into_iter(), reject_seqs.into_iter());
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(plans.len());
        let mut rows = DeviceEntryRows::default();
        for (e, plan) in batch.entries.iter().zip(&plans) {
            let outcome = match plan {
                Plan::Apply { lease } => {
                    let seq = spends.next().ok_or_else(|| corrupt("spend", "missing"))?;
                    debug_assert_eq!(*lease, e.lease_id);
                    rows.push(e, None, seq);
                    Outcome::Applied { server_seq: seq }
                }
                Plan::Reject(r) => {
                    let seq = rejects.next().ok_or_else(|| corrupt("seq", "missing"))?;
                    rows.push(e, Some(*r), seq);
                    Outcome::Rejected {
                        server_seq: seq,
                        reason: *r,
                    }
                }
                Plan::Answered(o) => o.clone(),
                Plan::SameAs(j) => match &outcomes[*j] {
                    Outcome::Applied { server_seq } => Outcome::AlreadyApplied {
                        server_seq: *server_seq,
                    },
                    other => other.clone(),
                },
            };
            outcomes.push(outcome);
        }
        if !rows.entry_id.is_empty() {
            exec(
                &tx,
                sql::INSERT_DEVICE_ENTRIES,
                &[
                    &user_id,
                    &device_id,
                    &now,
                    &rows.entry_id,
                    &rows.kind,
                    &rows.amount,
                    &rows.lease_id,
                    &rows.local_time,
                    &rows.memo,
                    &rows.outcome,
                    &rows.reason,
                    &rows.server_seq,
                    &rows.entry_seq,
                ],
            )
            .await?;
        }
        if !removed {
            exec(&tx, sql::TOUCH, &[&user_id, &device_id, &now]).await?;
        }
        let dev = device(&tx, user_id, device_id).await?;
        let b = one(&tx, sql::READ_BALANCE, &[&user_id]).await?;
        tx.commit().await?;
        Ok(PushAnswer {
            outcomes: batch
                .entries
                .iter()
                .zip(outcomes)
                .map(|(e, outcome)| EntryOutcome {
                    entry_id: e.entry_id.clone(),
                    outcome,
                })
                .collect(),
            lease: dev.lease,
            balance: Balance::new(b.get(0), b.get(1)),
        })
    }

    /// Everything of the caller's after `after`: every ledger entry (with the entry id and
    /// device of those a device pushed) and every rejected device entry, in `server_seq` order,
    /// at most `limit` (1 to 1000, default 200).
    pub async fn pull(
        &self,
        who: &Account,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<PullPage, SyncError> {
        let after = after.unwrap_or(0);
        let limit = limit.unwrap_or(DEFAULT_PULL_PAGE);
        if after < 0 || !(1..=MAX_PULL_PAGE).contains(&limit) {
            return Err(SyncError::InvalidInput(format!(
                "after must not be negative and limit must be 1 to {MAX_PULL_PAGE}"
            )));
        }
        let Some(user_id) = self.user(who).await? else {
            return Ok(PullPage {
                entries: vec![],
                cursor: after,
                more: false,
            });
        };
        let client = self.pool.get().await?;
        let rows = all(&client, sql::PULL, &[&user_id, &after, &(limit + 1)]).await?;
        let more = rows.len() as i64 > limit;
        let entries = rows
            .iter()
            .take(limit as usize)
            .map(pulled_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PullPage {
            cursor: entries.last().map_or(after, |e| e.server_seq),
            entries,
            more,
        })
    }
}

/// What no entry may carry even to be stored as rejected: a malformed id, a memo that is not
/// short text, a local time outside 1970..10000.
fn check_entry(e: &latchkey_wire::PushEntry) -> Result<(), SyncError> {
    check_key(&e.entry_id).map_err(|_| {
        SyncError::InvalidInput("entry_id must be 1 to 255 visible ASCII characters".into())
    })?;
    if e.memo.as_deref().is_some_and(|m| {
        m.chars().count() > crate::ledger::MAX_MEMO_CHARS || m.chars().any(char::is_control)
    }) {
        return Err(SyncError::InvalidInput(
            "a memo is at most 200 characters, without control characters".into(),
        ));
    }
    if !(1970..10000).contains(&chrono::Datelike::year(&e.local_time)) {
        return Err(SyncError::InvalidInput(
            "local_time must be between 1970 and 9999".into(),
        ));
    }
    Ok(())
}

/// The `device_entries` rows of one batch, column by column (one UNNEST insert).
#[derive(Default)]
struct DeviceEntryRows {
    entry_id: Vec<String>,
    kind: Vec<&'static str>,
    amount: Vec<i64>,
    lease_id: Vec<i64>,
    local_time: Vec<DateTime<Utc>>,
    memo: Vec<Option<String>>,
    outcome: Vec<&'static str>,
    reason: Vec<Option<&'static str>>,
    server_seq: Vec<i64>,
    entry_seq: Vec<Option<i64>>,
}

impl DeviceEntryRows {
    fn push(&mut self, e: &latchkey_wire::PushEntry, rejected: Option<RejectReason>, seq: i64) {
        self.entry_id.push(e.entry_id.clone());
        self.kind.push(e.kind.as_str());
        self.amount.push(e.amount);
        self.lease_id.push(e.lease_id);
        self.local_time.push(e.local_time);
        self.memo.push(e.memo.clone());
        self.outcome.push(if rejected.is_some() {
            "rejected"
        } else {
            "applied"
        });
        self.reason.push(rejected.map(reason_str));
        self.server_seq.push(seq);
        self.entry_seq.push(rejected.is_none().then_some(seq));
    }
}

async fn device<C: GenericClient>(
    c: &C,
    user_id: i64,
    device_id: &str,
) -> Result<Device, SyncError> {
    let row = opt(c, sql::DEVICES, &[&user_id, &Some(device_id)]).await?;
    row.as_ref()
        .map(device_from_row)
        .ok_or(SyncError::UnknownDevice)
}

/// The device, which must not be removed.
async fn live_device(
    tx: &Transaction<'_>,
    user_id: i64,
    device_id: &str,
) -> Result<Device, SyncError> {
    let dev = device(tx, user_id, device_id).await?;
    if dev.removed_at.is_some() {
        return Err(SyncError::DeviceRemoved);
    }
    Ok(dev)
}

fn device_from_row(r: &Row) -> Device {
    let lease_id: Option<i64> = r.get(5);
    let device_id: String = r.get(0);
    Device {
        lease: lease_id.map(|lease_id| {
            let (granted, spent): (i64, i64) = (r.get(6), r.get(7));
            Lease {
                lease_id,
                device_id: device_id.clone(),
                granted,
                spent,
                remaining: granted - spent,
                expires_at: r.get(8),
                closed_at: None,
                closed_by: None,
            }
        }),
        device_id,
        name: r.get(1),
        created_at: r.get(2),
        last_seen_at: r.get(3),
        removed_at: r.get(4),
    }
}

fn pulled_from_row(r: &Row) -> Result<PulledEntry, SyncError> {
    let kind: &str = r.get(1);
    let reason: Option<&str> = r.get(10);
    Ok(PulledEntry {
        server_seq: r.get(0),
        kind: EntryKind::parse(kind).ok_or_else(|| corrupt("kind", kind))?,
        amount: r.get(2),
        hold: r.get(3),
        expires_at: r.get(4),
        memo: r.get(5),
        created_at: r.get(6),
        entry_id: r.get(7),
        device_id: r.get(8),
        lease_id: r.get(9),
        rejected: reason.map(parse_reason).transpose()?,
    })
}

async fn open_lease(
    tx: &Transaction<'_>,
    user_id: i64,
    device_id: &str,
) -> Result<Option<LeaseRow>, SyncError> {
    let none: Vec<i64> = vec![];
    Ok(all(tx, sql::LEASES, &[&user_id, &device_id, &none])
        .await?
        .iter()
        .map(LeaseRow::from_row)
        .find(|l| !l.closed))
}

/// Closes an open lease: releases what its hold still sets aside.
async fn close(
    tx: &Transaction<'_>,
    user_id: i64,
    lease: &LeaseRow,
    by: LeaseClosedBy,
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    if let Some(h) = lease.hold_seq.filter(|_| lease.hold_open > 0) {
        release(tx, user_id, h, lease.hold_open, now).await?;
    }
    let by = match by {
        LeaseClosedBy::Device => "device",
        LeaseClosedBy::Removal => "removal",
    };
    exec(tx, sql::CLOSE_LEASE, &[&lease.id, &now, &by]).await?;
    Ok(())
}

/// Gives a whole open hold back (a `release` entry; the hold is settled).
async fn release(
    tx: &Transaction<'_>,
    user_id: i64,
    hold: i64,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    // Only the device's own sync and its removal come here (issue 9's rule; the database
    // refuses a lease's hold to every other transaction).
    one(tx, sql::LEASE_SETTLE, &[]).await?;
    let seq: i64 = one(
        tx,
        sql::INSERT_ENTRY,
        &[
            &user_id,
            &"release",
            &amount,
            &Some(hold),
            &None::<DateTime<Utc>>,
            &None::<&str>,
            &now,
        ],
    )
    .await?
    .get(0);
    exec(tx, sql::SETTLE_HOLD, &[&hold, &seq]).await?;
    Ok(())
}

/// Sets `amount` aside for a lease until `expires_at` (a `hold` entry); none for 0.
async fn new_hold(
    tx: &Transaction<'_>,
    user_id: i64,
    amount: i64,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, SyncError> {
    if amount <= 0 {
        return Ok(None);
    }
    let seq: i64 = one(
        tx,
        sql::INSERT_ENTRY,
        &[
            &user_id,
            &"hold",
            &amount,
            &None::<i64>,
            &Some(expires_at),
            &Some("Offline lease"),
            &now,
        ],
    )
    .await?
    .get(0);
    exec(
        tx,
        sql::INSERT_HOLD,
        &[&seq, &user_id, &amount, &expires_at],
    )
    .await?;
    Ok(Some(seq))
}
