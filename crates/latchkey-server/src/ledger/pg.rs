//! The ledger's rules run against PostgreSQL.

use super::{
    check_key, Account, Balance, Entry, EntryKind, HistoryPage, LedgerError, Operation, Receipt,
    DEFAULT_PAGE, MAX_PAGE,
};
use crate::db::DbError;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Pool, Transaction};
use serde::Deserialize as _;
use tokio_postgres::error::SqlState;
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
    pub const APPLY: &str = "SELECT ledger_apply($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
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
        let (amount, hold, ttl_secs, memo) = match op {
            Operation::Grant { amount, memo } | Operation::Spend { amount, memo } => {
                (Some(*amount), None, None, memo.as_deref())
            }
            Operation::Reserve {
                amount,
                ttl_secs,
                memo,
            } => (Some(*amount), None, Some(*ttl_secs), memo.as_deref()),
            Operation::Capture { hold, amount } => (Some(*amount), Some(*hold), None, None),
            Operation::Release { hold } => (None, Some(*hold), None, None),
        };
        if who.issuer.is_empty() || who.subject.is_empty() {
            return Err(LedgerError::InvalidInput("empty issuer or subject".into()));
        }
        // One statement, one round trip, its own transaction: the rules run in
        // `ledger_apply` (migrations/0004_ledger_apply.sql) under the balance row's lock.
        let client = self.pool.get().await?;
        let outcome = opt(
            &client,
            sql::APPLY,
            &[
                &who.issuer,
                &who.subject,
                &key,
                &op.name(),
                &params,
                &amount,
                &hold,
                &ttl_secs,
                &memo,
                &now,
            ],
        )
        .await;
        let outcome: serde_json::Value = match outcome {
            Ok(Some(row)) => row.get(0),
            Ok(None) => return Err(corrupt("ledger_apply returned no row")),
            Err(LedgerError::Db(DbError::Query(e)))
                if e.code().map(SqlState::code) == Some(REFUSED) =>
            {
                let message = e.as_db_error().map(|d| d.message()).unwrap_or("");
                serde_json::from_str(message)
                    .map_err(|_| corrupt("ledger_apply refused without saying why"))?
            }
            Err(e) => return Err(e),
        };
        outcome_of(outcome)
    }
}

/// The SQLSTATE `ledger_apply` raises when it refuses an operation (nothing recorded).
const REFUSED: &str = "LK001";

fn corrupt(what: &str) -> LedgerError {
    LedgerError::Db(DbError::Corrupt(what.into()))
}

/// `ledger_apply`'s answer: `{"receipt": ..}` or `{"error": ..}`.
fn outcome_of(v: serde_json::Value) -> Result<Receipt, LedgerError> {
    if let Some(receipt) = v.get("receipt") {
        return Receipt::deserialize(receipt)
            .map_err(|e| corrupt(&format!("a stored or returned receipt: {e}")));
    }
    let n = |k: &str| v.get(k).and_then(|x| x.as_i64()).unwrap_or(0);
    Err(match v.get("error").and_then(|e| e.as_str()) {
        Some("insufficient_credits") => LedgerError::InsufficientCredits {
            available: n("available"),
            requested: n("requested"),
        },
        Some("idempotency_conflict") => LedgerError::IdempotencyConflict,
        Some("unknown_entry") => LedgerError::UnknownEntry,
        // Raised by the lease-hold guard of migrations/0007_lease_holds.sql.
        Some("lease_hold") => LedgerError::LeaseHold,
        Some("capture_exceeds_hold") => LedgerError::InvalidInput(format!(
            "cannot capture {}: the hold is for {}",
            n("requested"),
            n("held")
        )),
        _ => corrupt("ledger_apply gave an unknown answer"),
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
