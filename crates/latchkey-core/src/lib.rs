//! The Latchkey core: the one API both faces (the Tauri app and the `latchkey` CLI) call.
//! It owns configuration, accounts and sessions, and classifies every failure into a
//! [`Code`] the faces act on. It knows nothing of Tauri or terminals.

pub mod accounts;
pub mod analytics;
mod app;
pub mod browser;
pub mod config;
mod error;
mod wallet;

pub use app::{
    default_config_path, AccountView, Core, CoreOptions, Completed, LogoutReport, LogoutTarget,
    ProviderView, SignIn,
};
pub use error::{Code, Error, Result};
pub use latchkey_auth::{Clock, FixedClock, Secret, SignInOptions, SystemClock};
pub use latchkey_wallet;
