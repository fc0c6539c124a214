//! The test OpenID Provider (`tests/idp/provider.mjs`, panva's oidc-provider) on an ephemeral
//! loopback port. Its client `desktop-public` is a public native client; the scripted
//! browsers `tests/idp/browser-*.mjs` sign in on its dev pages.

use crate::repo;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The provider's public desktop client id.
pub const PUBLIC_CLIENT: &str = "desktop-public";

/// The test OpenID Provider, stopped when dropped (and when this process dies: it exits when
/// its stdin closes).
pub struct Idp {
    child: Child,
    _stdin: ChildStdin,
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    args: Vec<String>,
}

impl Idp {
    /// Starts the provider with these `provider.mjs` arguments and waits for its issuer.
    pub fn start(args: &[&str]) -> Idp {
        let script = repo().join("tests/idp/provider.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/idp/provider.mjs (run `make npm` first)");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the provider prints its issuer");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("provider's first line is JSON ({e}): {line:?}"));
        let issuer = v["issuer"].as_str().expect("issuer").to_string();
        Idp {
            child,
            _stdin: stdin,
            issuer,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Its loopback port.
    pub fn port(&self) -> u16 {
        self.issuer
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the issuer ends with its port")
    }

    /// Stops the provider (the machine "goes offline" for it).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port (same issuer). Keys are new; sessions are gone.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port().to_string();
        let mut args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        args.extend(["--port", &port]);
        let fresh = Idp::start(&args);
        assert_eq!(fresh.issuer, self.issuer, "same issuer after restart");
        *self = fresh;
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop();
    }
}
