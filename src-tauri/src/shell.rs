//! The shell's state: the core (or why it could not load), the one pending sign-in, and
//! voucher links that arrived before the UI was listening.

use latchkey_core::{Core, CoreOptions, Code, Error};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tauri::{AppHandle, Manager, Runtime};
use tokio::sync::oneshot;

/// How long a sign-in waits for the browser unless `LATCHKEY_SIGN_IN_TIMEOUT_SECS` says
/// otherwise (UX.md: never spin forever; 5 minutes by default).
pub const DEFAULT_SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// A sign-in waiting for the browser.
pub(crate) struct Pending {
    pub id: u64,
    pub provider: String,
    /// The authorization URL: it carries `state` and the PKCE challenge, never a secret the
    /// UI could misuse (the verifier stays in the core).
    pub url: String,
    pub started: Instant,
    /// Ends the wait; `true` means a newer sign-in replaced this one.
    pub cancel: Option<oneshot::Sender<bool>>,
}

pub struct Shell {
    core: Result<Core, Error>,
    pub(crate) sign_in_timeout: Duration,
    pub(crate) pending: Mutex<Option<Pending>>,
    /// Vouchers from `latchkey://redeem` links that arrived before the UI first asked
    /// (cold start: the link is handled during setup, before the page listens). `None` once
    /// the UI has drained it: later links go to the UI as events only.
    pub(crate) early_vouchers: Mutex<Option<Vec<String>>>,
    pub(crate) next_id: Mutex<u64>,
}

impl Shell {
    /// The shell over the core opened with `options`. A configuration error does not stop
    /// the app: the UI shows it.
    pub fn open(options: CoreOptions) -> Self {
        let mut shell = Self::over(Core::open(options));
        if let Some(secs) = std::env::var("LATCHKEY_SIGN_IN_TIMEOUT_SECS")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
        {
            shell.sign_in_timeout = Duration::from_secs(secs);
        }
        shell
    }

    /// The shell over an already opened core (tests pass one over a scratch directory).
    pub fn over(core: Result<Core, Error>) -> Self {
        Self {
            core,
            sign_in_timeout: DEFAULT_SIGN_IN_TIMEOUT,
            pending: Mutex::new(None),
            early_vouchers: Mutex::new(Some(Vec::new())),
            next_id: Mutex::new(0),
        }
    }

    /// Sets how long sign-ins wait for the browser.
    pub fn with_sign_in_timeout(mut self, timeout: Duration) -> Self {
        self.sign_in_timeout = timeout;
        self
    }

    /// The core, or the configuration error that kept it from loading (`{code: "config"}`).
    pub(crate) fn core(&self) -> Result<&Core, Error> {
        self.core.as_ref().map_err(Clone::clone)
    }

    /// Files whose change means "refresh": accounts and the wallet (the CLI may write them).
    pub(crate) fn watched_files(&self) -> Vec<PathBuf> {
        match &self.core {
            Ok(app) => {
                let wallet = app.wallet_path();
                vec![
                    app.data_dir().join("accounts.json"),
                    wallet.with_extension("sqlite-wal"),
                    wallet,
                ]
            }
            Err(_) => Vec::new(),
        }
    }

    /// Cancels the pending sign-in, if any. Its task then reports `sign_in_cancelled`, unless
    /// `superseded` (a newer sign-in took its place and owns the waiting screen).
    pub(crate) fn cancel_pending(&self, superseded: bool) {
        if let Some(mut p) = lock(&self.pending).take() {
            if let Some(c) = p.cancel.take() {
                let _ = c.send(superseded);
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a plain assignment: a panic cannot leave it half-written.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Shows, unminimizes and focuses the main window (a second launch, a finished sign-in).
pub(crate) fn bring_forward<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// An internal error for the UI.
pub(crate) fn internal(e: impl std::fmt::Display) -> Error {
    Error::new(Code::Internal, e.to_string())
}
