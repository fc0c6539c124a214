//! Real components for the server's tests: PostgreSQL ([`pg`]), the test OpenID Provider
//! ([`idp`]) and the server's router on a loopback port ([`Server`]).

pub mod idp;
pub mod pg;

use chrono::{DateTime, Duration, Utc};
use latchkey_server::api::{self, AppState, Limits};
use latchkey_server::auth::{Clock, OidcAuthenticator};
use latchkey_server::config::ProviderConfig;
use latchkey_server::db;
use latchkey_server::ledger::{Account, Ledger};
use std::sync::Arc;

/// A fresh, migrated database and a ledger over it.
pub async fn ledger() -> (Ledger, String) {
    let url = pg::fresh_db().await;
    let pool = db::pool(
        &latchkey_server::config::DatabaseUrl::new(url.clone()),
        20,
        std::time::Duration::from_secs(10),
    )
    .expect("pool");
    let mut client = pool.get().await.expect("a connection");
    db::migrate(&mut client).await.expect("migrations apply");
    drop(client);
    (Ledger::new(pool), url)
}

pub fn account(subject: &str) -> Account {
    Account {
        issuer: "https://issuer.test".into(),
        subject: subject.into(),
    }
}

/// A fixed instant to start test clocks at.
pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The server's router, configured to accept the test provider's public client only, served
/// on 127.0.0.1 over a fresh database.
pub struct Server {
    pub base: String,
    pub ledger: Ledger,
    pub db_url: String,
    pub http: reqwest::Client,
}

pub struct Options {
    /// Added to the real time on the server's clock (to make real tokens look expired).
    pub clock_offset: Duration,
    pub max_body_bytes: usize,
    pub request_timeout: std::time::Duration,
    /// Serve over this database instead of a fresh one (e.g. one that is not there).
    pub db_url: Option<String>,
    /// Accept this issuer instead of the shared test provider's.
    pub issuer: Option<String>,
    /// Packs, payment provider, welcome credits (default: none).
    pub shop: latchkey_server::shop::ShopConfig,
    /// The offline lease policy (default: the built-in one).
    pub lease_policy: latchkey_server::sync::LeasePolicy,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            clock_offset: Duration::zero(),
            max_body_bytes: 64 * 1024,
            request_timeout: std::time::Duration::from_secs(30),
            db_url: None,
            issuer: None,
            shop: Default::default(),
            lease_policy: Default::default(),
        }
    }
}

pub async fn server() -> Server {
    server_with(Options::default()).await
}

pub async fn server_with(options: Options) -> Server {
    let (ledger, db_url) = match options.db_url {
        None => ledger().await,
        Some(url) => {
            let pool = db::pool(
                &latchkey_server::config::DatabaseUrl::new(url.clone()),
                4,
                std::time::Duration::from_secs(2),
            )
            .expect("pool");
            (Ledger::new(pool), url)
        }
    };
    let offset = options.clock_offset;
    let clock: Clock = Arc::new(move || Utc::now() + offset);
    let http = latchkey_auth::http_client().expect("HTTP client");
    let auth = OidcAuthenticator::new(
        http.clone(),
        &[ProviderConfig {
            issuer: options.issuer.unwrap_or_else(|| idp::idp().issuer.clone()),
            client_ids: vec![idp::PUBLIC_CLIENT.into()],
        }],
        clock.clone(),
    );
    let router = api::router(
        AppState {
            ledger: ledger.clone(),
            auth: Arc::new(auth),
            clock,
            shop: Arc::new(latchkey_server::shop::Shop::new(options.shop, http.clone())),
            lease_policy: options.lease_policy,
        },
        Limits {
            max_body_bytes: options.max_body_bytes,
            request_timeout: options.request_timeout,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, router)
            .await
            .expect("the server runs");
    });
    Server {
        base,
        ledger,
        db_url,
        http,
    }
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub json: serde_json::Value,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("<no code>")
    }
}

impl Server {
    pub async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req.send().await.expect("the server answers")).await
    }

    /// A GET with this exact `Authorization` header value.
    pub async fn get_authorized(&self, path: &str, authorization: &str) -> Answer {
        let req = self
            .http
            .get(format!("{}{path}", self.base))
            .header("authorization", authorization);
        answer(req.send().await.expect("the server answers")).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> Answer {
        self.post_raw(path, token, body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: String) -> Answer {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req.send().await.expect("the server answers")).await
    }
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("every answer is JSON; got {status}: {text:?}"));
    Answer { status, json }
}
