//! `tests/idp/tenants.mjs`: real OpenID Providers shaped like Microsoft Entra's tenants and its
//! `common`/`organizations`/`consumers` endpoints (plus a Google-shaped one), on one ephemeral
//! loopback port. See tests/idp/README.md for the paths, tenants and accounts.

use crate::repo;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// A work tenant's id (GUID) in tenants.mjs.
pub const CONTOSO: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
/// Another work tenant's id.
pub const FABRIKAM: &str = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb";

/// The providers, stopped when dropped (and when this process dies: they exit when their stdin
/// closes).
pub struct Tenants {
    child: Child,
    _stdin: ChildStdin,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Tenants {
    /// Starts tenants.mjs and waits for its base URL.
    pub fn start() -> Tenants {
        let mut child = Command::new("node")
            .arg(repo().join("tests/idp/tenants.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/idp/tenants.mjs (run `make npm` first)");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the tenants print their base URL");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("first line is JSON ({e}): {line:?}"));
        let base = v["base"].as_str().expect("base").to_string();
        Tenants {
            child,
            _stdin: stdin,
            base,
        }
    }

    /// The tenant `/common/v2.0` and `/organizations/v2.0` sign people into from now on (the
    /// account the user picks at Microsoft decides it there).
    pub fn route_common_to(&self, tenant: &str) {
        self.control("common-tenant", tenant);
    }

    /// Makes `/consumers/v2.0` misbehave: its document still names the consumer tenant, but
    /// sign-ins go to `tenant`.
    pub fn route_consumers_to(&self, tenant: &str) {
        self.control("consumers-tenant", tenant);
    }

    fn control(&self, what: &str, tenant: &str) {
        let port = self.base.rsplit(':').next().expect("a port");
        let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("connect");
        write!(
            s,
            "POST /_test/{what}?tid={tenant} HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 204"), "routed: {answer}");
    }

    /// The discovery document's URL of `path` (e.g. `common/v2.0`).
    pub fn metadata_url(&self, path: &str) -> String {
        format!("{}/{path}/.well-known/openid-configuration", self.base)
    }

    /// The issuer of `path` (e.g. `common/v2.0`, `google`): `base/path`.
    pub fn issuer(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// A tenant's own issuer, the `iss` of its ID tokens: `base/GUID/v2.0`.
    pub fn tenant_issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.base)
    }
}

impl Drop for Tenants {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
