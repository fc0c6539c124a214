//! The ledger's rules run against PostgreSQL.

use super::{
    check_key, Account, Balance, Entry, EntryKind, HistoryPage, LedgerError, Operation, Receipt,
    DEFAULT_PAGE, MAX_PAGE,
};
use crate::db::DbError;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::{Pool, Transaction};
use tokio_postgres::Row;

/// The ledger over a connection pool. Cheap to clone; holds no state of its own.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
}

const ENTRY_COLUMNS: &str = "server_seq, kind, amount, hold_seq, expires_at, memo, created_at";

impl Ledger {
    /// The ledger over `pool` (whose database is migrated).
    pub fn new(pool: Pool) -> Ledger {
        Ledger { pool }
    }

    /// The pool, for callers that need the database directly (migrations, health).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), DbError> {
        let client = self.pool.get().await?;
        client.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// The balance as of `now`: holds past their expiry no longer count as held (the next
    /// write records their `expire` entries). An unknown account has a zero balance.
    pub async fn balance(&self, who: &Account, now: DateTime<Utc>) -> Result<Balance, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT b.posted,
                        b.held - COALESCE((SELECT sum(h.amount - h.captured) FROM holds h
                                           WHERE h.user_id = b.user_id AND h.settled_seq IS NULL
                                             AND h.expires_at <= $3), 0)::bigint
                 FROM balances b JOIN users u ON u.id = b.user_id
                 WHERE u.issuer = $1 AND u.subject = $2",
                &[&who.issuer, &who.subject, &now],
            )
            .await?;
        Ok(row
            .map(|r| Balance::new(r.get(0), r.get(1)))
            .unwrap_or(Balance::new(0, 0)))
    }

    /// Up to `limit` entries (1 to 500, default 50) with `seq > after`, oldest first.
    pub async fn history(
        &self,
        who: &Account,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<HistoryPage, LedgerError> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(LedgerError::InvalidInput(format!(
                "limit must be 1 to {MAX_PAGE}"
            )));
        }
        if after.is_some_and(|a| a < 0) {
            return Err(LedgerError::InvalidInput(
                "after must not be negative".into(),
            ));
        }
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries
                     WHERE user_id = (SELECT id FROM users WHERE issuer = $1 AND subject = $2)
                       AND server_seq > $3
                     ORDER BY server_seq LIMIT $4"
                ),
                &[&who.issuer, &who.subject, &after.unwrap_or(0), &(limit + 1)],
            )
            .await?;
        let mut entries = rows
            .iter()
            .map(entry_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next_after = if entries.len() as i64 > limit {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(HistoryPage {
            entries,
            next_after,
        })
    }

    /// Applies `op` for `who` at `now`, exactly once per idempotency `key`: the same key with
    /// the same operation and parameters returns the first receipt again and changes nothing;
    /// with anything else it is an [`LedgerError::IdempotencyConflict`]. Refused operations
    /// record nothing (the key stays free).
    pub async fn apply(
        &self,
        who: &Account,
        key: Option<&str>,
        op: &Operation,
        now: DateTime<Utc>,
    ) -> Result<Receipt, LedgerError> {
        op.validate()?;
        if let Some(k) = key {
            check_key(k)?;
        }
        let params = serde_json::to_value(op).map_err(|e| {
            LedgerError::InvalidInput(format!("the request cannot be recorded: {e}"))
        })?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let user_id = ensure_user(&tx, who, now).await?;
        // Serialises every writer of this user until commit.
        let row = tx
            .query_one(
                "SELECT posted, held FROM balances WHERE user_id = $1 FOR UPDATE",
                &[&user_id],
            )
            .await?;
        let (posted, mut held): (i64, i64) = (row.get(0), row.get(1));
        let row_held = held;

        if let Some(k) = key {
            if let Some(prior) = tx
                .query_opt(
                    "SELECT params, result FROM idempotency_keys WHERE user_id = $1 AND key = $2",
                    &[&user_id, &k],
                )
                .await?
            {
                let prior_params: serde_json::Value = prior.get(0);
                if prior_params != params {
                    return Err(LedgerError::IdempotencyConflict);
                }
                let result: serde_json::Value = prior.get(1);
                return serde_json::from_value(result).map_err(|e| {
                    LedgerError::Db(DbError::Corrupt(format!("a stored result: {e}")))
                });
            }
        }

        // Lapsed holds are settled first, so they neither block nor get captured.
        for row in tx
            .query(
                "SELECT hold_seq, amount - captured FROM holds
                 WHERE user_id = $1 AND settled_seq IS NULL AND expires_at <= $2
                 ORDER BY hold_seq",
                &[&user_id, &now],
            )
            .await?
        {
            let (hold, rest): (i64, i64) = (row.get(0), row.get(1));
            let e = insert_entry(
                &tx,
                user_id,
                EntryKind::Expire,
                rest,
                Some(hold),
                None,
                None,
                now,
            )
            .await?;
            settle(&tx, hold, e.seq, 0).await?;
            held -= rest;
        }

        // A refused operation still leaves the lapsed holds recorded as expired.
        let expired_any = held != row_held;
        if expired_any {
            tx.batch_execute("SAVEPOINT operation").await?;
        }
        let entries = match apply_op(&tx, user_id, op, posted, held, now).await {
            Ok(entries) => entries,
            Err(e) => {
                if expired_any {
                    tx.batch_execute("ROLLBACK TO SAVEPOINT operation").await?;
                    tx.commit().await?;
                }
                return Err(e);
            }
        };

        // The database moved the row itself (trigger); read it back rather than trust our sums.
        let row = tx
            .query_one(
                "SELECT posted, held FROM balances WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        let balance = Balance::new(row.get(0), row.get(1));
        let receipt = Receipt { entries, balance };
        if let Some(k) = key {
            let result = serde_json::to_value(&receipt).map_err(|e| {
                LedgerError::InvalidInput(format!("the result cannot be recorded: {e}"))
            })?;
            tx.execute(
                "INSERT INTO idempotency_keys (user_id, key, operation, params, result, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&user_id, &k, &op.name(), &params, &result, &now],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(receipt)
    }
}

/// Appends the entries of `op` (already validated) for a user whose balance row is locked and
/// stands at `posted`/`held` (lapsed holds already expired).
async fn apply_op(
    tx: &Transaction<'_>,
    user_id: i64,
    op: &Operation,
    posted: i64,
    held: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Entry>, LedgerError> {
    let available = posted - held;
    let mut entries = Vec::new();
    match op {
        Operation::Grant { amount, memo } => {
            entries.push(
                insert_entry(
                    tx,
                    user_id,
                    EntryKind::Grant,
                    *amount,
                    None,
                    None,
                    memo.as_deref(),
                    now,
                )
                .await?,
            );
        }
        Operation::Spend { amount, memo } => {
            if *amount > available {
                return Err(LedgerError::InsufficientCredits {
                    available,
                    requested: *amount,
                });
            }
            entries.push(
                insert_entry(
                    tx,
                    user_id,
                    EntryKind::Spend,
                    *amount,
                    None,
                    None,
                    memo.as_deref(),
                    now,
                )
                .await?,
            );
        }
        Operation::Reserve {
            amount,
            ttl_secs,
            memo,
        } => {
            if *amount > available {
                return Err(LedgerError::InsufficientCredits {
                    available,
                    requested: *amount,
                });
            }
            let expires_at = now + Duration::seconds(*ttl_secs);
            let e = insert_entry(
                tx,
                user_id,
                EntryKind::Hold,
                *amount,
                None,
                Some(expires_at),
                memo.as_deref(),
                now,
            )
            .await?;
            tx.execute(
                "INSERT INTO holds (hold_seq, user_id, amount, expires_at) VALUES ($1, $2, $3, $4)",
                &[&e.seq, &user_id, amount, &expires_at],
            )
            .await?;
            entries.push(e);
        }
        Operation::Capture { hold, amount } => {
            let held_amount = open_hold(tx, user_id, *hold).await?;
            if *amount > held_amount {
                return Err(LedgerError::InvalidInput(format!(
                    "cannot capture {amount}: the hold is for {held_amount}"
                )));
            }
            let e = insert_entry(
                tx,
                user_id,
                EntryKind::Capture,
                *amount,
                Some(*hold),
                None,
                None,
                now,
            )
            .await?;
            settle(tx, *hold, e.seq, *amount).await?;
            entries.push(e);
            let rest = held_amount - amount;
            if rest > 0 {
                entries.push(
                    insert_entry(
                        tx,
                        user_id,
                        EntryKind::Release,
                        rest,
                        Some(*hold),
                        None,
                        None,
                        now,
                    )
                    .await?,
                );
            }
        }
        Operation::Release { hold } => {
            let held_amount = open_hold(tx, user_id, *hold).await?;
            let e = insert_entry(
                tx,
                user_id,
                EntryKind::Release,
                held_amount,
                Some(*hold),
                None,
                None,
                now,
            )
            .await?;
            settle(tx, *hold, e.seq, 0).await?;
            entries.push(e);
        }
    }

    Ok(entries)
}

/// The user's id, creating the user and a zero balance row on first use. Safe against a
/// concurrent first use (the loser of the insert race reads the winner's row).
async fn ensure_user(
    tx: &Transaction<'_>,
    who: &Account,
    now: DateTime<Utc>,
) -> Result<i64, LedgerError> {
    if who.issuer.is_empty() || who.subject.is_empty() {
        return Err(LedgerError::InvalidInput("empty issuer or subject".into()));
    }
    let find = "SELECT id FROM users WHERE issuer = $1 AND subject = $2";
    if let Some(r) = tx.query_opt(find, &[&who.issuer, &who.subject]).await? {
        return Ok(r.get(0));
    }
    if let Some(r) = tx
        .query_opt(
            "INSERT INTO users (issuer, subject, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (issuer, subject) DO NOTHING RETURNING id",
            &[&who.issuer, &who.subject, &now],
        )
        .await?
    {
        let id: i64 = r.get(0);
        tx.execute("INSERT INTO balances (user_id) VALUES ($1)", &[&id])
            .await?;
        return Ok(id);
    }
    // Another transaction created the user (with its balance row) and has committed: a new
    // statement sees it.
    Ok(tx
        .query_one(find, &[&who.issuer, &who.subject])
        .await?
        .get(0))
}

/// The amount of `who`'s open hold `hold`, or `UnknownEntry` (never someone else's).
async fn open_hold(tx: &Transaction<'_>, user_id: i64, hold: i64) -> Result<i64, LedgerError> {
    tx.query_opt(
        "SELECT amount FROM holds WHERE hold_seq = $1 AND user_id = $2 AND settled_seq IS NULL",
        &[&hold, &user_id],
    )
    .await?
    .map(|r| r.get(0))
    .ok_or(LedgerError::UnknownEntry)
}

async fn settle(
    tx: &Transaction<'_>,
    hold: i64,
    settled_by: i64,
    captured: i64,
) -> Result<(), LedgerError> {
    tx.execute(
        "UPDATE holds SET settled_seq = $2, captured = $3 WHERE hold_seq = $1",
        &[&hold, &settled_by, &captured],
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_entry(
    tx: &Transaction<'_>,
    user_id: i64,
    kind: EntryKind,
    amount: i64,
    hold: Option<i64>,
    expires_at: Option<DateTime<Utc>>,
    memo: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Entry, LedgerError> {
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO entries (user_id, kind, amount, hold_seq, expires_at, memo, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {ENTRY_COLUMNS}"
            ),
            &[
                &user_id,
                &kind.as_str(),
                &amount,
                &hold,
                &expires_at,
                &memo,
                &now,
            ],
        )
        .await?;
    entry_from_row(&row)
}

fn entry_from_row(row: &Row) -> Result<Entry, LedgerError> {
    let kind: &str = row.get(1);
    Ok(Entry {
        seq: row.get(0),
        kind: EntryKind::parse(kind).ok_or_else(|| {
            LedgerError::Db(DbError::Corrupt(format!("unknown entry kind {kind}")))
        })?,
        amount: row.get(2),
        hold: row.get(3),
        expires_at: row.get(4),
        memo: row.get(5),
        created_at: row.get(6),
    })
}
