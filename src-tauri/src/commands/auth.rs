//! Signing in and out, accounts. The pending sign-in lives in [`SignIns`] (signin.rs); its
//! outcome arrives as an event: `auth://signed-in` (an [`Account`] plus `welcome_credits`)
//! or `auth://sign-in-failed` (`{code, message}`). No token ever crosses IPC: [`AccountView`]
//! has none. Nor does a picture's address: an account's `picture` is the copy the core kept
//! in the data folder (a `data:` URL) or nothing, so the window never loads one from the
//! network (tauri.conf.json's CSP allows no `https:` image).

use crate::shell::{open_browser, Shell};
use crate::signin::{
    sign_in_options, start_device_with_core, start_paste_back_with_core, start_with_core,
    SignInStarted, SignIns,
};
use latchkey_core::{AccountView, Core, Error, LogoutReport, LogoutTarget};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime, State};

/// A provider's sign-in button.
#[derive(Serialize)]
pub struct ProviderChoice {
    pub name: String,
    /// "Sign in with Google".
    pub label: String,
}

/// An account as the window shows it: the core's view (no tokens) and the one way to name
/// the person, [`AccountView::display_name`].
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    #[serde(flatten)]
    pub view: AccountView,
    pub display_name: String,
    /// Its provider's settings now name another issuer or client: nothing was sent there, and
    /// the window shows "provider changed — sign in again" ([`Core::provider_changed`]).
    pub provider_changed: bool,
}

impl From<AccountView> for Account {
    /// With no picture ([`shown`] adds the kept one).
    fn from(view: AccountView) -> Self {
        Self {
            display_name: view.display_name().to_string(),
            view: AccountView {
                picture: None,
                ..view
            },
            provider_changed: false,
        }
    }
}

/// An account as the window shows it: marked when its provider changed, its picture the one
/// the core kept (a `data:` URL), never the picture host's address.
pub(crate) fn shown(core: &Core, view: AccountView) -> Account {
    let picture = core.kept_avatar(&view);
    let provider_changed = core.provider_changed(&view);
    let mut account = Account::from(view);
    account.view.picture = picture;
    account.provider_changed = provider_changed;
    account
}

/// The accounts as the window shows them ([`shown`]).
pub(crate) fn accounts(core: &Core, views: Vec<AccountView>) -> Vec<Account> {
    views.into_iter().map(|view| shown(core, view)).collect()
}

/// Fetches the pictures of these accounts that are not kept yet (once per run each, see
/// `latchkey_core::Core::keep_avatar`), off the command's path; when one is newly kept, the
/// window is told to read the accounts again (`state://changed`).
pub(crate) fn keep_avatars_later<R: Runtime>(app: &AppHandle<R>, views: Vec<AccountView>) {
    let wanted: Vec<AccountView> = views.into_iter().filter(|v| v.picture.is_some()).collect();
    if wanted.is_empty() {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let shell = app.state::<Shell>();
        let Ok(core) = shell.core() else { return };
        let mut changed = false;
        for view in &wanted {
            let before = core.kept_avatar(view);
            if let Ok(now) = core.keep_avatar(view).await {
                changed |= now != before;
            }
        }
        if changed {
            let _ = app.emit("state://changed", ());
        }
    });
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
    let shown = known
        .map(str::to_string)
        .unwrap_or_else(|| latchkey_core::capitalise_first(&name.replace(['-', '_'], " ")));
    format!("Sign in with {shown}")
}

/// Every account, from local files only (no network, no keychain): the first paint.
#[tauri::command(async)]
pub fn auth_status(shell: State<'_, Shell>) -> Result<Vec<Account>, Error> {
    let core = shell.core()?;
    Ok(accounts(core, core.status_local()?))
}

/// Every account with its session checked: refreshed, ended ones gone, `offline` marked.
/// Pictures not kept yet are fetched afterwards, once ([`keep_avatars_later`]).
#[tauri::command(async)]
pub async fn auth_refresh_status<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
) -> Result<Vec<Account>, Error> {
    let core = shell.core()?;
    let views = core.status().await?;
    keep_avatars_later(&app, views.clone());
    Ok(accounts(core, views))
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
    let options = sign_in_options(add_account);
    let sign_in = shell
        .core()?
        .begin_sign_in(Some(&provider), options)
        .await?;
    Ok(start_with_core(&app, sign_in, |url| {
        open_browser(&app, url)
    }))
}

/// "Sign in on another device" with `provider`, for when no browser here can finish a
/// sign-in: the device flow (RFC 8628: the answer carries the code and the address to type it
/// at, `mode: "device"`) when the provider offers it, else a sign-in in a browser elsewhere
/// whose final address the user pastes back (`mode: "paste_back"`, [`auth_paste_back`]).
/// Nothing opens here. Returns at once; the outcome arrives as the same events as any
/// sign-in, and a new sign-in replaces a pending one.
#[tauri::command(async)]
pub async fn auth_sign_in_device<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    provider: String,
    add_account: bool,
) -> Result<SignInStarted, Error> {
    let core = shell.core()?;
    if let Some(device) = core.begin_device_sign_in(Some(&provider)).await? {
        return Ok(start_device_with_core(&app, device));
    }
    let sign_in = core
        .begin_sign_in(Some(&provider), sign_in_options(add_account))
        .await?;
    Ok(start_paste_back_with_core(&app, sign_in))
}

/// The address a browser elsewhere ended on, pasted by the user, for the pending paste-back
/// sign-in: checked like any callback (`invalid_input` when it is not this sign-in's
/// address: nothing changed, paste again). The outcome arrives as an event.
#[tauri::command]
pub fn auth_paste_back(sign_ins: State<'_, SignIns>, address: String) -> Result<(), Error> {
    sign_ins.paste(&address)
}

/// The sign-in waiting for the browser, if any: the UI re-checks it when the window regains
/// focus (or after a reload) so it never shows a stale waiting screen.
#[tauri::command]
pub fn auth_pending(sign_ins: State<'_, SignIns>) -> Option<SignInStarted> {
    sign_ins.pending()
}

/// Cancels the pending sign-in; its outcome arrives as `auth://sign-in-failed` with code
/// `sign_in_cancelled`. Cancelling when nothing is pending is not an error.
#[tauri::command]
pub fn auth_cancel(sign_ins: State<'_, SignIns>) {
    sign_ins.cancel();
}

/// Opens the pending sign-in's link in the browser again (`sign_in_cancelled` when none).
#[tauri::command(async)]
pub fn auth_open_again<R: Runtime>(
    app: AppHandle<R>,
    sign_ins: State<'_, SignIns>,
) -> Result<(), Error> {
    sign_ins.open_again(|url| open_browser(&app, url))
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
    let core = shell.core()?;
    let mut report = core.logout(target, everywhere).await?;
    for gone in &mut report.signed_out {
        gone.picture = None; // the core deleted its kept copy; no host address crosses IPC
    }
    for url in &report.end_session_urls {
        if let Err(e) = open_browser(&app, url) {
            report.warnings.push(e.message);
        }
    }
    Ok(report)
}

/// Makes the account with this subject (or email) the active one.
#[tauri::command(async)]
pub fn auth_switch(shell: State<'_, Shell>, subject: String) -> Result<Account, Error> {
    let core = shell.core()?;
    Ok(shown(core, core.switch(&subject)?))
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
