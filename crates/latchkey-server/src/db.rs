//! PostgreSQL: the connection pool and the versioned, forward-only migrations.

use crate::config::DatabaseUrl;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::time::Duration;
use tokio_postgres::NoTls;

/// The migrations, in order. Numbered files beside the code that owns the tables; never edited
/// once shipped.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "0001_ledger",
        include_str!("../migrations/0001_ledger.sql"),
    ),
    (
        2,
        "0002_payments",
        include_str!("../migrations/0002_payments.sql"),
    ),
    (
        3,
        "0003_vouchers",
        include_str!("../migrations/0003_vouchers.sql"),
    ),
    (
        4,
        "0004_ledger_apply",
        include_str!("../migrations/0004_ledger_apply.sql"),
    ),
    (
        5,
        "0005_devices",
        include_str!("../migrations/0005_devices.sql"),
    ),
    (
        6,
        "0006_sealed_seeds",
        include_str!("../migrations/0006_sealed_seeds.sql"),
    ),
    (
        7,
        "0007_lease_holds",
        include_str!("../migrations/0007_lease_holds.sql"),
    ),
    (
        8,
        "0008_entry_json_stable",
        include_str!("../migrations/0008_entry_json_stable.sql"),
    ),
    (
        9,
        "0009_refunds",
        include_str!("../migrations/0009_refunds.sql"),
    ),
    (
        10,
        "0010_balance_per_statement",
        include_str!("../migrations/0010_balance_per_statement.sql"),
    ),
    (
        11,
        "0011_wallet_imports",
        include_str!("../migrations/0011_wallet_imports.sql"),
    ),
];

/// The schema version this build expects: the last migration's number.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Arbitrary but fixed: the advisory lock every migrating server takes, so two servers starting
/// at once apply each migration exactly once.
const MIGRATION_LOCK: i64 = 0x4c61_7463_686b_6579; // "Latchkey"

/// A database problem, classified for the API: unreachable (503) or anything else (500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// No connection could be made or kept (refused, timed out, closed).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database refused a statement (a constraint, a bug).
    #[error("database error: {0}")]
    Query(#[source] tokio_postgres::Error),
    /// The schema was migrated by a newer server.
    #[error("the database schema is at version {found}, newer than this server knows ({known}); upgrade the server")]
    TooNew {
        /// The database's version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The database URL cannot be parsed (the message never repeats it).
    #[error("the database URL is invalid: {0}")]
    BadUrl(String),
    /// Stored data this server cannot read: a bug or tampering, never the caller's fault.
    #[error("the database holds unreadable data: {0}")]
    Corrupt(String),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        // A closed connection, or an I/O failure with no SQLSTATE: the server is not reachable.
        if e.is_closed() || (e.code().is_none() && is_io(&e)) {
            DbError::Unavailable(e.to_string())
        } else {
            DbError::Query(e)
        }
    }
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => DbError::from(e),
            other => DbError::Unavailable(other.to_string()),
        }
    }
}

fn is_io(e: &tokio_postgres::Error) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if s.is::<std::io::Error>() {
            return true;
        }
        src = s.source();
    }
    false
}

/// A pool of connections to `url`. Connections are made lazily; waiting for one, and making
/// one, each give up after `timeout` (then the API answers 503).
pub fn pool(url: &DatabaseUrl, max_size: usize, timeout: Duration) -> Result<Pool, DbError> {
    let pg: tokio_postgres::Config = url
        .expose()
        .parse()
        // The driver's message does not repeat the URL.
        .map_err(|e: tokio_postgres::Error| DbError::BadUrl(e.to_string()))?;
    let mut pg = pg;
    pg.connect_timeout(timeout);
    let mgr = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(mgr)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()
        .map_err(|e| DbError::BadUrl(e.to_string()))
}

/// Applies every pending migration, each in its own transaction under an advisory lock, and
/// returns the schema version. Safe to run from several servers at once. Refuses a database
/// whose schema is newer than this build.
pub async fn migrate(client: &mut tokio_postgres::Client) -> Result<i64, DbError> {
    loop {
        let tx = client.transaction().await?;
        // Held until this transaction ends: one migrator at a time.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version bigint PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await?
            .get(0);
        if current > latest_version() {
            return Err(DbError::TooNew {
                found: current,
                known: latest_version(),
            });
        }
        let Some((version, name, sql)) = MIGRATIONS.iter().find(|m| m.0 > current) else {
            tx.commit().await?;
            return Ok(current);
        };
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[version, name],
        )
        .await?;
        tx.commit().await?;
    }
}

/// The schema version recorded in the database (0 when never migrated).
pub async fn schema_version(client: &tokio_postgres::Client) -> Result<i64, DbError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT COALESCE(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, (version, name, sql)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                *version,
                i as i64 + 1,
                "migration numbers must have no gaps"
            );
            assert!(
                name.starts_with(&format!("{version:04}_")),
                "the name {name} must carry its number"
            );
            assert!(!sql.trim().is_empty());
        }
    }
}
