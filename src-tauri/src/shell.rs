//! The shell's state: the core (or why it could not load) and voucher links that arrived
//! before the UI was listening, and the pending purchase. The pending sign-in is
//! [`crate::signin::SignIns`].

use crate::purchase::Purchases;
use latchkey_core::{Code, Core, CoreOptions, Error};
use std::path::PathBuf;
use std::sync::Mutex;
use tauri::{AppHandle, Manager, Runtime};

pub struct Shell {
    core: Result<Core, Error>,
    /// Vouchers from `latchkey://redeem` links that arrived before the UI first asked
    /// (cold start: the link is handled during setup, before the page listens). `None` once
    /// the UI has drained it: later links go to the UI as events only.
    pub(crate) early_vouchers: Mutex<Option<Vec<String>>>,
    /// The purchase waiting for its payment ([`Purchases::from_env`] unless replaced).
    pub(crate) purchases: Purchases,
}

impl Shell {
    /// The shell over the core opened with `options`. A configuration error does not stop
    /// the app: the UI shows it.
    pub fn open(options: CoreOptions) -> Self {
        Self::over(Core::open(options))
    }

    /// The shell over an already opened core (tests pass one over a scratch directory).
    pub fn over(core: Result<Core, Error>) -> Self {
        Self {
            core,
            early_vouchers: Mutex::new(Some(Vec::new())),
            purchases: Purchases::from_env(),
        }
    }

    /// The same shell with purchases that wait as `purchases` says (tests: a short timeout).
    pub fn with_purchases(mut self, purchases: Purchases) -> Self {
        self.purchases = purchases;
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

/// Opens a URL in the user's browser (a sign-in, a checkout): `LATCHKEY_BROWSER`/`BROWSER`
/// when set (tests script the browser this way, as with the CLI), else the platform's opener.
pub(crate) fn open_browser<R: Runtime>(app: &AppHandle<R>, url: &str) -> Result<(), Error> {
    use tauri_plugin_opener::OpenerExt;
    let scripted = ["LATCHKEY_BROWSER", "BROWSER"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if scripted {
        latchkey_core::browser::open(url)
    } else {
        app.opener().open_url(url, None::<&str>).map_err(internal)
    }
}
