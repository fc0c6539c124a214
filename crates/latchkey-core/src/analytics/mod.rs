//! The paid feature: offline personal analytics. `datasets.rs` puts the analytics engine
//! (`latchkey-analytics`) behind the core: datasets imported per account into
//! `analytics.sqlite`, free profiles and previews, and the paid analyses, each paid through
//! `Core::pay_for` below: `[wallet] analytics_cost` credits reserved before any work
//! (refused at once when the credits are not there), captured when the result is saved,
//! released when the analysis fails or is cancelled.

use crate::core::Core;
use crate::error::Result;
use latchkey_wallet::{Balance, Credits};

mod datasets;
mod uploads;
pub(crate) use datasets::AnalyticsSlot;
pub use datasets::{PaidResult, ANALYSIS_KINDS};
/// The analytics engine, for the faces' types (datasets, profiles, analyses, results).
pub use latchkey_analytics as engine;
pub use uploads::MAX_UPLOAD_CHUNK;

impl Core {
    /// The one way an analysis is paid for: reserve `cost` (refused before any work when the
    /// credits are not there), do `work`, capture the hold when it succeeds, release it when it
    /// fails (the work's error is returned, nothing charged). `run_id` makes every step
    /// idempotent, so a retried run is charged once.
    pub(crate) fn pay_for<T>(
        &self,
        cost: Credits,
        run_id: &str,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<(T, Balance)> {
        // With a credit service the credits are held and spent there (service/pay.rs), and a
        // service that cannot be reached refuses the run; `offline_only` keeps this wallet.
        if self.wallet_uses_service() {
            return self.pay_at_service(cost, run_id, work);
        }
        let hold = self.with_wallet(None, |w, a| {
            w.reserve(
                a,
                &format!("{run_id}:reserve"),
                cost,
                600,
                Some("analytics run"),
            )
        })?;
        let hold_id = hold.entry.id;
        match work() {
            Ok(done) => {
                let receipt = self.with_wallet(None, |w, a| {
                    w.capture(
                        a,
                        &format!("{run_id}:capture"),
                        hold_id,
                        cost,
                        Some("analytics run"),
                    )
                })?;
                Ok((done, receipt.balance))
            }
            Err(e) => {
                self.with_wallet(None, |w, a| {
                    w.release(
                        a,
                        &format!("{run_id}:release"),
                        hold_id,
                        Some("analytics run failed or cancelled"),
                    )
                })?;
                Err(e)
            }
        }
    }
}
