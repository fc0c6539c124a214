//! Wallet benchmark (plain timing, no harness). Run:
//! `cargo bench -p latchkey-wallet` (release profile). Everything runs on the disk under the
//! target directory, the same disk a wallet file would live on.
//!
//! Reports: the disk's fsync ceiling, durable spends per second with synchronous=FULL and
//! NORMAL (and their ratio to the ceiling), p50/p99 latency of a spend, a balance read and a
//! history page at 1,000,000 entries, and the file size per million entries.

use std::fs::OpenOptions as FileOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_wallet::{
    AccountKey, Credits, HistoryQuery, OpenOptions, Synchronous, SystemClock, Wallet,
};

const RUN_FOR: Duration = Duration::from_secs(3);
const ENTRIES: i64 = 1_000_000;

fn account() -> AccountKey {
    AccountKey::new("https://idp.example", "bench")
}

fn open(path: &Path, synchronous: Synchronous) -> Wallet {
    let options = OpenOptions {
        synchronous,
        ..OpenOptions::default()
    };
    Wallet::open(path, options, Arc::new(SystemClock)).expect("wallet opens")
}

/// The most durable commits per second any design could reach on this disk: the faster of
/// (a) appending 4 KiB + `fsync` and (b) overwriting the same 4 KiB in place + `fdatasync`
/// (what a reused write-ahead log costs SQLite, which syncs with `fdatasync` on Linux).
fn fsync_ceiling(dir: &Path) -> (f64, f64) {
    let block = [0x5Au8; 4096];
    let rate = |path: &str, append: bool| {
        let mut file = FileOptions::new()
            .create(true)
            .write(true)
            .append(append)
            .open(dir.join(path))
            .expect("scratch file");
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < RUN_FOR {
            if append {
                file.write_all(&block).expect("write");
                file.sync_all().expect("fsync");
            } else {
                file.write_all_at(&block, 0).expect("write");
                file.sync_data().expect("fdatasync");
            }
            n += 1;
        }
        n as f64 / start.elapsed().as_secs_f64()
    };
    (rate("append.bin", true), rate("overwrite.bin", false))
}

/// Single-operation spends, each its own committed transaction.
fn spends_per_second(dir: &Path, synchronous: Synchronous, name: &str) -> f64 {
    let path = dir.join(name);
    let w = open(&path, synchronous);
    w.grant(&account(), "funds", Credits(1 << 40), None)
        .expect("grant");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN_FOR {
        w.spend(&account(), &format!("s{n}"), Credits(1), None)
            .expect("spend");
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Writes `ENTRIES` consistent ledger entries straight into a fresh wallet file in one
/// transaction (one grant, then spends of 1 credit, each with its own key), far faster than
/// one commit per entry. `verify` checks the result afterwards.
fn build_million(path: &Path) {
    drop(open(path, Synchronous::Normal));
    let conn = rusqlite::Connection::open(path).expect("raw connection");
    let start: i64 = 1_767_225_600_000;
    let grant = ENTRIES * 10;
    conn.execute_batch(&format!(
        "BEGIN;
         INSERT INTO accounts (id, issuer, subject, posted, held, created_at)
             VALUES (1, 'https://idp.example', 'bench', 0, 0, {start});
         INSERT INTO entries (id, account_id, kind, amount, posted_after, held_after, idem_key,
                              request, memo, created_at)
             VALUES (1, 1, 'grant', {grant}, {grant}, 0, 'funds',
                     '{{\"op\":\"grant\",\"amount\":{grant},\"memo\":null}}', NULL, {start});
         WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < {ENTRIES})
         INSERT INTO entries (id, account_id, kind, amount, posted_after, held_after, idem_key,
                              request, memo, created_at)
             SELECT i, 1, 'spend', 1, {grant} - (i - 1), 0, 'bulk-' || i,
                    '{{\"op\":\"spend\",\"amount\":1,\"memo\":null}}', 'job ' || i, {start} + i
             FROM n;
         UPDATE accounts SET posted = {grant} - ({ENTRIES} - 1) WHERE id = 1;
         COMMIT;
         PRAGMA wal_checkpoint(TRUNCATE);"
    ))
    .expect("bulk insert");
}

struct Latency {
    p50: Duration,
    p99: Duration,
}

fn latency(samples: usize, mut f: impl FnMut(usize)) -> Latency {
    let mut times: Vec<Duration> = (0..samples)
        .map(|i| {
            let t = Instant::now();
            f(i);
            t.elapsed()
        })
        .collect();
    times.sort();
    Latency {
        p50: times[samples / 2],
        p99: times[samples * 99 / 100],
    }
}

fn show(name: &str, l: &Latency) {
    println!(
        "{name:<34} p50 {:>9.1} µs   p99 {:>9.1} µs",
        l.p50.as_secs_f64() * 1e6,
        l.p99.as_secs_f64() * 1e6
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too, so keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("wallet bench: skipped (run with `cargo bench -p latchkey-wallet`)");
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("scratch dir");
    println!("latchkey-wallet bench (scratch dir on the target disk)\n");

    let (append, overwrite) = fsync_ceiling(dir.path());
    println!("4 KiB append + fsync                  {append:>9.0} /s");
    println!("4 KiB overwrite + fdatasync           {overwrite:>9.0} /s");
    let ceiling = append.max(overwrite);
    println!("fsync ceiling (the faster of the two) {ceiling:>9.0} /s");
    let full = spends_per_second(dir.path(), Synchronous::Full, "full.db");
    println!(
        "durable spends, synchronous=FULL      {full:>9.0} /s   {:>5.1}% of ceiling \
         ({:.1}% of append+fsync)",
        100.0 * full / ceiling,
        100.0 * full / append
    );
    let normal = spends_per_second(dir.path(), Synchronous::Normal, "normal.db");
    println!(
        "spends, synchronous=NORMAL            {normal:>9.0} /s   {:>5.1}% of ceiling \
         ({:.1}% of append+fsync)",
        100.0 * normal / ceiling,
        100.0 * normal / append
    );

    let path = dir.path().join("million.db");
    let t = Instant::now();
    build_million(&path);
    println!(
        "\nbuilt {ENTRIES} entries in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let size = std::fs::metadata(&path).expect("size").len() as f64;
    println!(
        "file size per million entries         {:>9.1} MiB",
        size / (1024.0 * 1024.0) / (ENTRIES as f64 / 1e6)
    );

    let w = open(&path, Synchronous::Full);
    let t = Instant::now();
    let report = w.verify().expect("verify");
    assert!(
        report.is_clean(),
        "bulk ledger is consistent: {:?}",
        report.violations
    );
    println!(
        "verify of {} entries                {:>9.2} s (clean)\n",
        report.entries,
        t.elapsed().as_secs_f64()
    );

    println!("at {ENTRIES} entries:");
    let acct = account();
    show(
        "spend (durable, FULL)",
        &latency(1000, |i| {
            w.spend(&acct, &format!("lat-{i}"), Credits(1), None)
                .expect("spend");
        }),
    );
    show(
        "balance read",
        &latency(10_000, |_| {
            w.balance(&acct).expect("balance");
        }),
    );
    let first = HistoryQuery::default();
    show(
        "history page (50, newest)",
        &latency(10_000, |_| {
            w.history(&acct, &first).expect("page");
        }),
    );
    // A page deep in the ledger, reached through a cursor.
    let mut deep = w
        .history(
            &acct,
            &HistoryQuery {
                limit: 1000,
                ..first.clone()
            },
        )
        .expect("p");
    for _ in 0..500 {
        let cursor = deep.next_cursor.clone();
        deep = w
            .history(
                &acct,
                &HistoryQuery {
                    limit: 1000,
                    cursor,
                    ..first.clone()
                },
            )
            .expect("page");
    }
    let middle = HistoryQuery {
        cursor: deep.next_cursor,
        ..first.clone()
    };
    show(
        "history page (50, ~500k deep)",
        &latency(10_000, |_| {
            w.history(&acct, &middle).expect("page");
        }),
    );
}
