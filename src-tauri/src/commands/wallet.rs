//! The credit wallet and the paid analytics, for the active account.

use crate::shell::Shell;
use latchkey_core::analytics::Run;
use latchkey_core::latchkey_wallet::{
    voucher, Balance, HistoryPage, HistoryQuery, Receipt, Voucher,
};
use latchkey_core::new_key;
use latchkey_core::{Code, Error};
use tauri::State;

/// A page of history: `HISTORY_PAGE` entries unless the UI asks for another size, from
/// `cursor` (the newest when `None`).
pub(crate) fn history_query(cursor: Option<String>, limit: Option<usize>) -> HistoryQuery {
    HistoryQuery {
        limit: limit.unwrap_or(HISTORY_PAGE),
        cursor,
        ..HistoryQuery::default()
    }
}

const HISTORY_PAGE: usize = 20;

#[tauri::command(async)]
pub fn wallet_balance(shell: State<'_, Shell>) -> Result<Balance, Error> {
    shell.core()?.with_wallet(None, |w, a| w.balance(a))
}

/// One page of history, newest first; pass `next_cursor` back for the next page.
#[tauri::command(async)]
pub fn wallet_history(
    shell: State<'_, Shell>,
    cursor: Option<String>,
    limit: Option<usize>,
) -> Result<HistoryPage, Error> {
    let query = history_query(cursor, limit);
    shell.core()?.with_wallet(None, |w, a| w.history(a, &query))
}

/// What a voucher claims, before the user confirms redeeming it (not yet verified).
#[tauri::command]
pub fn wallet_voucher_preview(voucher: String) -> Result<Voucher, Error> {
    voucher::decode(voucher.trim()).map_err(|reason| {
        Error::new(
            Code::VoucherRejected,
            format!("This voucher cannot be used: {reason}."),
        )
    })
}

#[tauri::command(async)]
pub fn wallet_redeem(shell: State<'_, Shell>, voucher: String) -> Result<Receipt, Error> {
    let key = new_key("app-redeem")?;
    shell
        .core()?
        .with_wallet(None, |w, a| w.redeem_voucher(a, &key, voucher.trim()))
}

/// Writes the whole history as CSV to the Downloads folder (else the data folder) and
/// returns the file's path.
#[tauri::command(async)]
pub fn wallet_export_csv(shell: State<'_, Shell>) -> Result<String, Error> {
    let core = shell.core()?;
    let mut csv = Vec::new();
    core.with_wallet(None, |w, a| w.export_csv(a, &mut csv))?;
    let dir = directories::UserDirs::new()
        .and_then(|u| u.download_dir().map(|d| d.to_path_buf()))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| core.data_dir().to_path_buf());
    let name = format!(
        "latchkey-history-{}.csv",
        core.now().format("%Y%m%d-%H%M%S")
    );
    let path = dir.join(name);
    std::fs::write(&path, csv).map_err(|e| {
        Error::new(
            Code::Storage,
            format!("could not write {}: {e}", path.display()),
        )
    })?;
    Ok(path.display().to_string())
}

/// Runs the paid analytics on the CSV text the user picked.
#[tauri::command(async)]
pub fn analytics_run(shell: State<'_, Shell>, csv: String) -> Result<Run, Error> {
    let run_id = new_key("app-analytics")?;
    shell.core()?.run_analytics(&csv, &run_id)
}
