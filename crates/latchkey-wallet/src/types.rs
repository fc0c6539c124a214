//! The wallet's value types: every one serialises to the JSON the CLI prints with `--json`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// A whole number of credits. Balances are never negative; amounts passed to operations must
/// be positive (else [`Error::InvalidAmount`]); arithmetic that would overflow `i64` is
/// [`Error::Overflow`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Credits(pub i64);

impl Credits {
    /// No credits.
    pub const ZERO: Credits = Credits(0);

    /// The raw count.
    pub fn get(self) -> i64 {
        self.0
    }

    /// `self + other`, or [`Error::Overflow`].
    pub fn checked_add(self, other: Credits) -> Result<Credits> {
        self.0
            .checked_add(other.0)
            .map(Credits)
            .ok_or(Error::Overflow)
    }

    /// `self - other`, or [`Error::Overflow`].
    pub fn checked_sub(self, other: Credits) -> Result<Credits> {
        self.0
            .checked_sub(other.0)
            .map(Credits)
            .ok_or(Error::Overflow)
    }

    /// Checks that this is a usable operation amount (strictly positive).
    pub(crate) fn positive(self) -> Result<Credits> {
        if self.0 > 0 {
            Ok(self)
        } else {
            Err(Error::InvalidAmount { amount: self.0 })
        }
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An instant in UTC with millisecond precision, stored as milliseconds since the Unix epoch
/// and shown as RFC 3339 (`2026-01-31T12:00:00.000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `millis` milliseconds after 1970-01-01T00:00:00Z (before it when negative).
    pub const fn from_unix_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// `self + millis`, or [`Error::Overflow`].
    pub fn checked_add_millis(self, millis: i64) -> Result<Timestamp> {
        self.0
            .checked_add(millis)
            .map(Timestamp)
            .ok_or(Error::Overflow)
    }

    /// RFC 3339 in UTC with milliseconds.
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.0) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            // Outside chrono's range (±262,000 years): still print something unambiguous.
            None => format!("@{}ms", self.0),
        }
    }

    /// Parses RFC 3339 (any offset; converted to UTC).
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        chrono::DateTime::parse_from_rfc3339(text.trim())
            .ok()
            .map(|t| Timestamp(t.timestamp_millis()))
    }
}

impl From<chrono::DateTime<chrono::Utc>> for Timestamp {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
        Timestamp(t.timestamp_millis())
    }
}

/// A timestamp outside chrono's range (±262,000 years) saturates.
impl From<Timestamp> for chrono::DateTime<chrono::Utc> {
    fn from(t: Timestamp) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_millis(t.0).unwrap_or(if t.0 < 0 {
            chrono::DateTime::<chrono::Utc>::MIN_UTC
        } else {
            chrono::DateTime::<chrono::Utc>::MAX_UTC
        })
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

/// Whose wallet: the OpenID issuer and subject of the signed-in account. One wallet per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountKey {
    /// The provider's issuer identifier, as its discovery document states it.
    pub issuer: String,
    /// The account's subject (`sub`) at that issuer.
    pub subject: String,
}

impl AccountKey {
    /// The wallet of `subject` at `issuer`.
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>) -> AccountKey {
        AccountKey {
            issuer: issuer.into(),
            subject: subject.into(),
        }
    }
}

/// The id of a ledger entry. A hold's id is the id of its `reserve` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntryId(pub i64);

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for EntryId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        s.trim().parse().map(EntryId)
    }
}

/// What a ledger entry did to the balance.
///
/// | kind      | posted   | held          | related            |
/// |-----------|----------|---------------|--------------------|
/// | `grant`   | + amount |               |                    |
/// | `voucher` | + amount |               |                    |
/// | `spend`   | − amount |               |                    |
/// | `refund`  | + amount |               | the spend          |
/// | `reserve` |          | + amount      |                    |
/// | `capture` | − amount | − hold amount | the reserve (hold) |
/// | `release` |          | − amount      | the reserve (hold) |
/// | `expire`  |          | − amount      | the reserve (hold) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Credits given.
    Grant,
    /// Credits from a redeemed voucher.
    Voucher,
    /// Credits spent.
    Spend,
    /// Part of a spend given back.
    Refund,
    /// Credits held for later (a hold).
    Reserve,
    /// A hold spent (part of it; the rest released).
    Capture,
    /// A hold given back.
    Release,
    /// A hold that reached its time to live unsettled, given back.
    Expire,
}

impl Kind {
    /// Every kind, in the order of the table above.
    pub const ALL: [Kind; 8] = [
        Kind::Grant,
        Kind::Voucher,
        Kind::Spend,
        Kind::Refund,
        Kind::Reserve,
        Kind::Capture,
        Kind::Release,
        Kind::Expire,
    ];

    /// The kind's name, as stored, printed and parsed (`"grant"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Grant => "grant",
            Kind::Voucher => "voucher",
            Kind::Spend => "spend",
            Kind::Refund => "refund",
            Kind::Reserve => "reserve",
            Kind::Capture => "capture",
            Kind::Release => "release",
            Kind::Expire => "expire",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Unknown kind name; the message lists the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown entry kind {0:?}: expected one of grant, voucher, spend, refund, reserve, \
     capture, release, expire"
)]
pub struct UnknownKind(
    /// The name given.
    pub String,
);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// A wallet's balance. `available = posted - held` and is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    /// The sum of every posted entry: what the account owns.
    pub posted: Credits,
    /// What open holds keep aside.
    pub held: Credits,
    /// What can be spent or held now: `posted - held`.
    pub available: Credits,
}

impl Balance {
    pub(crate) fn new(posted: i64, held: i64) -> Balance {
        Balance {
            posted: Credits(posted),
            held: Credits(held),
            available: Credits(posted - held),
        }
    }
}

/// One ledger entry, as shown in history and exports (flat, so it is also a CSV row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Its id, increasing in the order entries were written.
    pub id: EntryId,
    /// What it did.
    pub kind: Kind,
    /// How many credits it moved (always positive; the kind says which way).
    pub amount: Credits,
    /// The account's posted credits right after it.
    pub posted_after: Credits,
    /// The account's held credits right after it.
    pub held_after: Credits,
    /// The account's available credits right after it.
    pub available_after: Credits,
    /// The key its request carried (none for expiries the wallet wrote itself).
    pub idempotency_key: Option<String>,
    /// A note for people, as given.
    pub memo: Option<String>,
    /// The spend a refund returns, or the hold a capture/release/expire settles.
    pub related: Option<EntryId>,
    /// For a `reserve`: when the hold releases itself if not settled before.
    pub expires_at: Option<Timestamp>,
    /// When it was written.
    pub created_at: Timestamp,
}

impl Entry {
    /// The balance right after this entry.
    pub fn balance_after(&self) -> Balance {
        Balance::new(self.posted_after.0, self.held_after.0)
    }
}

/// The result of a mutating operation. A replay (same idempotency key, same parameters)
/// returns the first call's entry and balance with `replayed: true` and changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The entry the operation wrote (for a replay: the one the first call wrote).
    pub entry: Entry,
    /// The balance right after `entry` (for a replay: after the first call, not now).
    pub balance: Balance,
    /// Whether this answers a retry of an earlier call, which changed nothing now.
    pub replayed: bool,
}

/// A hold that is neither captured, released nor expired yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The hold's id: the id of its `reserve` entry.
    pub id: EntryId,
    /// What it holds.
    pub amount: Credits,
    /// When it releases itself if not settled before.
    pub expires_at: Timestamp,
    /// The reserve's memo.
    pub memo: Option<String>,
}

/// How a hold was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Settlement {
    /// Spent by a capture.
    Captured,
    /// Given back by a release.
    Released,
    /// Given back when its time to live ran out.
    Expired,
}

impl fmt::Display for Settlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Settlement::Captured => "captured",
            Settlement::Released => "released",
            Settlement::Expired => "expired",
        })
    }
}

/// A mutating wallet operation with its parameters. Its canonical JSON is what an idempotency
/// key is bound to: the same key with a different `Operation` is
/// [`Error::IdempotencyConflict`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Operation {
    /// Give credits (welcome bonus, admin, tests).
    Grant {
        /// How many.
        amount: Credits,
        /// A note for people.
        memo: Option<String>,
    },
    /// Spend available credits now.
    Spend {
        /// How many.
        amount: Credits,
        /// A note for people.
        memo: Option<String>,
    },
    /// Give back up to what is left of one earlier spend.
    Refund {
        /// The spend's entry id.
        spend: EntryId,
        /// How many.
        amount: Credits,
        /// A note for people.
        memo: Option<String>,
    },
    /// Hold credits for `ttl_secs` seconds; the entry id is the hold id.
    Reserve {
        /// How many.
        amount: Credits,
        /// How long the hold lasts unless settled before.
        ttl_secs: u64,
        /// A note for people.
        memo: Option<String>,
    },
    /// Spend `amount` (≤ held) of a hold and release the rest.
    Capture {
        /// The hold's id.
        hold: EntryId,
        /// How many to spend.
        amount: Credits,
        /// A note for people.
        memo: Option<String>,
    },
    /// Give a whole hold back.
    Release {
        /// The hold's id.
        hold: EntryId,
        /// A note for people.
        memo: Option<String>,
    },
    /// Redeem a signed voucher token.
    RedeemVoucher {
        /// The voucher text (`LKV1.…`).
        token: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(0, "1970-01-01T00:00:00.000Z")]
    #[case(1_767_225_600_123, "2026-01-01T00:00:00.123Z")]
    fn timestamps_print_and_parse_as_rfc3339(#[case] millis: i64, #[case] text: &str) {
        let t = Timestamp::from_unix_millis(millis);
        assert_eq!(t.to_rfc3339(), text, "timestamps are shown as UTC RFC 3339");
        assert_eq!(
            Timestamp::parse_rfc3339(text),
            Some(t),
            "and read back exactly"
        );
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(
            Timestamp::parse_rfc3339("2026-01-01T02:00:00+02:00"),
            Timestamp::parse_rfc3339("2026-01-01T00:00:00Z"),
            "a date filter with an offset means the same instant in UTC"
        );
    }

    #[rstest]
    #[case(i64::MAX, 1)]
    #[case(i64::MIN, -1)]
    fn credit_arithmetic_refuses_to_wrap(#[case] a: i64, #[case] b: i64) {
        assert!(
            matches!(Credits(a).checked_add(Credits(b)), Err(Error::Overflow)),
            "wrapping would create or destroy credits"
        );
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in Kind::ALL {
            assert_eq!(
                kind.as_str().parse::<Kind>(),
                Ok(kind),
                "CLI --kind filters parse names"
            );
        }
        assert!(
            "refunds".parse::<Kind>().is_err(),
            "near misses are refused"
        );
    }

    #[test]
    fn operations_have_a_stable_canonical_json() {
        let op = Operation::Spend {
            amount: Credits(5),
            memo: None,
        };
        assert_eq!(
            serde_json::to_string(&op).expect("serialises"),
            r#"{"op":"spend","amount":5,"memo":null}"#,
            "the stored request fingerprint must not change between versions"
        );
    }
}
