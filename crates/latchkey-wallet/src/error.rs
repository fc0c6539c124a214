//! The wallet's one error type. Every refused operation changes nothing and says why.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::types::{Credits, EntryId, Settlement, Timestamp};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the wallet refused or failed. Variants are stable classes a CLI can map to exit codes;
/// the messages are for people. A refusal (everything above `NotAWalletFile`) left the wallet
/// exactly as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("not enough credits: {needed} needed, {available} available")]
    InsufficientCredits { needed: Credits, available: Credits },

    #[error("there is no hold {hold} on this account")]
    UnknownHold { hold: EntryId },

    #[error("hold {hold} was already {settlement}; a hold is settled exactly once")]
    HoldSettled {
        hold: EntryId,
        settlement: Settlement,
    },

    #[error("cannot capture {requested} from hold {hold}: it holds only {held}")]
    CaptureExceedsHold {
        hold: EntryId,
        requested: Credits,
        held: Credits,
    },

    #[error("there is no spend {entry} on this account to refund")]
    UnknownSpend { entry: EntryId },

    #[error(
        "cannot refund {requested} of spend {spend}: only {remaining} of it is left to refund"
    )]
    RefundExceedsSpend {
        spend: EntryId,
        requested: Credits,
        remaining: Credits,
    },

    #[error(
        "idempotency key {key:?} was already used for a different request; \
         use a new key for a new request"
    )]
    IdempotencyConflict { key: String },

    #[error("invalid idempotency key: {reason}")]
    InvalidIdempotencyKey { reason: &'static str },

    #[error("amount must be a positive whole number of credits, got {amount}")]
    InvalidAmount { amount: i64 },

    #[error("a hold needs a time to live of at least one second")]
    InvalidTtl,

    #[error("the result would overflow the credit counter")]
    Overflow,

    #[error("invalid history cursor; start again from the first page")]
    InvalidCursor,

    #[error("voucher refused: {reason}")]
    VoucherRejected { reason: VoucherRejection },

    #[error("invalid voucher key: {reason}")]
    InvalidVoucherKey { reason: String },

    #[error("the system's random source failed")]
    Randomness {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("{} is not a Latchkey wallet ({reason}); it was left untouched", path.display())]
    NotAWalletFile { path: PathBuf, reason: String },

    #[error(
        "the wallet file is corrupt; it was not changed. Keep a copy, verify it, and restore \
         from a backup"
    )]
    CorruptDatabase {
        #[source]
        source: rusqlite::Error,
    },

    #[error("the wallet file has schema version {found}, newer than this Latchkey knows ({supported}); upgrade Latchkey")]
    NewerSchema { found: i64, supported: i64 },

    #[error("the wallet is busy in another process; try again")]
    Busy {
        #[source]
        source: rusqlite::Error,
    },

    #[error("could not read or write the wallet file")]
    Io {
        #[source]
        source: std::io::Error,
    },

    #[error("could not write the export")]
    Export {
        #[source]
        source: std::io::Error,
    },

    #[error("wallet database error")]
    Sqlite {
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
        detail: String,
    },
    /// Signed with a key that is not in `[wallet] voucher_keys`.
    UnknownKey {
        key_id: String,
    },
    /// The signature does not match the payload: altered or forged.
    BadSignature,
    Expired {
        expired_at: Timestamp,
    },
    /// Bound to another issuer/subject than the account redeeming it.
    BoundToAnotherAccount,
    /// This voucher id was already redeemed on this machine (by any account).
    AlreadyRedeemed {
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
