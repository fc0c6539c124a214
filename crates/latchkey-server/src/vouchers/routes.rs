//! `POST /v1/redeem` and `GET /.well-known/latchkey-keys`.

use super::{KeySet, VoucherError};
use crate::api::{ApiError, AppState, Body, Caller, ErrorCode};
use crate::ledger::Receipt;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

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
            VoucherError::Ledger(_) => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemBody {
    voucher: String,
    idempotency_key: String,
}

async fn redeem(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(b): Body<RedeemBody>,
) -> Result<Json<Receipt>, ApiError> {
    let now = (s.clock)();
    Ok(Json(
        super::redeem(&s.ledger, &who, &b.voucher, &b.idempotency_key, now).await?,
    ))
}

async fn keys(State(s): State<AppState>) -> Result<Json<KeySet>, ApiError> {
    Ok(Json(super::published(&s.ledger).await?))
}
