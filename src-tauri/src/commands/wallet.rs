//! The credit wallet, for the active account: on the credit service when `[service] url` is
//! set (through the same core functions as the CLI's `wallet` commands), else in the local
//! wallet. The paid analytics are in `analytics.rs`.

use crate::shell::Shell;
use latchkey_core::latchkey_wallet::{AccountKey, Balance, HistoryQuery};
use latchkey_core::{
    new_key, Code, Core, Error, HistoryLine, HistoryLines, Known, LedgerEntry, LedgerPage,
    Redeemed, ServiceBalance, VoucherPreview,
};
use serde::Serialize;
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

/// The balance as the window shows it: the local wallet's, or the credit service's (the last
/// known one, `stale` with its `as_of`, while the service cannot be reached).
#[derive(Debug, Clone, Serialize)]
pub struct WalletBalance {
    pub posted: i64,
    pub held: i64,
    pub available: i64,
    /// The service could not be reached: this is the last known balance.
    pub stale: bool,
    /// When a service balance was read from the service (RFC 3339); `None` for the local one.
    pub as_of: Option<String>,
    /// Kept by the credit service (then credits can be bought), not by the local wallet.
    pub service: bool,
}

impl From<Balance> for WalletBalance {
    fn from(b: Balance) -> Self {
        Self {
            posted: b.posted.get(),
            held: b.held.get(),
            available: b.available.get(),
            stale: false,
            as_of: None,
            service: false,
        }
    }
}

impl From<Known<ServiceBalance>> for WalletBalance {
    fn from(k: Known<ServiceBalance>) -> Self {
        Self {
            posted: k.value.posted,
            held: k.value.held,
            available: k.value.available,
            stale: k.stale,
            as_of: Some(k.as_of.to_rfc3339()),
            service: true,
        }
    }
}

/// History entries in the one JSON shape of both ledgers (each with `captured_by`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum HistoryEntries {
    Local(Vec<HistoryLine>),
    Service(Vec<LedgerEntry>),
}

/// A page of history, newest first, as the window shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WalletHistory {
    pub entries: HistoryEntries,
    pub next_cursor: Option<String>,
    /// The service could not be reached: these are the last entries read.
    pub stale: bool,
    pub as_of: Option<String>,
}

impl From<HistoryLines> for WalletHistory {
    fn from(page: HistoryLines) -> Self {
        Self {
            entries: HistoryEntries::Local(page.entries),
            next_cursor: page.next_cursor,
            stale: false,
            as_of: None,
        }
    }
}

impl From<Known<LedgerPage>> for WalletHistory {
    fn from(k: Known<LedgerPage>) -> Self {
        Self {
            entries: HistoryEntries::Service(k.value.entries),
            next_cursor: k.value.next_cursor,
            stale: k.stale,
            as_of: Some(k.as_of.to_rfc3339()),
        }
    }
}

/// The balance and the newest page of history from local files only (no network): the
/// first screen. With a credit service, the last ones read from it (stale); `None` before
/// the first contact.
pub(crate) fn first_view(core: &Core) -> Result<Option<(WalletBalance, WalletHistory)>, Error> {
    let first = history_query(None, None);
    if core.wallet_uses_service() {
        let balance = core.service_balance_cached(None)?;
        let history = core.service_history_cached(None, &first)?;
        return Ok(balance.map(|b| {
            let b = WalletBalance::from(b);
            let history = history.map_or(
                WalletHistory {
                    entries: HistoryEntries::Service(Vec::new()),
                    next_cursor: None,
                    stale: true,
                    as_of: b.as_of.clone(),
                },
                WalletHistory::from,
            );
            (b, history)
        }));
    }
    let balance = core.with_wallet(None, |w, a| w.balance(a))?;
    let history = core.wallet_history(None, &first)?;
    Ok(Some((balance.into(), history.into())))
}

/// The active account's balance: at the credit service when one is configured (the last
/// known one, marked `stale`, while it cannot be reached), else the local wallet's.
#[tauri::command(async)]
pub async fn wallet_balance(shell: State<'_, Shell>) -> Result<WalletBalance, Error> {
    let core = shell.core()?;
    if core.wallet_uses_service() {
        return Ok(core.service_balance(None).await?.into());
    }
    Ok(core.with_wallet(None, |w, a| w.balance(a))?.into())
}

/// One page of history, newest first; pass `next_cursor` back for the next page. A hold
/// that was captured carries `captured_by`: the window shows it with its capture, as one line.
#[tauri::command(async)]
pub async fn wallet_history(
    shell: State<'_, Shell>,
    cursor: Option<String>,
    limit: Option<usize>,
) -> Result<WalletHistory, Error> {
    let core = shell.core()?;
    let query = history_query(cursor, limit);
    if core.wallet_uses_service() {
        return Ok(core.service_history(None, &query).await?.into());
    }
    Ok(core.wallet_history(None, &query)?.into())
}

/// A voucher verified for the active account, before the user confirms redeeming it: its
/// amount only once its signature (by a trusted key), expiry, binding and (locally) whether
/// it was already redeemed here are checked; and the account the question names, to hand
/// back to [`wallet_redeem`].
#[tauri::command(async)]
pub async fn wallet_voucher_preview(
    shell: State<'_, Shell>,
    voucher: String,
) -> Result<VoucherPreview, Error> {
    shell.core()?.preview_voucher(&voucher).await
}

/// Redeems a voucher into the account the question named (`issuer`, `subject`, from
/// [`wallet_voucher_preview`]): at the credit service when one is configured, else into the
/// local wallet. Refused, changing nothing, when another account is active now.
#[tauri::command(async)]
pub async fn wallet_redeem(
    shell: State<'_, Shell>,
    voucher: String,
    issuer: String,
    subject: String,
) -> Result<Redeemed, Error> {
    let key = new_key("app-redeem")?;
    let expected = AccountKey::new(issuer, subject);
    shell
        .core()?
        .redeem_voucher_for(&expected, &key, &voucher)
        .await
}

/// Writes the whole history as CSV to the Downloads folder (else the data folder) and
/// returns the file's path.
#[tauri::command(async)]
pub fn wallet_export_csv(shell: State<'_, Shell>) -> Result<String, Error> {
    let core = shell.core()?;
    if core.wallet_uses_service() {
        return Err(Error::new(
            Code::InvalidInput,
            "The credit service keeps this account's history; exporting it is not available \
             here yet.",
        ));
    }
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
