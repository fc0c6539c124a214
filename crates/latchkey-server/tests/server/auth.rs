//! Who is calling, beyond the API's 401 cases: verified tokens are remembered but still expire,
//! and a provider configured with Microsoft's multi-tenant `common` endpoint accepts the tokens
//! of each tenant (whose `iss` is the tenant's own issuer), against tests/idp/tenants.mjs.

use crate::support::idp::{idp, sign_in, IdTokens, PUBLIC_CLIENT};
use crate::support::{server_with, Options};
use chrono::{Duration, Utc};
use latchkey_auth::AuthError;
use latchkey_server::auth::{Authenticate, OidcAuthenticator};
use latchkey_server::config::ProviderConfig;
use latchkey_testkit::tenants::{Tenants, CONTOSO, FABRIKAM};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

fn authenticator(issuer: &str, offset: Arc<AtomicI64>) -> OidcAuthenticator {
    OidcAuthenticator::new(
        latchkey_auth::http_client().expect("HTTP client"),
        &[ProviderConfig {
            issuer: issuer.into(),
            client_ids: vec![PUBLIC_CLIENT.into()],
        }],
        Arc::new(move || Utc::now() + Duration::seconds(offset.load(Ordering::SeqCst))),
    )
}

#[tokio::test]
async fn a_remembered_token_is_still_refused_once_it_expires() {
    let offset = Arc::new(AtomicI64::new(0));
    let auth = authenticator(&idp().issuer, offset.clone());
    let token = idp().id_token(PUBLIC_CLIENT, "remembered").await;
    for _ in 0..2 {
        let who = auth
            .identify(&token)
            .await
            .expect("a fresh token is accepted");
        assert_eq!(who.subject, "remembered");
    }
    // The test provider's tokens live one hour; two hours later the same bytes must be refused
    // although they were verified (and remembered) before.
    offset.store(2 * 3600, Ordering::SeqCst);
    let err = auth.identify(&token).await.unwrap_err();
    assert!(
        matches!(&err, AuthError::InvalidToken(m) if m.contains("expired")),
        "a remembered token past its exp is refused: {err:?}"
    );
    offset.store(0, Ordering::SeqCst);
    let forged = format!("{}x", token);
    assert!(
        matches!(
            auth.identify(&forged).await,
            Err(AuthError::InvalidToken(_))
        ),
        "other bytes are verified on their own, whatever was remembered"
    );
}

#[tokio::test]
async fn a_microsoft_common_provider_accepts_each_tenants_own_issuer() {
    let t = Tenants::start();
    let common = t.issuer("common/v2.0");
    let s = server_with(Options {
        issuer: Some(common.clone()),
        ..Options::default()
    })
    .await;

    t.route_common_to(CONTOSO);
    let alice = sign_in(&common, PUBLIC_CLIENT, "alice").await;
    t.route_common_to(FABRIKAM);
    let bob = sign_in(&common, PUBLIC_CLIENT, "bob").await;
    for (token, tenant, who) in [(&alice, CONTOSO, "alice"), (&bob, FABRIKAM, "bob")] {
        let a = s.get("/v1/balance", Some(token)).await;
        assert_eq!(
            a.status, 200,
            "{who}'s token names the tenant's issuer, which common admits: {a:?}"
        );
        let offset = Arc::new(AtomicI64::new(0));
        let id = authenticator(&common, offset)
            .identify(token)
            .await
            .expect("accepted");
        assert_eq!(
            (id.issuer.as_str(), id.subject.as_str()),
            (t.tenant_issuer(tenant).as_str(), who),
            "the wallet identity is the tenant's own issuer, never the template"
        );
    }

    // A token from another provider on the same host is not one of common's tenants.
    let google = sign_in(&t.issuer("google"), PUBLIC_CLIENT, "carol").await;
    let a = s.get("/v1/balance", Some(&google)).await;
    assert_eq!(
        (a.status, a.code()),
        (401, "unauthorized"),
        "an issuer that is neither configured nor a tenant of common: {a:?}"
    );

    // A single-tenant configuration accepts only that tenant.
    let only_contoso = authenticator(&t.tenant_issuer(CONTOSO), Arc::new(AtomicI64::new(0)));
    assert!(only_contoso.identify(&alice).await.is_ok());
    assert!(
        matches!(
            only_contoso.identify(&bob).await,
            Err(AuthError::InvalidToken(_))
        ),
        "fabrikam's token is refused by a server that lists only contoso"
    );
}
