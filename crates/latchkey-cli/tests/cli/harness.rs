//! Real components for the CLI's end-to-end tests: the `oidc-provider` OpenID Provider on an
//! ephemeral loopback port (from `latchkey-testkit`), a scratch data dir and keychain service
//! per test, and the `latchkey` binary with a scripted browser.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub use latchkey_testkit::idp::Idp;
pub use latchkey_testkit::repo;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One user's machine: config file, data dir, keychain service name, browser log.
pub struct Machine {
    pub dir: tempfile::TempDir,
    pub service: String,
}

impl Machine {
    /// A machine configured with `providers` as `(name, client_id, secret, issuer)`.
    pub fn new(providers: &[(&str, &str, Option<&str>, &str)]) -> Machine {
        assert!(
            std::env::var_os("LATCHKEY_TEST_KEYCHAIN").is_some(),
            "these tests use the real keychain: run them with scripts/with-keyring.sh (make test)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = String::from("[auth]\n");
        for (name, client, secret, issuer) in providers {
            config.push_str(&format!(
                "\n[auth.{name}]\nclient_id = \"{client}\"\n\
                 server_metadata_url = \"{issuer}/.well-known/openid-configuration\"\n"
            ));
            if let Some(s) = secret {
                config.push_str(&format!("client_secret = \"{s}\"\n"));
            }
        }
        std::fs::write(dir.path().join("auth.toml"), config).unwrap();
        let service = format!(
            "latchkey-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        Machine { dir, service }
    }

    /// Appends TOML to the configuration (e.g. a `[wallet]` table).
    pub fn add_config(&self, toml: &str) {
        let path = self.dir.path().join("auth.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(toml);
        std::fs::write(path, text).unwrap();
    }

    /// Runs a command and parses its stdout as JSON, asserting it succeeded.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.latchkey("-", args);
        assert_exit(&out, 0, &format!("latchkey {args:?}"));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} prints JSON ({e}): {}", text(&out.stdout)))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn browser_log(&self) -> PathBuf {
        self.dir.path().join("browser.log")
    }

    /// `latchkey ARGS` with the HTTP-scripted browser signing in as `login`.
    pub fn latchkey(&self, login: &str, args: &[&str]) -> Output {
        self.command(login, "browser-http.mjs", &[], args)
    }

    pub fn command(
        &self,
        login: &str,
        browser: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Output {
        let browser = format!("node {}", repo().join("tests/idp").join(browser).display());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        cmd.args(args)
            .env("LATCHKEY_CONFIG", self.dir.path().join("auth.toml"))
            .env("LATCHKEY_DATA_DIR", self.data_dir())
            .env("LATCHKEY_KEYRING_SERVICE", &self.service)
            .env("LATCHKEY_BROWSER", browser)
            .env("LATCHKEY_TEST_LOGIN", login)
            .env("LATCHKEY_TEST_BROWSER_LOG", self.browser_log())
            .env_remove("BROWSER")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("latchkey runs")
    }

    pub fn status(&self) -> serde_json::Value {
        let out = self.latchkey("-", &["status", "--json"]);
        assert!(
            out.status.success(),
            "status succeeds: {}",
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// Every file under the data dir, concatenated: to prove tokens are not there in clear.
    pub fn data_dir_bytes(&self) -> Vec<u8> {
        fn walk(p: &Path, out: &mut Vec<u8>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else if let Ok(b) = std::fs::read(&path) {
                        out.extend(b);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir(), &mut out);
        out
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the command ended with `code`, showing its stderr otherwise.
pub fn assert_exit(out: &Output, code: i32, why: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{why}\nstdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The file's content once it exists and is not empty (the scripted browser writes its log
/// after the CLI has already finished); `None` after 60 s.
pub fn wait_for_file(path: &Path) -> Option<String> {
    for _ in 0..600 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return Some(s);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}
