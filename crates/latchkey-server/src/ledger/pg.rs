//! The ledger's rules run against PostgreSQL.

use super::{
    check_key, Account, Balance, Entry, EntryKind, HistoryPage, LedgerError, Operation, Receipt,
    DEFAULT_PAGE, MAX_PAGE,
};
use crate::db::DbError;
use chrono::{DateTime, Duration, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

mod credit;

pub use credit::{Credit, Credited, Source};

/// The ledger over a connection pool. Cheap to clone; holds no state of its own.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
}

/// The statements, each prepared once per pooled connection and reused (`prepare_cached`):
/// one round trip per query instead of two.
mod sql {
    pub const BALANCE: &str = "
        SELECT b.posted,
               b.held - COALESCE((SELECT sum(h.amount) FROM holds h
                                  WHERE h.user_id = b.user_id AND h.settled_seq IS NULL
                                    AND h.expires_at <= $3), 0)::bigint
        FROM balances b JOIN users u ON u.id = b.user_id
        WHERE u.issuer = $1 AND u.subject = $2";
    pub const HISTORY: &str = "
        SELECT server_seq, kind, amount, hold_seq, expires_at, memo, created_at FROM entries
        WHERE user_id = (SELECT id FROM users WHERE issuer = $1 AND subject = $2)
          AND server_seq > $3
        ORDER BY server_seq LIMIT $4";
    pub const FIND_USER: &str = "SELECT id FROM users WHERE issuer = $1 AND subject = $2";
    pub const INSERT_USER: &str = "
        INSERT INTO users (issuer, subject, created_at) VALUES ($1, $2, $3)
        ON CONFLICT (issuer, subject) DO NOTHING RETURNING id";
    pub const INSERT_BALANCE: &str = "INSERT INTO balances (user_id) VALUES ($1)";
    pub const LOCK_BALANCE: &str =
        "SELECT posted, held FROM balances WHERE user_id = $1 FOR UPDATE";
    pub const READ_BALANCE: &str = "SELECT posted, held FROM balances WHERE user_id = $1";
    pub const FIND_KEY: &str =
        "SELECT params, result FROM idempotency_keys WHERE user_id = $1 AND key = $2";
    pub const INSERT_KEY: &str = "
        INSERT INTO idempotency_keys (user_id, key, operation, params, result, created_at)
        VALUES ($1, $2, $3, $4, $5, $6)";
    pub const LAPSED_HOLDS: &str = "
        SELECT hold_seq, amount FROM holds
        WHERE user_id = $1 AND settled_seq IS NULL AND expires_at <= $2
        ORDER BY hold_seq";
    pub const OPEN_HOLD: &str =
        "SELECT amount FROM holds WHERE hold_seq = $1 AND user_id = $2 AND settled_seq IS NULL";
    pub const INSERT_HOLD: &str =
        "INSERT INTO holds (hold_seq, user_id, amount, expires_at) VALUES ($1, $2, $3, $4)";
    pub const SETTLE_HOLD: &str =
        "UPDATE holds SET settled_seq = $2, captured = $3 WHERE hold_seq = $1";
    pub const INSERT_ENTRY: &str = "
        INSERT INTO entries (user_id, kind, amount, hold_seq, expires_at, memo, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING server_seq, kind, amount, hold_seq, expires_at, memo, created_at";
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn one<C: GenericClient>(c: &C, sql: &str, p: Params<'_>) -> Result<Row, LedgerError> {
    Ok(c.query_one(&c.prepare_cached(sql).await?, p).await?)
}

async fn opt<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Option<Row>, LedgerError> {
    Ok(c.query_opt(&c.prepare_cached(sql).await?, p).await?)
}

async fn all<C: GenericClient>(c: &C, sql: &str, p: Params<'_>) -> Result<Vec<Row>, LedgerError> {
    Ok(c.query(&c.prepare_cached(sql).await?, p).await?)
}

async fn exec<C: GenericClient>(c: &C, sql: &str, p: Params<'_>) -> Result<u64, LedgerError> {
    Ok(c.execute(&c.prepare_cached(sql).await?, p).await?)
}

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
        let row = opt(&client, sql::BALANCE, &[&who.issuer, &who.subject, &now]).await?;
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
        let rows = all(
            &client,
            sql::HISTORY,
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
        let row = one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        let (posted, mut held): (i64, i64) = (row.get(0), row.get(1));

        if let Some(k) = key {
            if let Some(prior) = opt(&tx, sql::FIND_KEY, &[&user_id, &k]).await? {
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
        let lapsed = all(&tx, sql::LAPSED_HOLDS, &[&user_id, &now]).await?;
        for row in &lapsed {
            let (hold, amount): (i64, i64) = (row.get(0), row.get(1));
            let e = insert_entry(
                &tx,
                user_id,
                EntryKind::Expire,
                amount,
                Some(hold),
                None,
                None,
                now,
            )
            .await?;
            settle(&tx, hold, e.seq, 0).await?;
            held -= amount;
        }

        // A refused operation still leaves the lapsed holds recorded as expired.
        if !lapsed.is_empty() {
            tx.batch_execute("SAVEPOINT operation").await?;
        }
        let entries = match apply_op(&tx, user_id, op, posted - held, now).await {
            Ok(entries) => entries,
            Err(e) => {
                if !lapsed.is_empty() {
                    tx.batch_execute("ROLLBACK TO SAVEPOINT operation").await?;
                    tx.commit().await?;
                }
                return Err(e);
            }
        };

        // The database moved the row itself (trigger); read it back rather than trust our sums.
        let row = one(&tx, sql::READ_BALANCE, &[&user_id]).await?;
        let receipt = Receipt {
            entries,
            balance: Balance::new(row.get(0), row.get(1)),
        };
        if let Some(k) = key {
            let result = serde_json::to_value(&receipt).map_err(|e| {
                LedgerError::InvalidInput(format!("the result cannot be recorded: {e}"))
            })?;
            exec(
                &tx,
                sql::INSERT_KEY,
                &[&user_id, &k, &op.name(), &params, &result, &now],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(receipt)
    }
}

/// Appends the entries of `op` (already validated) for a user whose balance row is locked and
/// who has `available` credits (lapsed holds already expired).
async fn apply_op(
    tx: &Transaction<'_>,
    user_id: i64,
    op: &Operation,
    available: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Entry>, LedgerError> {
    let enough = |amount: i64| {
        if amount > available {
            Err(LedgerError::InsufficientCredits {
                available,
                requested: amount,
            })
        } else {
            Ok(())
        }
    };
    let entry = |kind, amount, hold, expires_at, memo| {
        insert_entry(tx, user_id, kind, amount, hold, expires_at, memo, now)
    };
    Ok(match op {
        Operation::Grant { amount, memo } => {
            vec![entry(EntryKind::Grant, *amount, None, None, memo.as_deref()).await?]
        }
        Operation::Spend { amount, memo } => {
            enough(*amount)?;
            vec![entry(EntryKind::Spend, *amount, None, None, memo.as_deref()).await?]
        }
        Operation::Reserve {
            amount,
            ttl_secs,
            memo,
        } => {
            enough(*amount)?;
            let expires_at = now + Duration::seconds(*ttl_secs);
            let e = entry(
                EntryKind::Hold,
                *amount,
                None,
                Some(expires_at),
                memo.as_deref(),
            )
            .await?;
            exec(
                tx,
                sql::INSERT_HOLD,
                &[&e.seq, &user_id, amount, &expires_at],
            )
            .await?;
            vec![e]
        }
        Operation::Capture { hold, amount } => {
            let held = open_hold(tx, user_id, *hold).await?;
            if *amount > held {
                return Err(LedgerError::InvalidInput(format!(
                    "cannot capture {amount}: the hold is for {held}"
                )));
            }
            let e = entry(EntryKind::Capture, *amount, Some(*hold), None, None).await?;
            settle(tx, *hold, e.seq, *amount).await?;
            let mut entries = vec![e];
            if held > *amount {
                entries
                    .push(entry(EntryKind::Release, held - amount, Some(*hold), None, None).await?);
            }
            entries
        }
        Operation::Release { hold } => {
            let held = open_hold(tx, user_id, *hold).await?;
            let e = entry(EntryKind::Release, held, Some(*hold), None, None).await?;
            settle(tx, *hold, e.seq, 0).await?;
            vec![e]
        }
    })
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
    if let Some(r) = opt(tx, sql::FIND_USER, &[&who.issuer, &who.subject]).await? {
        return Ok(r.get(0));
    }
    if let Some(r) = opt(tx, sql::INSERT_USER, &[&who.issuer, &who.subject, &now]).await? {
        let id: i64 = r.get(0);
        exec(tx, sql::INSERT_BALANCE, &[&id]).await?;
        return Ok(id);
    }
    // Another transaction created the user (with its balance row) and has committed: a new
    // statement sees it.
    Ok(one(tx, sql::FIND_USER, &[&who.issuer, &who.subject])
        .await?
        .get(0))
}

/// The amount of `who`'s open hold `hold`, or `UnknownEntry` (never someone else's).
async fn open_hold(tx: &Transaction<'_>, user_id: i64, hold: i64) -> Result<i64, LedgerError> {
    opt(tx, sql::OPEN_HOLD, &[&hold, &user_id])
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
    exec(tx, sql::SETTLE_HOLD, &[&hold, &settled_by, &captured]).await?;
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
    let row = one(
        tx,
        sql::INSERT_ENTRY,
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
