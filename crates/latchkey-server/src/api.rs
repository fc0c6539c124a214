//! The HTTP API under `/v1`, plus `/healthz`. Routes are faces: extract, call the ledger, map
//! the error. See the crate README for the request and response shapes.

use crate::auth::{Authenticate, Clock};
use crate::db::DbError;
use crate::ledger::{
    Account, Balance, HistoryPage, Ledger, LedgerError, Operation, Receipt, DEFAULT_HOLD_SECS,
};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use latchkey_auth::AuthError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::{IntoParams, ToSchema};

/// What every route shares.
#[derive(Clone)]
pub struct AppState {
    /// The ledger every route reads and writes.
    pub ledger: Ledger,
    /// Turns the bearer token into the caller's account.
    pub auth: Arc<dyn Authenticate>,
    /// The time used for hold expiry and token validation.
    pub clock: Clock,
    /// Packs, checkouts, payment providers and welcome credits.
    pub shop: Arc<crate::shop::Shop>,
    /// How much a device may borrow for offline spending, and for how long (`[sync]`).
    pub lease_policy: crate::sync::LeasePolicy,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Larger bodies are answered 413 `payload_too_large`.
    pub max_body_bytes: usize,
    /// Slower requests (including a client that stalls mid-body) are answered 408 `timeout`.
    pub request_timeout: Duration,
}

/// The whole HTTP surface.
pub fn router(state: AppState, limits: Limits) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/balance", get(balance))
        .route("/v1/history", get(history))
        .route("/v1/spend", post(spend))
        .route("/v1/reserve", post(reserve))
        .route("/v1/capture", post(capture))
        .route("/v1/release", post(release))
        .route("/v1/openapi.json", get(crate::openapi::openapi_json))
        .merge(crate::shop::routes::routes())
        .merge(crate::vouchers::routes::routes())
        .merge(crate::sync::routes::routes(state.lease_policy))
        .fallback(not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        // Outermost, so it also sees the limit and timeout layers' plain-text answers.
        .layer(axum::middleware::map_response(json_errors))
}

/// The API's error vocabulary: the same snake_case words the desktop's `Code` uses where the
/// meaning is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed or a parameter is out of range; nothing changed.
    InvalidInput,
    /// 401: no acceptable ID token.
    Unauthorized,
    /// 402: not enough available credits; nothing changed.
    InsufficientCredits,
    /// 404: no such open hold for this caller; nothing changed.
    UnknownEntry,
    /// 409: the idempotency key was used for a different request; nothing changed.
    IdempotencyConflict,
    /// 404: no such endpoint.
    NotFound,
    /// 405: the endpoint does not take this method.
    MethodNotAllowed,
    /// 408: the request took longer than the configured timeout.
    Timeout,
    /// 413: the body is larger than the configured limit.
    PayloadTooLarge,
    /// 503: the database or the identity provider cannot be reached; retry later.
    Unavailable,
    /// 500: a bug; the details are in the server's log only.
    Internal,
    /// 400: no pack with this id (`GET /v1/packs` lists them); nothing changed.
    UnknownPack,
    /// 503: this service sells no credits (no `[payment]` configured).
    PaymentsNotConfigured,
    /// 502: the payment provider failed or could not be reached; nothing changed, retry.
    PaymentProviderError,
    /// 400: a webhook whose signature is missing, wrong or too old; nothing changed.
    InvalidSignature,
    /// 400: a payment event that does not match its checkout or pack; nothing changed.
    PaymentMismatch,
    /// 404: no such checkout for this caller.
    UnknownCheckout,
    /// 409: the checkout was cancelled or has expired; start a new one.
    CheckoutClosed,
    /// 400: the voucher is malformed, forged, expired or bound to another account.
    InvalidVoucher,
    /// 409: the voucher was already redeemed (by this or another account); nothing changed.
    AlreadyRedeemed,
    /// 404: no such device registered for this caller (`PUT /v1/devices/{id}` first).
    UnknownDevice,
    /// 409: the device was removed as lost; it cannot sync again under this id.
    DeviceRemoved,
    /// 409: the hold is a device's offline lease, closed only by that device's sync or by
    /// removing the device; nothing changed.
    LeaseHold,
}

impl ErrorCode {
    /// The HTTP status this code is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::InsufficientCredits => StatusCode::PAYMENT_REQUIRED,
            ErrorCode::UnknownEntry
            | ErrorCode::NotFound
            | ErrorCode::UnknownCheckout
            | ErrorCode::UnknownDevice => StatusCode::NOT_FOUND,
            ErrorCode::UnknownPack
            | ErrorCode::InvalidSignature
            | ErrorCode::PaymentMismatch
            | ErrorCode::InvalidVoucher => StatusCode::BAD_REQUEST,
            ErrorCode::PaymentsNotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::PaymentProviderError => StatusCode::BAD_GATEWAY,
            ErrorCode::CheckoutClosed
            | ErrorCode::AlreadyRedeemed
            | ErrorCode::DeviceRemoved
            | ErrorCode::LeaseHold => StatusCode::CONFLICT,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::IdempotencyConflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// `{"code": "...", "message": "..."}` with the code's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// What went wrong, for programs.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        let mut resp = (status, Json(&self)).into_response();
        if self.code == ErrorCode::Unauthorized {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        let code = match &e {
            LedgerError::InsufficientCredits { .. } => ErrorCode::InsufficientCredits,
            LedgerError::IdempotencyConflict => ErrorCode::IdempotencyConflict,
            LedgerError::UnknownEntry => ErrorCode::UnknownEntry,
            LedgerError::LeaseHold => ErrorCode::LeaseHold,
            LedgerError::InvalidInput(_) => ErrorCode::InvalidInput,
            LedgerError::Db(db) => return db_error(db),
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<crate::shop::ShopError> for ApiError {
    fn from(e: crate::shop::ShopError) -> Self {
        use crate::shop::ShopError as E;
        let e = match e {
            E::Ledger(l) => return l.into(),
            other => other,
        };
        let code = match &e {
            E::NotConfigured => ErrorCode::PaymentsNotConfigured,
            E::UnknownPack(_) => ErrorCode::UnknownPack,
            E::Provider(detail) => {
                tracing::warn!(detail, "payment provider error");
                return ApiError::new(
                    ErrorCode::PaymentProviderError,
                    "the payment provider cannot start the checkout now; try again",
                );
            }
            E::Signature(_) => ErrorCode::InvalidSignature,
            E::Mismatch(_) => ErrorCode::PaymentMismatch,
            E::NotFound => ErrorCode::UnknownCheckout,
            E::Closed(_) => ErrorCode::CheckoutClosed,
            E::Ledger(_) => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

pub(crate) fn db_error(e: &DbError) -> ApiError {
    match e {
        DbError::Unavailable(_) => {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::new(
                ErrorCode::Unavailable,
                "the database is unavailable; try again",
            )
        }
        _ => {
            // The detail goes to the log only; callers learn nothing about the internals.
            tracing::error!(error = %e, "database error");
            ApiError::new(ErrorCode::Internal, "an internal error occurred")
        }
    }
}

/// The authenticated caller's account.
pub struct Caller(pub Account);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |why: &str| ApiError::new(ErrorCode::Unauthorized, why);
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("sign in: send Authorization: Bearer <ID token>"))?;
        let token = value
            .to_str()
            .ok()
            // The scheme is case-insensitive (RFC 7235 §2.1).
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header is not `Bearer <ID token>`"))?;
        match state.auth.identify(token).await {
            Ok(account) => {
                // Welcome credits, once per identity, on its first authenticated request.
                state
                    .shop
                    .welcome(&state.ledger, &account, (state.clock)())
                    .await?;
                Ok(Caller(account))
            }
            Err(AuthError::Unreachable(_)) | Err(AuthError::Protocol(_)) => Err(ApiError::new(
                ErrorCode::Unavailable,
                "the identity provider cannot be reached to check the token; try again",
            )),
            Err(e) => Err(unauthorized(&e.to_string())),
        }
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s (400, or 413 for an oversized body).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large");
    }
    ApiError::new(ErrorCode::InvalidInput, r.body_text())
}

fn query_rejection(r: QueryRejection) -> ApiError {
    ApiError::new(ErrorCode::InvalidInput, r.body_text())
}

/// Rewrites the plain-text errors of layers and extractors we do not own (timeouts, body
/// limits, unknown methods) into the API's JSON shape.
async fn json_errors(resp: Response) -> Response {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        s if s.is_client_error() => ErrorCode::InvalidInput,
        _ => ErrorCode::Internal,
    };
    let message = match code {
        ErrorCode::PayloadTooLarge => "the request body is too large",
        ErrorCode::Timeout => "the request took too long",
        ErrorCode::MethodNotAllowed => "this method is not allowed here",
        ErrorCode::NotFound => "no such endpoint",
        ErrorCode::InvalidInput => "the request is malformed",
        _ => "an internal error occurred",
    };
    let mut out = (status, Json(ApiError::new(code, message))).into_response();
    if let Some(allow) = resp.headers().get(header::ALLOW) {
        out.headers_mut().insert(header::ALLOW, allow.clone());
    }
    out
}

/// One debug line per request: method, path (never the query or headers: no secrets), status
/// and time taken.
async fn log_request(req: Request, next: axum::middleware::Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::debug!(
        %method,
        path,
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

/// `/healthz`'s answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok` (an unhealthy server answers 503 with an error).
    status: &'static str,
}

/// Whether the server and its database answer.
#[utoipa::path(get, path = "/healthz", tag = "service", security(),
    responses((status = 200, body = Health), (status = "default", body = ApiError)))]
pub(crate) async fn healthz(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    s.ledger.ping().await.map_err(|e| db_error(&e))?;
    Ok(Json(Health { status: "ok" }))
}

/// The caller's balance.
#[utoipa::path(get, path = "/v1/balance", tag = "ledger",
    responses((status = 200, body = Balance), (status = "default", body = ApiError)))]
pub(crate) async fn balance(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Balance>, ApiError> {
    Ok(Json(s.ledger.balance(&who, (s.clock)()).await?))
}

/// `/v1/history`'s query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Only entries with a larger `seq` (default 0): the previous page's `next_after`.
    #[param(minimum = 0)]
    after: Option<i64>,
}

/// The caller's entries, oldest first, one page at a time (keyset pagination on `seq`).
#[utoipa::path(get, path = "/v1/history", tag = "ledger", params(HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = "default", body = ApiError)))]
pub(crate) async fn history(
    State(s): State<AppState>,
    Caller(who): Caller,
    q: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiError> {
    let Query(q) = q.map_err(query_rejection)?;
    Ok(Json(s.ledger.history(&who, q.after, q.limit).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpendBody {
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    amount: i64,
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    idempotency_key: String,
    #[schema(max_length = 200)]
    memo: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReserveBody {
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    amount: i64,
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    idempotency_key: String,
    #[schema(minimum = 1, maximum = 86400)]
    ttl_secs: Option<i64>,
    #[schema(max_length = 200)]
    memo: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaptureBody {
    #[schema(minimum = 1)]
    hold: i64,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    amount: i64,
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    idempotency_key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseBody {
    #[schema(minimum = 1)]
    hold: i64,
    #[schema(min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    idempotency_key: String,
}

async fn write(
    s: &AppState,
    who: &Account,
    key: &str,
    op: Operation,
) -> Result<Json<Receipt>, ApiError> {
    Ok(Json(
        s.ledger.apply(who, Some(key), &op, (s.clock)()).await?,
    ))
}

/// Spends credits at once; 402 unless `amount` is available.
#[utoipa::path(post, path = "/v1/spend", tag = "ledger", request_body = SpendBody,
    responses((status = 200, body = Receipt), (status = "default", body = ApiError)))]
pub(crate) async fn spend(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(b): Body<SpendBody>,
) -> Result<Json<Receipt>, ApiError> {
    let op = Operation::Spend {
        amount: b.amount,
        memo: b.memo,
    };
    write(&s, &who, &b.idempotency_key, op).await
}

/// Sets credits aside until `ttl_secs` pass; the receipt's first entry is the hold.
#[utoipa::path(post, path = "/v1/reserve", tag = "ledger", request_body = ReserveBody,
    responses((status = 200, body = Receipt), (status = "default", body = ApiError)))]
pub(crate) async fn reserve(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(b): Body<ReserveBody>,
) -> Result<Json<Receipt>, ApiError> {
    let op = Operation::Reserve {
        amount: b.amount,
        ttl_secs: b.ttl_secs.unwrap_or(DEFAULT_HOLD_SECS),
        memo: b.memo,
    };
    write(&s, &who, &b.idempotency_key, op).await
}

/// Uses `amount` of an open hold and releases the rest.
#[utoipa::path(post, path = "/v1/capture", tag = "ledger", request_body = CaptureBody,
    responses((status = 200, body = Receipt), (status = "default", body = ApiError)))]
pub(crate) async fn capture(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(b): Body<CaptureBody>,
) -> Result<Json<Receipt>, ApiError> {
    let op = Operation::Capture {
        hold: b.hold,
        amount: b.amount,
    };
    write(&s, &who, &b.idempotency_key, op).await
}

/// Gives a whole open hold back.
#[utoipa::path(post, path = "/v1/release", tag = "ledger", request_body = ReleaseBody,
    responses((status = 200, body = Receipt), (status = "default", body = ApiError)))]
pub(crate) async fn release(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(b): Body<ReleaseBody>,
) -> Result<Json<Receipt>, ApiError> {
    write(
        &s,
        &who,
        &b.idempotency_key,
        Operation::Release { hold: b.hold },
    )
    .await
}
