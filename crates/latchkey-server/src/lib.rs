//! The Latchkey credit service: the authoritative credit ledger in PostgreSQL behind a small
//! JSON API (`/v1`), for desktop clients that sign in with OpenID Connect.
//!
//! - [`config`]: the TOML configuration.
//! - [`db`]: the connection pool and the versioned migrations.
//! - [`ledger`]: the ledger's rules (domain code, no HTTP), run against PostgreSQL.
//! - [`auth`]: who is calling (OIDC ID tokens, verified by latchkey-auth).
//! - [`api`]: the HTTP routes, thin faces over the ledger.
//! - [`shop`]: packs, checkout, the payment providers (Stripe, demo), welcome credits.
//! - [`vouchers`]: vouchers signed with the service's keys, and their redemption.
//! - [`sync`]: devices, offline leases, push and pull (issue 9).
//! - [`report`]: who paid and who spent, per user and per day.
//! - [`openapi`]: the API's OpenAPI document, generated from the routes.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod ledger;
pub mod openapi;
pub mod report;
pub mod shop;
pub mod sync;
pub mod vouchers;

use std::sync::Arc;
use std::time::Duration;

/// Largest number of PostgreSQL connections one server process opens.
pub const POOL_SIZE: usize = 32;
/// How long a request waits for (or to open) a database connection before a 503.
pub const DB_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything `serve` needs, built from a configuration: the pool, the ledger and the router.
pub fn app(config: &config::Config, clock: auth::Clock) -> Result<axum::Router, db::DbError> {
    let pool = db::pool(&config.database_url, POOL_SIZE, DB_TIMEOUT)?;
    let http = latchkey_auth::http_client()
        .map_err(|e| db::DbError::BadUrl(format!("the HTTP client cannot be built: {e}")))?;
    let auth = auth::OidcAuthenticator::new(http.clone(), &config.providers, clock.clone());
    let state = api::AppState {
        ledger: ledger::Ledger::new(pool),
        auth: Arc::new(auth),
        clock,
        shop: Arc::new(shop::Shop::new(config.shop.clone(), http)),
        lease_policy: config.lease_policy,
    };
    Ok(api::router(
        state,
        api::Limits {
            max_body_bytes: config.max_body_bytes,
            request_timeout: Duration::from_secs(config.request_timeout_secs),
        },
    ))
}
