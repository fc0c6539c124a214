//! The real `latchkey-server serve` process on a free loopback port, over a database of the
//! test cluster, accepting the test provider's public client.
//!
//! The binary is `LATCHKEY_SERVER_BIN` when set, else built once per test process with
//! `cargo build -p latchkey-server` (into the workspace's target dir).

use crate::idp::PUBLIC_CLIENT;
use crate::repo;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

/// A running `latchkey-server serve`, killed when dropped.
pub struct Service {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its database's URL (for `psql`).
    pub db_url: String,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Starts `serve` over `db_url`, trusting `issuer` for the public client; `extra` is
    /// appended to its TOML (packs, `[payment]`, `welcome_credits`...). Waits until it listens.
    pub fn start(db_url: &str, issuer: &str, extra: &str) -> Service {
        let dir = tempfile::tempdir().expect("a temp dir for the server's config");
        let config = dir.path().join("server.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndatabase_url_env = \"TEST_PG_URL\"\n{extra}\n\
                 [[providers]]\nissuer = \"{issuer}\"\nclient_ids = [\"{PUBLIC_CLIENT}\"]\n"
            ),
        )
        .expect("the server's config is written");
        let mut s = Service {
            child: None,
            base: String::new(),
            db_url: db_url.to_string(),
            config,
            _dir: dir,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut child = Command::new(server_bin())
            .args(["serve", "--config"])
            .arg(&self.config)
            .env_remove("LATCHKEY_SERVER_CONFIG")
            .env("TEST_PG_URL", &self.db_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("latchkey-server starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("serve prints its address");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("serve prints its address first ({e}): {line:?}"));
        self.base = format!("http://{}", v["listen"].as_str().expect("listen"));
        self.child = Some(child);
    }

    /// Stops the server (the service "goes down": its port refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs one of the server's operator commands (`grant`, `report`...) with its config;
    /// returns its output.
    pub fn operator(&self, args: &[&str]) -> std::process::Output {
        Command::new(server_bin())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .env_remove("LATCHKEY_SERVER_CONFIG")
            .env("TEST_PG_URL", &self.db_url)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("latchkey-server runs")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `latchkey-server` binary: `LATCHKEY_SERVER_BIN`, else built once with cargo.
pub fn server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("LATCHKEY_SERVER_BIN").filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "latchkey-server",
                "--bin",
                "latchkey-server",
            ])
            .current_dir(repo())
            .stdin(Stdio::null())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build -p latchkey-server failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo().join("target"));
        let bin = target.join("debug").join("latchkey-server");
        assert!(bin.exists(), "{} is missing after the build", bin.display());
        bin
    })
    .clone()
}
