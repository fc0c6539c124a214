//! Credits that come from outside the ledger (a paid checkout, a voucher, welcome credits),
//! each credited at most once: `credit_sources.source` is the primary key, written in the same
//! transaction as the entry.

use super::{ensure_user, exec, insert_entry, one, opt, sql};
use crate::db::DbError;
use crate::ledger::{check_amount, Ledger};
use crate::ledger::{check_key, Account, Balance, EntryKind, LedgerError, Receipt, MAX_MEMO_CHARS};
use chrono::{DateTime, Utc};

/// Where credits come from; each source is credited once, to one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A paid checkout (our checkout id).
    Checkout(String),
    /// A redeemed voucher (the voucher's id).
    Voucher(String),
    /// The service's welcome credits for this user.
    Welcome,
}

/// Credits from outside the ledger: what [`Ledger::credit_once`] adds.
#[derive(Debug, Clone, Copy)]
pub struct Credit<'a> {
    /// `purchase`, `voucher` or `grant`.
    pub kind: EntryKind,
    /// 1 to [`crate::ledger::MAX_AMOUNT`].
    pub amount: i64,
    /// The entry's memo.
    pub memo: &'a str,
    /// Where the credits come from: each source is credited once.
    pub source: &'a Source,
}

/// What [`Ledger::credit_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credited {
    /// The credits were added now.
    New(Receipt),
    /// The same idempotency key and source again: the first receipt, nothing changed.
    Replayed(Receipt),
    /// The source was already credited, earlier: to this caller (`mine`) or to someone else.
    /// Nothing changed.
    Already {
        /// Whether the earlier credit went to the same account.
        mine: bool,
        /// The first credit's receipt (only meaningful when `mine`).
        receipt: Receipt,
    },
}

const FIND_SOURCE: &str = "SELECT user_id, result FROM credit_sources WHERE source = $1";
const INSERT_SOURCE: &str = "
    INSERT INTO credit_sources (source, user_id, entry_seq, result, created_at)
    VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source) DO NOTHING RETURNING source";
const FIND_USER_ID: &str = "SELECT id FROM users WHERE issuer = $1 AND subject = $2";

impl Ledger {
    /// Credits `amount` to `who` as a `kind` entry, at most once per `source` across all users.
    /// With an idempotency `key`, the same key and source replays the first receipt; the same
    /// key with anything else is a conflict.
    ///
    /// # Errors
    /// [`LedgerError::InvalidInput`] for an amount out of range, a bad key or memo;
    /// [`LedgerError::IdempotencyConflict`]; [`LedgerError::Db`].
    pub async fn credit_once(
        &self,
        who: &Account,
        key: Option<&str>,
        credit: &Credit<'_>,
        now: DateTime<Utc>,
    ) -> Result<Credited, LedgerError> {
        let Credit {
            kind,
            amount,
            memo,
            source,
        } = *credit;
        check_amount(amount)?;
        if memo.chars().count() > MAX_MEMO_CHARS {
            return Err(LedgerError::InvalidInput("memo too long".into()));
        }
        if let Some(k) = key {
            check_key(k)?;
        }
        let mut client = self.pool().get().await?;
        let tx = client.transaction().await?;
        let user_id = ensure_user(&tx, who, now).await?;
        one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        let source_text = match source {
            Source::Checkout(id) => format!("checkout:{id}"),
            Source::Voucher(id) => format!("voucher:{id}"),
            Source::Welcome => format!("welcome:{user_id}"),
        };
        let params = serde_json::json!({ "source": source_text, "amount": amount });
        if let Some(k) = key {
            if let Some(prior) = opt(&tx, sql::FIND_KEY, &[&user_id, &k]).await? {
                let prior_params: serde_json::Value = prior.get(0);
                if prior_params != params {
                    return Err(LedgerError::IdempotencyConflict);
                }
                return Ok(Credited::Replayed(stored(prior.get(1))?));
            }
        }
        if let Some(prior) = opt(&tx, FIND_SOURCE, &[&source_text]).await? {
            let owner: i64 = prior.get(0);
            return Ok(Credited::Already {
                mine: owner == user_id,
                receipt: stored(prior.get(1))?,
            });
        }
        let entry = insert_entry(&tx, user_id, kind, amount, None, None, Some(memo), now).await?;
        let row = one(&tx, sql::READ_BALANCE, &[&user_id]).await?;
        let receipt = Receipt {
            entries: vec![entry.clone()],
            balance: Balance::new(row.get(0), row.get(1)),
        };
        let result = serde_json::to_value(&receipt).map_err(|e| {
            LedgerError::InvalidInput(format!("the result cannot be recorded: {e}"))
        })?;
        let inserted = opt(
            &tx,
            INSERT_SOURCE,
            &[&source_text, &user_id, &entry.seq, &result, &now],
        )
        .await?;
        if inserted.is_none() {
            // Another transaction credited this source first and has committed: undo ours and
            // answer as the loser of the race.
            tx.rollback().await?;
            let prior = one(&client, FIND_SOURCE, &[&source_text]).await?;
            let owner: i64 = prior.get(0);
            return Ok(Credited::Already {
                mine: owner == user_id,
                receipt: stored(prior.get(1))?,
            });
        }
        if let Some(k) = key {
            exec(
                &tx,
                sql::INSERT_KEY,
                &[&user_id, &k, &"credit", &params, &result, &now],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Credited::New(receipt))
    }

    /// The id of `who`'s user row, creating the user (with a zero balance) on first use.
    pub async fn user_id(&self, who: &Account, now: DateTime<Utc>) -> Result<i64, LedgerError> {
        let mut client = self.pool().get().await?;
        let tx = client.transaction().await?;
        if let Some(r) = opt(&tx, FIND_USER_ID, &[&who.issuer, &who.subject]).await? {
            return Ok(r.get(0));
        }
        let id = ensure_user(&tx, who, now).await?;
        tx.commit().await?;
        Ok(id)
    }
}

fn stored(v: serde_json::Value) -> Result<Receipt, LedgerError> {
    serde_json::from_value(v)
        .map_err(|e| LedgerError::Db(DbError::Corrupt(format!("a stored result: {e}"))))
}
