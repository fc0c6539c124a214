//! The one pending sign-in, as a managed state machine (like the deep-link plugin's managed
//! struct; the machine itself is [`crate::waiting`], shared with purchases):
//! [`SignIns::start`] replaces any pending sign-in and spawns its waiter,
//! [`SignIns::pending`] is what the waiting screen shows, [`SignIns::cancel`] ends it,
//! [`SignIns::open_again`] opens its link again.
//!
//! Three kinds share the machine ([`SignInMode`]): the browser sign-in; "Sign in on another
//! device", the device flow (RFC 8628: a code to type at an address on a phone or another
//! computer, [`start_device_with_core`]); and, for providers without it, a browser sign-in
//! elsewhere whose final address is pasted back ([`start_paste_back_with_core`],
//! [`SignIns::paste`]).
//!
//! The outcome arrives as an event, never as a command's answer:
//! - [`SIGNED_IN`] (`auth://signed-in`): a [`SignedInEvent`], and the window comes forward;
//! - [`SIGN_IN_FAILED`] (`auth://sign-in-failed`): the core's `{code, message}`, including
//!   `sign_in_cancelled` after [`SignIns::cancel`] and `sign_in_timed_out`.
//!
//! A sign-in replaced by a newer one (a double click, "Try again") reports nothing: the newer
//! one owns the waiting screen. The UI and the E2E tests depend on these names and payloads.

use crate::commands::auth::Account;
use crate::shell::{bring_forward, lock, Shell};
pub use crate::waiting::Cancelled;
use crate::waiting::{Outcome, Started, Waiting, Words};
use latchkey_core::{Code, Completed, DeviceSignIn, Error, PasteBack, SignIn, SignInOptions};
use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tauri::async_runtime::JoinHandle;
use tauri::{AppHandle, Emitter, Manager, Runtime};

/// The event a finished sign-in sends.
pub const SIGNED_IN: &str = "auth://signed-in";
/// The event a failed, cancelled or timed-out sign-in sends.
pub const SIGN_IN_FAILED: &str = "auth://sign-in-failed";

/// How long a sign-in waits for the browser unless `LATCHKEY_SIGN_IN_TIMEOUT_SECS` says
/// otherwise (UX.md: never spin forever; 5 minutes by default).
pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// After the timeout, how long a sign-in whose callback came just in time may still take to
/// exchange the code and store the session before the waiter gives up on it. The core stops
/// waiting for the browser at the timeout itself; this bounds the rest (a provider that
/// accepts the token request and never answers would otherwise keep the screen waiting).
const EXCHANGE_GRACE: Duration = Duration::from_secs(60);

/// A sign-in waiting for the browser, as the waiting screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInStarted {
    pub provider: String,
    /// The link to open (or copy into the right browser profile).
    pub url: String,
    pub timeout_secs: u64,
    /// Seconds left before it times out.
    pub remaining_secs: u64,
    /// False when no browser could be started: the UI shows the link to copy (and offers
    /// "Sign in on another device").
    pub browser_opened: bool,
    /// Which kind of sign-in waits.
    pub mode: SignInMode,
    /// [`SignInMode::Device`]: the code to type and where.
    pub device: Option<DeviceCodes>,
    /// [`SignInMode::PasteBack`]: what the address to paste back starts with.
    pub paste_prefix: Option<String>,
}

/// Which kind of sign-in waits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInMode {
    /// In this machine's browser (the loopback or deep-link redirect).
    #[default]
    Browser,
    /// On another device, with a code (RFC 8628).
    Device,
    /// In a browser elsewhere, finished by pasting back the address it ended on.
    PasteBack,
}

/// A device sign-in's code and where to type it (RFC 8628), as the waiting screen shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceCodes {
    pub user_code: String,
    pub verification_uri: String,
    /// The same with the code filled in, when the provider offers it.
    pub verification_uri_complete: Option<String>,
}

/// What a pending sign-in adds to the waiting machine's [`Started`].
#[derive(Clone, Default)]
struct Kind {
    mode: SignInMode,
    device: Option<DeviceCodes>,
    paste: Option<PasteBack>,
}

/// The [`SIGNED_IN`] payload: the account (no tokens) and the wallet's welcome.
#[derive(Debug, Clone, Serialize)]
pub struct SignedInEvent {
    #[serde(flatten)]
    pub account: Account,
    pub welcome_credits: Option<i64>,
    /// Why the wallet could not be opened, when it could not (the sign-in still stands).
    pub wallet_problem: Option<String>,
}

/// Where a sign-in's outcome goes: the window's events in the app, a channel in tests.
pub trait Report: Send + Sync + 'static {
    fn signed_in(&self, event: SignedInEvent);
    fn failed(&self, error: Error);
}

impl<R: Runtime> Report for AppHandle<R> {
    fn signed_in(&self, event: SignedInEvent) {
        let _ = self.emit(SIGNED_IN, event);
        bring_forward(self);
    }

    fn failed(&self, error: Error) {
        let _ = self.emit(SIGN_IN_FAILED, error);
    }
}

/// A sign-in [`Report`] as the waiting machine's [`Outcome`].
struct Reported<T>(T);

impl<T: Report> Outcome<SignedInEvent> for Reported<T> {
    fn done(&self, event: SignedInEvent) {
        self.0.signed_in(event);
    }
    fn failed(&self, error: Error) {
        self.0.failed(error);
    }
}

/// The pending sign-in (at most one) and how long sign-ins wait: the [`Waiting`] machine
/// with sign-in words. Managed by the app; cheap to clone.
#[derive(Clone)]
pub struct SignIns {
    wait: Waiting,
    /// The pending sign-in's kind (set at each start, read with [`Waiting::pending`]).
    kind: Arc<Mutex<Kind>>,
}

impl SignIns {
    /// Sign-ins that wait `timeout` for the browser.
    pub fn new(timeout: Duration) -> Self {
        let words = Words {
            timed_out,
            nothing_waiting: || {
                Error::new(
                    Code::SignInCancelled,
                    "No sign-in is waiting any more; start again.",
                )
            },
        };
        Self {
            wait: Waiting::new(timeout, EXCHANGE_GRACE, words),
            kind: Arc::default(),
        }
    }

    /// [`DEFAULT_SIGN_IN_TIMEOUT`], or `LATCHKEY_SIGN_IN_TIMEOUT_SECS` when set to a positive
    /// number of seconds.
    pub fn from_env() -> Self {
        Self::new(timeout_from_env(
            "LATCHKEY_SIGN_IN_TIMEOUT_SECS",
            DEFAULT_SIGN_IN_TIMEOUT,
        ))
    }

    /// Makes the started sign-in the pending one (a pending one is superseded: it ends and
    /// reports nothing), spawns its waiter, then opens `url` with `open` (the receiver
    /// already listens, so a fast browser finds it up).
    ///
    /// `finish(timeout, cancelled)` is the sign-in itself: it waits for the browser at most
    /// `timeout`, and gives up with `sign_in_cancelled` once `cancelled` resolves. Its outcome
    /// goes to `report` unless the sign-in was superseded. The waiter also gives up on its
    /// own (`sign_in_timed_out`) when `finish` outlives the timeout by more than the grace.
    pub fn start<F, Fut>(
        &self,
        provider: String,
        url: String,
        finish: F,
        report: impl Report,
        open: impl FnOnce(&str) -> Result<(), Error>,
    ) -> (SignInStarted, JoinHandle<()>)
    where
        F: FnOnce(Duration, Cancelled) -> Fut,
        Fut: Future<Output = Result<SignedInEvent, Error>> + Send + 'static,
    {
        self.start_kind(Kind::default(), provider, url, finish, report, open)
    }

    fn start_kind<F, Fut>(
        &self,
        kind: Kind,
        provider: String,
        url: String,
        finish: F,
        report: impl Report,
        open: impl FnOnce(&str) -> Result<(), Error>,
    ) -> (SignInStarted, JoinHandle<()>)
    where
        F: FnOnce(Duration, Cancelled) -> Fut,
        Fut: Future<Output = Result<SignedInEvent, Error>> + Send + 'static,
    {
        *lock(&self.kind) = kind.clone();
        let (started, waiter) = self
            .wait
            .start(provider, url, finish, Reported(report), open);
        (with_kind(started, &kind), waiter)
    }

    /// The sign-in waiting for the browser, if any, with the time it has left.
    pub fn pending(&self) -> Option<SignInStarted> {
        let kind = lock(&self.kind).clone();
        self.wait.pending().map(|s| with_kind(s, &kind))
    }

    /// Hands an address pasted by the user to the pending paste-back sign-in (checked like
    /// any callback; the outcome arrives as an event).
    ///
    /// # Errors
    /// `invalid_input` when it is not this sign-in's redirect address (paste again),
    /// `sign_in_rejected` for another sign-in's or a broken one, `sign_in_cancelled` when no
    /// paste-back sign-in is waiting.
    pub fn paste(&self, address: &str) -> Result<(), Error> {
        let paste = self
            .wait
            .pending()
            .and_then(|_| lock(&self.kind).paste.clone());
        match paste {
            Some(p) => p.feed(address.trim()),
            None => Err(Error::new(
                Code::SignInCancelled,
                "No sign-in is waiting for a pasted address any more; start again.",
            )),
        }
    }

    /// Cancels the pending sign-in; its outcome arrives as `sign_in_cancelled`. Cancelling
    /// when nothing is pending does nothing.
    pub fn cancel(&self) {
        self.wait.cancel();
    }

    /// Opens the pending sign-in's link again with `open`; `sign_in_cancelled` when nothing
    /// is waiting any more.
    pub fn open_again(&self, open: impl FnOnce(&str) -> Result<(), Error>) -> Result<(), Error> {
        self.wait.open_again(open)
    }
}

fn with_kind(s: Started, kind: &Kind) -> SignInStarted {
    SignInStarted {
        provider: s.label,
        url: s.url,
        timeout_secs: s.timeout_secs,
        remaining_secs: s.remaining_secs,
        browser_opened: s.browser_opened,
        mode: kind.mode,
        device: kind.device.clone(),
        paste_prefix: kind.paste.as_ref().map(|p| p.redirect_uri().to_string()),
    }
}

/// How a sign-in on another device "opens" its link here: it does not (the user opens it
/// elsewhere).
fn not_here(_: &str) -> Result<(), Error> {
    Err(Error::new(
        Code::Internal,
        "opened on another device, not here",
    ))
}

/// `var` as a positive number of seconds, else `default`.
pub(crate) fn timeout_from_env(var: &str, default: Duration) -> Duration {
    std::env::var(var)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(default, Duration::from_secs)
}

fn timed_out(secs: u64) -> Error {
    Error::new(
        Code::SignInTimedOut,
        format!("The sign-in did not finish within {secs} s."),
    )
}

/// The window's sign-in options: "Add account" asks the provider for its account chooser;
/// the browser's success page links back to the app.
pub(crate) fn sign_in_options(add_account: bool) -> SignInOptions {
    SignInOptions {
        prompt: add_account.then(|| "select_account".to_string()),
        app_link: Some(format!("{}://", crate::deeplink::SCHEME)),
    }
}

/// Starts `sign_in` (begun by the core: its receiver listens) as the app does: the core
/// finishes it, the window's events report it, the user's browser opens its link.
pub(crate) fn start_with_core<R: Runtime>(
    app: &AppHandle<R>,
    sign_in: SignIn,
    open: impl FnOnce(&str) -> Result<(), Error>,
) -> SignInStarted {
    start_browser_kind(app, sign_in, Kind::default(), open)
}

fn start_browser_kind<R: Runtime>(
    app: &AppHandle<R>,
    sign_in: SignIn,
    kind: Kind,
    open: impl FnOnce(&str) -> Result<(), Error>,
) -> SignInStarted {
    let provider = sign_in.provider.clone();
    let url = sign_in.pending.authorize_url().to_string();
    let handle = app.clone();
    let finish = move |timeout: Duration, cancelled: Cancelled| async move {
        let shell = handle.state::<Shell>();
        let core = shell.core()?;
        let done = core
            .finish_sign_in(sign_in, timeout, cancelled.wait())
            .await?;
        Ok::<_, Error>(signed_in_event(&handle, core, done))
    };
    let sign_ins = app.state::<SignIns>();
    sign_ins
        .start_kind(kind, provider, url, finish, app.clone(), open)
        .0
}

/// Starts a browser sign-in meant for a browser elsewhere (the provider offers no device
/// flow): nothing opens here; the user opens its link on another device and pastes back the
/// address that browser ended on ([`SignIns::paste`]). The loopback receiver still listens.
pub(crate) fn start_paste_back_with_core<R: Runtime>(
    app: &AppHandle<R>,
    sign_in: SignIn,
) -> SignInStarted {
    let kind = Kind {
        mode: SignInMode::PasteBack,
        device: None,
        paste: Some(sign_in.paste_back()),
    };
    start_browser_kind(app, sign_in, kind, not_here)
}

/// Starts a device sign-in (RFC 8628) begun by the core: the window shows the code and the
/// address, the core polls the provider, the window's events report the outcome.
pub(crate) fn start_device_with_core<R: Runtime>(
    app: &AppHandle<R>,
    device: DeviceSignIn,
) -> SignInStarted {
    let codes = DeviceCodes {
        user_code: device.user_code().to_string(),
        verification_uri: device.verification_uri().to_string(),
        verification_uri_complete: device.verification_uri_complete().map(str::to_string),
    };
    let provider = device.provider.clone();
    let url = codes.verification_uri.clone();
    let handle = app.clone();
    let finish = move |timeout: Duration, cancelled: Cancelled| async move {
        let shell = handle.state::<Shell>();
        let core = shell.core()?;
        let done = core
            .finish_device_sign_in(device, timeout, cancelled.wait())
            .await?;
        Ok::<_, Error>(signed_in_event(&handle, core, done))
    };
    let kind = Kind {
        mode: SignInMode::Device,
        device: Some(codes),
        paste: None,
    };
    let sign_ins = app.state::<SignIns>();
    sign_ins
        .start_kind(kind, provider, url, finish, app.clone(), not_here)
        .0
}

/// The [`SIGNED_IN`] payload for a finished sign-in: the account as the window shows it
/// (its kept picture, if any), and its picture fetched in the background.
fn signed_in_event<R: Runtime>(
    app: &AppHandle<R>,
    core: &latchkey_core::Core,
    done: Completed,
) -> SignedInEvent {
    crate::commands::auth::keep_avatars_later(app, vec![done.account.clone()]);
    SignedInEvent {
        account: crate::commands::auth::shown(core, done.account),
        welcome_credits: done.welcome_credits,
        wallet_problem: done.wallet_problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_core::{AccountView, Clock, SystemClock};
    use std::sync::{mpsc, Mutex};

    /// Collects outcomes as `signed in: <subject>` / `failed: <code>`.
    struct Outcomes(Mutex<mpsc::Sender<String>>);

    impl Report for Outcomes {
        fn signed_in(&self, event: SignedInEvent) {
            let _ = lock(&self.0).send(format!("signed in: {}", event.account.view.subject));
        }
        fn failed(&self, error: Error) {
            let code = serde_json::to_value(error.code).unwrap();
            let _ = lock(&self.0).send(format!("failed: {}", code.as_str().unwrap()));
        }
    }

    fn outcomes() -> (Outcomes, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel();
        (Outcomes(Mutex::new(tx)), rx)
    }

    /// Like the core: waits for the browser (which never answers) until cancelled.
    async fn until_cancelled(
        _timeout: Duration,
        cancelled: Cancelled,
    ) -> Result<SignedInEvent, Error> {
        cancelled.wait().await;
        Err(Error::new(Code::SignInCancelled, "cancelled"))
    }

    fn signed_in_as(
        subject: &'static str,
    ) -> impl FnOnce(
        Duration,
        Cancelled,
    )
        -> std::pin::Pin<Box<dyn Future<Output = Result<SignedInEvent, Error>> + Send>> {
        move |_, _| {
            Box::pin(async move {
                let view = AccountView {
                    provider: "local".into(),
                    issuer: "http://127.0.0.1:1".into(),
                    subject: subject.into(),
                    email: None,
                    username: None,
                    name: None,
                    picture: None,
                    active: true,
                    expires_at: None,
                    session_expires_at: SystemClock.now(),
                    offline: false,
                };
                Ok(SignedInEvent {
                    account: view.into(),
                    welcome_credits: None,
                    wallet_problem: None,
                })
            })
        }
    }

    fn opened(_: &str) -> Result<(), Error> {
        Ok(())
    }

    const LONG: Duration = Duration::from_secs(300);

    #[tokio::test]
    async fn a_finished_sign_in_reports_once_and_stops_pending() {
        let sign_ins = SignIns::new(LONG);
        let (report, rx) = outcomes();
        let (started, waiter) = sign_ins.start(
            "local".into(),
            "http://127.0.0.1:1/authorize?state=s".into(),
            signed_in_as("alice"),
            report,
            opened,
        );
        assert_eq!(started.timeout_secs, 300);
        assert!(started.browser_opened);
        waiter.await.unwrap();
        assert_eq!(rx.try_recv().as_deref(), Ok("signed in: alice"));
        assert_eq!(sign_ins.pending(), None, "nothing is left waiting");
        assert!(rx.try_recv().is_err(), "one outcome, one event");
    }

    #[tokio::test]
    async fn a_newer_sign_in_supersedes_the_pending_one_silently() {
        let sign_ins = SignIns::new(LONG);
        let (report, rx) = outcomes();
        let (_, first) = sign_ins.start(
            "local".into(),
            "http://one".into(),
            until_cancelled,
            report,
            opened,
        );
        let (report, rx2) = outcomes();
        let (_, second) = sign_ins.start(
            "other".into(),
            "http://two".into(),
            until_cancelled,
            report,
            opened,
        );
        first.await.unwrap();
        assert!(
            rx.try_recv().is_err(),
            "the replaced sign-in reports nothing (it would end the newer one's waiting screen)"
        );
        let pending = sign_ins.pending().expect("the newer sign-in still waits");
        assert_eq!(
            (pending.provider.as_str(), pending.url.as_str()),
            ("other", "http://two")
        );

        sign_ins.cancel();
        second.await.unwrap();
        assert_eq!(rx2.try_recv().as_deref(), Ok("failed: sign_in_cancelled"));
        assert_eq!(sign_ins.pending(), None);
    }

    #[tokio::test]
    async fn cancel_reports_cancelled_and_open_again_then_refuses() {
        let sign_ins = SignIns::new(LONG);
        let (report, rx) = outcomes();
        let (_, waiter) = sign_ins.start(
            "local".into(),
            "http://one".into(),
            until_cancelled,
            report,
            opened,
        );
        let mut reopened = None;
        sign_ins
            .open_again(|url| {
                reopened = Some(url.to_string());
                Ok(())
            })
            .unwrap();
        assert_eq!(reopened.as_deref(), Some("http://one"));

        sign_ins.cancel();
        waiter.await.unwrap();
        assert_eq!(rx.try_recv().as_deref(), Ok("failed: sign_in_cancelled"));
        let again = sign_ins
            .open_again(|_| panic!("nothing to open"))
            .unwrap_err();
        assert_eq!(again.code, Code::SignInCancelled);
        sign_ins.cancel(); // cancelling nothing is fine
        assert!(
            rx.try_recv().is_err(),
            "a second cancel reports nothing more"
        );
    }

    #[tokio::test]
    async fn a_sign_in_that_never_finishes_times_out() {
        let mut sign_ins = SignIns::new(Duration::from_millis(20));
        sign_ins.wait.grace = Duration::ZERO;
        let (report, rx) = outcomes();
        let never = |_, _| std::future::pending::<Result<SignedInEvent, Error>>();
        let (started, waiter) =
            sign_ins.start("local".into(), "http://one".into(), never, report, opened);
        assert!(started.browser_opened);
        waiter.await.unwrap();
        assert_eq!(rx.try_recv().as_deref(), Ok("failed: sign_in_timed_out"));
        assert_eq!(
            sign_ins.pending(),
            None,
            "a timed-out sign-in no longer waits"
        );
    }

    #[tokio::test]
    async fn a_browser_that_cannot_open_leaves_the_link_to_copy() {
        let sign_ins = SignIns::new(LONG);
        let (report, _rx) = outcomes();
        let (started, _) = sign_ins.start(
            "local".into(),
            "http://one".into(),
            until_cancelled,
            report,
            |_| Err(Error::new(Code::Internal, "no browser")),
        );
        assert!(!started.browser_opened, "the UI then shows the link");
        assert_eq!(sign_ins.pending().map(|p| p.url), Some("http://one".into()));
        sign_ins.cancel();
    }
}
