//! The sync protocol between a Latchkey desktop (app or CLI) and the credit service: JSON
//! shapes only, no I/O, so both sides share one definition.
//!
//! The protocol (routes in the service's README):
//! - a device registers once ([`DeviceRegistration`] → [`Device`]);
//! - online, it asks for a lease ([`LeaseRequest`] → [`Lease`]): a hold at the service of credits
//!   the device alone may spend while offline;
//! - it pushes its local entries ([`PushBatch`] → [`PushAnswer`]), each answered with an
//!   [`Outcome`]; the entry id is the local idempotency key, applied at most once for ever;
//! - it pulls everything after its cursor ([`PullPage`]), `server_seq` being the only order;
//! - once, it imports the single-machine wallet it kept before a service was configured
//!   ([`ImportBatch`] → [`ImportAnswer`]).
//!
//! Enabling the `utoipa` feature derives OpenAPI schemas (the service's document).

#![warn(missing_docs)]

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest batch one push may carry; larger pushes are split by the client.
pub const MAX_PUSH_ENTRIES: usize = 500;
/// Largest pull page.
pub const MAX_PULL_PAGE: i64 = 1000;
/// Pull page size when the client names none.
pub const DEFAULT_PULL_PAGE: i64 = 200;

/// Registers (or re-announces) a device: `PUT /v1/devices/{device_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceRegistration {
    /// What the user sees in the device list ("Laptop"), 1 to 100 characters.
    #[cfg_attr(feature = "utoipa", schema(min_length = 1, max_length = 100))]
    pub name: String,
}

/// A device as the service knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Device {
    /// The random id the device chose (16 to 64 of `A-Z a-z 0-9 - _`).
    pub device_id: String,
    /// Its name.
    pub name: String,
    /// First contact.
    pub created_at: DateTime<Utc>,
    /// Its last registration, lease request or push.
    pub last_seen_at: DateTime<Utc>,
    /// When it was removed as lost. A removed device can still sync (push, pull, list
    /// devices), but every entry it pushes from then on is stored as rejected
    /// (`device_removed`) and moves no credits, and its registration, lease and import
    /// requests are refused (`409 device_removed`): it never spends offline again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<DateTime<Utc>>,
    /// Its open lease, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// `GET /v1/devices`: the caller's devices, oldest first (removed ones included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DeviceList {
    /// The devices.
    pub devices: Vec<Device>,
}

/// Asks for a lease, or renews the open one: `POST /v1/devices/{device_id}/lease`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// How many credits the device wants to be able to spend offline; the service grants at
    /// most its own limit and never more than is available. Default: the service's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "utoipa",
        schema(minimum = 0, maximum = 1_000_000_000_000_i64)
    )]
    pub credits: Option<i64>,
}

/// Why a lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LeaseClosedBy {
    /// The owning device gave it back.
    Device,
    /// The device was removed as lost (from another device or the CLI).
    Removal,
}

/// A lease: credits held at the service that one device may spend while offline.
/// `remaining = granted - spent`; the device may spend at most `remaining` before it syncs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Lease {
    /// The lease's id: every offline spend names the lease it was spent from.
    pub lease_id: i64,
    /// The device that owns it.
    pub device_id: String,
    /// Credits lent to the device over the lease's life (renewals top it up).
    pub granted: i64,
    /// Credits of it already spent and pushed.
    pub spent: i64,
    /// `granted - spent`.
    pub remaining: i64,
    /// After this the device must not spend from it offline; renewing moves it.
    pub expires_at: DateTime<Utc>,
    /// When it was closed (absent: open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    /// Who closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<LeaseClosedBy>,
}

/// What an entry did. Amounts are always positive; the kind says which way they move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Credits given by an operator (`latchkey-server grant`): posted +.
    Grant,
    /// Credits bought: posted +.
    Purchase,
    /// Credits from a redeemed voucher: posted +.
    Voucher,
    /// Credits used at once: posted −.
    Spend,
    /// Credits given back: posted +.
    Refund,
    /// Credits set aside for a pending use: held +.
    Hold,
    /// The used part of a hold: posted − and held −.
    Capture,
    /// The unused part of a hold given back: held −.
    Release,
    /// A hold that lapsed unsettled: held −.
    Expire,
    /// Bought credits taken back after the payment was refunded (Stripe `charge.refunded`):
    /// posted −.
    Reversal,
}

impl EntryKind {
    /// The kind's name, as the service stores and shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Purchase => "purchase",
            EntryKind::Voucher => "voucher",
            EntryKind::Spend => "spend",
            EntryKind::Refund => "refund",
            EntryKind::Hold => "hold",
            EntryKind::Capture => "capture",
            EntryKind::Release => "release",
            EntryKind::Expire => "expire",
            EntryKind::Reversal => "reversal",
        }
    }

    /// The kind named `s`, if it is one.
    pub fn parse(s: &str) -> Option<EntryKind> {
        Some(match s {
            "grant" => EntryKind::Grant,
            "purchase" => EntryKind::Purchase,
            "voucher" => EntryKind::Voucher,
            "spend" => EntryKind::Spend,
            "refund" => EntryKind::Refund,
            "hold" => EntryKind::Hold,
            "capture" => EntryKind::Capture,
            "release" => EntryKind::Release,
            "expire" => EntryKind::Expire,
            "reversal" => EntryKind::Reversal,
            _ => return None,
        })
    }
}

/// One local entry pushed by a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushEntry {
    /// The local idempotency key, kept for ever: applied at most once per user.
    #[cfg_attr(
        feature = "utoipa",
        schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")
    )]
    pub entry_id: String,
    /// Only `spend` is accepted from a device; anything else is rejected (`not_pushable`).
    pub kind: EntryKind,
    /// 1 to 10^12.
    pub amount: i64,
    /// The lease it was spent from.
    pub lease_id: i64,
    /// The device's clock when the entry was made (shown, never trusted).
    pub local_time: DateTime<Utc>,
    /// What for, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

/// `POST /v1/devices/{device_id}/entries`: a batch, applied in ONE transaction, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushBatch {
    /// At most [`MAX_PUSH_ENTRIES`].
    pub entries: Vec<PushEntry>,
}

/// Why the service refused an entry. A rejected entry is stored (its id is used up) and pulled
/// by every device, so the user is told; it moved no credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The device was removed as lost before it pushed this.
    DeviceRemoved,
    /// The spend goes beyond what is left of the lease.
    BeyondLease,
    /// The lease is closed (given back or closed by removal).
    LeaseClosed,
    /// The lease has lapsed and the available credits do not cover the spend.
    LeaseExpired,
    /// No lease with this id belongs to this device.
    UnknownLease,
    /// Only spends can be pushed; credits come from the service itself.
    NotPushable,
    /// The amount or memo is out of range.
    Invalid,
}

/// What the service did with one pushed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Applied now, as ledger entry `server_seq`.
    Applied {
        /// The ledger entry.
        server_seq: i64,
    },
    /// Applied earlier (a replay with the same parameters); nothing changed.
    AlreadyApplied {
        /// The ledger entry.
        server_seq: i64,
    },
    /// The entry id was used with other parameters; nothing changed, nothing stored.
    Conflict,
    /// Refused and stored as refused (now, or earlier for a replay).
    Rejected {
        /// Where the rejection sits in the pull order.
        server_seq: i64,
        /// Why.
        reason: RejectReason,
    },
}

/// The answer to one entry, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct EntryOutcome {
    /// The pushed entry id.
    pub entry_id: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A user's balance. `available = posted - held`, never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Balance {
    /// Credits received minus credits used.
    pub posted: i64,
    /// Credits set aside by open holds.
    pub held: i64,
    /// `posted - held`: what can be spent or held now.
    pub available: i64,
}

impl Balance {
    /// The balance with these posted and held credits.
    pub fn new(posted: i64, held: i64) -> Balance {
        Balance {
            posted,
            held,
            available: posted - held,
        }
    }
}

/// The answer to a push: one outcome per entry, the device's open lease and the balance
/// after the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PushAnswer {
    /// In the batch's order.
    pub outcomes: Vec<EntryOutcome>,
    /// The device's open lease after the batch, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// The balance after the batch.
    pub balance: Balance,
}

/// One entry of the user's ledger as pulled: every ledger entry, plus rejected device entries
/// (which moved nothing), in `server_seq` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PulledEntry {
    /// The only order; the next cursor.
    pub server_seq: i64,
    /// What it did (for a rejected entry: what the device tried).
    pub kind: EntryKind,
    /// Always positive.
    pub amount: i64,
    /// For capture, release and expire: the hold's `server_seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<i64>,
    /// For holds: when it lapses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// What for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// When the service recorded it.
    pub created_at: DateTime<Utc>,
    /// For entries pushed by a device: its entry id (apply each one exactly once locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// For entries pushed by a device: which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// For entries pushed by a device: the lease it named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_id: Option<i64>,
    /// Present when the service refused the entry: it moved no credits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<RejectReason>,
}

/// `GET /v1/sync?after=SEQ&limit=N`: one page of everything after the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct PullPage {
    /// Entries with `server_seq > after`, in order.
    pub entries: Vec<PulledEntry>,
    /// The cursor to keep: the last entry's `server_seq`, or `after` when the page is empty.
    pub cursor: i64,
    /// Whether more entries follow (pull again with `after = cursor`).
    pub more: bool,
}

/// Most entries one import request may carry; larger wallets are imported in several.
pub const MAX_IMPORT_ENTRIES: usize = 200;

/// One entry of a single-machine wallet (the desktop's local `wallet.sqlite`, used before a
/// credit service was configured), imported once on the device's first sync:
/// `POST /v1/devices/{device_id}/import`. Entries are sent oldest first, every one that moved
/// credits (grants, vouchers, spends, refunds, captures); holds and their releases moved none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportEntry {
    /// The entry's id in the local wallet, kept: with the device id, what makes an import
    /// apply at most once.
    #[cfg_attr(feature = "utoipa", schema(minimum = 1))]
    pub entry_id: i64,
    /// What it did locally: `grant`, `voucher`, `spend`, `refund` or `capture`; any other kind
    /// is rejected (`not_importable`).
    pub kind: EntryKind,
    /// 1 to 10^12.
    #[cfg_attr(
        feature = "utoipa",
        schema(minimum = 1, maximum = 1_000_000_000_000_i64)
    )]
    pub amount: i64,
    /// When the local wallet wrote it (shown, never trusted).
    pub local_time: DateTime<Utc>,
    /// Its memo, at most 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    /// For a voucher: the voucher text (`LKV1.…`) that was redeemed, verified again by the
    /// service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(max_length = 4096))]
    pub voucher: Option<String>,
}

/// `POST /v1/devices/{device_id}/import`: a batch of the local wallet's entries, applied in
/// ONE transaction, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ImportBatch {
    /// At most [`MAX_IMPORT_ENTRIES`], oldest first.
    pub entries: Vec<ImportEntry>,
}

/// Why an imported entry moved no credits at the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImportReason {
    /// Credits granted on that machine alone (`wallet grant`, local welcome credits): the
    /// service counts only credits it can verify.
    LocalGrant,
    /// The voucher is not one of this service's (unknown key, bad signature), has expired, or
    /// is bound to another account.
    InvalidVoucher,
    /// The voucher was already redeemed at the service (by this or another account, or by
    /// another device's import).
    AlreadyRedeemed,
    /// A spend (or refund) of credits the service does not count: nothing to take.
    Uncounted,
    /// Holds, releases and the service's own kinds are not imported.
    NotImportable,
    /// The amount, memo or voucher is malformed.
    Invalid,
}

/// What the service did with one imported entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ImportOutcome {
    /// Written to the ledger as entry `server_seq`, moving `amount` credits (for a spend, the
    /// part paid by counted credits; it may be less than the local amount).
    Imported {
        /// The ledger entry.
        server_seq: i64,
        /// Credits it moved at the service.
        amount: i64,
    },
    /// Recorded as moving nothing, with why.
    Rejected {
        /// Why.
        reason: ImportReason,
    },
    /// This entry id was imported before with other parameters; nothing changed.
    Conflict,
}

/// The answer to one imported entry, in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ImportedEntry {
    /// The local entry id.
    pub entry_id: i64,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ImportOutcome,
    /// `true` when this entry was imported (or rejected) by an earlier request: nothing
    /// changed now.
    pub replayed: bool,
}

/// The answer to an import: one outcome per entry and the balance after the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ImportAnswer {
    /// In the batch's order.
    pub outcomes: Vec<ImportedEntry>,
    /// The balance after the batch.
    pub balance: Balance,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcomes_are_flat_tagged_objects() {
        let o = EntryOutcome {
            entry_id: "e1".into(),
            outcome: Outcome::Rejected {
                server_seq: 9,
                reason: RejectReason::BeyondLease,
            },
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(
            v,
            json!({"entry_id": "e1", "outcome": "rejected", "server_seq": 9, "reason": "beyond_lease"}),
            "the outcome's tag and fields sit beside the entry id"
        );
        assert_eq!(serde_json::from_value::<EntryOutcome>(v).unwrap(), o);
        let c = serde_json::to_value(EntryOutcome {
            entry_id: "e2".into(),
            outcome: Outcome::Conflict,
        })
        .unwrap();
        assert_eq!(c, json!({"entry_id": "e2", "outcome": "conflict"}));
    }

    #[test]
    fn import_outcomes_are_flat_tagged_objects() {
        let o = ImportedEntry {
            entry_id: 4,
            outcome: ImportOutcome::Rejected {
                reason: ImportReason::AlreadyRedeemed,
            },
            replayed: true,
        };
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(
            v,
            json!({"entry_id": 4, "outcome": "rejected", "reason": "already_redeemed",
                   "replayed": true})
        );
        assert_eq!(serde_json::from_value::<ImportedEntry>(v).unwrap(), o);
        let bad = json!({"entry_id": 1, "kind": "grant", "amount": 1,
                         "local_time": "2026-01-01T00:00:00Z", "token": "x"});
        assert!(
            serde_json::from_value::<ImportEntry>(bad).is_err(),
            "a misspelt voucher field must not be ignored"
        );
    }

    #[test]
    fn push_entries_refuse_unknown_fields() {
        let ok = json!({"entry_id": "e", "kind": "spend", "amount": 2, "lease_id": 1,
                        "local_time": "2026-01-01T00:00:00Z"});
        assert!(serde_json::from_value::<PushEntry>(ok.clone()).is_ok());
        let mut bad = ok;
        bad["device"] = json!("x");
        assert!(
            serde_json::from_value::<PushEntry>(bad).is_err(),
            "a misspelt field must not be ignored"
        );
    }

    #[test]
    fn kinds_round_trip_by_name() {
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
        ] {
            assert_eq!(EntryKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                json!(k.as_str()),
                "serde and as_str agree"
            );
        }
        assert_eq!(EntryKind::parse("mint"), None);
    }
}
