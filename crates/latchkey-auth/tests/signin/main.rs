//! Sign-in against a deliberately misbehaving OpenID Provider ([`rogue`]), with the test
//! playing the browser: it reads the authorization URL latchkey-auth built, has the rogue
//! provider approve it, and sends the redirect to the loopback receiver (or the deep-link
//! inbox) itself, while `PendingSignIn::finish` waits for it.

mod bearer;
mod deeplink;
mod happy;
mod negative;
mod receiver;
mod rogue;
mod session;
mod tenants;

use chrono::Utc;
use latchkey_auth::{
    AuthError, ClientSecret, DeepLinkInbox, PendingSignIn, Provider, ProviderInfo, Redirect,
    SignInOptions, SignedIn,
};
use rogue::{Approval, Defect, Rogue};
use std::future::Future;
use std::time::Duration;

pub const CLIENT_ID: &str = "latchkey-desktop";
/// Has characters that must be form-encoded before HTTP Basic (RFC 6749 §2.3.1).
pub const CLIENT_SECRET: &str = "desk:top/secret+1";
/// Long enough never to be reached by a passing test.
pub const GENEROUS: Duration = Duration::from_secs(30);

/// A rogue provider, a provider configuration for it, and its discovered metadata.
pub struct Rig {
    pub rogue: Rogue,
    pub provider: Provider,
    pub info: ProviderInfo,
    pub http: reqwest::Client,
}

/// Which client registration the app uses.
#[derive(Clone, Copy)]
pub enum Client {
    /// Has a secret, sent as client_secret_basic.
    Confidential,
    /// No secret (RFC 8252 native app).
    Public,
}

/// A confidential client, loopback redirect, provider lying as `defect`.
pub async fn rig(defect: Defect) -> Rig {
    rig_with(Client::Confidential, Redirect::default(), defect).await
}

pub async fn rig_with(client: Client, redirect: Redirect, defect: Defect) -> Rig {
    let secret = match client {
        Client::Confidential => Some(CLIENT_SECRET),
        Client::Public => None,
    };
    let rogue = Rogue::start(CLIENT_ID, secret, defect).await;
    let provider = Provider {
        name: "rogue".into(),
        metadata_url: rogue.metadata_url(),
        client_id: CLIENT_ID.into(),
        client_secret: secret.map(ClientSecret::new),
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        auth_params: vec![],
        redirect,
        allowed_tenants: vec![],
        allowed_domains: vec![],
    };
    let http = latchkey_auth::http_client().expect("the HTTP client builds");
    let info = ProviderInfo::discover(&http, &provider, Utc::now())
        .await
        .expect("discovery of the rogue provider succeeds");
    Rig {
        rogue,
        provider,
        info,
        http,
    }
}

impl Rig {
    /// Starts a sign-in (the loopback receiver listens from here on).
    pub async fn start(&self) -> PendingSignIn {
        self.start_with_inbox(None).await
    }

    pub async fn start_with_inbox(&self, inbox: Option<&DeepLinkInbox>) -> PendingSignIn {
        PendingSignIn::start(
            &self.provider,
            self.info.clone(),
            &SignInOptions::default(),
            inbox,
        )
        .await
        .expect("the sign-in starts")
    }

    /// Asserts that neither `text` nor anything else contains a token the provider issued or
    /// the client secret.
    pub fn assert_no_secrets(&self, what: &str, text: &str) {
        for token in self.rogue.issued() {
            assert!(
                !text.contains(&token),
                "{what} must never show a token, but it contains one: {text}"
            );
        }
        assert!(
            !text.contains(CLIENT_SECRET),
            "{what} must never show the client secret: {text}"
        );
    }
}

/// What the "browser" saw at the redirect URI.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub body: String,
}

/// The browser: a GET, no redirects followed.
pub async fn browse(http: &reqwest::Client, url: impl Into<String>) -> Page {
    let url: String = url.into();
    let resp = http
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the browser could not load {url}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("the page body is text");
    Page { status, body }
}

/// Waits for the callback with a generous timeout and no cancellation.
pub fn finish(
    pending: PendingSignIn,
    http: &reqwest::Client,
) -> impl Future<Output = Result<(SignedIn, ProviderInfo), AuthError>> + '_ {
    pending.finish(http, Utc::now, GENEROUS, std::future::pending())
}

/// One whole sign-in: start, approve at the provider, deliver the genuine callback to the
/// loopback receiver while `finish` runs.
pub async fn sign_in(rig: &Rig) -> (Result<(SignedIn, ProviderInfo), AuthError>, Page) {
    let pending = rig.start().await;
    let approval = rig.rogue.authorize(pending.authorize_url());
    let (result, page) = tokio::join!(
        finish(pending, &rig.http),
        browse(&rig.http, approval.callback())
    );
    (result, page)
}

/// Asserts a sign-in was refused, the browser was told so with a 400 page, and no token
/// leaked into the page or the error. Returns the error.
pub fn refused(
    rig: &Rig,
    outcome: (Result<(SignedIn, ProviderInfo), AuthError>, Page),
) -> AuthError {
    let (result, page) = outcome;
    let err = match result {
        Ok((signed_in, _)) => panic!(
            "the sign-in must be refused, but it succeeded as {:?}",
            signed_in.identity
        ),
        Err(e) => e,
    };
    assert_failed_page(rig, &page);
    rig.assert_no_secrets("the error message", &err.to_string());
    err
}

/// The loopback page says the sign-in failed, with HTTP 400, and shows no token.
pub fn assert_failed_page(rig: &Rig, page: &Page) {
    assert_eq!(
        page.status, 400,
        "a failed sign-in is a 400 page: {}",
        page.body
    );
    assert!(
        page.body.contains("could not sign you in"),
        "the page says the sign-in failed: {}",
        page.body
    );
    rig.assert_no_secrets("the browser page", &page.body);
}

/// The genuine callback for a pending sign-in, approved by the provider.
pub fn approve(rig: &Rig, pending: &PendingSignIn) -> Approval {
    rig.rogue.authorize(pending.authorize_url())
}
