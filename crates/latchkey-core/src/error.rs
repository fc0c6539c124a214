//! The boundary classification both faces act on: an [`Error`] is a [`Code`] plus a message
//! for people. The UI receives `{code, message}`; the CLI maps codes to exit codes. Nobody
//! matches on message text.

use latchkey_auth::AuthError;
use serde::Serialize;

/// What kind of failure this is: only kinds a face acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Code {
    /// The configuration file is missing, malformed or incomplete.
    Config,
    /// No account is signed in (or the chosen one is not).
    NotSignedIn,
    /// The session ended (refresh refused, or `session_days` passed); sign in again.
    SessionExpired,
    /// The provider or user refused the sign-in (`access_denied`...).
    SignInDenied,
    /// Nothing came back from the browser in time.
    SignInTimedOut,
    /// The user cancelled the sign-in.
    SignInCancelled,
    /// The callback or tokens failed validation (bad ID token, wrong state, mix-up).
    SignInRejected,
    /// The OS keychain cannot be used.
    KeychainUnavailable,
    /// The provider cannot be reached.
    Offline,
    /// The provider answered wrongly (HTTP 500, malformed JSON).
    Provider,
    /// The account named does not exist here.
    UnknownAccount,
    /// Local files could not be read or written.
    Storage,
    /// A bug or an unexpected condition.
    Internal,
    /// Not enough available credits; nothing changed.
    InsufficientCredits,
    /// An idempotency key was reused with different parameters; nothing changed.
    IdempotencyConflict,
    /// The hold or spend named does not exist, or was already settled; nothing changed.
    UnknownEntry,
    /// A voucher was refused (unknown key, bad signature, expired, someone else's, used).
    VoucherRejected,
    /// A wallet argument is invalid (amount, time to live, cursor, key); nothing changed.
    InvalidInput,
    /// The wallet file is not a wallet, is damaged, or fails `verify`.
    WalletDamaged,
    /// Another process holds the wallet; try again.
    Busy,
}

impl Code {
    /// The CLI's exit code for this kind of failure (documented in README).
    pub fn exit_code(self) -> i32 {
        match self {
            Code::Internal => 1,
            Code::Config => 3,
            Code::NotSignedIn | Code::SessionExpired => 4,
            Code::SignInDenied => 5,
            Code::SignInTimedOut => 6,
            Code::SignInCancelled => 7,
            Code::SignInRejected => 8,
            Code::KeychainUnavailable => 9,
            Code::Offline => 10,
            Code::Provider => 11,
            Code::UnknownAccount => 12,
            Code::Storage => 13,
            Code::InsufficientCredits => 20,
            Code::IdempotencyConflict => 21,
            Code::UnknownEntry => 22,
            Code::VoucherRejected => 23,
            Code::InvalidInput => 24,
            Code::WalletDamaged => 25,
            Code::Busy => 26,
        }
    }
}

/// A failure as faces see it. The message says what happened and what to do, and never
/// contains a token.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: Code,
    pub message: String,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<AuthError> for Error {
    fn from(e: AuthError) -> Self {
        let code = match &e {
            AuthError::Denied { .. } => Code::SignInDenied,
            AuthError::TimedOut(_) => Code::SignInTimedOut,
            AuthError::StateMismatch | AuthError::InvalidToken(_) => Code::SignInRejected,
            AuthError::Cancelled => Code::SignInCancelled,
            AuthError::Protocol(_) => Code::Provider,
            AuthError::Unreachable(_) => Code::Offline,
            AuthError::InvalidGrant => Code::SessionExpired,
            AuthError::Config(_) => Code::Config,
            AuthError::KeychainUnavailable(_) => Code::KeychainUnavailable,
            AuthError::Vault(_) => Code::Storage,
            AuthError::Receiver(_) => Code::Internal,
            _ => Code::Internal,
        };
        let mut message = e.to_string();
        if let Some(first) = message.get(..1) {
            message = first.to_uppercase() + &message[1..];
        }
        Error::new(code, message)
    }
}

impl From<latchkey_wallet::Error> for Error {
    fn from(e: latchkey_wallet::Error) -> Self {
        use latchkey_wallet::Error as W;
        let code = match &e {
            W::InsufficientCredits { .. } => Code::InsufficientCredits,
            W::IdempotencyConflict { .. } => Code::IdempotencyConflict,
            W::UnknownHold { .. }
            | W::HoldSettled { .. }
            | W::CaptureExceedsHold { .. }
            | W::UnknownSpend { .. }
            | W::RefundExceedsSpend { .. } => Code::UnknownEntry,
            W::VoucherRejected { .. } | W::InvalidVoucherKey { .. } => Code::VoucherRejected,
            W::InvalidIdempotencyKey { .. }
            | W::InvalidAmount { .. }
            | W::InvalidTtl
            | W::Overflow
            | W::InvalidCursor => Code::InvalidInput,
            W::NotAWalletFile { .. } | W::CorruptDatabase { .. } | W::NewerSchema { .. } => {
                Code::WalletDamaged
            }
            W::Busy { .. } => Code::Busy,
            W::Io { .. } | W::Export { .. } => Code::Storage,
            _ => Code::Internal,
        };
        let mut message = e.to_string();
        if let Some(first) = message.get(..1) {
            message = first.to_uppercase() + &message[1..];
        }
        Error::new(code, message)
    }
}
