//! The test OpenID Provider (latchkey-testkit's: tests/idp/provider.mjs, panva's
//! oidc-provider, on an ephemeral loopback port) and REAL ID tokens from it: a genuine sign-in
//! through latchkey-auth with the scripted HTTP browser (tests/idp/browser-http.mjs) logging in
//! and consenting.

use chrono::Utc;
use latchkey_auth::{PendingSignIn, Provider, ProviderInfo, Redirect, Secret, SignInOptions};
pub use latchkey_testkit::idp::{Idp, PUBLIC_CLIENT};
use latchkey_testkit::repo;
use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The provider's confidential test client (not listed in the server's config: "another
/// audience").
pub const CONFIDENTIAL_CLIENT: &str = "desktop-confidential";
const CONFIDENTIAL_SECRET: &str = "throwaway-local-test-secret";

/// ID tokens from the test provider.
pub trait IdTokens {
    /// Signs `login` in with `client_id` (a genuine authorization-code + PKCE sign-in) and
    /// returns the ID token the provider issued.
    fn id_token(&self, client_id: &str, login: &str) -> impl Future<Output = String>;
}

impl IdTokens for Idp {
    async fn id_token(&self, client_id: &str, login: &str) -> String {
        sign_in(&self.issuer, client_id, login).await
    }
}

/// Signs `login` in at the provider whose discovery document is at `issuer` +
/// `/.well-known/openid-configuration` (e.g. a Microsoft-shaped `.../common/v2.0`) and returns
/// the ID token it issued.
pub async fn sign_in(issuer: &str, client_id: &str, login: &str) -> String {
    let provider = Provider {
        name: "test".into(),
        metadata_url: format!("{issuer}/.well-known/openid-configuration")
            .parse()
            .expect("metadata URL"),
        client_id: client_id.into(),
        client_secret: (client_id == CONFIDENTIAL_CLIENT).then(|| Secret::new(CONFIDENTIAL_SECRET)),
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

/// The test binary's provider (the one the server's configuration lists).
pub fn idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| Idp::start(&[]))
}

/// A second provider, NOT listed in the server's configuration.
pub fn rogue_idp() -> &'static Idp {
    static IDP: OnceLock<Idp> = OnceLock::new();
    IDP.get_or_init(|| Idp::start(&[]))
}
