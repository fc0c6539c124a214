//! The wallet's one error type. Every refused operation changes nothing and says why.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::types::{Credits, EntryId, Settlement, Timestamp};

/// The wallet's result: [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the wallet refused or failed. Variants are stable classes a CLI can map to exit codes;
/// the messages are for people. A refusal (everything above `NotAWalletFile`) left the wallet
/// exactly as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The account has fewer available credits than the operation needs.
    #[error("not enough credits: {needed} needed, {available} available")]
    InsufficientCredits {
        /// What the operation needed.
        needed: Credits,
        /// What the account had available (posted minus held).
        available: Credits,
    },

    /// No hold with this id belongs to the account.
    #[error("there is no hold {hold} on this account")]
    UnknownHold {
        /// The hold asked for.
        hold: EntryId,
    },

    /// The hold was already captured, released or expired.
    #[error("hold {hold} was already {settlement}; a hold is settled exactly once")]
    HoldSettled {
        /// The hold asked for.
        hold: EntryId,
        /// How it was settled.
        settlement: Settlement,
    },

    /// A capture asked for more than the hold holds.
    #[error("cannot capture {requested} from hold {hold}: it holds only {held}")]
    CaptureExceedsHold {
        /// The hold.
        hold: EntryId,
        /// What the capture asked for.
        requested: Credits,
        /// What the hold holds.
        held: Credits,
    },

    /// No spend with this id belongs to the account.
    #[error("there is no spend {entry} on this account to refund")]
    UnknownSpend {
        /// The entry asked for.
        entry: EntryId,
    },

    /// A refund asked for more than is left of the spend.
    #[error(
        "cannot refund {requested} of spend {spend}: only {remaining} of it is left to refund"
    )]
    RefundExceedsSpend {
        /// The spend.
        spend: EntryId,
        /// What the refund asked for.
        requested: Credits,
        /// What of the spend is not refunded yet.
        remaining: Credits,
    },

    /// The idempotency key was used before for a request with other parameters.
    #[error(
        "idempotency key {key:?} was already used for a different request; \
         use a new key for a new request"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
    },

    /// The idempotency key is empty, too long or has characters it may not have.
    #[error("invalid idempotency key: {reason}")]
    InvalidIdempotencyKey {
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Amounts are positive.
    #[error("amount must be a positive whole number of credits, got {amount}")]
    InvalidAmount {
        /// The amount given.
        amount: i64,
    },

    /// A hold's time to live is zero.
    #[error("a hold needs a time to live of at least one second")]
    InvalidTtl,

    /// The result does not fit the credit counter.
    #[error("the result would overflow the credit counter")]
    Overflow,

    /// The history cursor was not made by this wallet's history.
    #[error("invalid history cursor; start again from the first page")]
    InvalidCursor,

    /// A voucher was refused; nothing was credited.
    #[error("voucher refused: {reason}")]
    VoucherRejected {
        /// Why.
        reason: VoucherRejection,
    },

    /// A voucher signing or verifying key does not parse.
    #[error("invalid voucher key: {reason}")]
    InvalidVoucherKey {
        /// What is wrong with it.
        reason: String,
    },

    /// The OS gave no randomness (for a key or a voucher id).
    #[error("the system's random source failed")]
    Randomness {
        /// The OS's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The file exists but is another program's (or another SQLite database).
    #[error("{} is not a Latchkey wallet ({reason}); it was left untouched", path.display())]
    NotAWalletFile {
        /// The file.
        path: PathBuf,
        /// Why it is not a wallet.
        reason: String,
    },

    /// SQLite reports the file damaged.
    #[error(
        "the wallet file is corrupt; it was not changed. Keep a copy, verify it, and restore \
         from a backup"
    )]
    CorruptDatabase {
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A newer Latchkey wrote this wallet; this one will not touch it.
    #[error(
        "the wallet file has schema version {found}, newer than this Latchkey knows \
         ({supported}); upgrade Latchkey"
    )]
    NewerSchema {
        /// The file's schema version.
        found: i64,
        /// The newest this build knows.
        supported: i64,
    },

    /// Another process held the wallet longer than the busy timeout.
    #[error("the wallet is busy in another process; try again")]
    Busy {
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// The wallet file or its folder could not be read or written.
    #[error("could not read or write the wallet file")]
    Io {
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },

    /// The export could not be written.
    #[error("could not write the export")]
    Export {
        /// The writer's error.
        #[source]
        source: std::io::Error,
    },

    /// Any other SQLite failure (a bug or an unexpected condition).
    #[error("wallet database error")]
    Sqlite {
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

impl From<rusqlite::Error> for Error {
    fn from(source: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
                Error::CorruptDatabase { source }
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                Error::Busy { source }
            }
            _ => Error::Sqlite { source },
        }
    }
}

/// Why a voucher was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum VoucherRejection {
    /// Not a `LKV1.<payload>.<signature>` token, or its payload does not parse.
    Malformed {
        /// What does not parse.
        detail: String,
    },
    /// Signed with a key that is not in `[wallet] voucher_keys`.
    UnknownKey {
        /// The id of the key it names.
        key_id: String,
    },
    /// The signature does not match the payload: altered or forged.
    BadSignature,
    /// Its expiry has passed.
    Expired {
        /// When it expired.
        expired_at: Timestamp,
    },
    /// Bound to another issuer/subject than the account redeeming it.
    BoundToAnotherAccount,
    /// This voucher id was already redeemed on this machine (by any account).
    AlreadyRedeemed {
        /// The voucher's id.
        voucher_id: String,
    },
}

impl fmt::Display for VoucherRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VoucherRejection::Malformed { detail } => {
                write!(
                    f,
                    "not a valid voucher token ({detail}); paste the whole LKV1.… text"
                )
            }
            VoucherRejection::UnknownKey { key_id } => write!(
                f,
                "signed by key {key_id}, which is not in [wallet] voucher_keys"
            ),
            VoucherRejection::BadSignature => {
                f.write_str("the signature does not match: the voucher was altered or forged")
            }
            VoucherRejection::Expired { expired_at } => write!(f, "it expired at {expired_at}"),
            VoucherRejection::BoundToAnotherAccount => {
                f.write_str("it was issued to another account")
            }
            VoucherRejection::AlreadyRedeemed { voucher_id } => {
                write!(
                    f,
                    "voucher {voucher_id} was already redeemed on this machine"
                )
            }
        }
    }
}
