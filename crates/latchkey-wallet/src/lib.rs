//! Latchkey's local credit wallet: one SQLite file holding a wallet per signed-in account
//! (issuer + subject), as an append-only ledger with O(1) balances, two-phase holds,
//! Stripe-style idempotency keys and Ed25519-signed vouchers. Crash-safe (WAL, `BEGIN
//! IMMEDIATE`, `synchronous=FULL` by default) and shared safely by several processes.
//!
//! No auth, no Tauri: an account key is just a value here. See README.md for the model, the
//! voucher format and the error list.
//!
//! ```
//! use std::sync::Arc;
//! use latchkey_wallet::{AccountKey, Credits, FixedClock, OpenOptions, Timestamp, Wallet};
//!
//! let clock = Arc::new(FixedClock::new(Timestamp::from_unix_millis(0)));
//! let wallet = Wallet::open_in_memory(OpenOptions::default(), clock)?;
//! let alice = AccountKey::new("https://idp.example", "alice");
//! wallet.grant(&alice, "buy-1", Credits(100), Some("starter pack"))?;
//! let receipt = wallet.spend(&alice, "job-7", Credits(30), None)?;
//! assert_eq!(receipt.balance.available, Credits(70));
//! // A retry with the same key changes nothing and returns the first result.
//! assert!(wallet.spend(&alice, "job-7", Credits(30), None)?.replayed);
//! assert_eq!(wallet.balance(&alice)?.available, Credits(70));
//! # Ok::<(), latchkey_wallet::Error>(())
//! ```

#![warn(missing_docs)]

mod clock;
mod db;
mod error;
mod history;
mod ledger;
mod types;
mod verify;
pub mod voucher;
mod wallet;

pub use clock::{Clock, FixedClock, SystemClock};
pub use db::{OpenOptions, Synchronous, APPLICATION_ID, SCHEMA_VERSION};
pub use error::{Error, Result, VoucherRejection};
pub use history::{HistoryPage, HistoryQuery, MAX_PAGE};
pub use types::{
    AccountKey, Balance, Credits, Entry, EntryId, Hold, Kind, Operation, Receipt, Settlement,
    Timestamp, UnknownKind,
};
pub use verify::{VerifyReport, Violation};
pub use voucher::{PrivateKey, PublicKey, Voucher, VoucherSpec};
pub use wallet::Wallet;
