//! `make bench-sync`: issue 9's sync figures against the REAL server process and a real
//! PostgreSQL cluster with fsync on, one signed-in user (a REAL ID token from the test
//! provider), one device, default server limits (64 KiB bodies):
//! - push of 10,000 offline spends (batches of 250, one transaction each): wall time, entries/s;
//! - pull of those 10,000 (pages of 1,000): wall time, entries/s;
//! - an idle sync round trip (a pull after the cursor that finds nothing), 1,000 times: p50/p99.
//!
//! The server binary is `LATCHKEY_SERVER_BIN` (the Makefile builds it in release).

#[path = "../tests/server/support/idp.rs"]
#[allow(dead_code)]
mod idp;

use idp::IdTokens;
use latchkey_testkit::pg::{self, Cluster};
use latchkey_testkit::server::Service;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ENTRIES: usize = 10_000;
/// Entries per push: `SYNC_BATCH` (default 250, what 64 KiB bodies hold; larger batches raise
/// the server's `max_body_bytes` to 1 MiB).
fn batch() -> usize {
    std::env::var("SYNC_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(250)
}
const IDLE_ROUNDS: usize = 1_000;
const DEVICE: &str = "bench-device-000001";

#[tokio::main]
async fn main() {
    let cluster = Cluster::start_durable();
    let db = pg::connect(&cluster.url("postgres")).await;
    db.batch_execute("CREATE DATABASE sync").await.unwrap();
    let provider = idp::Idp::start(&[]);
    const BATCH: usize = 250;
    let batch_size = batch();
    let extra = if batch_size > BATCH {
        "max_body_bytes = 1048576"
    } else {
        ""
    };
    let server = Service::start(&cluster.url("sync"), &provider.issuer, extra);
    let token = provider.id_token(idp::PUBLIC_CLIENT, "bench-sync").await;
    let out = server.operator(&[
        "grant",
        "--issuer",
        &provider.issuer,
        "--subject",
        "bench-sync",
        "--credits",
        "1000000",
    ]);
    assert!(out.status.success(), "grant");
    let http = latchkey_auth::http_client().expect("HTTP client");
    let base = server.base.clone();
    let send = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut req = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
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
        format!("/v1/devices/{DEVICE}"),
        Some(json!({"name": "bench"})),
    )
    .await;
    let lease = send(
        reqwest::Method::POST,
        format!("/v1/devices/{DEVICE}/lease"),
        Some(json!({"credits": ENTRIES + 100})),
    )
    .await;
    assert_eq!(
        lease["granted"],
        ENTRIES + 100,
        "the lease covers every spend"
    );
    let lease_id = lease["lease_id"].as_i64().unwrap();

    let started = Instant::now();
    let mut applied = 0;
    for b in 0..ENTRIES / batch_size {
        let entries: Vec<Value> = (0..batch_size)
            .map(|i| {
                json!({"entry_id": format!("01J0000000-{b:04}-{i:04}"), "kind": "spend",
                       "amount": 1, "lease_id": lease_id,
                       "local_time": "2026-01-01T00:00:00Z", "memo": "Analytics run"})
            })
            .collect();
        let a = send(
            reqwest::Method::POST,
            format!("/v1/devices/{DEVICE}/entries"),
            Some(json!({ "entries": entries })),
        )
        .await;
        applied += a["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["outcome"] == "applied")
            .count();
    }
    let push = started.elapsed();
    assert_eq!(applied, ENTRIES, "every spend applied");

    let mut single = Vec::with_capacity(100);
    for i in 0..100 {
        let sent = Instant::now();
        send(
            reqwest::Method::POST,
            format!("/v1/devices/{DEVICE}/entries"),
            Some(
                json!({"entries": [{"entry_id": format!("single-{i}"), "kind": "spend",
                "amount": 1, "lease_id": lease_id, "local_time": "2026-01-01T00:00:00Z"}]}),
            ),
        )
        .await;
        single.push(sent.elapsed());
    }
    single.sort();

    let started = Instant::now();
    let (mut cursor, mut pulled) = (0, 0);
    loop {
        let page = send(
            reqwest::Method::GET,
            format!("/v1/sync?after={cursor}&limit=1000"),
            None,
        )
        .await;
        pulled += page["entries"].as_array().unwrap().len();
        cursor = page["cursor"].as_i64().unwrap();
        if page["more"] == false {
            break;
        }
    }
    let pull = started.elapsed();
    assert!(pulled >= ENTRIES + 100, "the pull holds every spend");

    let mut idle = Vec::with_capacity(IDLE_ROUNDS);
    for _ in 0..IDLE_ROUNDS {
        let sent = Instant::now();
        let page = send(
            reqwest::Method::GET,
            format!("/v1/sync?after={cursor}&limit=200"),
            None,
        )
        .await;
        idle.push(sent.elapsed());
        assert_eq!(page["entries"].as_array().unwrap().len(), 0);
    }
    idle.sort();
    let pct_of =
        |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let pct = |p: f64| pct_of(&idle, p);
    let rate = |d: Duration, n: usize| n as f64 / d.as_secs_f64();
    println!("latchkey-server sync, fsync on, one device, real ID token:");
    println!(
        "  push {ENTRIES} spends ({} batches of {batch_size}): {:.2} s, {:.0} entries/s",
        ENTRIES / batch_size,
        push.as_secs_f64(),
        rate(push, ENTRIES)
    );
    println!(
        "  pull {pulled} entries (pages of 1000): {:.2} s, {:.0} entries/s",
        pull.as_secs_f64(),
        rate(pull, pulled)
    );
    println!(
        "  push of one spend (100x): p50 {:.2} ms, p99 {:.2} ms",
        pct_of(&single, 0.50),
        pct_of(&single, 0.99)
    );
    println!(
        "  idle sync round trip ({IDLE_ROUNDS}x): p50 {:.2} ms, p99 {:.2} ms",
        pct(0.50),
        pct(0.99)
    );
}
