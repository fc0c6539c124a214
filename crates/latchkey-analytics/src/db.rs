//! Opening the analytics database file and running its forward-only migrations.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};

/// `PRAGMA application_id` of every analytics file: "LKAN".
pub const APPLICATION_ID: i32 = 0x4C4B_414E;

/// The migrations, in order. Forward-only: a shipped file is never edited, only new ones are
/// added. The schema version (`PRAGMA user_version`) is the number applied.
pub(crate) const MIGRATIONS: &[(&str, &str)] = &[(
    "0001_datasets",
    include_str!("../migrations/0001_datasets.sql"),
)];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    migrate(&conn, path)?;
    Ok(conn)
}

pub(crate) fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    // The datasets can be imported again from their files: a crash of the machine may lose the
    // last import, never corrupt the file.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // A 32 MiB page cache (the default is 2 MiB): a million-row import spills less, and a
    // scan for an analysis reads through a memory map instead of copying every page.
    conn.pragma_update(None, "cache_size", -32_768)?;
    let _mmap: Option<i64> = conn
        .query_row("PRAGMA mmap_size = 1073741824", [], |r| r.get(0))
        .ok();
    Ok(())
}

/// Applies the pending migrations in one `BEGIN IMMEDIATE` transaction. Refuses a file of
/// another program (another application id, or tables without ours) or a newer schema.
pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let app_id: i32 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let objects: i64 = tx.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let refuse = |reason: String| Error::NotAnAnalyticsFile {
        path: path.to_owned(),
        reason,
    };
    if app_id != APPLICATION_ID && (app_id != 0 || objects > 0) {
        return Err(refuse("it is a SQLite database of another program".into()));
    }
    if version > SCHEMA_VERSION {
        return Err(refuse(format!(
            "its schema version {version} is newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (_name, sql) in MIGRATIONS
        .iter()
        .skip(usize::try_from(version).unwrap_or(0))
    {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_build_the_schema_and_record_the_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("analytics.sqlite");
        let conn = open(&path).expect("a new file is created and migrated");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION, "every migration is recorded");
        assert_eq!(SCHEMA_VERSION, 1, "bump this test with each new migration");
        for table in ["datasets", "dataset_columns", "results"] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("schema query");
            assert_eq!(n, 1, "table {table} exists after the migrations");
        }
        drop(conn);
        open(&path).expect("opening again migrates nothing and succeeds");
    }

    #[test]
    fn a_database_of_another_program_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("other.sqlite");
        Connection::open(&path)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x)"))
            .expect("a foreign database");
        assert!(
            matches!(open(&path), Err(Error::NotAnAnalyticsFile { .. })),
            "a foreign file must never be migrated"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("newer.sqlite");
        drop(open(&path).expect("created"));
        Connection::open(&path)
            .and_then(|c| c.pragma_update(None, "user_version", SCHEMA_VERSION + 1))
            .expect("bump version");
        assert!(matches!(open(&path), Err(Error::NotAnAnalyticsFile { .. })));
    }
}
