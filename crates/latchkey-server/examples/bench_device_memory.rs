//! `make bench-sync` (its second part): the desktop's side of a sync of 100,000 entries, issue
//! 9's "memory of the app during a sync of 100,000 entries (bounded, paged)".
//!
//! The REAL stack: a PostgreSQL cluster with fsync on, the REAL server process, the test OpenID
//! Provider, and the REAL `latchkey` CLI binary as the desktop (the app runs the same core's
//! sync). One user, alice:
//! 1. another device of hers pushes 10,000 spends over HTTP (batches of 500, one transaction
//!    each); desktop A, signed in through the provider like a user, runs `latchkey sync` and
//!    pulls them;
//! 2. the other device pushes 90,000 more; desktop A syncs again (90,000 new), and a fresh
//!    desktop B syncs for the first time (all 100,000).
//!
//! Each `latchkey sync` is a child of a tiny python3 wrapper that reports the child's peak
//! resident memory (`ru_maxrss` from `getrusage(RUSAGE_CHILDREN)`: the kernel's high-water mark
//! of the whole process, nothing sampled) and its wall and CPU time. Paged and bounded means
//! the peak of a 100,000-entry sync stays near a 10,000-entry one's.
//!
//! Needs a real keychain (the CLI keeps alice's tokens there): the Makefile runs it under
//! `scripts/with-keyring.sh`. The binaries are `LATCHKEY_SERVER_BIN` and `LATCHKEY_BIN`.

#[path = "../tests/server/support/idp.rs"]
#[allow(dead_code)]
mod idp;

use idp::IdTokens;
use latchkey_testkit::pg::{self, Cluster};
use latchkey_testkit::repo;
use latchkey_testkit::server::Service;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

/// Entries the service holds for alice at the end (beside a few grants and lease holds).
const ENTRIES: usize = 100_000;
/// Entries when desktop A syncs first.
const FIRST: usize = 10_000;
/// Entries per push (the largest batch the protocol allows is 500).
const BATCH: usize = 500;
const PUSHER: &str = "bench-pusher-000001";
const LOGIN: &str = "alice";

/// Runs ARGV as a child and, once it has ended, writes its peak RSS, wall and CPU time as one
/// `LATCHKEY_BENCH {json}` line to stderr (after the child's own stderr).
const MEASURE: &str = r#"
import json, resource, subprocess, sys, time
start = time.monotonic()
code = subprocess.run(sys.argv[1:]).returncode
wall = time.monotonic() - start
r = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stderr.write("\nLATCHKEY_BENCH " + json.dumps({"code": code, "wall": wall,
    "maxrss_kib": r.ru_maxrss, "cpu": r.ru_utime + r.ru_stime}) + "\n")
"#;

/// One desktop: its own configuration, data dir and keychain entry; alice signed in.
struct Desktop {
    dir: tempfile::TempDir,
    keyring: String,
    bin: PathBuf,
}

/// What one measured `latchkey sync --json` did.
struct Measured {
    pulled: i64,
    wall: f64,
    cpu: f64,
    peak_mib: f64,
}

impl Desktop {
    fn new(name: &str, issuer: &str, service: &str, bin: &Path) -> Desktop {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("auth.toml"),
            format!(
                "[auth]\n\n[auth.local]\nclient_id = \"{}\"\n\
                 server_metadata_url = \"{issuer}/.well-known/openid-configuration\"\n\n\
                 [service]\nurl = \"{service}\"\n",
                idp::PUBLIC_CLIENT
            ),
        )
        .unwrap();
        let d = Desktop {
            dir,
            keyring: format!("latchkey-bench-{}-{name}", std::process::id()),
            bin: bin.to_path_buf(),
        };
        let out = d
            .command(false, &["login"])
            .output()
            .expect("latchkey runs");
        assert!(
            out.status.success(),
            "latchkey login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    }

    /// `latchkey ARGS`, directly or under the measuring wrapper.
    fn command(&self, measured: bool, args: &[&str]) -> Command {
        let mut cmd = if measured {
            let mut c = Command::new("python3");
            c.arg("-c").arg(MEASURE).arg(&self.bin);
            c
        } else {
            Command::new(&self.bin)
        };
        cmd.args(args)
            .env("LATCHKEY_CONFIG", self.dir.path().join("auth.toml"))
            .env("LATCHKEY_DATA_DIR", self.dir.path().join("data"))
            .env("LATCHKEY_KEYRING_SERVICE", &self.keyring)
            .env(
                "LATCHKEY_BROWSER",
                format!(
                    "node {}",
                    repo().join("tests/idp/browser-http.mjs").display()
                ),
            )
            .env("LATCHKEY_TEST_LOGIN", LOGIN)
            .env_remove("BROWSER")
            .stdin(Stdio::null());
        cmd
    }

    /// `latchkey sync --json`, measured.
    fn sync(&self) -> Measured {
        let out: Output = self
            .command(true, &["sync", "--json"])
            .output()
            .expect("python3 and latchkey run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("LATCHKEY_BENCH "))
            .unwrap_or_else(|| panic!("no measurement (is python3 there?): {stderr}"));
        let m: Value = serde_json::from_str(line).expect("the measurement is JSON");
        assert_eq!(m["code"], 0, "latchkey sync failed: {stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).expect("sync --json prints JSON");
        Measured {
            pulled: report["pulled"]
                .as_i64()
                .expect("the report counts what it pulled"),
            wall: m["wall"].as_f64().unwrap(),
            cpu: m["cpu"].as_f64().unwrap(),
            // Linux reports ru_maxrss in KiB.
            peak_mib: m["maxrss_kib"].as_f64().unwrap() / 1024.0,
        }
    }
}

#[tokio::main]
async fn main() {
    if std::env::var_os("LATCHKEY_TEST_KEYCHAIN").is_none() {
        eprintln!(
            "bench_device_memory signs the desktop in, which needs a real keychain: run it \
             under scripts/with-keyring.sh (make bench-sync does)"
        );
        std::process::exit(2);
    }
    let bin = PathBuf::from(std::env::var_os("LATCHKEY_BIN").expect(
        "LATCHKEY_BIN names the latchkey CLI binary (make bench-sync builds it in release)",
    ));
    let cluster = Cluster::start_durable();
    let db = pg::connect(&cluster.url("postgres")).await;
    db.batch_execute("CREATE DATABASE sync").await.unwrap();
    let provider = idp::Idp::start(&[]);
    let server = Service::start(
        &cluster.url("sync"),
        &provider.issuer,
        // Pushes of 500 entries (~90 KB), and a lease that covers all of them.
        "max_body_bytes = 1048576\n\n[sync]\nmax_lease_credits = 1000000\n",
    );
    let out = server.operator(&[
        "grant",
        "--issuer",
        &provider.issuer,
        "--subject",
        LOGIN,
        "--credits",
        "1000000",
    ]);
    assert!(out.status.success(), "grant");

    // The other device: pushes over HTTP with a real ID token.
    let token = provider.id_token(idp::PUBLIC_CLIENT, LOGIN).await;
    let http = latchkey_auth::http_client().expect("HTTP client");
    let base = server.base.clone();
    let send = |method: reqwest::Method, path: String, body: Value| {
        let req = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let resp = req.send().await.expect("the server answers");
            let status = resp.status();
            let v: Value = resp.json().await.expect("JSON");
            assert_eq!(status, 200, "{v}");
            v
        }
    };
    send(
        reqwest::Method::PUT,
        format!("/v1/devices/{PUSHER}"),
        json!({"name": "bench pusher"}),
    )
    .await;
    let lease = send(
        reqwest::Method::POST,
        format!("/v1/devices/{PUSHER}/lease"),
        json!({ "credits": ENTRIES }),
    )
    .await;
    assert_eq!(lease["granted"], ENTRIES, "the lease covers every spend");
    let lease_id = lease["lease_id"].as_i64().unwrap();
    let push = |from: usize, to: usize| {
        let send = &send;
        async move {
            let started = Instant::now();
            for b in (from..to).step_by(BATCH) {
                let entries: Vec<Value> = (b..(b + BATCH).min(to))
                    .map(|i| {
                        json!({"entry_id": format!("01J00000000000-{i:07}"), "kind": "spend",
                               "amount": 1, "lease_id": lease_id,
                               "local_time": "2026-01-01T00:00:00Z", "memo": "Analytics run"})
                    })
                    .collect();
                let a = send(
                    reqwest::Method::POST,
                    format!("/v1/devices/{PUSHER}/entries"),
                    json!({ "entries": entries }),
                )
                .await;
                assert!(
                    a["outcomes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|o| o["outcome"] == "applied"),
                    "every spend applied"
                );
            }
            started.elapsed().as_secs_f64()
        }
    };

    let first_push = push(0, FIRST).await;
    let a = Desktop::new("a", &provider.issuer, &server.base, &bin);
    let a_first = a.sync();
    let rest_push = push(FIRST, ENTRIES).await;
    let a_again = a.sync();
    let b = Desktop::new("b", &provider.issuer, &server.base, &bin);
    let b_all = b.sync();
    assert!(
        a_first.pulled >= FIRST as i64
            && a_again.pulled >= (ENTRIES - FIRST) as i64
            && b_all.pulled >= ENTRIES as i64,
        "each sync pulled what the service holds: {} / {} / {}",
        a_first.pulled,
        a_again.pulled,
        b_all.pulled
    );

    println!("the desktop (the latchkey CLI, release) syncing against the real service:");
    println!(
        "  push of {ENTRIES} spends by another device (batches of {BATCH}, HTTP): {:.2} s, \
         {:.0} entries/s",
        first_push + rest_push,
        ENTRIES as f64 / (first_push + rest_push)
    );
    for (what, m) in [
        ("desktop A, first sync", &a_first),
        ("desktop A, next sync", &a_again),
        ("desktop B, first sync", &b_all),
    ] {
        println!(
            "  {what}: pulled {} entries in {:.2} s ({:.0} entries/s, {:.2} s of CPU), \
             peak RSS {:.1} MiB",
            m.pulled,
            m.wall,
            m.pulled as f64 / m.wall,
            m.cpu,
            m.peak_mib
        );
    }
    // Only for the keychain's sake: sign both desktops out (their tokens leave the keychain).
    for d in [&a, &b] {
        let _ = d.command(false, &["logout", "--all"]).output();
    }
}
