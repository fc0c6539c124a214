//! Microsoft Entra's multi-tenant issuers as a service sees them: `verify_bearer_id_token` (the
//! credit service's check) with a `common`-shaped discovery document (issuer
//! `…/{tenantid}/v2.0`) and a `consumers`-shaped one. The tokens are minted here and signed
//! with a key the document's JWKS lists; the sign-in flow against real providers of these shapes
//! is in the CLI's tests (`tests/idp/tenants.mjs`).

use crate::rogue::{key_a, sign_jwt};
use crate::CLIENT_ID;
use chrono::Utc;
use latchkey_auth::{verify_bearer_id_token, AuthError, ProviderInfo, CONSUMER_TENANT};
use serde_json::{json, Value};

const HOST: &str = "http://127.0.0.1:9";
const CONTOSO: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
const FABRIKAM: &str = "bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb";

/// A discovery document as Microsoft serves it at `/{path}/v2.0`, naming `issuer`.
fn info(path: &str, issuer_tenant: &str) -> ProviderInfo {
    let at = format!("{HOST}/{path}/v2.0");
    ProviderInfo {
        metadata: json!({
            "issuer": format!("{HOST}/{issuer_tenant}/v2.0"),
            "authorization_endpoint": format!("{at}/authorize"),
            "token_endpoint": format!("{at}/token"),
            "jwks_uri": format!("{at}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
        jwks: json!({ "keys": [key_a().jwk.clone()] }),
        fetched_at: Utc::now(),
    }
}

/// An ID token for `sub`, naming issuer `iss` and tenant `tid` (when given).
fn token(iss: &str, tid: Option<&str>) -> String {
    let now = Utc::now().timestamp();
    let mut claims = json!({
        "iss": iss,
        "sub": "alice-pairwise",
        "aud": CLIENT_ID,
        "exp": now + 600,
        "iat": now,
        "name": "Alice",
        "preferred_username": "alice@contoso.example",
    });
    if let Some(t) = tid {
        claims["tid"] = Value::from(t);
    }
    sign_jwt(key_a(), &claims)
}

fn tenant_issuer(tid: &str) -> String {
    format!("{HOST}/{tid}/v2.0")
}

async fn check(info: &mut ProviderInfo, token: &str) -> Result<latchkey_auth::Identity, AuthError> {
    let http = latchkey_auth::http_client().expect("client");
    verify_bearer_id_token(&http, info, &[CLIENT_ID.to_string()], token, Utc::now()).await
}

async fn refused(info: &mut ProviderInfo, token: &str, says: &str) {
    match check(info, token).await {
        Err(AuthError::InvalidToken(m)) => assert!(m.contains(says), "says `{says}`: {m}"),
        other => panic!("refused as InvalidToken saying `{says}`, got {other:?}"),
    }
}

#[tokio::test]
async fn common_accepts_each_tenant_under_its_own_issuer() {
    let mut common = info("common", "{tenantid}");
    for tid in [CONTOSO, FABRIKAM] {
        let who = check(&mut common, &token(&tenant_issuer(tid), Some(tid)))
            .await
            .unwrap_or_else(|e| panic!("tenant {tid} is accepted: {e}"));
        assert_eq!(
            who.issuer,
            tenant_issuer(tid),
            "the account's issuer is the tenant's"
        );
        assert_eq!(who.username.as_deref(), Some("alice@contoso.example"));
        assert_eq!(who.email, None);
        assert_eq!(who.display_name(), "Alice");
    }
}

#[tokio::test]
async fn common_refuses_tokens_that_break_the_tenant_rules() {
    let mut common = info("organizations", "{tenantid}");
    let contoso = tenant_issuer(CONTOSO);
    refused(
        &mut common,
        &token(&contoso, Some(FABRIKAM)),
        "disagrees with its tenant (tid)",
    )
    .await;
    refused(&mut common, &token(&contoso, None), "no tenant id (tid)").await;
    refused(
        &mut common,
        &token(&tenant_issuer("{tenantid}"), Some(CONTOSO)),
        "literal template",
    )
    .await;
    refused(
        &mut common,
        &token(&tenant_issuer("common"), Some("common")),
        "not a GUID",
    )
    .await;
    refused(
        &mut common,
        &token(
            &format!("http://127.0.0.1:10/{CONTOSO}/v2.0"),
            Some(CONTOSO),
        ),
        "disagrees",
    )
    .await;
}

#[tokio::test]
async fn consumers_accepts_only_the_consumer_tenant() {
    let mut consumers = info("consumers", CONSUMER_TENANT);
    let who = check(
        &mut consumers,
        &token(&tenant_issuer(CONSUMER_TENANT), Some(CONSUMER_TENANT)),
    )
    .await
    .expect("a personal account's token is accepted");
    assert_eq!(who.issuer, tenant_issuer(CONSUMER_TENANT));
    refused(
        &mut consumers,
        &token(&tenant_issuer(CONTOSO), Some(CONTOSO)),
        "not the consumer tenant",
    )
    .await;
    refused(
        &mut consumers,
        &token(&tenant_issuer(CONSUMER_TENANT), None),
        "no tenant id",
    )
    .await;
}

#[tokio::test]
async fn a_provider_whose_issuer_is_its_url_ignores_tid() {
    let mut exact = info(CONTOSO, CONTOSO);
    let who = check(&mut exact, &token(&tenant_issuer(CONTOSO), None))
        .await
        .expect("no tid needed where the issuer is exact");
    assert_eq!(who.issuer, tenant_issuer(CONTOSO));
    refused(
        &mut exact,
        &token(&tenant_issuer(FABRIKAM), Some(FABRIKAM)),
        "wrong issuer",
    )
    .await;
}
