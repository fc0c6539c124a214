//! The sync routes: devices, leases, push and pull. Faces over [`super::Devices`].

use super::{Devices, LeasePolicy, SyncError};
use crate::api::{ApiError, AppState, Body, Caller, ErrorCode};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use latchkey_wire::{
    Device, DeviceList, DeviceRegistration, ImportAnswer, ImportBatch, Lease, LeaseRequest,
    PullPage, PushAnswer, PushBatch,
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};

/// The sync part of the OpenAPI document (merged into [`crate::openapi`]'s).
#[derive(OpenApi)]
#[openapi(
    paths(devices, register, remove, lease, close_lease, push, pull, import),
    tags((name = "sync", description = "Devices, offline leases, push and pull"))
)]
pub struct SyncApi;

/// The sync routes, lending by `policy`, merged into the API's router.
pub fn routes(policy: LeasePolicy) -> Router<AppState> {
    Router::new()
        .route("/v1/devices", get(devices))
        .route("/v1/devices/{device_id}", put(register).delete(remove))
        .route(
            "/v1/devices/{device_id}/lease",
            post(lease).delete(close_lease),
        )
        .route("/v1/devices/{device_id}/entries", post(push))
        .route("/v1/devices/{device_id}/import", post(import))
        .route("/v1/sync", get(pull))
        .layer(Extension(policy))
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        let code = match &e {
            SyncError::Ledger(_) => {
                let SyncError::Ledger(l) = e else {
                    return ApiError::new(ErrorCode::Internal, "an internal error occurred");
                };
                return l.into();
            }
            SyncError::UnknownDevice => ErrorCode::UnknownDevice,
            SyncError::DeviceRemoved => ErrorCode::DeviceRemoved,
            SyncError::InvalidInput(_) => ErrorCode::InvalidInput,
        };
        ApiError::new(code, e.to_string())
    }
}

fn devices_of(s: &AppState, policy: LeasePolicy) -> Devices {
    Devices::new(s.ledger.pool().clone(), policy)
}

fn path(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(id)| id)
        .map_err(|r| ApiError::new(ErrorCode::InvalidInput, r.body_text()))
}

/// The caller's devices, oldest first (removed ones too), with their open leases.
#[utoipa::path(get, path = "/v1/devices", tag = "sync",
    responses((status = 200, body = DeviceList), (status = "default", body = ApiError)))]
pub(crate) async fn devices(
    State(s): State<AppState>,
    Extension(p): Extension<LeasePolicy>,
    Caller(who): Caller,
) -> Result<Json<DeviceList>, ApiError> {
    Ok(Json(devices_of(&s, p).list(&who).await?))
}

/// Registers this device (first contact), or renames it; `409 device_removed` once removed.
#[utoipa::path(put, path = "/v1/devices/{device_id}", tag = "sync",
    params(("device_id" = String, Path, description = "16 to 64 of A-Z a-z 0-9 - _")),
    request_body = DeviceRegistration,
    responses((status = 200, body = Device), (status = "default", body = ApiError)))]
pub(crate) async fn register(
    State(s): State<AppState>,
    Extension(p): Extension<LeasePolicy>,
    Caller(who): Caller,
    id: Result<Path<String>, PathRejection>,
    Body(b): Body<DeviceRegistration>,
) -> Result<Json<Device>, ApiError> {
    let id = path(id)?;
    let now = (s.clock)();
    Ok(Json(
        devices_of(&s, p).register(&who, &id, &b.name, now).await?,
    ))
}

/// Removes a lost device: closes its lease; what it pushes later is stored as rejected.
#[utoipa::path(delete, path = "/v1/devices/{device_id}", tag = "sync",
    params(("device_id" = String, Path, description = "The device to remove")),
    responses((status = 200, body = Device), (status = "default", body = ApiError)))]
pub(crate) async fn remove(
    State(s): State<AppState>,
    Extension(p): Extension<LeasePolicy>,
    Caller(who): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Device>, ApiError> {
    let id = path(id)?;
    let now = (s.clock)();
    Ok(Json(devices_of(&s, p).remove(&who, &id, now).await?))
}

/// Asks for a lease of credits to spend offline, or renews the open one.
#[utoipa::path(post, path = "/v1/devices/{device_id}/lease", tag = "sync",
    params(("device_id" = String, Path, description = "The device asking")),
    request_body = LeaseRequest,
    responses((status = 200, body = Lease), (status = "default", body = ApiError)))]
pub(crate) async fn lease(
    State(s): State<AppState>,
    Extension(p): Extension<LeasePolicy>,
    Caller(who): Caller,
    id: Result<Path<String>, PathRejection>,
    Body(b): Body<LeaseRequest>,
) -> Result<Json<Lease>, ApiError> {
    let id = path(id)?;
    let now = (s.clock)();
    Ok(Json(
        devices_of(&s, p).lease(&who, &id, b.credits, now).await?,
    ))
}

/// The owning device gives its lease back (its hold is released).
#[utoipa::path(delete, path = "/v1/devices/{device_id}/lease", tag = "sync",
    params(("device_id" = String, Path, description = "The owning device")),
    responses((status = 200, body = Device), (status = "default", body = ApiError)))]
pub(crate) async fn close_lease(
    State(s): State<AppState>,
    Extension(p): Extension<LeasePolicy>,
    Caller(who): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Device>, ApiError> {
    let id = path(id)?;
    let now = (s.clock)();
    Ok(Json(devices_of(&s, p).close_lease(&who, &id, now).await?))
}

/// Pushes a batch of the device's local entries (one transaction); one outcome per entry.
#[utoipa::path(post, path = "/v1/devices/{device_id}/entries", tag = "sync",
    params(("device_id" = String, Path, description = "The device pushing")),
    request_body = PushBatch,
    responses((status = 200, body = PushAnswer), (status = "default", body = ApiError)))]
pub(crate) async fn push(
    State(s): State<AppState>,
    Extension(p): Extension<LeasePolicy>,
    Caller(who): Caller,
    id: Result<Path<String>, PathRejection>,
    Body(b): Body<PushBatch>,
) -> Result<Json<PushAnswer>, ApiError> {
    let id = path(id)?;
    let now = (s.clock)();
    Ok(Json(devices_of(&s, p).push(&who, &id, &b, now).await?))
}

/// Imports this device's single-machine wallet (its local entries, oldest first, with their
/// local ids) once, on its first sync: vouchers are verified again and credited once across
/// all users, local grants are not counted, spends take uncounted credits first; each entry's
/// outcome is recorded, so a replay changes nothing (one transaction per batch).
#[utoipa::path(post, path = "/v1/devices/{device_id}/import", tag = "sync",
    params(("device_id" = String, Path, description = "The device importing its wallet")),
    request_body = ImportBatch,
    responses((status = 200, body = ImportAnswer), (status = "default", body = ApiError)))]
pub(crate) async fn import(
    State(s): State<AppState>,
    Caller(who): Caller,
    id: Result<Path<String>, PathRejection>,
    Body(b): Body<ImportBatch>,
) -> Result<Json<ImportAnswer>, ApiError> {
    let id = path(id)?;
    let now = (s.clock)();
    Ok(Json(
        super::import::import(s.ledger.pool(), &who, &id, &b, now).await?,
    ))
}

/// `/v1/sync`'s query.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PullQuery {
    /// Only entries with a larger `server_seq` (default 0): the last page's `cursor`.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Page size, 1 to 1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Everything after the cursor, in `server_seq` order: the ledger's entries and the rejected
/// device entries.
#[utoipa::path(get, path = "/v1/sync", tag = "sync", params(PullQuery),
    responses((status = 200, body = PullPage), (status = "default", body = ApiError)))]
pub(crate) async fn pull(
    State(s): State<AppState>,
    Extension(p): Extension<LeasePolicy>,
    Caller(who): Caller,
    q: Result<Query<PullQuery>, QueryRejection>,
) -> Result<Json<PullPage>, ApiError> {
    let Query(q) = q.map_err(|r| ApiError::new(ErrorCode::InvalidInput, r.body_text()))?;
    Ok(Json(devices_of(&s, p).pull(&who, q.after, q.limit).await?))
}
