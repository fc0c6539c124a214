//! The first screen in one call: everything the window shows at start, from local files only
//! (no network), so the signed-in screen appears with one round trip and one render.

use super::auth::{accounts, providers, Account, ProviderChoice};
use super::wallet::{first_view, WalletBalance, WalletHistory};
use crate::shell::{lock, Shell};
use crate::signin::{SignInStarted, SignIns};
use latchkey_core::Error;
use serde::Serialize;
use tauri::State;

#[derive(Serialize)]
pub struct Startup {
    /// Every signed-in account as last stored (`auth_status`); the network check follows.
    pub accounts: Vec<Account>,
    pub providers: Vec<ProviderChoice>,
    /// A sign-in still waiting for the browser (after a reload of the page).
    pub pending: Option<SignInStarted>,
    /// The active account's wallet; `None` when no one is signed in, it could not be read,
    /// or the credit service was never reached yet (the UI then asks `wallet_balance`).
    pub wallet: Option<WalletView>,
    /// Why the wallet could not be read (the rest of the screen still shows).
    pub wallet_error: Option<Error>,
    /// Vouchers from `latchkey://redeem` links that arrived before the page listened for
    /// `deeplink://redeem` (a cold start with a link), oldest first. Handed over once; later
    /// links arrive as events only. Redeeming still needs the user's confirmation.
    pub vouchers: Vec<String>,
}

#[derive(Serialize)]
pub struct WalletView {
    /// With a credit service, the last one read from it (`stale`).
    pub balance: WalletBalance,
    /// The newest page of history.
    pub history: WalletHistory,
}

/// A configuration error is the one failure: `{code: "config"}`, which the UI shows.
#[tauri::command(async)]
pub fn app_startup(
    shell: State<'_, Shell>,
    sign_ins: State<'_, SignIns>,
) -> Result<Startup, Error> {
    let core = shell.core()?;
    let views = core.status_local()?;
    let (wallet, wallet_error) = if views.iter().any(|a| a.active) {
        match first_view(core) {
            Ok(view) => (
                view.map(|(balance, history)| WalletView { balance, history }),
                None,
            ),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, None)
    };
    Ok(Startup {
        accounts: accounts(core, views),
        providers: providers(core),
        pending: sign_ins.pending(),
        wallet,
        wallet_error,
        vouchers: lock(&shell.early_vouchers).take().unwrap_or_default(),
    })
}
