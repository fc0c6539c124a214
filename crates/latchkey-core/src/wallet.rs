//! The wallet as the faces see it: one SQLite file in the data dir, one wallet per signed-in
//! account, opened once per [`Core`] and shared behind a mutex.

use crate::core::Core;
use crate::error::{Code, Error, Result};
use latchkey_wallet::{AccountKey, Entry, EntryId, HistoryQuery, OpenOptions, Wallet};
use serde::Serialize;
use std::sync::{Mutex, MutexGuard};

/// The lazily opened wallet of an [`Core`], and whether the credit service's voucher keys
/// were checked in this run.
#[derive(Default)]
pub(crate) struct WalletSlot(Mutex<Option<Wallet>>, pub(crate) KeysChecked);

/// Set once the service's published keys were read in this run.
pub(crate) type KeysChecked = std::sync::atomic::AtomicBool;

impl WalletSlot {
    pub(crate) fn keys_checked(&self) -> &KeysChecked {
        &self.1
    }
}

/// An entry as history shows it: a hold that was later captured names its capture
/// (`captured_by`), so a face shows the two as one line ("held then paid") rather than as
/// two spends. Serialised as the entry's own fields plus `captured_by`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    /// The ledger entry, unchanged.
    #[serde(flatten)]
    pub entry: Entry,
    /// For a captured hold: the capture's id.
    pub captured_by: Option<EntryId>,
}

/// A page of [`HistoryLine`]s, newest first, in the wallet's page shape.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLines {
    /// The entries, newest first.
    pub entries: Vec<HistoryLine>,
    /// Pass it back for the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl Core {
    /// The wallet file: `<data dir>/wallet.sqlite`.
    pub fn wallet_path(&self) -> std::path::PathBuf {
        self.data_dir().join("wallet.sqlite")
    }

    fn open_wallet(&self) -> Result<MutexGuard<'_, Option<Wallet>>> {
        let mut guard = self
            .wallet_slot()
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let keys = self.voucher_keys()?;
            std::fs::create_dir_all(self.data_dir()).map_err(|e| {
                Error::new(Code::Storage, format!("{}: {e}", self.data_dir().display()))
            })?;
            let options = OpenOptions {
                voucher_keys: keys,
                ..OpenOptions::default()
            };
            *guard = Some(Wallet::open(self.wallet_path(), options, self.clock())?);
        }
        Ok(guard)
    }

    /// The wallet account of the active account, or of the one with this subject (or email).
    pub fn wallet_account(&self, subject: Option<&str>) -> Result<AccountKey> {
        let record = match subject {
            Some(s) => self.find_account(s)?,
            None => self.active_account()?,
        };
        Ok(AccountKey::new(
            record.identity.issuer,
            record.identity.subject,
        ))
    }

    /// Runs `op` on the wallet for the chosen account (active, or `subject`).
    pub fn with_wallet<T>(
        &self,
        subject: Option<&str>,
        op: impl FnOnce(&Wallet, &AccountKey) -> latchkey_wallet::Result<T>,
    ) -> Result<T> {
        let account = self.wallet_account(subject)?;
        let guard = self.open_wallet()?;
        let wallet = guard
            .as_ref()
            .ok_or_else(|| Error::new(Code::Internal, "wallet not open"))?;
        Ok(op(wallet, &account)?)
    }

    /// Closes the open wallet: the next use opens it again (with the voucher keys trusted
    /// then).
    pub(crate) fn forget_open_wallet(&self) {
        *self
            .wallet_slot()
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A page of the local wallet's history, each captured hold marked with its capture.
    ///
    /// # Errors
    /// As the wallet's `history` (a bad cursor is [`Code::InvalidInput`]).
    pub fn wallet_history(
        &self,
        subject: Option<&str>,
        query: &HistoryQuery,
    ) -> Result<HistoryLines> {
        self.with_wallet(subject, |w, a| {
            let page = w.history(a, query)?;
            let holds: Vec<EntryId> = page
                .entries
                .iter()
                .filter(|e| e.kind == latchkey_wallet::Kind::Reserve)
                .map(|e| e.id)
                .collect();
            let captured = w.captures_of(a, &holds)?;
            Ok(HistoryLines {
                entries: page
                    .entries
                    .into_iter()
                    .map(|entry| HistoryLine {
                        captured_by: captured
                            .iter()
                            .find(|(h, _)| *h == entry.id)
                            .map(|(_, c)| *c),
                        entry,
                    })
                    .collect(),
                next_cursor: page.next_cursor,
            })
        })
    }

    /// Runs `op` on the wallet file itself (verify), with no account.
    pub fn with_wallet_file<T>(
        &self,
        op: impl FnOnce(&Wallet) -> latchkey_wallet::Result<T>,
    ) -> Result<T> {
        let guard = self.open_wallet()?;
        let wallet = guard
            .as_ref()
            .ok_or_else(|| Error::new(Code::Internal, "wallet not open"))?;
        Ok(op(wallet)?)
    }

    /// Grants `[wallet] welcome_credits` once per account (at its first sign-in). With a
    /// credit service, welcome credits are the service's to grant (once per identity), so
    /// nothing is granted here.
    pub(crate) fn grant_welcome(&self, issuer: &str, subject: &str) -> Result<Option<i64>> {
        let n = self.config.wallet.welcome_credits;
        if n <= 0 || self.wallet_uses_service() {
            return Ok(None);
        }
        let account = AccountKey::new(issuer, subject);
        let guard = self.open_wallet()?;
        let wallet = guard
            .as_ref()
            .ok_or_else(|| Error::new(Code::Internal, "wallet not open"))?;
        let receipt = wallet.grant_welcome(&account, latchkey_wallet::Credits(n))?;
        Ok(receipt
            .filter(|r| !r.replayed)
            .map(|r| r.entry.amount.get()))
    }
}
