//! The `latchkey-server` binary: `migrate`, `grant`, `serve`, and its configuration errors.

use crate::support::pg;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_latchkey-server"));
    c.env_remove("LATCHKEY_SERVER_CONFIG")
        .env("RUST_LOG", "debug");
    c
}

fn config(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("server.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `latchkey-server ARGS --config CFG` with `TEST_PG_URL` set to `db_url`.
fn run(args: &[&str], cfg: &Path, db_url: &str) -> Output {
    bin()
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env("TEST_PG_URL", db_url)
        .output()
        .unwrap()
}

fn grant_args(credits: &str) -> Vec<&str> {
    vec![
        "grant",
        "--issuer",
        "https://i.test",
        "--subject",
        "alice",
        "--credits",
        credits,
    ]
}

#[tokio::test]
async fn migrate_grant_and_serve() {
    let url = pg::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "listen = \"127.0.0.1:0\"\ndatabase_url_env = \"TEST_PG_URL\"\n",
    );

    let out = bin()
        .arg("migrate")
        .env("LATCHKEY_SERVER_CONFIG", &cfg)
        .env("TEST_PG_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "the database schema is at version {}",
            latchkey_server::db::latest_version()
        )
    );

    for _ in 0..2 {
        let mut args = grant_args("7");
        args.extend(["--key", "welcome"]);
        let out = run(&args, &cfg, &url);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let receipt: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            receipt["balance"]["available"], 7,
            "the keyed grant counts once"
        );
    }
    let out = run(&grant_args("0"), &cfg, &url);
    assert!(!out.status.success(), "a zero grant is refused");

    let mut child = bin()
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("TEST_PG_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let listen: serde_json::Value = serde_json::from_str(&line).expect("serve prints its address");
    let addr = listen["listen"].as_str().unwrap().to_string();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "binds where the config says: {addr}"
    );
    let http = latchkey_auth::http_client().unwrap();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let balance = http
        .get(format!("http://{addr}/v1/balance"))
        .send()
        .await
        .unwrap();
    assert_eq!(balance.status(), 401, "no token, no balance");
    let forged =
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2kudGVzdCJ9.c2VjcmV0LXRva2VuLXNpZ25hdHVyZQ";
    let refused = http
        .get(format!("http://{addr}/v1/balance"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM stops the server cleanly");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(
        !log.contains(&url),
        "the database URL never appears in the log: {log}"
    );
    assert!(
        !log.contains("c2VjcmV0LXRva2VuLXNpZ25hdHVyZQ"),
        "no token in the log: {log}"
    );
    assert!(
        log.contains("listening"),
        "the log is there and says where it listens: {log}"
    );
    assert!(
        log.contains("/v1/balance"),
        "requests are logged at debug level: {log}"
    );
}

#[test]
fn a_malformed_config_is_reported_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        &dir,
        "database_url = \"postgresql://u:secret-pw@127.0.0.1/db\"\n[[providers]]\nissuer = \"https://i.test\"\nclient_ids = \"one\"\n",
    );
    let out = run(&["migrate"], &cfg, "unused");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:4: client_ids:", cfg.display())),
        "names file, line and key: {err}"
    );
    assert!(
        !err.contains("secret-pw"),
        "never shows the password: {err}"
    );
    let out = bin().arg("migrate").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("LATCHKEY_SERVER_CONFIG"));
}
