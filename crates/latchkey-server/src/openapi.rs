//! The OpenAPI document of the HTTP API, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types' `ToSchema` derives, served at `GET /v1/openapi.json`.
//! Every route the router has must be listed here (a test checks it).

use crate::api;
use axum::Json;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The name of the bearer scheme in the document.
const BEARER: &str = "id_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey credit service",
        description = "The authoritative credit ledger. Every /v1 request needs \
            `Authorization: Bearer <OIDC ID token>`; errors are `{code, message}`."
    ),
    paths(
        api::healthz,
        api::balance,
        api::history,
        api::spend,
        api::reserve,
        api::capture,
        api::release,
        openapi_json,
    ),
    modifiers(&Bearer),
    security(("id_token" = [])),
    tags(
        (name = "ledger", description = "The caller's credits"),
        (name = "service", description = "The service itself"),
    )
)]
struct Doc;

/// Declares the bearer scheme every `/v1` operation uses (unless it says `security()`).
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("OIDC ID token")
            .description(Some(
                "An ID token from a configured provider whose `aud` is a desktop client id",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = Doc::openapi();
        // The shop's and the vouchers' routes are documented beside their code.
        doc.merge(crate::shop::routes::ShopApi::openapi());
        doc.merge(crate::vouchers::routes::VoucherApi::openapi());
        doc.merge(crate::sync::routes::SyncApi::openapi());
        doc
    })
}

/// This document (OpenAPI 3.1, JSON). No authentication.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "service", security(),
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json",
        body = Object)))]
pub(crate) async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}
