//! A corrupt or foreign file is detected at open with a clear error and never modified.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use latchkey_wallet::{Credits, Error, OpenOptions, SystemClock, Wallet};
use rstest::rstest;

use crate::{alice, open};

fn try_open(path: &Path) -> Result<Wallet, Error> {
    Wallet::open(path, OpenOptions::default(), Arc::new(SystemClock))
}

fn sqlite_file(dir: &Path, setup: &str) -> PathBuf {
    let path = dir.join("other.db");
    let conn = rusqlite::Connection::open(&path).expect("sqlite file");
    conn.execute_batch(setup).expect("setup");
    path
}

/// Opening must fail with the expected error and leave the file byte for byte as it was,
/// with nothing written to a write-ahead log beside it.
fn assert_refused_untouched(path: &Path, expected: fn(&Error) -> bool) {
    let before = std::fs::read(path).expect("read");
    let err = try_open(path).expect_err("this file must not open as a wallet");
    assert!(
        expected(&err),
        "wrong error for {}: {err:?}",
        path.display()
    );
    assert!(
        err.to_string().contains("wallet"),
        "the message says what is wrong: {err}"
    );
    assert_eq!(
        std::fs::read(path).expect("read"),
        before,
        "a refused file is never modified"
    );
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(
        wal_len, 0,
        "nothing was written to a write-ahead log either"
    );
}

fn not_a_wallet(e: &Error) -> bool {
    matches!(e, Error::NotAWalletFile { .. })
}

#[rstest]
#[case::text_file(b"my notes\n".repeat(100))]
#[case::short_sqlite_header(b"SQLite format 3\0".to_vec())]
#[case::random_bytes((0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect())]
fn non_sqlite_files_are_refused(#[case] bytes: Vec<u8>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.db");
    std::fs::write(&path, bytes).expect("write");
    assert_refused_untouched(&path, not_a_wallet);
}

#[rstest]
#[case::other_programs_tables("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")]
#[case::other_application_id("PRAGMA application_id = 1234;")]
#[case::same_table_names_no_marker("CREATE TABLE entries (id INTEGER PRIMARY KEY);")]
fn other_sqlite_databases_are_refused(#[case] setup: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sqlite_file(dir.path(), setup);
    assert_refused_untouched(&path, not_a_wallet);
}

#[test]
fn a_wallet_from_a_newer_latchkey_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.db");
    drop(open(&path, OpenOptions::default()));
    let conn = rusqlite::Connection::open(&path).expect("raw");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    assert_refused_untouched(&path, |e| matches!(e, Error::NewerSchema { found: 99, .. }));
}

#[test]
fn a_damaged_wallet_is_reported_corrupt_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.db");
    let w = open(&path, OpenOptions::default());
    for i in 0..200 {
        w.grant(
            &alice(),
            &format!("g{i}"),
            Credits(1),
            Some("padding to fill pages"),
        )
        .expect("grant");
    }
    drop(w); // the last connection checkpoints the log into the file
    let mut bytes = std::fs::read(&path).expect("read");
    let page = 4096;
    assert!(bytes.len() > 3 * page, "the wallet spans several pages");
    bytes[page..].fill(0xA5); // keep the header page, trash every other page
    std::fs::write(&path, &bytes).expect("write");
    match try_open(&path) {
        Err(err) => assert!(
            matches!(err, Error::CorruptDatabase { .. }),
            "damage found at open is CorruptDatabase, got {err:?}"
        ),
        Ok(w) => {
            let report = w.verify();
            assert!(
                matches!(&report, Err(Error::CorruptDatabase { .. }))
                    || report.as_ref().is_ok_and(|r| !r.is_clean()),
                "damage that open did not touch must be found by verify: {report:?}"
            );
        }
    }
    assert_eq!(
        std::fs::read(&path).expect("read"),
        bytes,
        "a corrupt wallet is never rewritten"
    );
}

#[rstest]
#[case::missing(None)]
#[case::empty_file(Some(""))]
#[case::empty_sqlite_database(Some("PRAGMA user_version = 0;"))]
fn new_and_empty_files_become_wallets(#[case] setup: Option<&str>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = match setup {
        None => dir.path().join("wallet.db"),
        Some("") => {
            let path = dir.path().join("wallet.db");
            std::fs::write(&path, b"").expect("touch");
            path
        }
        Some(sql) => sqlite_file(dir.path(), sql),
    };
    let w = try_open(&path).expect("a new or empty file becomes a wallet");
    w.grant(&alice(), "g", Credits(1), None).expect("and works");
    drop(w);
    let again = try_open(&path).expect("and reopens as a wallet");
    assert_eq!(again.balance(&alice()).expect("balance").posted, Credits(1));
}
