//! The authoritative credit ledger: rules and types. [`Ledger`] runs them against PostgreSQL.
//!
//! Every write happens in one transaction that first locks the user's balance row
//! (`SELECT ... FOR UPDATE`), so one user's writers are serialised while different users never
//! wait for each other. The database enforces the invariants as well (see
//! `migrations/0001_ledger.sql`): entries are append-only, each entry moves the balance row in
//! the same transaction, and `held >= 0`, `posted - held >= 0` are CHECK constraints.

mod pg;

pub use pg::{Credit, Credited, Ledger, Source};

use crate::db::DbError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The largest amount one entry may carry (and so, one request).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Longest memo kept with an entry, in characters.
pub const MAX_MEMO_CHARS: usize = 200;
/// Longest idempotency key, in bytes.
pub const MAX_KEY_BYTES: usize = 255;
/// Shortest hold lifetime, in seconds.
pub const MIN_HOLD_SECS: i64 = 1;
/// Longest hold lifetime, in seconds.
pub const MAX_HOLD_SECS: i64 = 86_400;
/// Hold lifetime when the caller names none, in seconds.
pub const DEFAULT_HOLD_SECS: i64 = 600;
/// Largest history page.
pub const MAX_PAGE: i64 = 500;
/// History page size when the caller names none.
pub const DEFAULT_PAGE: i64 = 50;

/// Whose wallet: the OpenID issuer and subject, as the desktop keys its local wallet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account {
    /// The OpenID Provider's issuer, exactly as its ID tokens state it.
    pub issuer: String,
    /// The user's `sub` at that issuer.
    pub subject: String,
}

/// What an entry did, and a user's balance: the wire crate's types (the service and the
/// desktop share one definition; the names and JSON are the ledger's own).
pub use latchkey_wire::{Balance, EntryKind};

/// One ledger entry, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Entry {
    /// The entry's place in the whole ledger (all users): increasing, never reused.
    pub seq: i64,
    /// What the entry did.
    pub kind: EntryKind,
    /// How much it moved: always positive (`kind` gives the direction).
    pub amount: i64,
    /// For capture, release and expire: the hold's `seq`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<i64>,
    /// For holds: when it lapses if not captured or released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// What the caller said the credits were for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// When the entry was written (the server's clock).
    pub created_at: DateTime<Utc>,
}

/// What a write did: the entries it appended and the balance after them. This whole value is
/// what an idempotent replay returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    /// The entries the write appended, in order.
    pub entries: Vec<Entry>,
    /// The balance right after them.
    pub balance: Balance,
}

/// One page of history, oldest first; `next_after` is the cursor of the next page, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    /// The page's entries, oldest first.
    pub entries: Vec<Entry>,
    /// Pass as `after` to get the next page; `None` when this is the last.
    pub next_after: Option<i64>,
}

/// A write, with exactly the parameters an idempotency key is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Credits given by an operator.
    Grant {
        /// 1 to [`MAX_AMOUNT`].
        amount: i64,
        /// Why, at most [`MAX_MEMO_CHARS`] characters.
        memo: Option<String>,
    },
    /// Credits used at once; refused unless `amount` is available.
    Spend {
        /// 1 to [`MAX_AMOUNT`].
        amount: i64,
        /// What for, at most [`MAX_MEMO_CHARS`] characters.
        memo: Option<String>,
    },
    /// Credits set aside for `ttl_secs`; refused unless `amount` is available.
    Reserve {
        /// 1 to [`MAX_AMOUNT`].
        amount: i64,
        /// [`MIN_HOLD_SECS`] to [`MAX_HOLD_SECS`].
        ttl_secs: i64,
        /// What for, at most [`MAX_MEMO_CHARS`] characters.
        memo: Option<String>,
    },
    /// Captures `amount` (at most the held amount) and releases the rest.
    Capture {
        /// The hold's `seq`.
        hold: i64,
        /// 1 to the held amount.
        amount: i64,
    },
    /// Gives a whole hold back.
    Release {
        /// The hold's `seq`.
        hold: i64,
    },
}

impl Operation {
    /// The operation's name, recorded with its idempotency key.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Grant { .. } => "grant",
            Operation::Spend { .. } => "spend",
            Operation::Reserve { .. } => "reserve",
            Operation::Capture { .. } => "capture",
            Operation::Release { .. } => "release",
        }
    }

    /// Checks the parameters alone (no database): amounts in 1..=MAX_AMOUNT, memos short,
    /// hold lifetimes within bounds.
    pub fn validate(&self) -> Result<(), LedgerError> {
        let memo_ok = |m: &Option<String>| match m {
            Some(m) if m.chars().count() > MAX_MEMO_CHARS => Err(LedgerError::InvalidInput(
                format!("memo is longer than {MAX_MEMO_CHARS} characters"),
            )),
            Some(m) if m.chars().any(char::is_control) => Err(LedgerError::InvalidInput(
                "memo contains control characters".into(),
            )),
            _ => Ok(()),
        };
        match self {
            Operation::Grant { amount, memo } | Operation::Spend { amount, memo } => {
                check_amount(*amount)?;
                memo_ok(memo)
            }
            Operation::Reserve {
                amount,
                ttl_secs,
                memo,
            } => {
                check_amount(*amount)?;
                if !(MIN_HOLD_SECS..=MAX_HOLD_SECS).contains(ttl_secs) {
                    return Err(LedgerError::InvalidInput(format!(
                        "ttl_secs must be {MIN_HOLD_SECS} to {MAX_HOLD_SECS}"
                    )));
                }
                memo_ok(memo)
            }
            Operation::Capture { hold, amount } => {
                check_seq(*hold)?;
                check_amount(*amount)
            }
            Operation::Release { hold } => check_seq(*hold),
        }
    }
}

pub(crate) fn check_amount(amount: i64) -> Result<(), LedgerError> {
    if (1..=MAX_AMOUNT).contains(&amount) {
        Ok(())
    } else {
        Err(LedgerError::InvalidInput(format!(
            "amount must be a whole number from 1 to {MAX_AMOUNT}"
        )))
    }
}

fn check_seq(seq: i64) -> Result<(), LedgerError> {
    if seq > 0 {
        Ok(())
    } else {
        Err(LedgerError::InvalidInput(
            "hold must be a positive entry number".into(),
        ))
    }
}

/// Checks an idempotency key: 1 to 255 bytes of visible ASCII.
pub fn check_key(key: &str) -> Result<(), LedgerError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(LedgerError::InvalidInput(format!(
            "idempotency_key must be 1 to {MAX_KEY_BYTES} visible ASCII characters"
        )));
    }
    Ok(())
}

/// Why a ledger call changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A spend or hold asked for more than is available.
    #[error("not enough credits: {available} available, {requested} needed")]
    InsufficientCredits {
        /// What was available.
        available: i64,
        /// What was asked for.
        requested: i64,
    },
    /// The key was first used with another operation or other parameters.
    #[error("this idempotency key was already used for a different request")]
    IdempotencyConflict,
    /// The hold named is not one of the caller's open holds.
    #[error("no such open hold")]
    UnknownEntry,
    /// The hold is a device's offline lease: only that device (by syncing) or the device's
    /// removal closes it (issue 9), never `/v1/capture` or `/v1/release`.
    #[error("this hold is a device's offline lease: only that device (by syncing) or removing the device closes it")]
    LeaseHold,
    /// A parameter is out of range or malformed.
    #[error("{0}")]
    InvalidInput(String),
    /// The database failed or could not be reached.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for LedgerError {
    fn from(e: tokio_postgres::Error) -> Self {
        LedgerError::Db(DbError::from(e))
    }
}

impl From<deadpool_postgres::PoolError> for LedgerError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        LedgerError::Db(DbError::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_outside_one_to_max_are_invalid() {
        for amount in [i64::MIN, -1, 0, MAX_AMOUNT + 1, i64::MAX] {
            let op = Operation::Spend { amount, memo: None };
            assert!(
                matches!(op.validate(), Err(LedgerError::InvalidInput(_))),
                "{amount} must be refused"
            );
        }
        for amount in [1, MAX_AMOUNT] {
            assert!(Operation::Spend { amount, memo: None }.validate().is_ok());
        }
    }

    #[test]
    fn hold_lifetimes_and_memos_are_bounded() {
        let reserve = |ttl_secs, memo: Option<&str>| Operation::Reserve {
            amount: 1,
            ttl_secs,
            memo: memo.map(String::from),
        };
        assert!(reserve(0, None).validate().is_err());
        assert!(reserve(MAX_HOLD_SECS + 1, None).validate().is_err());
        assert!(reserve(60, Some(&"x".repeat(MAX_MEMO_CHARS + 1)))
            .validate()
            .is_err());
        assert!(reserve(60, Some("line\nbreak")).validate().is_err());
        assert!(reserve(60, Some("Analytics run")).validate().is_ok());
    }

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(check_key("a-1_B.c").is_ok());
        for bad in ["", " ", "a b", "é", &"k".repeat(256)] {
            assert!(check_key(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn kinds_round_trip_as_snake_case() {
        for k in [
            EntryKind::Grant,
            EntryKind::Purchase,
            EntryKind::Voucher,
            EntryKind::Spend,
            EntryKind::Refund,
            EntryKind::Hold,
            EntryKind::Capture,
            EntryKind::Release,
            EntryKind::Expire,
            EntryKind::Reversal,
        ] {
            assert_eq!(EntryKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(EntryKind::parse("steal"), None);
    }
}
