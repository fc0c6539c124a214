//! The one pending purchase: a checkout the service opened, paid in the user's browser. The
//! same [`Waiting`] machine as sign-in (Cancel / Open again / Copy link), with purchase words.
//!
//! The outcome arrives as an event:
//! - [`PURCHASED`] (`credits://purchased`): a [`PurchasedEvent`] (the pack and the new
//!   balance), and the window comes forward;
//! - [`PURCHASE_FAILED`] (`credits://purchase-failed`): the core's `{code, message}`:
//!   `purchase_not_completed` (cancelled or expired at the payment page, or the user stopped
//!   waiting here), `purchase_timed_out`, or the service's errors.
//!
//! The waiter asks the service every half second (`Core::wait_for_purchase`), so a
//! `latchkey://purchase` link that the browser blocks still ends well.

use crate::shell::{bring_forward, Shell};
use crate::signin::timeout_from_env;
use crate::waiting::{Cancelled, Outcome, Started, Waiting, Words};
use latchkey_core::{Checkout, Code, Error, Pack, ServiceBalance};
use serde::Serialize;
use std::time::Duration;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, Runtime};

/// The event a paid purchase sends.
pub const PURCHASED: &str = "credits://purchased";
/// The event a purchase that ended unpaid sends.
pub const PURCHASE_FAILED: &str = "credits://purchase-failed";
/// How long the window waits for a payment unless `LATCHKEY_PURCHASE_TIMEOUT_SECS` says
/// otherwise (the CLI's `credits buy` default).
pub const DEFAULT_PURCHASE_TIMEOUT: Duration = Duration::from_secs(600);
/// After the timeout, how long a last answer from the service may take.
const ANSWER_GRACE: Duration = Duration::from_secs(30);

/// A purchase waiting for its payment, as the waiting screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PurchaseStarted {
    /// The pack being bought.
    pub pack: String,
    /// The payment page (to open again, or copy into another browser).
    pub url: String,
    pub timeout_secs: u64,
    pub remaining_secs: u64,
    /// False when no browser could be started: the UI shows the link to copy.
    pub browser_opened: bool,
}

impl From<Started> for PurchaseStarted {
    fn from(s: Started) -> Self {
        Self {
            pack: s.label,
            url: s.url,
            timeout_secs: s.timeout_secs,
            remaining_secs: s.remaining_secs,
            browser_opened: s.browser_opened,
        }
    }
}

/// The [`PURCHASED`] payload.
#[derive(Debug, Clone, Serialize)]
pub struct PurchasedEvent {
    pub pack: Pack,
    /// The service's balance once the pack's credits are in.
    pub balance: ServiceBalance,
}

struct Events<R: Runtime>(AppHandle<R>);

impl<R: Runtime> Outcome<PurchasedEvent> for Events<R> {
    fn done(&self, event: PurchasedEvent) {
        let _ = self.0.emit(PURCHASED, event);
        bring_forward(&self.0);
    }
    fn failed(&self, error: Error) {
        let _ = self.0.emit(PURCHASE_FAILED, error);
    }
}

/// The pending purchase (at most one). Managed by the app; cheap to clone.
#[derive(Clone)]
pub struct Purchases {
    wait: Waiting,
}

impl Purchases {
    /// Purchases that wait `timeout` for the payment.
    pub fn new(timeout: Duration) -> Self {
        let words = Words {
            timed_out: |secs| {
                Error::new(
                    Code::PurchaseTimedOut,
                    format!(
                        "The payment was not confirmed within {secs} s. If you paid, the \
                         credits still arrive."
                    ),
                )
            },
            nothing_waiting: || {
                Error::new(
                    Code::PurchaseNotCompleted,
                    "No purchase is waiting any more; start again.",
                )
            },
        };
        Self {
            wait: Waiting::new(timeout, ANSWER_GRACE, words),
        }
    }

    /// [`DEFAULT_PURCHASE_TIMEOUT`], or `LATCHKEY_PURCHASE_TIMEOUT_SECS`.
    pub fn from_env() -> Self {
        Self::new(timeout_from_env(
            "LATCHKEY_PURCHASE_TIMEOUT_SECS",
            DEFAULT_PURCHASE_TIMEOUT,
        ))
    }

    /// The purchase waiting for its payment, if any.
    pub fn pending(&self) -> Option<PurchaseStarted> {
        self.wait.pending().map(PurchaseStarted::from)
    }

    /// Stops waiting; the outcome arrives as `purchase_not_completed` (a payment made anyway
    /// is still credited by the service).
    pub fn cancel(&self) {
        self.wait.cancel();
    }

    /// Opens the pending payment page again.
    pub fn open_again(&self, open: impl FnOnce(&str) -> Result<(), Error>) -> Result<(), Error> {
        self.wait.open_again(open)
    }
}

/// Waits for `checkout` as the app does: the core polls the service, the window's events
/// report, the user's browser opens the payment page.
pub(crate) fn start_with_core<R: Runtime>(
    app: &AppHandle<R>,
    checkout: Checkout,
    open: impl FnOnce(&str) -> Result<(), Error>,
) -> (PurchaseStarted, JoinHandle<()>) {
    let handle = app.clone();
    let pack = checkout.pack.clone();
    let id = checkout.id.clone();
    let finish = move |timeout: Duration, cancelled: Cancelled| async move {
        let shell = handle.state::<Shell>();
        let core = shell.core()?;
        tokio::select! {
            paid = core.wait_for_purchase(&id, timeout) => paid.map(|balance| PurchasedEvent {
                pack,
                balance,
            }),
            () = cancelled.wait() => Err(Error::new(
                Code::PurchaseNotCompleted,
                "You stopped waiting for the payment. If you paid anyway, the credits still \
                 arrive.",
            )),
        }
    };
    let shell = app.state::<Shell>();
    let (started, waiter) = shell.purchases.wait.start(
        checkout.pack.id.clone(),
        checkout.url.clone(),
        finish,
        Events(app.clone()),
        open,
    );
    (started.into(), waiter)
}
