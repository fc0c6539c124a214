//! Offline-first across devices (issue 9): devices, leases and the sync protocol's rules.
//!
//! A **lease** is a ledger hold at the service that one device alone may spend from while
//! offline; `leases` records whose hold it is and how much of it was spent, so available ≥ 0
//! stays enforced by the balance row's CHECK. A device **pushes** its local entries in batches,
//! each applied in ONE transaction: every entry id is applied at most once per user, the same id
//! with other parameters is a conflict, a spend beyond the device's lease or from a removed
//! device is stored as rejected. A device **pulls** everything after its cursor (`server_seq`,
//! the only order). Only the owning device or the device's removal closes a lease.
//!
//! The wire shapes are [`latchkey_wire`]'s; the rules for one entry are [`decide`] (pure, unit
//! tested); [`pg`] runs them against PostgreSQL; [`routes`] are the HTTP faces.

pub mod import;
pub mod pg;
pub mod routes;

use crate::db::DbError;
use crate::ledger::{LedgerError, MAX_AMOUNT};
use chrono::{DateTime, Duration, Utc};
use latchkey_wire::{EntryKind, PushEntry, RejectReason};

pub use pg::Devices;

/// How much a device may borrow, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeasePolicy {
    /// Credits lent when the device names no amount (capped by what is available).
    pub default_credits: i64,
    /// Most credits one lease may hold, whatever the device asks.
    pub max_credits: i64,
    /// How long a lease lasts from its last renewal.
    pub ttl: Duration,
}

impl Default for LeasePolicy {
    /// min(available, 20) for 14 days, as issue 9 says; at most 100,000 on request.
    fn default() -> Self {
        LeasePolicy {
            default_credits: 20,
            max_credits: 100_000,
            ttl: Duration::days(14),
        }
    }
}

impl LeasePolicy {
    /// The lease size a request for `asked` credits aims at (before availability).
    pub fn target(&self, asked: Option<i64>) -> i64 {
        asked
            .unwrap_or(self.default_credits)
            .clamp(0, self.max_credits)
    }
}

/// A lease as the push rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// Credits lent.
    pub granted: i64,
    /// Credits of it spent (including this batch's entries decided so far).
    pub spent: i64,
    /// What is still set aside for it at the ledger (its open hold, less this batch's spends).
    pub held: i64,
    /// After this it no longer sets credits aside.
    pub expires_at: DateTime<Utc>,
    /// Closed by its device or by removal.
    pub closed: bool,
}

/// What [`decide`] says about one new entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Spend it: `from_hold` credits out of the lease's hold, the rest from free credits.
    Apply {
        /// Taken from the lease's hold.
        from_hold: i64,
    },
    /// Store it as refused.
    Reject(RejectReason),
}

/// The rule for one entry never seen before: a spend is applied when its device is not
/// removed, it names an open lease of that device, stays within the lease
/// (`spent + amount <= granted`) and is covered by what the lease still holds plus `free`
/// (credits nobody holds; only needed when the lease's hold lapsed or was settled). Everything
/// else is rejected with its reason.
pub fn decide(
    entry: &PushEntry,
    device_removed: bool,
    lease: Option<&LeaseState>,
    free: i64,
    now: DateTime<Utc>,
) -> Decision {
    use RejectReason as R;
    if device_removed {
        return Decision::Reject(R::DeviceRemoved);
    }
    if !entry_is_valid(entry) {
        return Decision::Reject(R::Invalid);
    }
    if entry.kind != EntryKind::Spend {
        return Decision::Reject(R::NotPushable);
    }
    let Some(lease) = lease else {
        return Decision::Reject(R::UnknownLease);
    };
    if lease.closed {
        return Decision::Reject(R::LeaseClosed);
    }
    if lease.spent + entry.amount > lease.granted {
        return Decision::Reject(R::BeyondLease);
    }
    let from_hold = lease.held.min(entry.amount);
    if entry.amount - from_hold > free {
        return Decision::Reject(if lease.expires_at <= now {
            R::LeaseExpired
        } else {
            R::BeyondLease
        });
    }
    Decision::Apply { from_hold }
}

/// Amount and lease id in range (memo and time are checked for the whole batch first).
fn entry_is_valid(e: &PushEntry) -> bool {
    (1..=MAX_AMOUNT).contains(&e.amount) && e.lease_id > 0
}

/// What an entry id is bound to: a replay with equal [`Params`] gets the first outcome, any
/// other parameters under that id are a conflict. Times compare to the microsecond (what
/// PostgreSQL keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The pushing device.
    pub device_id: String,
    /// The entry's kind, as stored.
    pub kind: String,
    /// The amount, as sent.
    pub amount: i64,
    /// The lease named.
    pub lease_id: i64,
    /// The device's time, in microseconds since the epoch.
    pub local_micros: i64,
    /// The memo.
    pub memo: Option<String>,
}

/// The parameters `device_id`'s entry `e` binds its id to.
pub fn params(device_id: &str, e: &PushEntry) -> Params {
    Params {
        device_id: device_id.to_string(),
        kind: e.kind.as_str().to_string(),
        amount: e.amount,
        lease_id: e.lease_id,
        local_micros: e.local_time.timestamp_micros(),
        memo: e.memo.clone(),
    }
}

/// Checks a device id: 16 to 64 of `A-Z a-z 0-9 - _` (a UUID or ULID fits).
pub fn check_device_id(id: &str) -> Result<(), SyncError> {
    if (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(SyncError::InvalidInput(
            "device ids are 16 to 64 characters of A-Z a-z 0-9 - _".into(),
        ))
    }
}

/// Checks a device name: 1 to 100 characters, no control characters.
pub fn check_name(name: &str) -> Result<(), SyncError> {
    let n = name.chars().count();
    if (1..=100).contains(&n) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(SyncError::InvalidInput(
            "a device name is 1 to 100 characters, without control characters".into(),
        ))
    }
}

/// Why a sync call changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// No device with this id is registered for the caller.
    #[error("no such device; register it first (PUT /v1/devices/ID)")]
    UnknownDevice,
    /// The device was removed as lost: it can never register again, hold a lease or import;
    /// its pushes are stored as rejected and it can still pull (a new device id starts afresh).
    #[error("this device was removed; sign in again on it to register it as a new device")]
    DeviceRemoved,
    /// A parameter is out of range or malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// The ledger refused or failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<tokio_postgres::Error> for SyncError {
    fn from(e: tokio_postgres::Error) -> Self {
        SyncError::Ledger(LedgerError::Db(DbError::from(e)))
    }
}

impl From<deadpool_postgres::PoolError> for SyncError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        SyncError::Ledger(LedgerError::Db(DbError::from(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn spend(amount: i64) -> PushEntry {
        PushEntry {
            entry_id: "e".into(),
            kind: EntryKind::Spend,
            amount,
            lease_id: 1,
            local_time: t(0),
            memo: None,
        }
    }

    fn lease(granted: i64, spent: i64) -> LeaseState {
        LeaseState {
            granted,
            spent,
            held: granted - spent,
            expires_at: t(100),
            closed: false,
        }
    }

    #[test]
    fn a_spend_within_its_lease_is_applied_from_the_hold() {
        assert_eq!(
            decide(&spend(5), false, Some(&lease(20, 15)), 0, t(1)),
            Decision::Apply { from_hold: 5 }
        );
    }

    #[test]
    fn refusals_carry_their_reason() {
        use RejectReason as R;
        let open = lease(20, 16);
        let cases: Vec<(PushEntry, bool, Option<LeaseState>, R)> = vec![
            (spend(5), false, Some(open.clone()), R::BeyondLease),
            (spend(1), true, Some(open.clone()), R::DeviceRemoved),
            (spend(0), false, Some(open.clone()), R::Invalid),
            (
                PushEntry {
                    kind: EntryKind::Grant,
                    ..spend(1)
                },
                false,
                Some(open.clone()),
                R::NotPushable,
            ),
            (spend(1), false, None, R::UnknownLease),
            (
                spend(1),
                false,
                Some(LeaseState {
                    closed: true,
                    ..open.clone()
                }),
                R::LeaseClosed,
            ),
        ];
        for (e, removed, l, want) in cases {
            assert_eq!(
                decide(&e, removed, l.as_ref(), 1000, t(1)),
                Decision::Reject(want),
                "{e:?} removed={removed} lease={l:?}"
            );
        }
    }

    #[test]
    fn a_lapsed_lease_spends_from_free_credits_only_while_they_cover_it() {
        let lapsed = LeaseState {
            held: 0,
            ..lease(20, 0)
        };
        assert_eq!(
            decide(&spend(5), false, Some(&lapsed), 5, t(200)),
            Decision::Apply { from_hold: 0 },
            "still within the lease and covered by free credits"
        );
        assert_eq!(
            decide(&spend(5), false, Some(&lapsed), 4, t(200)),
            Decision::Reject(RejectReason::LeaseExpired),
            "never beyond what is available"
        );
    }

    #[test]
    fn device_ids_and_names_are_checked() {
        assert!(check_device_id("0123456789abcdef").is_ok());
        assert!(check_device_id("01J9ZQ-7Y_K3M4N5P6Q7R8S9T0V").is_ok());
        for bad in ["short", "0123456789abcde/", &"x".repeat(65)] {
            assert!(check_device_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("Laptop").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a\nb").is_err());
    }

    #[test]
    fn lease_targets_are_capped() {
        let p = LeasePolicy::default();
        assert_eq!(p.target(None), 20);
        assert_eq!(p.target(Some(5)), 5);
        assert_eq!(p.target(Some(1_000_000)), 100_000);
        assert_eq!(p.target(Some(-3)), 0);
    }
}
