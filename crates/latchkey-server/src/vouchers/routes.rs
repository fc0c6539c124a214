//! `POST /v1/redeem` and `GET /.well-known/latchkey-keys`.

use super::{KeySet, VoucherError};
use crate::api::{ApiError, AppState, Body, Caller, ErrorCode};
use crate::ledger::Receipt;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

/// The vouchers' part of the OpenAPI document (merged into [`crate::openapi`]'s).
#[derive(OpenApi)]
#[openapi(
    paths(redeem, keys),
    tags((name = "vouchers", description = "Vouchers signed by this service"))
)]
pub struct VoucherApi;

/// The voucher routes, merged into the API's router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/redeem", post(redeem))
        .route("/.well-known/latchkey-keys", get(keys))
}

impl From<VoucherError> for ApiError {
    fn from(e: VoucherError) -> Self {
        let e = match e {
            VoucherError::Ledger(l) => return l.into(),
            other => other,
        };
        let code = match &e {
            VoucherError::Invalid(_) | VoucherError::NoKeys => ErrorCode::InvalidVoucher,
            VoucherError::AlreadyRedeemed => ErrorCode::AlreadyRedeemed,
            VoucherError::InvalidInput(_) => ErrorCode::InvalidInput,
            // Sealed: only issuing and rotating read seeds, never a route.
            VoucherError::Ledger(_) | VoucherError::Sealed(_) => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

/// `POST /v1/redeem`'s body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RedeemBody {
    /// The voucher token, `LKV1.…`.
    voucher: String,
    /// The same key and voucher again replay the first receipt.
    idempotency_key: String,
}

/// Redeems a voucher: once across all users and machines.
#[utoipa::path(post, path = "/v1/redeem", tag = "vouchers", request_body = RedeemBody,
    responses((status = 200, body = Receipt), (status = "default", body = ApiError)))]
pub(crate) async fn redeem(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(b): Body<RedeemBody>,
) -> Result<Json<Receipt>, ApiError> {
    let now = (s.clock)();
    Ok(Json(
        super::redeem(&s.ledger, &who, &b.voucher, &b.idempotency_key, now).await?,
    ))
}

/// The voucher public keys, with the rotation signatures. No authentication.
#[utoipa::path(get, path = "/.well-known/latchkey-keys", tag = "vouchers", security(),
    responses((status = 200, body = KeySet), (status = "default", body = ApiError)))]
pub(crate) async fn keys(State(s): State<AppState>) -> Result<Json<KeySet>, ApiError> {
    Ok(Json(super::published(&s.ledger).await?))
}
