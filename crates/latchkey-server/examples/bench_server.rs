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
    tokio::time::sleep_until((warm_end).into()).await;
    let cpu_start = cpu_by_process();
    tokio::time::sleep_until(end.into()).await;
    let cpu_spends = cpu_by_process().since(&cpu_start);
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
    let cpu_start = cpu_by_process();
    let report = pgbench(&["-N", "-c", "64", "-j", "2", "-T", "20"]);
    let cpu_pgbench = cpu_by_process().since(&cpu_start);
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
    println!("CPU used while measuring (seconds of CPU over the 20 s, 2 cores = 40 s):");
    println!("  spends:  {cpu_spends}");
    println!("  pgbench: {cpu_pgbench}");
    println!(
        "  per spend: {:.2} ms of CPU; per pgbench transaction: {:.2} ms",
        1e3 * cpu_spends.total() / (spends * MEASURE.as_secs_f64()),
        1e3 * cpu_pgbench.total() / (tps * 20.0)
    );
}

/// CPU time (user + system, seconds) used so far by the processes alive now, grouped: the
/// load generator (this process, or pgbench), latchkey-server, PostgreSQL, everything else
/// (other work on the machine). A profile of where a spend's time goes, from /proc.
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    client: f64,
    server: f64,
    postgres: f64,
    other: f64,
}

impl Cpu {
    fn since(&self, before: &Cpu) -> Cpu {
        Cpu {
            client: self.client - before.client,
            server: self.server - before.server,
            postgres: self.postgres - before.postgres,
            other: self.other - before.other,
        }
    }

    fn total(&self) -> f64 {
        self.client + self.server + self.postgres
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "client {:.1} s, latchkey-server {:.1} s, postgres {:.1} s, other processes {:.1} s",
            self.client, self.server, self.postgres, self.other
        )
    }
}

fn cpu_by_process() -> Cpu {
    // USER_HZ is 100 on Linux.
    let me = std::process::id().to_string();
    let mut cpu = Cpu::default();
    for dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // Fields 14 to 17 of stat (utime, stime, and cutime, cstime: children that exited and
        // were waited for, such as pgbench for this process and PostgreSQL's backends for the
        // postmaster) are 11 to 14 after the comm.
        let secs = (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / 100.0;
        if name == me || comm == "pgbench" {
            cpu.client += secs;
        } else if comm == "latchkey-server" || comm.starts_with("latchkey-serve") {
            cpu.server += secs;
        } else if comm == "postgres" {
            cpu.postgres += secs;
        } else {
            cpu.other += secs;
        }
    }
    cpu
}

async fn create_db(cluster: &Cluster, name: &str) {
    let db = pg::connect(&cluster.url("postgres")).await;
    db.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("CREATE DATABASE");
}
