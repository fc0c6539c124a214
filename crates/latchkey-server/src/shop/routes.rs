//! The shop's HTTP faces: `/v1/packs`, `/v1/checkout`, `/v1/webhooks/stripe`, and the
//! browser pages (`/demo/checkout/{id}`, `/checkout/{id}/done`, `/checkout/{id}/cancel`).

use super::{pages, CheckoutStarted, CheckoutStatus, Pack, WebhookOutcome};
use crate::api::{ApiError, AppState, Body, Caller};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use url::Url;

/// The shop's routes, merged into the API's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/packs", get(packs))
        .route("/v1/checkout", post(checkout))
        .route("/v1/checkout/{id}", get(status))
        .route("/v1/webhooks/stripe", post(stripe_webhook))
        .route("/demo/checkout/{id}", get(demo_page))
        .route("/demo/checkout/{id}/pay", post(demo_pay))
        .route("/checkout/{id}/done", get(done_page))
        .route("/checkout/{id}/cancel", get(cancel_page))
}

#[derive(Serialize)]
struct Packs<'a> {
    packs: &'a [Pack],
}

async fn packs(State(s): State<AppState>) -> Response {
    Json(Packs {
        packs: s.shop.packs(),
    })
    .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutBody {
    pack: String,
    idempotency_key: String,
}

/// Where the caller reached us, from `Host` (the demo pages' fallback base URL).
fn request_base(headers: &HeaderMap) -> Option<Url> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    ok.then(|| Url::parse(&format!("http://{host}/")).ok())
        .flatten()
}

async fn checkout(
    State(s): State<AppState>,
    Caller(who): Caller,
    headers: HeaderMap,
    Body(b): Body<CheckoutBody>,
) -> Result<Json<CheckoutStarted>, ApiError> {
    let now = (s.clock)();
    let base = request_base(&headers);
    Ok(Json(
        s.shop
            .checkout(&s.ledger, &who, &b.pack, &b.idempotency_key, base, now)
            .await?,
    ))
}

async fn status(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<CheckoutStatus>, ApiError> {
    let now = (s.clock)();
    Ok(Json(s.shop.status(&s.ledger, &who, &id, now).await?))
}

#[derive(Serialize)]
struct Received {
    received: bool,
    outcome: WebhookOutcome,
}

async fn stripe_webhook(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Received>, ApiError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let now = (s.clock)();
    let outcome = s
        .shop
        .stripe_event(&s.ledger, signature, &body, now)
        .await?;
    Ok(Json(Received {
        received: true,
        outcome,
    }))
}

async fn demo_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !s.shop.is_demo() {
        return Err(super::ShopError::NotFound.into());
    }
    let c = s.shop.page(&s.ledger, &id, (s.clock)()).await?;
    Ok(pages::demo_checkout(&c))
}

async fn demo_pay(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    s.shop.demo_pay(&s.ledger, &id, (s.clock)()).await?;
    // POST-redirect-GET: reloading the success page pays nothing again.
    Ok(Redirect::to(&format!("/checkout/{id}/done")).into_response())
}

async fn done_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = s.shop.page(&s.ledger, &id, (s.clock)()).await?;
    Ok(pages::done(&c, s.shop.is_demo()))
}

async fn cancel_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = s.shop.cancel(&s.ledger, &id, (s.clock)()).await?;
    Ok(pages::cancelled(&c, s.shop.is_demo()))
}
