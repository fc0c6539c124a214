//! Links the OS handed the app before the UI was listening.

use crate::shell::{lock, Shell};
use tauri::State;

/// Vouchers from `latchkey://redeem` links that arrived before the page listened for
/// `deeplink://redeem` (a cold start with a link), oldest first. Called once at start; from
/// then on links reach the UI only as events. Redeeming still needs the user's confirmation.
#[tauri::command]
pub fn deeplink_pending(shell: State<'_, Shell>) -> Vec<String> {
    lock(&shell.early_vouchers).take().unwrap_or_default()
}
