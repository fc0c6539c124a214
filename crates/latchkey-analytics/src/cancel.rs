//! Stopping a running analysis: the caller keeps a [`CancelFlag`], hands a clone to the run,
//! and sets it from another thread; the analysis checks it between columns and every few
//! thousand rows, and returns [`Error::Cancelled`] without saving anything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};

/// How many rows an analysis loop handles between two looks at its flag: a look is one
/// relaxed atomic load, so this keeps the cost unmeasurable while a cancel still lands within
/// a millisecond or so.
pub(crate) const CHECK_EVERY: usize = 16_384;

/// A shared "stop" switch for one run. Clones share the switch; the default is not set.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every run holding a clone of this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the flag is set.
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Checks the flag at every [`CHECK_EVERY`]-th row.
    pub(crate) fn check_row(&self, row: usize) -> Result<()> {
        if row.is_multiple_of(CHECK_EVERY) {
            self.check()
        } else {
            Ok(())
        }
    }
}
