//! [`Wallet`]: the one handle the app and the CLI hold.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::clock::Clock;
use crate::db::{self, OpenOptions};
use crate::error::Result;
use crate::history::{self, HistoryPage, HistoryQuery};
use crate::ledger::{Ledger, LedgerMut, WELCOME_KEY};
use crate::types::{AccountKey, Balance, Credits, Entry, EntryId, Hold, Operation, Receipt};
use crate::verify::{self, VerifyReport};

/// A wallet file holding one wallet per account. Open it once per process; several processes
/// (the desktop app and the CLI) may have it open at once: every check-then-act runs in a
/// `BEGIN IMMEDIATE` transaction, so they serialise instead of racing.
///
/// Every mutating call takes the account, a caller-chosen idempotency key and the operation's
/// parameters, and returns a [`Receipt`]. Replaying a key with the same parameters returns the
/// first receipt (`replayed: true`) and changes nothing; with other parameters it is
/// [`crate::Error::IdempotencyConflict`]. Keys are stored in the ledger itself and never
/// pruned, so they are honoured far beyond the 30 days Stripe promises. A refused call changes
/// nothing. Expired holds are released at open and before every operation.
///
/// `Wallet` is `Send` but not `Sync`: share it behind a `Mutex`.
pub struct Wallet {
    conn: Connection,
    clock: Arc<dyn Clock>,
    voucher_keys: Vec<crate::voucher::PublicKey>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("path", &self.conn.path())
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// Opens the wallet file at `path`, creating it if it does not exist.
    ///
    /// A file that is not a SQLite database, or a SQLite database of another program, is
    /// refused with [`crate::Error::NotAWalletFile`] before anything is written to it; a file
    /// from a newer Latchkey is [`crate::Error::NewerSchema`]; a damaged one
    /// [`crate::Error::CorruptDatabase`].
    pub fn open(
        path: impl AsRef<Path>,
        options: OpenOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let path = path.as_ref();
        db::probe(path)?;
        let conn = db::connect(path, &options)?;
        Self::start(conn, options, clock)
    }

    /// A wallet that lives in memory only (tests, previews).
    pub fn open_in_memory(options: OpenOptions, clock: Arc<dyn Clock>) -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        db::configure(&conn, &options)?;
        Self::start(conn, options, clock)
    }

    fn start(conn: Connection, options: OpenOptions, clock: Arc<dyn Clock>) -> Result<Self> {
        db::migrate(&conn)?;
        let wallet = Wallet {
            conn,
            clock,
            voucher_keys: options.voucher_keys,
        };
        wallet.expire_holds()?;
        Ok(wallet)
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction; an error rolls everything back.
    fn write<T>(&self, f: impl FnOnce(&LedgerMut<'_>) -> Result<T>) -> Result<T> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
        // Read the time only once the write lock is ours, so entry times follow entry order
        // across processes.
        let ledger = LedgerMut {
            tx: &tx,
            now: self.clock.now().into(),
            voucher_keys: &self.voucher_keys,
        };
        let out = f(&ledger)?;
        tx.commit()?;
        Ok(out)
    }

    fn read(&self) -> Ledger<'_> {
        Ledger { conn: &self.conn }
    }

    /// Releases every hold whose time is up. Returns how many. (Runs by itself at open and
    /// before every operation; exposed for a periodic sweep.)
    pub fn expire_holds(&self) -> Result<usize> {
        if !self.read().has_due_holds(self.clock.now().into())? {
            return Ok(0);
        }
        self.write(|l| l.expire_due())
    }

    /// Applies one operation exactly once under `key`. The general form of the methods below.
    pub fn apply(&self, account: &AccountKey, key: &str, op: &Operation) -> Result<Receipt> {
        self.write(|l| l.apply(account, key, op))
    }

    /// The account's balance (zero for an account never seen). O(1).
    pub fn balance(&self, account: &AccountKey) -> Result<Balance> {
        self.expire_holds()?;
        self.read().balance(account)
    }

    /// Gives credits. Errors: `InvalidAmount`, `Overflow`, `IdempotencyConflict`.
    pub fn grant(
        &self,
        account: &AccountKey,
        key: &str,
        amount: Credits,
        memo: Option<&str>,
    ) -> Result<Receipt> {
        let memo = memo.map(str::to_owned);
        self.apply(account, key, &Operation::Grant { amount, memo })
    }

    /// Spends available credits. Errors: `InsufficientCredits`, `InvalidAmount`,
    /// `IdempotencyConflict`.
    pub fn spend(
        &self,
        account: &AccountKey,
        key: &str,
        amount: Credits,
        memo: Option<&str>,
    ) -> Result<Receipt> {
        let memo = memo.map(str::to_owned);
        self.apply(account, key, &Operation::Spend { amount, memo })
    }

    /// Refunds up to what is left of one earlier spend. Errors: `UnknownSpend`,
    /// `RefundExceedsSpend`, `InvalidAmount`, `Overflow`, `IdempotencyConflict`.
    pub fn refund(
        &self,
        account: &AccountKey,
        key: &str,
        spend: EntryId,
        amount: Credits,
        memo: Option<&str>,
    ) -> Result<Receipt> {
        let memo = memo.map(str::to_owned);
        self.apply(
            account,
            key,
            &Operation::Refund {
                spend,
                amount,
                memo,
            },
        )
    }

    /// Holds credits for `ttl_secs` seconds; `receipt.entry.id` is the hold id. Errors:
    /// `InsufficientCredits`, `InvalidAmount`, `InvalidTtl`, `IdempotencyConflict`.
    pub fn reserve(
        &self,
        account: &AccountKey,
        key: &str,
        amount: Credits,
        ttl_secs: u64,
        memo: Option<&str>,
    ) -> Result<Receipt> {
        let memo = memo.map(str::to_owned);
        let op = Operation::Reserve {
            amount,
            ttl_secs,
            memo,
        };
        self.apply(account, key, &op)
    }

    /// Spends `amount` (≤ held) of a hold and releases the rest. Errors: `UnknownHold`,
    /// `HoldSettled`, `CaptureExceedsHold`, `InvalidAmount`, `IdempotencyConflict`.
    pub fn capture(
        &self,
        account: &AccountKey,
        key: &str,
        hold: EntryId,
        amount: Credits,
        memo: Option<&str>,
    ) -> Result<Receipt> {
        let memo = memo.map(str::to_owned);
        self.apply(account, key, &Operation::Capture { hold, amount, memo })
    }

    /// Gives a whole hold back. Errors: `UnknownHold`, `HoldSettled`, `IdempotencyConflict`.
    pub fn release(
        &self,
        account: &AccountKey,
        key: &str,
        hold: EntryId,
        memo: Option<&str>,
    ) -> Result<Receipt> {
        let memo = memo.map(str::to_owned);
        self.apply(account, key, &Operation::Release { hold, memo })
    }

    /// Redeems a voucher token against the trusted keys of [`OpenOptions::voucher_keys`].
    /// Errors: `VoucherRejected { reason }` (malformed, unknown key, bad signature, expired,
    /// bound to another account, already redeemed on this machine), `IdempotencyConflict`.
    pub fn redeem_voucher(&self, account: &AccountKey, key: &str, token: &str) -> Result<Receipt> {
        let op = Operation::RedeemVoucher {
            token: token.trim().to_owned(),
        };
        self.apply(account, key, &op)
    }

    /// Whether the voucher with this id was already redeemed on this machine (by any
    /// account): what a preview checks before it shows the voucher's amount.
    pub fn voucher_redeemed(&self, voucher_id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM redeemed_vouchers WHERE voucher_id = ?1)",
            )?
            .query_row([voucher_id], |r| r.get(0))?)
    }

    /// Grants `amount` welcome credits once per account (at first sign-in). Later calls
    /// return the first grant whatever the amount; `None` when `amount` is zero and none was
    /// ever granted.
    pub fn grant_welcome(&self, account: &AccountKey, amount: Credits) -> Result<Option<Receipt>> {
        if amount == Credits::ZERO {
            return Ok(self
                .entry_by_key(account, WELCOME_KEY)?
                .map(|entry| Receipt {
                    balance: entry.balance_after(),
                    entry,
                    replayed: true,
                }));
        }
        self.write(|l| l.grant_welcome(account, amount)).map(Some)
    }

    /// The entry an idempotency key was applied as, if any (to look up what an interrupted
    /// call did).
    pub fn entry_by_key(&self, account: &AccountKey, key: &str) -> Result<Option<Entry>> {
        let read = self.read();
        match read.account_id(account)? {
            Some(id) => Ok(read.entry_by_key(id, key)?.map(|(entry, _)| entry)),
            None => Ok(None),
        }
    }

    /// The account's unsettled holds, oldest first.
    pub fn holds(&self, account: &AccountKey) -> Result<Vec<Hold>> {
        self.expire_holds()?;
        let read = self.read();
        match read.account_id(account)? {
            Some(id) => read.open_holds(id),
            None => Ok(Vec::new()),
        }
    }

    /// One page of history, newest first. Errors: `InvalidCursor`.
    pub fn history(&self, account: &AccountKey, query: &HistoryQuery) -> Result<HistoryPage> {
        match self.read().account_id(account)? {
            Some(id) => history::page(&self.conn, id, query),
            None => {
                // Still reject a malformed cursor, so the error does not depend on the data.
                history::page(&self.conn, -1, query)
            }
        }
    }

    /// Which of these holds were settled by a capture: `(hold, capture)` pairs. A history
    /// view shows such a hold and its capture as one line ("held then paid"), not as two
    /// spends. Ids that are not this account's holds are ignored.
    pub fn captures_of(
        &self,
        account: &AccountKey,
        holds: &[EntryId],
    ) -> Result<Vec<(EntryId, EntryId)>> {
        let Some(id) = self.read().account_id(account)? else {
            return Ok(Vec::new());
        };
        history::captures_of(&self.conn, id, holds)
    }

    /// Writes the account's whole history, oldest first, as CSV with a header row.
    pub fn export_csv(&self, account: &AccountKey, out: impl Write) -> Result<()> {
        history::export_csv(&self.conn, self.read().account_id(account)?, out)
    }

    /// Writes the account's whole history, oldest first, as a JSON array of entries.
    pub fn export_json(&self, account: &AccountKey, out: impl Write) -> Result<()> {
        history::export_json(&self.conn, self.read().account_id(account)?, out)
    }

    /// Recomputes every invariant from the ledger, for every account, and reports each
    /// violation: balances equal the sum of entries, available ≥ 0 after every entry, each
    /// idempotency key applied once, each hold settled at most once and captured within its
    /// amount, refunds within their spend, derived tables consistent, and SQLite's
    /// `integrity_check`. Reads one consistent snapshot.
    pub fn verify(&self) -> Result<VerifyReport> {
        let tx = Transaction::new_unchecked(&self.conn, TransactionBehavior::Deferred)?;
        let report = verify::verify(&tx)?;
        tx.finish()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
