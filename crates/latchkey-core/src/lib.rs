//! The Latchkey core: the one API both faces (the Tauri app and the `latchkey` CLI) call.
//! It owns configuration, accounts and sessions, and classifies every failure into a
//! [`Code`] the faces act on. It knows nothing of Tauri or terminals: its messages say what
//! happened and never name a face's command or flag; each face adds its own next step per
//! [`Code`] (the CLI in its `output.rs`, the UI in its error words).
//!
//! [`Core`] is built in `core.rs`; each of its ideas has a file: `discovery.rs` (the discovery
//! cache), `signin.rs`, `sessions.rs` (status, session end, locked refresh), `tokens.rs`,
//! `switch.rs`, `logout.rs`, `wallet.rs`, `service/` (the credit service) and `analytics.rs`.

#![warn(missing_docs)]

pub mod accounts;
pub mod analytics;
mod avatar;
pub mod browser;
pub mod config;
mod core;
mod device;
mod discovery;
mod error;
mod ids;
pub mod links;
mod logout;
mod redeem;
pub mod service;
mod sessions;
mod signin;
mod switch;
mod sync;
#[cfg(test)]
mod testing;
mod tokens;
mod views;
mod wallet;

pub use crate::core::{default_config_path, Core, CoreOptions};
pub use avatar::{fetch_avatar, sniff, AVATAR_TIMEOUT, MAX_AVATAR_BYTES};
pub use device::{DeviceSignIn, PasteBack};
pub use error::{capitalise_first, Code, Error, Result};
pub use ids::new_key;
pub use latchkey_auth::{
    write_private, AccessToken, ClientSecret, Existing, IdToken, RefreshToken, SignInOptions,
};
pub use latchkey_wallet;
/// The one clock of Latchkey: the wallet's, shared by the core (sign-in code takes `now`).
pub use latchkey_wallet::{Clock, FixedClock, SystemClock};
pub use logout::{LogoutReport, LogoutTarget};
pub use redeem::{RedeemAccount, Redeemed, VoucherPreview};
pub use service::{
    Checkout, Known, LedgerEntry, LedgerPage, Pack, PurchaseState, ServiceBalance, ServiceReceipt,
};
pub use signin::{Completed, SignIn};
pub use sync::{
    import_reason_words, refused_words, DeviceIdentity, DeviceView, ImportRefused, ImportReport,
    Refused, RefusedEntry, SyncReport, SyncState,
};
pub use sync::{QueueOutcome, QueueReport, QueuedVoucher};
pub use tokens::{Token, TokenKind};
pub use views::{AccountView, ProviderView};
pub use wallet::{HistoryLine, HistoryLines};
