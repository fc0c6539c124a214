//! Buying credits, like `latchkey credits packs|buy`: the packs on sale, then a checkout in
//! the user's browser that the window waits for ([`Purchases`], purchase.rs). The outcome
//! arrives as `credits://purchased` or `credits://purchase-failed`. The pending purchase
//! lives in the [`Shell`].

use crate::purchase::{start_with_core, PurchaseStarted};
use crate::shell::{open_browser, Shell};
use latchkey_core::{Error, Pack};
use tauri::{AppHandle, Runtime, State};

/// The packs on sale at the credit service.
#[tauri::command(async)]
pub async fn credits_packs(shell: State<'_, Shell>) -> Result<Vec<Pack>, Error> {
    shell.core()?.credit_packs().await
}

/// Starts buying `pack`: the service opens a checkout, the browser shows its payment page,
/// and this returns at once (a new purchase replaces a pending one).
#[tauri::command(async)]
pub async fn credits_buy<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
    pack: String,
) -> Result<PurchaseStarted, Error> {
    let checkout = shell.core()?.begin_purchase(Some(&pack)).await?;
    Ok(start_with_core(&app, checkout, |url| open_browser(&app, url)).0)
}

/// The purchase waiting for its payment, if any (after a reload, on focus).
#[tauri::command]
pub fn credits_pending(shell: State<'_, Shell>) -> Option<PurchaseStarted> {
    shell.purchases.pending()
}

/// Stops waiting for the payment (`purchase_not_completed` follows as an event).
#[tauri::command]
pub fn credits_cancel(shell: State<'_, Shell>) {
    shell.purchases.cancel();
}

/// Opens the pending payment page in the browser again.
#[tauri::command(async)]
pub fn credits_open_again<R: Runtime>(
    app: AppHandle<R>,
    shell: State<'_, Shell>,
) -> Result<(), Error> {
    shell.purchases.open_again(|url| open_browser(&app, url))
}
