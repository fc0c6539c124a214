//! Each way the provider (or whoever sends the callback) can lie is refused with the right
//! [`AuthError`], a message that says why, and a 400 page in the browser.

use crate::rogue::{key_b, Defect, SUBJECT};
use crate::{approve, assert_failed_page, browse, finish, refused, rig, sign_in, Rig, CLIENT_ID};
use chrono::Utc;
use latchkey_auth::AuthError;
use std::time::Duration;

/// Signs in against a provider with `defect` and returns the refusal's message, asserting it
/// is `InvalidToken`.
async fn invalid_token(defect: Defect) -> (Rig, String) {
    let rig = rig(defect).await;
    let outcome = sign_in(&rig).await;
    let err = refused(&rig, outcome);
    let AuthError::InvalidToken(message) = err else {
        panic!("expected AuthError::InvalidToken, got {err:?}");
    };
    (rig, message)
}

fn says(message: &str, words: &[&str]) {
    for w in words {
        assert!(
            message.contains(w),
            "the message must say why (`{w}`): {message}"
        );
    }
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let (_rig, m) = invalid_token(Defect::BadSignature).await;
    says(&m, &["bad signature"]);
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (_rig, m) = invalid_token(Defect::AlgNone).await;
    says(&m, &["not signed", "alg: none"]);
}

#[tokio::test]
async fn hs256_with_the_client_secret_is_refused() {
    // A desktop client secret is not confidential (RFC 8252 §8.5): anyone holding it could
    // mint an HS256 ID token, so only asymmetric algorithms are allowed.
    let (_rig, m) = invalid_token(Defect::Hs256WithSecret).await;
    says(&m, &["disallowed algorithm", "HS256"]);
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let (_rig, m) = invalid_token(Defect::WrongAud).await;
    says(&m, &["audience (aud)", "someone-else"]);
}

#[tokio::test]
async fn several_audiences_without_azp_are_refused() {
    let (_rig, m) = invalid_token(Defect::SeveralAudiencesNoAzp).await;
    // openidconnect refuses the untrusted extra audience before our azp rule is reached;
    // either way the token is not for this app alone.
    assert!(
        m.contains("other-client") && (m.contains("aud") || m.contains("azp")),
        "the message names the extra audience: {m}"
    );
}

#[tokio::test]
async fn azp_of_another_client_is_refused() {
    let (_rig, m) = invalid_token(Defect::AzpOther).await;
    says(&m, &["authorized party (azp)", "other-client"]);
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let (_rig, m) = invalid_token(Defect::WrongIss).await;
    says(&m, &["issuer (iss)"]);
}

#[tokio::test]
async fn expired_id_token_is_refused() {
    let (_rig, m) = invalid_token(Defect::Expired).await;
    says(&m, &["expired"]);
}

#[tokio::test]
async fn iat_far_in_the_future_is_refused() {
    let (_rig, m) = invalid_token(Defect::FutureIat).await;
    says(&m, &["issued in the future"]);
}

#[tokio::test]
async fn missing_iat_is_refused_and_says_so() {
    // openidconnect cannot even parse an ID token without `iat` (a required claim), so the
    // token response fails to parse: AuthError::Protocol. The message must still name `iat`,
    // or nobody can tell what the provider got wrong.
    let rig = rig(Defect::MissingIat).await;
    let outcome = sign_in(&rig).await;
    let err = refused(&rig, outcome);
    match &err {
        AuthError::InvalidToken(m) | AuthError::Protocol(m) => says(m, &["iat"]),
        other => panic!("expected InvalidToken or Protocol, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_sub_is_refused_and_says_so() {
    let rig = rig(Defect::MissingSub).await;
    let outcome = sign_in(&rig).await;
    let err = refused(&rig, outcome);
    match &err {
        AuthError::InvalidToken(m) | AuthError::Protocol(m) => says(m, &["sub"]),
        other => panic!("expected InvalidToken or Protocol, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_nonce_is_refused() {
    let (_rig, m) = invalid_token(Defect::WrongNonce).await;
    says(&m, &["nonce"]);
}

#[tokio::test]
async fn missing_nonce_is_refused() {
    let (_rig, m) = invalid_token(Defect::MissingNonce).await;
    says(&m, &["nonce"]);
}

#[tokio::test]
async fn at_hash_of_another_access_token_is_refused() {
    // The access token was swapped in transit or by the provider: it is not the one this ID
    // token vouches for.
    let (_rig, m) = invalid_token(Defect::BadAtHash).await;
    says(&m, &["at_hash", "does not match"]);
}

#[tokio::test]
async fn token_response_without_an_id_token_is_refused() {
    let (_rig, m) = invalid_token(Defect::NoIdToken).await;
    says(&m, &["no ID token"]);
}

#[tokio::test]
async fn userinfo_for_another_subject_is_refused() {
    let (_rig, m) = invalid_token(Defect::UserinfoOtherSub).await;
    says(&m, &["userinfo", "someone-else", SUBJECT]);
}

#[tokio::test]
async fn token_endpoint_500_is_a_protocol_error() {
    let rig = rig(Defect::TokenEndpoint500).await;
    let outcome = sign_in(&rig).await;
    let err = refused(&rig, outcome);
    let AuthError::Protocol(m) = &err else {
        panic!("expected AuthError::Protocol, got {err:?}");
    };
    says(m, &["token endpoint"]);
    // The person reading this needs to know the provider failed (HTTP 500), not that its
    // answer had "unexpected content".
    says(m, &["500"]);
}

#[tokio::test]
async fn callback_from_another_issuer_is_refused_before_the_code_is_sent() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let mixed_up = a.callback_with(&[
        ("code", &a.code),
        ("state", &a.state),
        ("iss", "https://attacker.example"),
    ]);
    let outcome = tokio::join!(finish(pending, &rig.http), browse(&rig.http, &mixed_up));
    let err = refused(&rig, outcome);
    let AuthError::InvalidToken(m) = &err else {
        panic!("expected AuthError::InvalidToken (RFC 9207 mix-up), got {err:?}");
    };
    says(m, &["https://attacker.example", rig.rogue.issuer()]);
    assert_eq!(
        rig.rogue.token_hits(),
        0,
        "a mixed-up callback's code must not be sent to any token endpoint"
    );
}

#[tokio::test]
async fn callback_without_the_promised_iss_is_refused() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let no_iss = a.callback_with(&[("code", &a.code), ("state", &a.state)]);
    let outcome = tokio::join!(finish(pending, &rig.http), browse(&rig.http, &no_iss));
    let err = refused(&rig, outcome);
    assert!(
        matches!(&err, AuthError::InvalidToken(m) if m.contains("RFC 9207")),
        "the provider advertises authorization_response_iss_parameter_supported: {err:?}"
    );
    assert_eq!(rig.rogue.token_hits(), 0);
}

#[tokio::test]
async fn access_denied_ends_the_sign_in_at_once() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let denied = a.callback_with(&[
        ("error", "access_denied"),
        ("error_description", "The user said no"),
        ("state", &a.state),
        ("iss", &a.iss),
    ]);
    // The generous timeout is never reached: the error callback ends the wait.
    let outcome = tokio::join!(finish(pending, &rig.http), browse(&rig.http, &denied));
    let err = refused(&rig, outcome);
    let AuthError::Denied { error, description } = &err else {
        panic!("expected AuthError::Denied, got {err:?}");
    };
    assert_eq!(error, "access_denied");
    assert_eq!(description.as_deref(), Some("The user said no"));
    says(&err.to_string(), &["refused", "access_denied"]);
    assert_eq!(rig.rogue.token_hits(), 0, "nothing to exchange");
}

#[tokio::test]
async fn wrong_state_gets_400_and_the_genuine_callback_still_succeeds() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let forged = a.callback_with(&[
        ("code", "forged-code"),
        ("state", "forged-state-forged-state"),
        ("iss", &a.iss),
    ]);
    let browser = async {
        let first = browse(&rig.http, &forged).await;
        let second = browse(&rig.http, a.callback()).await;
        (first, second)
    };
    let (result, (first, second)) = tokio::join!(finish(pending, &rig.http), browser);
    assert_failed_page(&rig, &first);
    assert!(
        first.body.contains("state does not match"),
        "the page says why: {}",
        first.body
    );
    let (signed_in, _) = result.expect("the genuine callback after a forged one succeeds");
    assert_eq!(signed_in.identity.subject, SUBJECT);
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(
        rig.rogue.token_hits(),
        1,
        "the forged code never reached the provider"
    );
}

/// Only callbacks with a bad `state` arrive: the sign-in ends at its timeout with
/// `StateMismatch`, not a plain timeout.
async fn only_bad_state(params: impl Fn(&crate::rogue::Approval) -> String) {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let a = approve(&rig, &pending);
    let bad = params(&a);
    let (result, page) = tokio::join!(
        pending.finish(
            &rig.http,
            Utc::now,
            Duration::from_secs(2),
            std::future::pending()
        ),
        browse(&rig.http, &bad)
    );
    assert_failed_page(&rig, &page);
    let err = result.expect_err("no genuine callback ever came");
    assert!(
        matches!(err, AuthError::StateMismatch),
        "expected StateMismatch, got {err:?}"
    );
    assert!(err.to_string().contains("wrong state"), "{err}");
    assert_eq!(rig.rogue.token_hits(), 0);
}

#[tokio::test]
async fn only_wrong_state_ends_in_state_mismatch() {
    only_bad_state(|a| {
        a.callback_with(&[
            ("code", &a.code),
            ("state", "someone-elses-state-value"),
            ("iss", &a.iss),
        ])
    })
    .await;
}

#[tokio::test]
async fn only_missing_state_ends_in_state_mismatch() {
    only_bad_state(|a| a.callback_with(&[("code", &a.code), ("iss", &a.iss)])).await;
}

#[tokio::test]
async fn rotated_signing_key_is_fetched_once_and_accepted() {
    let rig = rig(Defect::None).await;
    assert_eq!(rig.rogue.jwks_hits(), 1, "discovery fetched the keys");
    rig.rogue.rotate_key();
    let (result, page) = sign_in(&rig).await;
    let (signed_in, info) = result.expect("a token signed with the new key is accepted");
    assert_eq!(signed_in.identity.subject, SUBJECT);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        rig.rogue.jwks_hits(),
        2,
        "the unknown kid made us refetch the JWKS exactly once"
    );
    assert!(
        info.jwks.to_string().contains(key_b().kid),
        "the refreshed keys are handed back for the caller's cache"
    );
}

#[tokio::test]
async fn never_published_kid_is_refused_after_one_refetch() {
    let (rig, m) = invalid_token(Defect::UnpublishedKey).await;
    says(&m, &["signing key is not among the provider's keys"]);
    assert!(
        rig.rogue.jwks_hits() <= 2,
        "an unknown kid may cost one refetch, never more (got {})",
        rig.rogue.jwks_hits()
    );
}

#[tokio::test]
async fn a_successful_sign_in_shows_no_token_in_page_or_debug() {
    // A control for the refusals above: with no defect, nothing leaks either.
    let rig = rig(Defect::None).await;
    let (result, page) = sign_in(&rig).await;
    let (signed_in, _) = result.expect("no defect, no refusal");
    rig.assert_no_secrets("the success page", &page.body);
    let shown = format!("{signed_in:?}");
    rig.assert_no_secrets("Debug of SignedIn", &shown);
}

#[tokio::test]
async fn a_redirecting_token_endpoint_is_not_followed() {
    // The one HTTP client follows no redirects: a token endpoint must not be able to send the
    // code and verifier somewhere else (SSRF).
    let rig = rig(Defect::TokenRedirect).await;
    let outcome = sign_in(&rig).await;
    let err = refused(&rig, outcome);
    assert!(
        matches!(err, AuthError::Protocol(_)),
        "expected Protocol, got {err:?}"
    );
    assert_eq!(
        rig.rogue.redirect_hits(),
        0,
        "the redirect must not be followed"
    );
}

#[tokio::test]
async fn discovery_naming_another_issuer_is_a_config_error() {
    let rogue = crate::rogue::Rogue::start(CLIENT_ID, None, Defect::DiscoveryWrongIssuer).await;
    let provider = latchkey_auth::Provider {
        name: "rogue".into(),
        metadata_url: rogue.metadata_url(),
        client_id: CLIENT_ID.into(),
        client_secret: None,
        scopes: vec!["openid".into()],
        auth_params: vec![],
        redirect: latchkey_auth::Redirect::default(),
        allowed_tenants: vec![],
        allowed_domains: vec![],
    };
    let http = latchkey_auth::http_client().expect("client");
    let err = latchkey_auth::ProviderInfo::discover(&http, &provider, Utc::now())
        .await
        .expect_err("a discovery document for another issuer is refused");
    let AuthError::Config(m) = &err else {
        panic!("expected Config, got {err:?}");
    };
    says(m, &["http://127.0.0.1:1", rogue.issuer()]);
    assert_eq!(rogue.jwks_hits(), 0, "no keys are fetched from an impostor");
}

#[tokio::test]
async fn answers_past_one_mib_are_refused_not_buffered() {
    let rogue = crate::rogue::Rogue::start(CLIENT_ID, None, Defect::HugeJwks).await;
    let provider = latchkey_auth::Provider {
        name: "rogue".into(),
        metadata_url: rogue.metadata_url(),
        client_id: CLIENT_ID.into(),
        client_secret: None,
        scopes: vec!["openid".into()],
        auth_params: vec![],
        redirect: latchkey_auth::Redirect::default(),
        allowed_tenants: vec![],
        allowed_domains: vec![],
    };
    let http = latchkey_auth::http_client().expect("client");
    let err = latchkey_auth::ProviderInfo::discover(&http, &provider, Utc::now())
        .await
        .expect_err("signing keys past 1 MiB are refused");
    let AuthError::Protocol(m) = &err else {
        panic!("expected Protocol, got {err:?}");
    };
    says(m, &["signing keys", "larger than 1 MiB"]);

    let rig = rig(Defect::HugeTokenAnswer).await;
    let outcome = sign_in(&rig).await;
    let err = refused(&rig, outcome);
    let AuthError::Protocol(m) = &err else {
        panic!("expected AuthError::Protocol, got {err:?}");
    };
    says(m, &["larger than 1 MiB"]);
}

#[tokio::test]
async fn a_provider_without_s256_pkce_is_refused_and_an_absent_list_is_allowed() {
    let rig = rig(Defect::None).await;
    let start = |methods: Option<serde_json::Value>| {
        let mut info = rig.info.clone();
        let doc = info.metadata.as_object_mut().expect("a JSON object");
        match methods {
            Some(m) => doc.insert("code_challenge_methods_supported".into(), m),
            None => doc.remove("code_challenge_methods_supported"),
        };
        let provider = &rig.provider;
        async move {
            latchkey_auth::PendingSignIn::start(
                provider,
                info,
                &latchkey_auth::SignInOptions::default(),
                None,
            )
            .await
        }
    };
    let err = start(Some(serde_json::json!(["plain"])))
        .await
        .expect_err("a provider offering only `plain` PKCE is refused before anything opens");
    assert!(
        matches!(&err, AuthError::Config(m) if m.contains("not S256")),
        "{err}"
    );
    start(Some(serde_json::json!(["plain", "S256"])))
        .await
        .expect("S256 among others is fine");
    start(None)
        .await
        .expect("no list says nothing (RFC 8414): allowed, S256 is sent anyway");
}
