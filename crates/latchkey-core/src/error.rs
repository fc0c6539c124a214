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
    /// The credit service cannot be reached (or answers that it cannot serve now); nothing
    /// changed there. Balances shown meanwhile are the last known ones, marked stale.
    ServiceUnavailable,
    /// A purchase ended without being paid (cancelled or expired at the payment page).
    PurchaseNotCompleted,
    /// Nothing came back from the payment page in time (the purchase may still complete).
    PurchaseTimedOut,
    /// The user stopped a running analysis: its hold was released, nothing was charged or
    /// saved.
    Cancelled,
    /// The account's provider now names another issuer or client id than the one it signed in
    /// with: its tokens are not sent anywhere until the user signs in again.
    ProviderChanged,
    /// The hold named is a device's offline lease at the credit service: only that device's
    /// sync or removing the device closes it; nothing changed.
    LeaseHold,
}

impl Code {
    /// Every code, in declaration order: faces that word each code (the UI) iterate this to
    /// prove none is missing. A unit test keeps it complete.
    pub const ALL: &[Code] = &[
        Code::Config,
        Code::NotSignedIn,
        Code::SessionExpired,
        Code::SignInDenied,
        Code::SignInTimedOut,
        Code::SignInCancelled,
        Code::SignInRejected,
        Code::KeychainUnavailable,
        Code::Offline,
        Code::Provider,
        Code::UnknownAccount,
        Code::Storage,
        Code::Internal,
        Code::InsufficientCredits,
        Code::IdempotencyConflict,
        Code::UnknownEntry,
        Code::VoucherRejected,
        Code::InvalidInput,
        Code::WalletDamaged,
        Code::Busy,
        Code::ServiceUnavailable,
        Code::PurchaseNotCompleted,
        Code::PurchaseTimedOut,
        Code::Cancelled,
        Code::ProviderChanged,
        Code::LeaseHold,
    ];

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
            Code::ServiceUnavailable => 27,
            Code::PurchaseNotCompleted => 28,
            Code::PurchaseTimedOut => 29,
            Code::Cancelled => 30,
            Code::ProviderChanged => 14,
            Code::LeaseHold => 31,
        }
    }
}

/// A failure as faces see it. The message says what happened and what to do, and never
/// contains a token.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What kind of failure: what faces act on.
    pub code: Code,
    /// What happened, for people; names no face's commands.
    pub message: String,
}

impl Error {
    /// An error of this kind with this message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// `text` with its first letter in upper case (any script): a library error's text starts in
/// lower case (it may be wrapped), as a face's whole message it starts with a capital. The
/// one such helper: faces that need it (labels) call this one.
pub fn capitalise_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The core's result: [`Error`] unless said otherwise.
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
        Error::new(code, capitalise_first(&e.to_string()))
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
        Error::new(code, capitalise_first(&e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Its position in [`Code::ALL`]. The match has no wildcard: a new variant does not
    /// compile until it is given a place here, and the test below then fails until `ALL`
    /// lists it there.
    fn position(code: Code) -> usize {
        match code {
            Code::Config => 0,
            Code::NotSignedIn => 1,
            Code::SessionExpired => 2,
            Code::SignInDenied => 3,
            Code::SignInTimedOut => 4,
            Code::SignInCancelled => 5,
            Code::SignInRejected => 6,
            Code::KeychainUnavailable => 7,
            Code::Offline => 8,
            Code::Provider => 9,
            Code::UnknownAccount => 10,
            Code::Storage => 11,
            Code::Internal => 12,
            Code::InsufficientCredits => 13,
            Code::IdempotencyConflict => 14,
            Code::UnknownEntry => 15,
            Code::VoucherRejected => 16,
            Code::InvalidInput => 17,
            Code::WalletDamaged => 18,
            Code::Busy => 19,
            Code::ServiceUnavailable => 20,
            Code::PurchaseNotCompleted => 21,
            Code::PurchaseTimedOut => 22,
            Code::Cancelled => 23,
            Code::ProviderChanged => 24,
            Code::LeaseHold => 25,
        }
    }

    #[test]
    fn all_lists_every_code_once() {
        let positions: Vec<usize> = Code::ALL.iter().map(|c| position(*c)).collect();
        let expected: Vec<usize> = (0..=25).collect();
        assert_eq!(
            positions, expected,
            "Code::ALL must list every variant once, in order"
        );
    }

    #[test]
    fn library_errors_read_as_sentences() {
        let e = Error::from(AuthError::Cancelled);
        assert_eq!(e.message, "The sign-in was cancelled");
        assert_eq!(capitalise_first(""), "");
        assert_eq!(capitalise_first("élan"), "Élan", "not only ASCII");
    }
}
