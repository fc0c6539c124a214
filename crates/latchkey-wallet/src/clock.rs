//! Time is passed in: the one [`Clock`] of Latchkey (the core re-exports it; the sign-in code
//! takes `now` as a value). The wallet never reads the system clock deep in its logic, so
//! tests fix and move time explicitly.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::types::Timestamp;

/// Where "now" comes from: entry times, hold and voucher expiry here; session ends, token
/// expiry and cache ages in the core.
pub trait Clock: Send + Sync {
    /// The current time, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real UTC wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move (tests). Millisecond precision, like the
/// ledger's [`Timestamp`].
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock standing at `now` (a [`Timestamp`] or a `DateTime<Utc>`).
    pub fn new(now: impl Into<DateTime<Utc>>) -> FixedClock {
        FixedClock(AtomicI64::new(now.into().timestamp_millis()))
    }

    /// Moves it to `now` (back or forth).
    pub fn set(&self, now: impl Into<DateTime<Utc>>) {
        self.0
            .store(now.into().timestamp_millis(), Ordering::SeqCst);
    }

    /// Moves it forward by `by`.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        Timestamp::from_unix_millis(self.0.load(Ordering::SeqCst)).into()
    }
}
