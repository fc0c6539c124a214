//! Paying for a paid feature at the credit service: reserve there, do the work, capture on
//! success, release on failure. The analytics' `Core::pay_for` comes here when a service is
//! configured. The payment path is synchronous (the analytics engine is), so each service
//! call is driven to completion here: on the caller's multi-threaded runtime when there is
//! one (the desktop app), else on a small runtime of its own in a helper thread (the CLI's
//! runtime is single-threaded and must not be blocked from inside).

use crate::core::Core;
use crate::error::{Code, Error, Result};
use latchkey_wallet::{Balance, Credits};
use std::future::Future;

/// How long a hold for a paid run lives at the service if neither captured nor released.
const HOLD_TTL_SECS: u64 = 600;

/// Drives futures to completion from synchronous code, inside or outside a runtime.
struct Blocking {
    /// `None`: on a multi-threaded runtime, whose handle is used.
    own: Option<tokio::runtime::Runtime>,
}

impl Blocking {
    fn new() -> Result<Self> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let multi =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        let own = if multi {
            None
        } else {
            Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Error::new(Code::Internal, format!("no async runtime: {e}")))?,
            )
        };
        Ok(Self { own })
    }

    fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        match &self.own {
            None => tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(fut)),
            Some(rt) => std::thread::scope(|s| {
                s.spawn(|| rt.block_on(fut))
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            }),
        }
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        // Dropping a runtime inside another one's context panics; shutting it down does not.
        if let Some(rt) = self.own.take() {
            rt.shutdown_background();
        }
    }
}

fn balance(b: crate::ServiceBalance) -> Balance {
    Balance {
        posted: Credits(b.posted),
        held: Credits(b.held),
        available: Credits(b.available),
    }
}

/// Never used: a run paid from the lease before is a replay (`Store::take` answers it first).
fn no_lease() -> Error {
    Error::new(
        Code::Internal,
        "a run paid from this device's lease is no longer found there",
    )
}

/// A reserve refused because the service cannot be reached: said plainly for a paid run.
fn offline_refusal(e: Error) -> Error {
    if e.code != Code::ServiceUnavailable {
        return e;
    }
    Error::new(
        Code::ServiceUnavailable,
        format!(
            "Paid runs are charged at the credit service, which cannot be reached now, so \
             nothing was run and nothing was charged (this device holds no offline lease: \
             sync while the service can be reached to get one). {}",
            e.message
        ),
    )
}

impl Core {
    /// `Core::pay_for` at the credit service: the hold, `work`, then capture or release, each
    /// idempotent on `run_id` (a retried run is charged once).
    pub(crate) fn pay_at_service<T>(
        &self,
        cost: Credits,
        run_id: &str,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<(T, Balance)> {
        let blocking = Blocking::new()?;
        let memo = Some("analytics run");
        let from_lease = format!("{run_id}:offline");
        // A run already paid from the lease (offline, or online with too little available):
        // a replay there, whatever is available now.
        let paid = crate::sync::OfflineOp::Spend {
            amount: cost.get(),
            memo,
        };
        if matches!(self.offline_replay(None, &from_lease, paid), Ok(Some(_))) {
            let (done, b) =
                self.pay_from_lease(cost.get(), &from_lease, "analytics run", no_lease, work)?;
            return Ok((done, balance(b)));
        }
        let hold = match blocking.run(self.service_reserve_online(
            None,
            &format!("{run_id}:reserve"),
            cost.get(),
            HOLD_TTL_SECS,
            memo,
        )) {
            Ok(hold) => hold,
            // Offline: only this device's lease may pay (sync/), pushed at the next sync.
            Err(e) if e.code == Code::ServiceUnavailable => {
                let (done, b) = self.pay_from_lease(
                    cost.get(),
                    &from_lease,
                    "analytics run",
                    || offline_refusal(e),
                    work,
                )?;
                return Ok((done, balance(b)));
            }
            // Too little available at the service: this device's own lease pays, made to
            // cover the run when available + lease can, and is pushed once the run is done.
            Err(e) if e.code == Code::InsufficientCredits => {
                let short = blocking.run(self.lease_to_cover(None, cost.get(), e))?;
                let refused = short.clone();
                let (done, _) = self
                    .pay_from_lease(cost.get(), &from_lease, "analytics run", || short, work)
                    .map_err(|e| {
                        if e.code == Code::InsufficientCredits {
                            refused
                        } else {
                            e
                        }
                    })?;
                blocking.run(self.push_now(None));
                let b = self
                    .service_balance_cached(None)?
                    .map(|k| k.value)
                    .unwrap_or(crate::ServiceBalance {
                        posted: 0,
                        held: 0,
                        available: 0,
                    });
                return Ok((done, balance(b)));
            }
            Err(e) => return Err(e),
        };
        let hold_id = hold.entry.id;
        match work() {
            Ok(done) => {
                let receipt = blocking.run(self.service_capture(
                    None,
                    &format!("{run_id}:capture"),
                    hold_id,
                    cost.get(),
                ))?;
                Ok((done, balance(receipt.balance)))
            }
            Err(e) => {
                // Not given back now (the service went away meanwhile)? The hold lapses by
                // itself after HOLD_TTL_SECS; the work's error is what the user must see.
                let _ =
                    blocking.run(self.service_release(None, &format!("{run_id}:release"), hold_id));
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_runs_outside_any_runtime() {
        let b = Blocking::new().unwrap();
        assert_eq!(b.run(async { 7 }), 7);
    }

    #[tokio::test]
    async fn blocking_runs_inside_a_single_threaded_runtime() {
        let b = Blocking::new().unwrap();
        assert!(
            b.own.is_some(),
            "the CLI's runtime cannot be blocked from inside"
        );
        assert_eq!(b.run(async { 7 }), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocking_runs_inside_a_multi_threaded_runtime() {
        let b = Blocking::new().unwrap();
        assert!(b.own.is_none(), "the app's runtime is used");
        assert_eq!(b.run(async { 7 }), 7);
    }

    #[tokio::test]
    async fn a_paid_run_with_the_service_unreachable_is_refused_and_runs_nothing() {
        let rig = crate::testing::Rig::new();
        let mut app = rig.at(crate::testing::t0());
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        app.config.service = Some(crate::config::ServiceConfig {
            url: url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap(),
        });
        let mut alice = crate::testing::signed_in("alice");
        alice.tokens.id_token = Some(latchkey_auth::IdToken::new("h.p.s"));
        app.store_session("p", alice).unwrap();
        let mut ran = false;
        let e = app
            .pay_at_service(Credits(1), "run-1", || {
                ran = true;
                Ok(())
            })
            .unwrap_err();
        assert_eq!(e.code, Code::ServiceUnavailable, "{}", e.message);
        assert!(e.message.contains("nothing was charged"), "{}", e.message);
        assert!(!ran, "no work is done unless the credits are held first");
    }
}
