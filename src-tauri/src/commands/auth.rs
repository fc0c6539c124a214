//! Signing in and out, accounts. The outcome of a sign-in arrives as an event:
//! `auth://signed-in` (an [`AccountView`] plus `welcome_credits`) or `auth://sign-in-failed`
//! (`{code, message}`). No token ever crosses IPC: [`AccountView`] has none.

use crate::shell::{bring_forward, internal, lock, Pending, Shell};
use latchkey_core::{AccountView, Code, Error, LogoutReport, LogoutTarget, SignInOptions};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};
use tauri_plugin_opener::OpenerExt;
use tokio::sync::oneshot;

/// A provider's sign-in button.
#[derive(Serialize)]
pub struct ProviderChoice {
    pub name: String,
    /// "Sign in with Google".
    pub label: String,
}

/// A sign-in waiting for the browser, as the waiting screen shows it.
#[derive(Serialize)]
pub struct SignInStarted {
    pub provider: String,
    /// The link to open (or copy into the right browser profile).
    pub url: String,
    pub timeout_secs: u64,
    /// Seconds left before it times out.
    pub remaining_secs: u64,
    /// False when no browser could be started: the UI shows the link to copy.
    pub browser_opened: bool,
}

/// The `auth://signed-in` payload: the account (no tokens) and the wallet's welcome.
#[derive(Clone, Serialize)]
pub struct SignedInEvent {
    #[serde(flatten)]
    pub account: AccountView,
    pub welcome_credits: Option<i64>,
    /// Why the wallet could not be opened, when it could not (the sign-in still stands).
    pub wallet_problem: Option<String>,
}

/// "Sign in with Google" for `google`, "Sign in with My company" for `my-company`; the
/// inline `[auth]` provider (named `default`) is named by its issuer's host.
fn label(name: &str, issuer: &str) -> String {
    if name == "default" {
        if let Some(host) = url::Url::parse(issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
        {
            return format!("Sign in with {host}");
        }
    }
    let known = match name {
        "google" => Some("Google"),
        "microsoft" => Some("Microsoft"),
        "github" => Some("GitHub"),
        "apple" => Some("Apple"),
        "gitlab" => Some("GitLab"),
        // scripts/demo.sh's local provider: labelled DEMO everywhere (README).
        "demo" => Some("the local DEMO provider"),
        _ => None,
    };
    let shown = known.map(str::to_string).unwrap_or_else(|| {
        let spaced = name.replace(['-', '_'], " ");
        let mut chars = spaced.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default()
    });
    format!("Sign in with {shown}")
}

/// Opens a URL in the user's browser: `LATCHKEY_BROWSER`/`BROWSER` when set (tests script
/// the browser this way, as with the CLI), else the platform's opener.
fn open_browser<R: Runtime>(app: &AppHandle<R>, url: &str) -> Result<(), Error> {
    let scripted = ["LATCHKEY_BROWSER", "BROWSER"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if scripted {
        latchkey_core::browser::open(url)
    } else {
        app.opener().open_url(url, None::<&str>).map_err(internal)
    }
}

/// Every account, from local files only (no network, no keychain): the first paint.
#[tauri::command(async)]
pub fn auth_status(shell: State<'_, Shell>) -> Result<Vec<AccountView>, Error> {
    shell.core()?.status_local()
}

/// Every account with its session checked: refreshed, ended ones gone, `offline` marked.
#[tauri::command(async)]
pub async fn auth_refresh_status(shell: State<'_, Shell>) -> Result<Vec<AccountView>, Error> {
    shell.core()?.status().await
}

/// The configured providers, in the configuration's order.
#[tauri::command(async)]
pub fn auth_providers(shell: State<'_, Shell>) -> Result<Vec<ProviderChoice>, Error> {
    Ok(providers(shell.core()?))
}

pub(crate) fn providers(core: &latchkey_core::Core) -> Vec<ProviderChoice> {
    core.config
        .providers
        .iter()
        .map(|p| ProviderChoice {
            name: p.name.clone(),
            label: label(&p.name, &p.issuer()),
        })
        .collect()
}

/// Starts a sign-in with `provider` (the receiver listens before the browser opens) and
/// returns at once; the outcome arrives as an event. A new sign-in replaces a pending one.
#[tauri::command(async)]
pub async fn auth_sign_in<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    provider: String,
    add_account: bool,
) -> Result<SignInStarted, Error> {
    let core = shell.core()?;
    let options = SignInOptions {
        prompt: add_account.then(|| "select_account".to_string()),
        app_link: Some(format!("{}://", crate::deeplink::SCHEME)),
    };
    let sign_in = core.begin_sign_in(Some(&provider), options).await?;
    let url = sign_in.pending.authorize_url().to_string();
    let timeout = shell.sign_in_timeout;
    let (cancel_tx, cancel_rx) = oneshot::channel::<bool>();
    let id = {
        let mut next = lock(&shell.next_id);
        *next += 1;
        *next
    };
    shell.cancel_pending(true);
    *lock(&shell.pending) = Some(Pending {
        id,
        provider: provider.clone(),
        url: url.clone(),
        started: Instant::now(),
        cancel: Some(cancel_tx),
    });
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        let shell = handle.state::<Shell>();
        let Ok(core) = shell.core() else { return };
        let superseded = AtomicBool::new(false);
        let cancelled = async {
            // A dropped sender (the app closing) cancels too.
            superseded.store(cancel_rx.await.unwrap_or(false), Ordering::SeqCst);
        };
        let result = core.finish_sign_in(sign_in, timeout, cancelled).await;
        {
            let mut pending = lock(&shell.pending);
            if pending.as_ref().is_some_and(|p| p.id == id) {
                *pending = None;
            }
        }
        if superseded.load(Ordering::SeqCst) {
            return; // the newer sign-in reports for itself
        }
        match result {
            Ok(done) => {
                let event = SignedInEvent {
                    account: done.account,
                    welcome_credits: done.welcome_credits,
                    wallet_problem: done.wallet_problem,
                };
                let _ = handle.emit("auth://signed-in", event);
                bring_forward(&handle);
            }
            Err(e) => {
                let _ = handle.emit("auth://sign-in-failed", e);
            }
        }
    });
    let browser_opened = open_browser(&app, &url).is_ok();
    Ok(SignInStarted {
        provider,
        url,
        timeout_secs: timeout.as_secs(),
        remaining_secs: timeout.as_secs(),
        browser_opened,
    })
}

/// The sign-in waiting for the browser, if any: the UI re-checks it when the window regains
/// focus (or after a reload) so it never shows a stale waiting screen.
#[tauri::command]
pub fn auth_pending(shell: State<'_, Shell>) -> Option<SignInStarted> {
    pending(&shell)
}

pub(crate) fn pending(shell: &Shell) -> Option<SignInStarted> {
    let timeout = shell.sign_in_timeout;
    lock(&shell.pending).as_ref().map(|p| SignInStarted {
        provider: p.provider.clone(),
        url: p.url.clone(),
        timeout_secs: timeout.as_secs(),
        remaining_secs: timeout.saturating_sub(p.started.elapsed()).as_secs(),
        browser_opened: true,
    })
}

/// Cancels the pending sign-in; its outcome arrives as `auth://sign-in-failed` with code
/// `sign_in_cancelled`. Cancelling when nothing is pending is not an error.
#[tauri::command]
pub fn auth_cancel(shell: State<'_, Shell>) {
    shell.cancel_pending(false);
}

/// Opens the pending sign-in's link in the browser again.
#[tauri::command(async)]
pub fn auth_open_again<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
) -> Result<(), Error> {
    let url = lock(&shell.pending)
        .as_ref()
        .map(|p| p.url.clone())
        .ok_or_else(|| {
            Error::new(
                Code::SignInCancelled,
                "No sign-in is waiting any more; start again.",
            )
        })?;
    open_browser(&app, &url)
}

/// Signs out the active account (or `subject`): forgotten here, refresh token revoked at the
/// provider (best effort; offline it still signs out here, with a warning). `everywhere`
/// also opens the providers' sign-out pages in the browser.
#[tauri::command(async)]
pub async fn auth_sign_out<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    subject: Option<String>,
    everywhere: bool,
) -> Result<LogoutReport, Error> {
    let target = subject.map_or(LogoutTarget::Active, LogoutTarget::Subject);
    let mut report = shell.core()?.logout(target, everywhere).await?;
    for url in &report.end_session_urls {
        if let Err(e) = open_browser(&app, url) {
            report.warnings.push(e.message);
        }
    }
    Ok(report)
}

/// Makes the account with this subject (or email) the active one.
#[tauri::command(async)]
pub fn auth_switch(shell: State<'_, Shell>, subject: String) -> Result<AccountView, Error> {
    shell.core()?.switch(&subject)
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn provider_labels_read_naturally() {
        let issuer = "https://id.example.com";
        assert_eq!(label("google", issuer), "Sign in with Google");
        assert_eq!(label("github", issuer), "Sign in with GitHub");
        assert_eq!(label("my-company", issuer), "Sign in with My company");
        assert_eq!(label("default", issuer), "Sign in with id.example.com");
    }
}
