//! The ledger's read handle ([`Ledger`], over a `&Connection`) and write handle
//! ([`LedgerMut`], over an immediate `Transaction`): every rule of the wallet lives here.

use std::ops::Deref;

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::error::{Error, Result, VoucherRejection};
use crate::types::{
    AccountKey, Balance, Credits, Entry, EntryId, Hold, Kind, Operation, Receipt, Settlement,
    Timestamp,
};
use crate::voucher::{self, PublicKey};

/// The idempotency key of the welcome grant: one per account, whatever the amount.
pub(crate) const WELCOME_KEY: &str = "latchkey:welcome";
/// Keys under this prefix are the wallet's own; callers cannot use them.
const RESERVED_KEY_PREFIX: &str = "latchkey:";
const MAX_KEY_LEN: usize = 255;

pub(crate) const ENTRY_COLUMNS: &str =
    "id, kind, amount, posted_after, held_after, idem_key, memo, related, expires_at, created_at";

pub(crate) fn kind_from_sql(text: &str) -> rusqlite::Result<Kind> {
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Reads an entry from a row selected with [`ENTRY_COLUMNS`] (starting at column 0).
pub(crate) fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<Entry> {
    let posted: i64 = r.get(3)?;
    let held: i64 = r.get(4)?;
    Ok(Entry {
        id: EntryId(r.get(0)?),
        kind: kind_from_sql(&r.get::<_, String>(1)?)?,
        amount: Credits(r.get(2)?),
        posted_after: Credits(posted),
        held_after: Credits(held),
        available_after: Credits(posted.saturating_sub(held)),
        idempotency_key: r.get(5)?,
        memo: r.get(6)?,
        related: r.get::<_, Option<i64>>(7)?.map(EntryId),
        expires_at: r.get::<_, Option<i64>>(8)?.map(Timestamp::from_unix_millis),
        created_at: Timestamp::from_unix_millis(r.get(9)?),
    })
}

/// Read access to the ledger.
pub(crate) struct Ledger<'c> {
    pub(crate) conn: &'c Connection,
}

impl Ledger<'_> {
    pub(crate) fn account_id(&self, account: &AccountKey) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM accounts WHERE issuer = ?1 AND subject = ?2")?
            .query_row(params![account.issuer, account.subject], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn balance_of(&self, account_id: i64) -> Result<Balance> {
        let (posted, held) = self
            .conn
            .prepare_cached("SELECT posted, held FROM accounts WHERE id = ?1")?
            .query_row([account_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Balance::new(posted, held))
    }

    pub(crate) fn balance(&self, account: &AccountKey) -> Result<Balance> {
        match self.account_id(account)? {
            Some(id) => self.balance_of(id),
            None => Ok(Balance::default()),
        }
    }

    /// The entry a key was applied as, with the canonical request it was bound to.
    pub(crate) fn entry_by_key(
        &self,
        account_id: i64,
        key: &str,
    ) -> Result<Option<(Entry, String)>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS}, request FROM entries WHERE account_id = ?1 AND idem_key = ?2"
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![account_id, key], |r| {
                Ok((entry_from_row(r)?, r.get(10)?))
            })
            .optional()?)
    }

    /// An entry of this account by id.
    pub(crate) fn entry_of(&self, account_id: i64, id: EntryId) -> Result<Option<Entry>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id = ?1 AND account_id = ?2");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row(params![id.0, account_id], entry_from_row)
            .optional()?)
    }

    pub(crate) fn has_due_holds(&self, now: Timestamp) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM open_holds WHERE expires_at <= ?1)")?
            .query_row([now.unix_millis()], |r| r.get(0))?)
    }

    pub(crate) fn open_holds(&self, account_id: i64) -> Result<Vec<Hold>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT h.hold_id, h.amount, h.expires_at, e.memo FROM open_holds h \
             JOIN entries e ON e.id = h.hold_id WHERE h.account_id = ?1 ORDER BY h.hold_id",
        )?;
        let rows = stmt.query_map([account_id], |r| {
            Ok(Hold {
                id: EntryId(r.get(0)?),
                amount: Credits(r.get(1)?),
                expires_at: Timestamp::from_unix_millis(r.get(2)?),
                memo: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How much of a spend has been refunded so far.
    fn refunded(&self, spend: EntryId) -> Result<Credits> {
        Ok(Credits(
            self.conn
                .prepare_cached(
                    "SELECT coalesce(sum(amount), 0) FROM entries \
                     WHERE related = ?1 AND kind = 'refund'",
                )?
                .query_row([spend.0], |r| r.get(0))?,
        ))
    }

    /// The amount still held by an open hold of this account, or why it cannot be settled.
    fn open_hold(&self, account_id: i64, hold: EntryId) -> Result<Credits> {
        let open: Option<i64> = self
            .conn
            .prepare_cached("SELECT amount FROM open_holds WHERE hold_id = ?1 AND account_id = ?2")?
            .query_row(params![hold.0, account_id], |r| r.get(0))
            .optional()?;
        if let Some(amount) = open {
            return Ok(Credits(amount));
        }
        match self.entry_of(account_id, hold)? {
            Some(e) if e.kind == Kind::Reserve => {
                let kind: String = self
                    .conn
                    .prepare_cached(
                        "SELECT kind FROM entries WHERE related = ?1 \
                         AND kind IN ('capture', 'release', 'expire')",
                    )?
                    .query_row([hold.0], |r| r.get(0))?;
                let settlement = match kind_from_sql(&kind)? {
                    Kind::Capture => Settlement::Captured,
                    Kind::Release => Settlement::Released,
                    _ => Settlement::Expired,
                };
                Err(Error::HoldSettled { hold, settlement })
            }
            _ => Err(Error::UnknownHold { hold }),
        }
    }
}

/// Write access: one `BEGIN IMMEDIATE` transaction, with "now" read after the lock was taken.
pub(crate) struct LedgerMut<'t> {
    pub(crate) tx: &'t Transaction<'t>,
    pub(crate) now: Timestamp,
    pub(crate) voucher_keys: &'t [PublicKey],
}

impl<'t> Deref for LedgerMut<'t> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.tx
    }
}

/// An entry to append, before its balance is known.
struct NewEntry<'a> {
    kind: Kind,
    amount: Credits,
    posted_delta: i64,
    held_delta: i64,
    key: Option<(&'a str, &'a str)>,
    memo: Option<&'a str>,
    related: Option<EntryId>,
    expires_at: Option<Timestamp>,
}

/// The canonical request an idempotency key is bound to.
fn canonical(op: &Operation) -> String {
    // Serialising these plain types cannot fail; the Debug form is an equally stable fallback.
    serde_json::to_string(op).unwrap_or_else(|_| format!("{op:?}"))
}

/// Checks a caller's idempotency key.
pub(crate) fn validate_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        "it is empty"
    } else if key.len() > MAX_KEY_LEN {
        "it is longer than 255 bytes"
    } else if key.chars().any(char::is_control) {
        "it contains control characters"
    } else if key.starts_with(RESERVED_KEY_PREFIX) {
        "keys starting with \"latchkey:\" are reserved"
    } else {
        return Ok(());
    };
    Err(Error::InvalidIdempotencyKey { reason })
}

/// Checks an operation's parameters before anything is read or written.
pub(crate) fn validate_op(op: &Operation) -> Result<()> {
    match op {
        Operation::Grant { amount, .. }
        | Operation::Spend { amount, .. }
        | Operation::Refund { amount, .. }
        | Operation::Capture { amount, .. } => amount.positive().map(drop),
        Operation::Reserve {
            amount, ttl_secs, ..
        } => {
            amount.positive()?;
            if *ttl_secs == 0 {
                return Err(Error::InvalidTtl);
            }
            Ok(())
        }
        Operation::Release { .. } | Operation::RedeemVoucher { .. } => Ok(()),
    }
}

fn ttl_millis(ttl_secs: u64) -> Result<i64> {
    i64::try_from(ttl_secs)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or(Error::Overflow)
}

impl LedgerMut<'_> {
    fn read(&self) -> Ledger<'_> {
        Ledger { conn: self.tx }
    }

    pub(crate) fn ensure_account(&self, account: &AccountKey) -> Result<i64> {
        if let Some(id) = self.read().account_id(account)? {
            return Ok(id);
        }
        self.tx
            .prepare_cached(
                "INSERT INTO accounts (issuer, subject, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![
                account.issuer,
                account.subject,
                self.now.unix_millis()
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Appends one entry and moves the account's balance in the same transaction.
    fn append(&self, account_id: i64, new: NewEntry<'_>) -> Result<Entry> {
        let before = self.read().balance_of(account_id)?;
        let posted = before
            .posted
            .0
            .checked_add(new.posted_delta)
            .ok_or(Error::Overflow)?;
        let held = before
            .held
            .0
            .checked_add(new.held_delta)
            .ok_or(Error::Overflow)?;
        let available = posted.checked_sub(held).ok_or(Error::Overflow)?;
        // The callers check this with a precise message; this is the last line of defence.
        if held < 0 || available < 0 {
            return Err(Error::InsufficientCredits {
                needed: new.amount,
                available: before.available,
            });
        }
        let (key, request) = new.key.unzip();
        self.tx
            .prepare_cached(
                "INSERT INTO entries (account_id, kind, amount, posted_after, held_after, \
                 idem_key, request, memo, related, expires_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                account_id,
                new.kind.as_str(),
                new.amount.0,
                posted,
                held,
                key,
                request,
                new.memo,
                new.related.map(|e| e.0),
                new.expires_at.map(Timestamp::unix_millis),
                self.now.unix_millis(),
            ])?;
        let id = EntryId(self.tx.last_insert_rowid());
        self.tx
            .prepare_cached("UPDATE accounts SET posted = ?2, held = ?3 WHERE id = ?1")?
            .execute(params![account_id, posted, held])?;
        Ok(Entry {
            id,
            kind: new.kind,
            amount: new.amount,
            posted_after: Credits(posted),
            held_after: Credits(held),
            available_after: Credits(available),
            idempotency_key: key.map(str::to_owned),
            memo: new.memo.map(str::to_owned),
            related: new.related,
            expires_at: new.expires_at,
            created_at: self.now,
        })
    }

    fn settle_hold(&self, hold: EntryId) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM open_holds WHERE hold_id = ?1")?
            .execute([hold.0])?;
        Ok(())
    }

    /// Releases every hold whose time is up (`expires_at <= now`), each with an `expire`
    /// entry. Returns how many.
    pub(crate) fn expire_due(&self) -> Result<usize> {
        let due: Vec<(i64, i64, i64)> = self
            .tx
            .prepare_cached(
                "SELECT hold_id, account_id, amount FROM open_holds \
                 WHERE expires_at <= ?1 ORDER BY expires_at, hold_id",
            )?
            .query_map([self.now.unix_millis()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        for &(hold, account_id, amount) in &due {
            self.append(
                account_id,
                NewEntry {
                    kind: Kind::Expire,
                    amount: Credits(amount),
                    posted_delta: 0,
                    held_delta: -amount,
                    key: None,
                    memo: None,
                    related: Some(EntryId(hold)),
                    expires_at: None,
                },
            )?;
            self.settle_hold(EntryId(hold))?;
        }
        Ok(due.len())
    }

    /// Looks a key up: `Some(receipt)` for a replay of the same request, a conflict for a
    /// different one, `None` for a new key.
    fn replay(&self, account_id: i64, key: &str, request: Option<&str>) -> Result<Option<Receipt>> {
        match self.read().entry_by_key(account_id, key)? {
            Some((entry, prior)) if request.is_none_or(|r| r == prior) => Ok(Some(Receipt {
                balance: entry.balance_after(),
                entry,
                replayed: true,
            })),
            Some(_) => Err(Error::IdempotencyConflict {
                key: key.to_owned(),
            }),
            None => Ok(None),
        }
    }

    /// Applies one operation exactly once under its idempotency key.
    pub(crate) fn apply(&self, account: &AccountKey, key: &str, op: &Operation) -> Result<Receipt> {
        validate_key(key)?;
        validate_op(op)?;
        let request = canonical(op);
        self.expire_due()?;
        let account_id = self.ensure_account(account)?;
        if let Some(receipt) = self.replay(account_id, key, Some(&request))? {
            return Ok(receipt);
        }
        let available = self.read().balance_of(account_id)?.available;
        let ensure_available = |needed: Credits| {
            if needed > available {
                Err(Error::InsufficientCredits { needed, available })
            } else {
                Ok(())
            }
        };
        let mut voucher_id = None;
        let mut new = match op {
            Operation::Grant { amount, memo } => NewEntry {
                posted_delta: amount.0,
                ..base(Kind::Grant, *amount, memo)
            },
            Operation::Spend { amount, memo } => {
                ensure_available(*amount)?;
                NewEntry {
                    posted_delta: -amount.0,
                    ..base(Kind::Spend, *amount, memo)
                }
            }
            Operation::Refund {
                spend,
                amount,
                memo,
            } => {
                let original = self
                    .read()
                    .entry_of(account_id, *spend)?
                    .filter(|e| e.kind == Kind::Spend)
                    .ok_or(Error::UnknownSpend { entry: *spend })?;
                let remaining = original.amount.checked_sub(self.read().refunded(*spend)?)?;
                if *amount > remaining {
                    return Err(Error::RefundExceedsSpend {
                        spend: *spend,
                        requested: *amount,
                        remaining,
                    });
                }
                NewEntry {
                    posted_delta: amount.0,
                    related: Some(*spend),
                    ..base(Kind::Refund, *amount, memo)
                }
            }
            Operation::Reserve {
                amount,
                ttl_secs,
                memo,
            } => {
                ensure_available(*amount)?;
                NewEntry {
                    held_delta: amount.0,
                    expires_at: Some(self.now.checked_add_millis(ttl_millis(*ttl_secs)?)?),
                    ..base(Kind::Reserve, *amount, memo)
                }
            }
            Operation::Capture { hold, amount, memo } => {
                let held = self.read().open_hold(account_id, *hold)?;
                if *amount > held {
                    return Err(Error::CaptureExceedsHold {
                        hold: *hold,
                        requested: *amount,
                        held,
                    });
                }
                NewEntry {
                    posted_delta: -amount.0,
                    held_delta: -held.0,
                    related: Some(*hold),
                    ..base(Kind::Capture, *amount, memo)
                }
            }
            Operation::Release { hold, memo } => {
                let held = self.read().open_hold(account_id, *hold)?;
                NewEntry {
                    held_delta: -held.0,
                    related: Some(*hold),
                    ..base(Kind::Release, held, memo)
                }
            }
            Operation::RedeemVoucher { token } => {
                let voucher = voucher::verify(token, self.voucher_keys, account, self.now)
                    .map_err(|reason| Error::VoucherRejected { reason })?;
                let redeemed: bool = self
                    .tx
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM redeemed_vouchers WHERE voucher_id = ?1)",
                    )?
                    .query_row([&voucher.id], |r| r.get(0))?;
                if redeemed {
                    return Err(Error::VoucherRejected {
                        reason: VoucherRejection::AlreadyRedeemed {
                            voucher_id: voucher.id,
                        },
                    });
                }
                let credits = voucher.credits;
                voucher_id = Some(voucher.id);
                NewEntry {
                    posted_delta: credits.0,
                    ..base(Kind::Voucher, credits, &None)
                }
            }
        };
        let voucher_memo = voucher_id.as_ref().map(|id| format!("voucher {id}"));
        if let Some(memo) = &voucher_memo {
            new.memo = Some(memo);
        }
        new.key = Some((key, &request));
        let entry = self.append(account_id, new)?;
        match op {
            Operation::Reserve { amount, .. } => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO open_holds (hold_id, account_id, amount, expires_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        entry.id.0,
                        account_id,
                        amount.0,
                        entry.expires_at.map(Timestamp::unix_millis)
                    ])?;
            }
            Operation::Capture { hold, .. } | Operation::Release { hold, .. } => {
                self.settle_hold(*hold)?;
            }
            Operation::RedeemVoucher { .. } => {
                self.tx
                    .prepare_cached(
                        "INSERT INTO redeemed_vouchers (voucher_id, entry_id) VALUES (?1, ?2)",
                    )?
                    .execute(params![voucher_id, entry.id.0])?;
            }
            _ => {}
        }
        Ok(Receipt {
            balance: entry.balance_after(),
            entry,
            replayed: false,
        })
    }

    /// Grants the welcome credits once per account; later calls return the first grant,
    /// whatever `amount` they pass (the configured amount may change).
    pub(crate) fn grant_welcome(&self, account: &AccountKey, amount: Credits) -> Result<Receipt> {
        amount.positive()?;
        self.expire_due()?;
        let account_id = self.ensure_account(account)?;
        if let Some(receipt) = self.replay(account_id, WELCOME_KEY, None)? {
            return Ok(receipt);
        }
        let memo = "welcome credits";
        let request = canonical(&Operation::Grant {
            amount,
            memo: Some(memo.to_owned()),
        });
        let entry = self.append(
            account_id,
            NewEntry {
                kind: Kind::Grant,
                amount,
                posted_delta: amount.0,
                held_delta: 0,
                key: Some((WELCOME_KEY, &request)),
                memo: Some(memo),
                related: None,
                expires_at: None,
            },
        )?;
        Ok(Receipt {
            balance: entry.balance_after(),
            entry,
            replayed: false,
        })
    }
}

/// An entry of `kind` with no balance movement yet; callers set the deltas.
fn base<'a>(kind: Kind, amount: Credits, memo: &'a Option<String>) -> NewEntry<'a> {
    NewEntry {
        kind,
        amount,
        posted_delta: 0,
        held_delta: 0,
        key: None,
        memo: memo.as_deref(),
        related: None,
        expires_at: None,
    }
}
