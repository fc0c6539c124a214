//! The test OpenID Provider (tests/idp/provider.mjs, panva's oidc-provider) on an ephemeral
//! loopback port, and REAL ID tokens from it: a genuine sign-in through latchkey-auth with the
//! scripted HTTP browser (tests/idp/browser-http.mjs) logging in and consenting.

use chrono::Utc;
use latchkey_auth::{PendingSignIn, Provider, ProviderInfo, Redirect, Secret, SignInOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The provider's public test client.
pub const PUBLIC_CLIENT: &str = "desktop-public";
/// The provider's confidential test client (not listed in the server's config: "another
/// audience").
pub const CONFIDENTIAL_CLIENT: &str = "desktop-confidential";
const CONFIDENTIAL_SECRET: &str = "throwaway-local-test-secret";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// A running provider. It exits when its stdin closes, so it never outlives this process.
pub struct Idp {
    child: Child,
    _stdin: ChildStdin,
    pub issuer: String,
}

impl Idp {
    pub fn start() -> Idp {
        Idp::start_with(&[])
    }

    /// Starts it again on the same port (the same issuer) with NEW signing keys: what a
    /// provider's key rotation looks like to the server.
    pub fn restart(&mut self) {
        let port = self.issuer.rsplit(':').next().unwrap().to_string();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let fresh = Idp::start_with(&["--port", &port]);
        assert_eq!(fresh.issuer, self.issuer, "the same issuer after a restart");
        *self = fresh;
    }

    fn start_with(args: &[&str]) -> Idp {
        let mut child = Command::new("node")
            .arg(repo().join("tests/idp/provider.mjs"))
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
            .unwrap_or_else(|e| panic!("the provider's first line is JSON ({e}): {line:?}"));
        Idp {
            child,
            _stdin: stdin,
            issuer: v["issuer"].as_str().expect("issuer").to_string(),
        }
    }

    /// Signs `login` in with `client_id` (a genuine authorization-code + PKCE sign-in) and
    /// returns the ID token the provider issued.
    pub async fn id_token(&self, client_id: &str, login: &str) -> String {
        let provider = Provider {
            name: "test".into(),
            metadata_url: format!("{}/.well-known/openid-configuration", self.issuer)
                .parse()
                .expect("metadata URL"),
            client_id: client_id.into(),
            client_secret: (client_id == CONFIDENTIAL_CLIENT)
                .then(|| Secret::new(CONFIDENTIAL_SECRET)),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            auth_params: vec![],
            redirect: Redirect::default(),
            allowed_tenants: vec![],
            allowed_domains: vec![],
        };
        let http = latchkey_auth::http_client().expect("HTTP client");
        let info = ProviderInfo::discover(&http, &provider, Utc::now())
            .await
            .expect("discovery of the test provider");
        let pending = PendingSignIn::start(&provider, info, &SignInOptions::default(), None)
            .await
            .expect("the sign-in starts");
        let status = Command::new("node")
            .arg(repo().join("tests/idp/browser-http.mjs"))
            .arg(pending.authorize_url().as_str())
            .env("LATCHKEY_TEST_LOGIN", login)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("the scripted browser runs");
        assert!(status.success(), "the scripted browser started");
        let (signed, _) = pending
            .finish(
                &http,
                Utc::now,
                Duration::from_secs(30),
                std::future::pending(),
            )
            .await
            .expect("the sign-in completes");
        signed
            .tokens
            .id_token
            .as_ref()
            .expect("the provider returned an ID token")
            .expose()
            .to_string()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The test binary's provider (the one the server's configuration lists).
pub fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(Idp::start)
}

/// A second provider, NOT listed in the server's configuration.
pub fn rogue_idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(Idp::start)
}
