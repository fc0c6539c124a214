//! `make bench-server`: durable spends per second through HTTP against the REAL server and a
//! real PostgreSQL cluster with fsync on, beside `pgbench`'s simple-update script on the same
//! cluster as the ceiling.
//!
//! 64 simulated users, each a real identity: each is signed in once at the start through the
//! test OpenID Provider (a genuine authorization-code + PKCE sign-in with the scripted HTTP
//! browser) and keeps its ID token; then each spends 1 credit at a time, one request after
//! another, with a fresh idempotency key per spend, for the measured window. A spend counts when
//! its 200 has arrived, i.e. after its transaction committed (durably: fsync on).
//!
//! The server binary is `LATCHKEY_SERVER_BIN` (the Makefile builds it in release).

#[path = "../tests/server/support/idp.rs"]
#[allow(dead_code)]
mod idp;

use idp::IdTokens;
use latchkey_testkit::pg::{self, Cluster};
use latchkey_testkit::server::Service;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const USERS: usize = 64;
const WARMUP: Duration = Duration::from_secs(3);
const MEASURE: Duration = Duration::from_secs(20);

#[tokio::main]
async fn main() {
    let cluster = Cluster::start_durable();
    create_db(&cluster, "ledger").await;
    create_db(&cluster, "pgbench").await;
    let provider = idp::Idp::start(&[]);
    let server = Service::start(&cluster.url("ledger"), &provider.issuer, "");

    let started = Instant::now();
    let mut tokens = Vec::with_capacity(USERS);
    for u in 0..USERS {
        tokens.push(
            provider
                .id_token(idp::PUBLIC_CLIENT, &format!("bench{u}"))
                .await,
        );
    }
    println!(
        "{USERS} users signed in through the test provider in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for u in 0..USERS {
        let out = server.operator(&[
            "grant",
            "--issuer",
            &provider.issuer,
            "--subject",
            &format!("bench{u}"),
            "--credits",
            "1000000000",
        ]);
        assert!(
            out.status.success(),
            "grant: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let http = latchkey_auth::http_client().expect("HTTP client");
    let t0 = Instant::now();
    let (warm_end, end) = (t0 + WARMUP, t0 + WARMUP + MEASURE);
    let mut users = Vec::new();
    for (u, token) in tokens.into_iter().enumerate() {
        let (http, base) = (http.clone(), server.base.clone());
        users.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    return latencies;
                }
                n += 1;
                let resp = http
                    .post(format!("{base}/v1/spend"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"amount": 1, "idempotency_key": format!("u{u}-{n}")}))
                    .send()
                    .await
                    .expect("the server answers");
                assert_eq!(resp.status(), 200, "a spend succeeds");
                let _ = resp.bytes().await;
                if sent >= warm_end {
                    latencies.push(sent.elapsed());
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    for u in users {
        latencies.extend(u.await.unwrap());
    }
    latencies.sort();
    let spends = latencies.len() as f64 / MEASURE.as_secs_f64();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let db = pg::connect(&cluster.url("ledger")).await;
    let landed = pg::scalar(
        &db,
        "SELECT count(*) FROM entries WHERE kind = 'spend'",
        &[],
    )
    .await;
    assert!(
        landed as usize >= latencies.len(),
        "every acknowledged spend is in the ledger"
    );
    drop(server);

    let pgbench = |args: &[&str]| {
        let out = Command::new(pg::program("pgbench"))
            .args(args)
            .arg(cluster.url("pgbench"))
            .stdin(Stdio::null())
            .output()
            .expect("pgbench runs");
        assert!(
            out.status.success(),
            "pgbench: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    pgbench(&["-i", "-q"]);
    let report = pgbench(&["-N", "-c", "64", "-j", "2", "-T", "20"]);
    let tps: f64 = report
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("pgbench reports its tps: {report}"));
    let pg_latency = report
        .lines()
        .find(|l| l.starts_with("latency average"))
        .unwrap_or("latency average = ?");

    println!(
        "latchkey-server, {USERS} users, fsync on, {} s:",
        MEASURE.as_secs()
    );
    println!("  durable spends/s  {spends:.0}");
    println!("  latency p50      {:.2} ms", pct(0.50));
    println!("  latency p99      {:.2} ms", pct(0.99));
    println!("pgbench -N -c 64 -j 2 -T 20 (same cluster):");
    println!("  tps              {tps:.0}");
    println!("  {pg_latency}");
    println!("ratio: {:.0}% of pgbench's tps", 100.0 * spends / tps);
}

async fn create_db(cluster: &Cluster, name: &str) {
    let db = pg::connect(&cluster.url("postgres")).await;
    db.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
}
