//! `verify_bearer_id_token`: an ID token presented to a service (the credit service's
//! `Authorization: Bearer`), checked by the same rules as a sign-in, without a nonce.

use crate::rig;
use crate::rogue::{key_b, Defect, EMAIL, SUBJECT};
use crate::CLIENT_ID;
use chrono::Utc;
use latchkey_auth::{verify_bearer_id_token, AuthError};

/// The client ids the service accepts: another app's first, then ours.
fn accepted() -> Vec<String> {
    vec!["another-app".to_string(), CLIENT_ID.to_string()]
}

/// Verifies a token minted with `defect` and returns the rejection's message.
async fn refused(defect: Defect) -> String {
    let mut rig = rig(Defect::None).await;
    rig.rogue.set_defect(defect);
    let token = rig.rogue.mint_id_token(SUBJECT, None);
    let result =
        verify_bearer_id_token(&rig.http, &mut rig.info, &accepted(), &token, Utc::now()).await;
    match result {
        Ok(identity) => panic!("the token must be refused, but it was accepted as {identity:?}"),
        Err(AuthError::InvalidToken(m)) => {
            rig.assert_no_secrets("the rejection", &m);
            m
        }
        Err(other) => panic!("a bad token is InvalidToken, not {other:?}"),
    }
}

#[tokio::test]
async fn a_genuine_id_token_names_its_person_even_with_a_nonce() {
    let mut rig = rig(Defect::None).await;
    for nonce in [None, Some("a nonce from the sign-in that obtained it")] {
        let token = rig.rogue.mint_id_token(SUBJECT, nonce);
        let identity =
            verify_bearer_id_token(&rig.http, &mut rig.info, &accepted(), &token, Utc::now())
                .await
                .unwrap_or_else(|e| panic!("a genuine token (nonce {nonce:?}) is accepted: {e}"));
        assert_eq!(identity.subject, SUBJECT);
        assert_eq!(identity.issuer, rig.rogue.issuer(), "the discovered issuer");
        assert_eq!(identity.email.as_deref(), Some(EMAIL));
    }
}

#[tokio::test]
async fn rotated_keys_are_refetched_once_and_kept() {
    let mut rig = rig(Defect::None).await;
    rig.rogue.rotate_key();
    let token = rig.rogue.mint_id_token(SUBJECT, None);
    verify_bearer_id_token(&rig.http, &mut rig.info, &accepted(), &token, Utc::now())
        .await
        .expect("a token signed with the provider's new key is accepted");
    assert_eq!(rig.rogue.jwks_hits(), 2, "one refetch for the unknown kid");
    assert!(
        rig.info.jwks.to_string().contains(key_b().kid),
        "the new keys are handed back for the caller's cache"
    );
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused() {
    let m = refused(Defect::WrongAud).await;
    assert!(m.contains("audience (aud)"), "{m}");
}

#[tokio::test]
async fn a_token_whose_azp_is_another_client_is_refused() {
    let m = refused(Defect::AzpOther).await;
    assert!(m.contains("authorized party (azp)"), "{m}");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let m = refused(Defect::Expired).await;
    assert!(m.contains("expired"), "{m}");
}

#[tokio::test]
async fn a_token_from_an_unknown_issuer_is_refused() {
    let m = refused(Defect::WrongIss).await;
    assert!(m.contains("issuer (iss)"), "{m}");
}

#[tokio::test]
async fn a_token_with_a_bad_signature_is_refused() {
    let m = refused(Defect::BadSignature).await;
    assert!(m.contains("signature"), "{m}");
}

#[tokio::test]
async fn garbage_and_no_client_ids_are_refused() {
    let mut rig = rig(Defect::None).await;
    let now = Utc::now();
    let garbage = verify_bearer_id_token(&rig.http, &mut rig.info, &accepted(), "x.y", now).await;
    assert!(
        matches!(garbage, Err(AuthError::InvalidToken(_))),
        "{garbage:?}"
    );
    let token = rig.rogue.mint_id_token(SUBJECT, None);
    let none = verify_bearer_id_token(&rig.http, &mut rig.info, &[], &token, now).await;
    assert!(
        matches!(none, Err(AuthError::Config(_))),
        "no accepted client id is a configuration mistake: {none:?}"
    );
}
