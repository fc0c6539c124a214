//! `make bench-login`: figures for the sign-in path, against the real local OpenID Provider
//! with the HTTP-scripted browser and the real keychain (run under scripts/with-keyring.sh).
//! Prints figures; asserts nothing about speed.

#[path = "../tests/cli/harness.rs"]
#[allow(dead_code)]
mod harness;

use harness::{text, Idp, Machine};
use std::time::{Duration, Instant};

const RUNS: usize = 20;

fn summary(name: &str, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name:<44} median {:>7.1} ms   p90 {:>7.1} ms   min {:>7.1} ms   (n={})",
        pct(0.5),
        pct(0.9),
        v[0],
        v.len()
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut idp = Idp::start(&[]);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    let login = || {
        let t = Instant::now();
        let out = m.latchkey("alice", &["-v", "login", "--timeout", "60"]);
        let wall = t.elapsed();
        assert!(out.status.success(), "login failed: {}", text(&out.stderr));
        let err = text(&out.stderr);
        let after = err
            .lines()
            .find_map(|l| l.split("stored ").nth(1))
            .and_then(|l| l.split(" ms").next())
            .and_then(|n| n.parse::<f64>().ok())
            .expect("--verbose reports the local overhead");
        (ms(wall), after)
    };
    login(); // warm-up: discovery cache, page cache
    let (walls, overheads): (Vec<f64>, Vec<f64>) = (0..RUNS).map(|_| login()).unzip();

    let status = |label: &str| {
        let v: Vec<f64> = (0..RUNS)
            .map(|_| {
                let t = Instant::now();
                let out = m.latchkey("-", &["status", "--json"]);
                assert!(out.status.success());
                ms(t.elapsed())
            })
            .collect();
        summary(label, v);
    };
    println!(
        "latchkey sign-in benchmark (local oidc-provider, HTTP-scripted browser, real keychain)"
    );
    summary("login, whole command (browser included)", walls);
    summary("login, callback received -> account stored", overheads);
    status("status --json, restored session, online");
    idp.stop();
    status("status --json, restored session, offline");
}
