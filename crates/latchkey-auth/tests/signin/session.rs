//! Refresh and revoke against the rogue provider, starting from a real sign-in.

use crate::rogue::{ClientAuth, Defect, SUBJECT};
use crate::{rig, rig_with, sign_in, Client, Rig, CLIENT_ID};
use chrono::Utc;
use latchkey_auth::{refresh, revoke, AuthError, Redirect, SignedIn};

async fn signed_in(rig: &Rig) -> SignedIn {
    let (result, _page) = sign_in(rig).await;
    result.expect("the first sign-in succeeds").0
}

#[tokio::test]
async fn refresh_returns_the_rotated_refresh_token() {
    let mut rig = rig(Defect::None).await;
    let first = signed_in(&rig).await;
    let old_refresh = first
        .tokens
        .refresh_token
        .as_ref()
        .expect("a refresh token");
    let refreshed = refresh(
        &rig.http,
        &rig.provider,
        &mut rig.info,
        &first.tokens,
        SUBJECT,
        Utc::now(),
        |_| Ok(()),
    )
    .await
    .expect("a refresh with a live refresh token succeeds");
    let new = &refreshed.tokens;
    let new_refresh = new
        .refresh_token
        .as_ref()
        .expect("the rotated refresh token");
    assert_ne!(
        new_refresh.expose(),
        old_refresh.expose(),
        "the provider rotated the refresh token; the new one must be returned to be stored"
    );
    assert!(rig.rogue.refresh_token_live(new_refresh.expose()));
    assert!(
        !rig.rogue.refresh_token_live(old_refresh.expose()),
        "the old one is spent at the provider"
    );
    assert_ne!(
        new.access_token.expose(),
        first.tokens.access_token.expose()
    );
    assert_eq!(
        rig.rogue.token_auth(),
        vec![ClientAuth::SecretBasic, ClientAuth::SecretBasic],
        "the refresh authenticates the client too"
    );
}

#[tokio::test]
async fn refresh_refused_with_invalid_grant_ends_the_session() {
    let mut rig = rig(Defect::None).await;
    let first = signed_in(&rig).await;
    rig.rogue.set_defect(Defect::RefreshInvalidGrant);
    let err = refresh(
        &rig.http,
        &rig.provider,
        &mut rig.info,
        &first.tokens,
        SUBJECT,
        Utc::now(),
        |_| Ok(()),
    )
    .await
    .expect_err("the provider refused the refresh token");
    assert!(
        matches!(err, AuthError::InvalidGrant),
        "expected InvalidGrant, got {err:?}"
    );
    assert!(err.to_string().contains("sign in again"), "{err}");
    rig.assert_no_secrets("the error message", &err.to_string());
}

#[tokio::test]
async fn a_rotated_refresh_token_is_kept_even_when_the_rest_is_refused() {
    let mut rig = rig(Defect::None).await;
    let first = signed_in(&rig).await;
    rig.rogue.set_defect(Defect::RefreshOtherSub);
    let mut kept = None;
    let err = refresh(
        &rig.http,
        &rig.provider,
        &mut rig.info,
        &first.tokens,
        SUBJECT,
        Utc::now(),
        |rt| {
            kept = Some(rt.expose().to_string());
            Ok(())
        },
    )
    .await
    .expect_err("the refreshed ID token names someone else");
    assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
    let kept = kept.expect("the rotated refresh token was handed over before the refusal");
    assert!(
        rig.rogue.refresh_token_live(&kept),
        "what was kept is the provider's live token: the session survives the refused answer"
    );
    assert!(!rig
        .rogue
        .refresh_token_live(first.tokens.refresh_token.as_ref().unwrap().expose()));

    rig.rogue.set_defect(Defect::None);
    let live = latchkey_auth::TokenSet {
        access_token: first.tokens.access_token.duplicate(),
        access_expires_at: None,
        refresh_token: Some(latchkey_auth::RefreshToken::new(kept)),
        id_token: None,
    };
    let err = refresh(
        &rig.http,
        &rig.provider,
        &mut rig.info,
        &live,
        SUBJECT,
        Utc::now(),
        |_| Err(AuthError::KeychainUnavailable("locked".into())),
    )
    .await
    .expect_err("a rotated token that cannot be stored ends the refresh");
    assert!(matches!(err, AuthError::KeychainUnavailable(_)), "{err:?}");
}

#[tokio::test]
async fn refreshed_id_token_for_another_subject_is_refused() {
    let mut rig = rig(Defect::None).await;
    let first = signed_in(&rig).await;
    rig.rogue.set_defect(Defect::RefreshOtherSub);
    let err = refresh(
        &rig.http,
        &rig.provider,
        &mut rig.info,
        &first.tokens,
        SUBJECT,
        Utc::now(),
        |_| Ok(()),
    )
    .await
    .expect_err("an ID token for someone else must not refresh this session");
    assert!(
        matches!(&err, AuthError::InvalidToken(m) if m.contains("another subject")),
        "expected InvalidToken naming the subject change, got {err:?}"
    );
    rig.assert_no_secrets("the error message", &err.to_string());
}

#[tokio::test]
async fn revoke_posts_the_refresh_token_with_client_auth() {
    let rig = rig(Defect::None).await;
    let first = signed_in(&rig).await;
    let token = first
        .tokens
        .refresh_token
        .as_ref()
        .expect("a refresh token");
    let revoked = revoke(&rig.http, &rig.provider, &rig.info, token)
        .await
        .expect("revocation succeeds");
    assert!(revoked, "the provider has a revocation endpoint");
    let seen = rig.rogue.revocations();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].auth,
        ClientAuth::SecretBasic,
        "confidential clients authenticate to the revocation endpoint (RFC 7009 §2.1)"
    );
    assert_eq!(
        seen[0].form.get("token").map(String::as_str),
        Some(token.expose())
    );
    assert_eq!(
        seen[0].form.get("token_type_hint").map(String::as_str),
        Some("refresh_token")
    );
    assert!(!rig.rogue.refresh_token_live(token.expose()));
}

#[tokio::test]
async fn public_client_revokes_with_its_client_id() {
    let rig = rig_with(Client::Public, Redirect::default(), Defect::None).await;
    let first = signed_in(&rig).await;
    let token = first
        .tokens
        .refresh_token
        .as_ref()
        .expect("a refresh token");
    assert!(revoke(&rig.http, &rig.provider, &rig.info, token)
        .await
        .expect("revocation succeeds"));
    let seen = rig.rogue.revocations();
    assert_eq!(seen[0].auth, ClientAuth::None);
    assert_eq!(
        seen[0].form.get("client_id").map(String::as_str),
        Some(CLIENT_ID)
    );
}

#[tokio::test]
async fn revoke_endpoint_503_is_an_error_not_a_panic() {
    let rig = rig(Defect::None).await;
    let first = signed_in(&rig).await;
    rig.rogue.set_defect(Defect::Revoke503);
    let token = first
        .tokens
        .refresh_token
        .as_ref()
        .expect("a refresh token");
    let err = revoke(&rig.http, &rig.provider, &rig.info, token)
        .await
        .expect_err("a 503 is not a successful revocation");
    assert!(
        matches!(&err, AuthError::Protocol(m) if m.contains("503")),
        "expected Protocol naming HTTP 503, got {err:?}"
    );
    rig.assert_no_secrets("the error message", &err.to_string());
}
