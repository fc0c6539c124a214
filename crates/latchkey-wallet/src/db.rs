//! Opening the wallet file: refuse foreign or corrupt files before writing a byte, set the
//! connection up, and run the forward-only migrations.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{Error, Result};

/// `PRAGMA application_id` of every wallet file: "LKWT". A SQLite file without it (and with
/// any table in it) belongs to someone else and is never touched.
pub const APPLICATION_ID: i32 = 0x4C4B_5754;

/// The migrations, in order. Forward-only: a shipped file is never edited, only new ones are
/// added. The schema version (`PRAGMA user_version`) is the number applied.
pub(crate) const MIGRATIONS: &[(&str, &str)] =
    &[("0001_ledger", include_str!("../migrations/0001_ledger.sql"))];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How durable a commit is. `Full` (the default) syncs the write-ahead log on every commit: a
/// committed operation survives power loss. `Normal` syncs only at checkpoints: a committed
/// operation survives a crash of the process but maybe not of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit reaches the disk before it returns (the default).
    #[default]
    Full,
    /// Commits reach the disk at checkpoints.
    Normal,
}

/// Options for [`crate::Wallet::open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How durable each commit is.
    pub synchronous: Synchronous,
    /// How long to wait for another process's write before [`Error::Busy`].
    pub busy_timeout: Duration,
    /// Trusted voucher signing keys (`[wallet] voucher_keys`).
    pub voucher_keys: Vec<crate::voucher::PublicKey>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            voucher_keys: Vec::new(),
        }
    }
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Decides, without writing anything, whether `path` may be opened as a wallet: it does not
/// exist, is empty, is an empty SQLite database, or carries the wallet's application id.
pub(crate) fn probe(path: &Path) -> Result<()> {
    let not_a_wallet = |reason: &str| Error::NotAWalletFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Io { source }),
    };
    let len = file
        .metadata()
        .map_err(|source| Error::Io { source })?
        .len();
    if len == 0 {
        return Ok(());
    }
    let mut magic = [0u8; 16];
    if len < 100 || file.read_exact(&mut magic).is_err() || &magic != SQLITE_MAGIC {
        return Err(not_a_wallet("it is not a SQLite database"));
    }
    drop(file);

    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify_probe_error(path, e))?;
    let read = |conn: &Connection| -> rusqlite::Result<(i32, i64, i64)> {
        let app_id = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let objects = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        Ok((app_id, version, objects))
    };
    let (app_id, version, objects) = read(&conn).map_err(|e| classify_probe_error(path, e))?;
    match app_id {
        APPLICATION_ID if version > SCHEMA_VERSION => Err(Error::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        }),
        APPLICATION_ID => Ok(()),
        0 if objects == 0 && version == 0 => Ok(()),
        0 => Err(not_a_wallet(
            "it is a SQLite database of another program: it has tables but no wallet marker",
        )),
        other => Err(not_a_wallet(&format!(
            "it is a SQLite database of another program (application id {other:#x})"
        ))),
    }
}

fn classify_probe_error(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotAWalletFile {
            path: path.to_owned(),
            reason: "it is not a SQLite database".to_owned(),
        },
        _ => Error::from(e),
    }
}

/// Opens (creating if needed) the file read-write and applies the connection settings.
pub(crate) fn connect(path: &Path, options: &OpenOptions) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn, options)?;
    Ok(conn)
}

pub(crate) fn configure(conn: &Connection, options: &OpenOptions) -> Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // Returns the resulting mode; "memory" for in-memory databases, which is fine.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    let sync = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    Ok(())
}

/// Applies the pending migrations in one `BEGIN IMMEDIATE` transaction, so two processes
/// opening a new file at once cannot both migrate it. (A small runner of our own rather than
/// `rusqlite_migration`: it needs the immediate lock and the application-id check inside the
/// same transaction.)
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let app_id: i32 = tx.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION && app_id == APPLICATION_ID {
        return Ok(());
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
    fn migrations_build_the_schema_on_an_empty_database() {
        let conn = Connection::open_in_memory().expect("in-memory db");
        migrate(&conn).expect("migrations apply to an empty database");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(
            version, SCHEMA_VERSION,
            "the schema version records every migration"
        );
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .expect("app id");
        assert_eq!(
            app_id, APPLICATION_ID,
            "a wallet marks itself so it is recognised"
        );
        for table in ["accounts", "entries", "open_holds", "redeemed_vouchers"] {
            let n: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .expect("schema query");
            assert_eq!(n, 1, "migration must create table {table}");
        }
        migrate(&conn).expect("running migrations again is a no-op");
    }

    #[test]
    fn migration_files_are_numbered_in_order() {
        for (i, (name, _)) in MIGRATIONS.iter().enumerate() {
            assert!(
                name.starts_with(&format!("{:04}_", i + 1)),
                "migration {name} is out of order: files run in their listed order"
            );
        }
    }
}
