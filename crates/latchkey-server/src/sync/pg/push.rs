//! A batch of a device's entries, applied in ONE transaction with one outcome per entry.

use super::devices::device;
use super::leases::{new_hold, release, LeaseRow};
use super::{all, corrupt, exec, one, sql, Devices};
use crate::ledger::{check_key, Account};
use crate::sync::{check_device_id, decide, params, Decision, LeaseState, SyncError};
use chrono::{DateTime, Utc};
use latchkey_wire::{
    Balance, EntryOutcome, Outcome, PushAnswer, PushBatch, RejectReason, MAX_PUSH_ENTRIES,
};
use std::collections::{BTreeSet, HashMap};

/// The first outcome stored for an entry id.
struct Prior {
    params: crate::sync::Params,
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

pub(super) fn parse_reason(s: &str) -> Result<RejectReason, SyncError> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| corrupt("reason", s))
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
            let params = crate::sync::Params {
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
        let mut seen: HashMap<&str, (crate::sync::Params, usize)> = HashMap::new();
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
