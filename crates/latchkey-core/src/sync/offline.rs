//! The wallet commands while the credit service cannot be reached: `spend` and `reserve` (and
//! the `capture` or `release` of such a hold) are paid from this device's open, unexpired lease
//! only, with the rule paid analytics runs follow ([`Core::pay_from_lease`]). Each becomes an
//! offline entry whose id is the command's idempotency key (kept for ever, pushed at the next
//! sync); it is shown with a local id, negative so it is never one of the service's.
//! When the lease cannot cover it: [`Code::InsufficientCredits`] with "available offline: N",
//! and nothing changes.

use super::store::{OfflineEntry, OfflineHold, Pending};
use crate::accounts::AccountRecord;
use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::service::{LedgerEntry, ServiceBalance, ServiceReceipt};
use chrono::{DateTime, Utc};
use latchkey_wallet::{Credits, Timestamp};

/// The refusal when the service cannot be reached and this device holds no lease.
fn no_lease(e: Error) -> Error {
    Error::new(
        Code::ServiceUnavailable,
        format!(
            "{} This device holds no offline lease to spend from (sync while the service can \
             be reached to get one).",
            e.message
        ),
    )
}

fn conflict(key: &str) -> Error {
    Error::new(
        Code::IdempotencyConflict,
        format!("the key {key} was already used offline for a different request; nothing changed"),
    )
}

/// What a wallet command made offline, in the service receipt's shape.
struct Made<'a> {
    id: i64,
    kind: &'a str,
    amount: i64,
    key: &'a str,
    memo: Option<String>,
    related: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    replayed: bool,
}

impl Core {
    /// The service's balance as this device must show it: minus what was spent offline and
    /// not yet answered by the service (taken from the lease's hold, so `available`, what other
    /// devices may spend, does not move).
    pub(crate) fn with_offline_spends(
        &self,
        record: &AccountRecord,
        b: ServiceBalance,
    ) -> Result<ServiceBalance> {
        let spent = self.sync_store()?.unanswered_spent(&record.id)?;
        let from_hold = b.held.min(spent);
        let (posted, held) = (b.posted - spent, b.held - from_hold);
        Ok(ServiceBalance {
            posted,
            held,
            available: posted - held,
        })
    }

    fn offline_receipt(&self, record: &AccountRecord, made: Made<'_>) -> Result<ServiceReceipt> {
        let known = self.read_cached_balance(record).unwrap_or(ServiceBalance {
            posted: 0,
            held: 0,
            available: 0,
        });
        let balance = self.with_offline_spends(record, known)?;
        Ok(ServiceReceipt {
            entry: LedgerEntry {
                id: made.id,
                kind: made.kind.to_string(),
                amount: Credits(made.amount),
                posted_after: Credits(balance.posted),
                held_after: Credits(balance.held),
                available_after: Credits(balance.available),
                idempotency_key: Some(made.key.to_string()),
                memo: made.memo,
                related: made.related,
                expires_at: made.expires_at.map(Timestamp::from),
                created_at: Timestamp::from(made.created_at),
                captured_by: None,
            },
            balance,
            replayed: made.replayed,
        })
    }

    fn spend_receipt(
        &self,
        record: &AccountRecord,
        key: &str,
        e: &OfflineEntry,
        kind: &str,
        related: Option<i64>,
        replayed: bool,
    ) -> Result<ServiceReceipt> {
        self.offline_receipt(
            record,
            Made {
                id: -e.seq,
                kind,
                amount: e.amount,
                key,
                memo: e.memo.clone(),
                related,
                expires_at: None,
                created_at: e.local_time,
                replayed,
            },
        )
    }

    fn hold_receipt(
        &self,
        record: &AccountRecord,
        h: &OfflineHold,
        replayed: bool,
    ) -> Result<ServiceReceipt> {
        self.offline_receipt(
            record,
            Made {
                id: -h.hold_id,
                kind: "reserve",
                amount: h.amount,
                key: &h.entry_id,
                memo: h.memo.clone(),
                related: None,
                expires_at: Some(h.expires_at),
                created_at: h.created_at,
                replayed,
            },
        )
    }

    /// A spend or hold made offline earlier with `key`: its receipt again (`replayed`), or a
    /// conflict when the key was used for something else. `None`: the key is new here.
    pub(crate) fn offline_replay(
        &self,
        subject: Option<&str>,
        key: &str,
        op: OfflineOp<'_>,
    ) -> Result<Option<ServiceReceipt>> {
        let record = self.account_record(subject)?;
        let store = self.sync_store()?;
        if let Some(h) = store.hold_made_by(&record.id, key)? {
            return match op {
                OfflineOp::Reserve { amount, memo }
                    if amount == h.amount && memo == h.memo.as_deref() =>
                {
                    Ok(Some(self.hold_receipt(&record, &h, true)?))
                }
                _ => Err(conflict(key)),
            };
        }
        if let Some(h) = store.hold_settled_by(&record.id, key)? {
            return match (op, h.captured) {
                (OfflineOp::Capture { hold, amount }, Some(c))
                    if hold == -h.hold_id && amount == c =>
                {
                    let e = store
                        .entry(&record.id, key)?
                        .ok_or_else(|| Error::new(Code::Internal, "an offline capture vanished"))?;
                    Ok(Some(self.spend_receipt(
                        &record,
                        key,
                        &e,
                        "capture",
                        Some(-h.hold_id),
                        true,
                    )?))
                }
                (OfflineOp::Release { hold }, None) if hold == -h.hold_id => {
                    Ok(Some(self.release_receipt(&record, key, &h, true)?))
                }
                _ => Err(conflict(key)),
            };
        }
        match (store.entry(&record.id, key)?, op) {
            (None, _) => Ok(None),
            // A paid run's entry still running, or given back: not a wallet command's.
            (Some(e), _) if !e.ready => Err(conflict(key)),
            (Some(e), OfflineOp::Spend { amount, memo })
                if e.amount == amount && e.memo.as_deref() == memo =>
            {
                Ok(Some(
                    self.spend_receipt(&record, key, &e, "spend", None, true)?,
                ))
            }
            (Some(_), _) => Err(conflict(key)),
        }
    }

    fn release_receipt(
        &self,
        record: &AccountRecord,
        key: &str,
        h: &OfflineHold,
        replayed: bool,
    ) -> Result<ServiceReceipt> {
        self.offline_receipt(
            record,
            Made {
                id: -h.hold_id,
                kind: "release",
                amount: h.amount,
                key,
                memo: None,
                related: Some(-h.hold_id),
                expires_at: None,
                created_at: self.now(),
                replayed,
            },
        )
    }

    /// `wallet spend` with the service unreachable (`down`): from this device's lease.
    ///
    /// # Errors
    /// [`Code::InsufficientCredits`] ("available offline: N") when the lease cannot cover it;
    /// `down` (with why) when this device holds no lease.
    pub(crate) fn offline_spend(
        &self,
        subject: Option<&str>,
        key: &str,
        amount: i64,
        memo: Option<&str>,
        down: Error,
    ) -> Result<ServiceReceipt> {
        check_amount(amount)?;
        check_push(key, memo)?;
        let record = self.account_record(subject)?;
        let mut store = self.sync_store()?;
        let now = self.now();
        let (e, fresh) = store.spend(&record.id, &pending(key, amount, memo, now), now, || {
            no_lease(down)
        })?;
        self.spend_receipt(&record, key, &e, "spend", None, !fresh)
    }

    /// `wallet reserve` with the service unreachable (`down`): an offline hold on this device's
    /// lease for `ttl_secs`, shown with a negative id.
    ///
    /// # Errors
    /// As [`Core::offline_spend`].
    pub(crate) fn offline_reserve(
        &self,
        subject: Option<&str>,
        key: &str,
        amount: i64,
        ttl_secs: u64,
        memo: Option<&str>,
        down: Error,
    ) -> Result<ServiceReceipt> {
        check_amount(amount)?;
        check_push(key, memo)?;
        if !(1..=86_400).contains(&ttl_secs) {
            return Err(Error::new(
                Code::InvalidInput,
                "a hold's time to live is 1 to 86400 seconds; nothing changed",
            ));
        }
        let record = self.account_record(subject)?;
        let mut store = self.sync_store()?;
        let now = self.now();
        let expires = now + chrono::Duration::seconds(ttl_secs as i64);
        let h = store.reserve(
            &record.id,
            &pending(key, amount, memo, now),
            expires,
            now,
            || no_lease(down),
        )?;
        self.hold_receipt(&record, &h, false)
    }

    /// Captures `amount` of the offline hold `hold` (a negative id) with key `key`: a spend
    /// from the lease, pushed at the next sync; the rest goes back to the lease. Works online
    /// and offline (the hold is this device's).
    ///
    /// # Errors
    /// [`Code::UnknownEntry`] when it is not an open offline hold; [`Code::InvalidInput`]
    /// when `amount` exceeds it.
    pub(crate) fn offline_capture(
        &self,
        subject: Option<&str>,
        key: &str,
        hold: i64,
        amount: i64,
    ) -> Result<ServiceReceipt> {
        if let Some(r) = self.offline_replay(subject, key, OfflineOp::Capture { hold, amount })? {
            return Ok(r);
        }
        check_push(key, None)?;
        let record = self.account_record(subject)?;
        let mut store = self.sync_store()?;
        let h = store.settle_hold(&record.id, -hold, key, Some((amount, None)), self.now())?;
        let e = store
            .entry(&record.id, key)?
            .ok_or_else(|| Error::new(Code::Internal, "an offline capture vanished"))?;
        self.spend_receipt(&record, key, &e, "capture", Some(-h.hold_id), false)
    }

    /// Gives the offline hold `hold` (a negative id) back to the lease.
    ///
    /// # Errors
    /// As [`Core::offline_capture`].
    pub(crate) fn offline_release(
        &self,
        subject: Option<&str>,
        key: &str,
        hold: i64,
    ) -> Result<ServiceReceipt> {
        if let Some(r) = self.offline_replay(subject, key, OfflineOp::Release { hold })? {
            return Ok(r);
        }
        let record = self.account_record(subject)?;
        let mut store = self.sync_store()?;
        let h = store.settle_hold(&record.id, -hold, key, None, self.now())?;
        self.release_receipt(&record, key, &h, false)
    }
}

/// A wallet command, for matching a replay against what its key did first.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OfflineOp<'a> {
    Spend { amount: i64, memo: Option<&'a str> },
    Reserve { amount: i64, memo: Option<&'a str> },
    Capture { hold: i64, amount: i64 },
    Release { hold: i64 },
}

fn pending(key: &str, amount: i64, memo: Option<&str>, now: DateTime<Utc>) -> Pending {
    Pending {
        entry_id: key.to_string(),
        amount,
        lease_id: 0,
        local_time: now,
        memo: memo.map(str::to_string),
    }
}

/// What the service accepts in a push: a key of 1 to 255 visible ASCII characters, a memo of
/// at most 200 characters without control characters (refused here, so a push never fails).
fn check_push(key: &str, memo: Option<&str>) -> Result<()> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            Code::InvalidInput,
            "an idempotency key is 1 to 255 visible ASCII characters; nothing changed",
        ));
    }
    if memo.is_some_and(|m| m.chars().count() > 200 || m.chars().any(char::is_control)) {
        return Err(Error::new(
            Code::InvalidInput,
            "a memo is at most 200 characters, without control characters; nothing changed",
        ));
    }
    Ok(())
}

fn check_amount(amount: i64) -> Result<()> {
    if (1..=1_000_000_000_000).contains(&amount) {
        Ok(())
    } else {
        Err(Error::new(
            Code::InvalidInput,
            "an amount is a whole number of credits from 1 to 10^12; nothing changed",
        ))
    }
}
