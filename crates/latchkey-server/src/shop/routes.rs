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
use utoipa::{OpenApi, ToSchema};

/// The shop's part of the OpenAPI document (merged into [`crate::openapi`]'s).
#[derive(OpenApi)]
#[openapi(
    paths(
        packs,
        checkout,
        status,
        stripe_webhook,
        demo_page,
        demo_pay,
        done_page,
        cancel_page
    ),
    tags(
        (name = "shop", description = "Credit packs and buying them"),
        (name = "pages", description = "Browser pages of the checkout (HTML)"),
    )
)]
pub struct ShopApi;

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

/// `GET /v1/packs`'s answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Packs {
    /// The packs on sale, in the configured order.
    packs: Vec<Pack>,
}

/// The credit packs on sale. No authentication.
#[utoipa::path(get, path = "/v1/packs", tag = "shop", security(),
    responses((status = 200, body = Packs), (status = "default", body = ApiError)))]
pub(crate) async fn packs(State(s): State<AppState>) -> Json<Packs> {
    Json(Packs {
        packs: s.shop.packs().to_vec(),
    })
}

/// `POST /v1/checkout`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckoutBody {
    /// The pack's id.
    pack: String,
    /// The same key and pack again return the same checkout.
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

/// Starts buying a pack: the answer's `url` is for the system browser.
#[utoipa::path(post, path = "/v1/checkout", tag = "shop", request_body = CheckoutBody,
    responses((status = 200, body = CheckoutStarted), (status = "default", body = ApiError)))]
pub(crate) async fn checkout(
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

/// Where the caller's checkout stands (someone else's answers 404).
#[utoipa::path(get, path = "/v1/checkout/{id}", tag = "shop",
    params(("id" = String, Path, description = "The checkout id")),
    responses((status = 200, body = CheckoutStatus), (status = "default", body = ApiError)))]
pub(crate) async fn status(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Json<CheckoutStatus>, ApiError> {
    let now = (s.clock)();
    Ok(Json(s.shop.status(&s.ledger, &who, &id, now).await?))
}

/// The webhook's answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Received {
    /// Always true.
    received: bool,
    /// What the event did.
    outcome: WebhookOutcome,
}

/// Stripe's webhook: authenticated by `Stripe-Signature`, not by an ID token.
#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "shop", security(),
    params(("Stripe-Signature" = String, Header, description = "t=TIMESTAMP,v1=HMAC-SHA256")),
    request_body(content = Object, content_type = "application/json",
        description = "A Stripe event, exactly as Stripe sent it"),
    responses((status = 200, body = Received), (status = "default", body = ApiError)))]
pub(crate) async fn stripe_webhook(
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

/// The DEMO checkout page (demo provider only).
#[utoipa::path(get, path = "/demo/checkout/{id}", tag = "pages", security(),
    params(("id" = String, Path, description = "The checkout id")),
    responses((status = 200, description = "The DEMO checkout page", content_type = "text/html",
        body = String), (status = "default", body = ApiError)))]
pub(crate) async fn demo_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !s.shop.is_demo() {
        return Err(super::ShopError::NotFound.into());
    }
    let c = s.shop.page(&s.ledger, &id, (s.clock)()).await?;
    Ok(pages::demo_checkout(&c))
}

/// The DEMO page's "Pay (DEMO)" button: pays once, then redirects to the success page.
#[utoipa::path(post, path = "/demo/checkout/{id}/pay", tag = "pages", security(),
    params(("id" = String, Path, description = "The checkout id")),
    responses((status = 303, description = "To /checkout/{id}/done"),
        (status = "default", body = ApiError)))]
pub(crate) async fn demo_pay(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.shop.demo_pay(&s.ledger, &id, (s.clock)()).await?;
    // POST-redirect-GET: reloading the success page pays nothing again.
    Ok(Redirect::to(&format!("/checkout/{id}/done")).into_response())
}

/// The success page both providers send the browser to.
#[utoipa::path(get, path = "/checkout/{id}/done", tag = "pages", security(),
    params(("id" = String, Path, description = "The checkout id")),
    responses((status = 200, description = "The success page", content_type = "text/html",
        body = String), (status = "default", body = ApiError)))]
pub(crate) async fn done_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = s.shop.page(&s.ledger, &id, (s.clock)()).await?;
    Ok(pages::done(&c, s.shop.is_demo()))
}

/// The cancel page: a pending checkout is closed as cancelled.
#[utoipa::path(get, path = "/checkout/{id}/cancel", tag = "pages", security(),
    params(("id" = String, Path, description = "The checkout id")),
    responses((status = 200, description = "The cancel page", content_type = "text/html",
        body = String), (status = "default", body = ApiError)))]
pub(crate) async fn cancel_page(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let c = s.shop.cancel(&s.ledger, &id, (s.clock)()).await?;
    Ok(pages::cancelled(&c, s.shop.is_demo()))
}
