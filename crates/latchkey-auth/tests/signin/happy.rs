//! The harness proves itself: a well-behaved provider signs the user in.

use crate::rogue::{ClientAuth, Defect, EMAIL, NAME, SUBJECT};
use crate::{browse, finish, rig, rig_with, Client, CLIENT_SECRET};
use latchkey_auth::Redirect;
use std::collections::HashMap;

fn is_base64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[tokio::test]
async fn happy_path_signs_in_with_pkce_state_and_nonce() {
    let rig = rig(Defect::None).await;
    let pending = rig.start().await;
    let url = pending.authorize_url().clone();
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();

    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256"),
        "PKCE is always S256"
    );
    for k in ["state", "nonce"] {
        let v = q.get(k).unwrap_or_else(|| panic!("the URL has a {k}"));
        assert!(
            v.len() >= 22 && is_base64url(v),
            "{k} must carry at least 128 random bits (22 base64url chars): {v}"
        );
    }
    assert_ne!(q["state"], q["nonce"], "state and nonce are independent");
    assert!(
        !q.contains_key("client_secret") && !url.as_str().contains(CLIENT_SECRET),
        "the authorization URL never carries the client secret"
    );
    let redirect = url::Url::parse(&q["redirect_uri"]).expect("redirect_uri is a URL");
    let port = redirect.port().expect("the redirect names its port");
    assert_ne!(port, 0);
    assert_eq!(
        redirect.as_str(),
        format!("http://127.0.0.1:{port}/callback"),
        "RFC 8252 loopback redirect on 127.0.0.1"
    );
    assert_eq!(pending.redirect_uri(), redirect.as_str());

    let approval = rig.rogue.authorize(&url);
    let (result, page) = tokio::join!(
        finish(pending, &rig.http),
        browse(&rig.http, approval.callback())
    );
    let (signed_in, _info) = result.expect("a well-behaved provider signs the user in");

    let id = &signed_in.identity;
    assert_eq!(id.issuer, rig.rogue.issuer());
    assert_eq!(id.subject, SUBJECT);
    assert_eq!(id.email.as_deref(), Some(EMAIL));
    assert_eq!(
        id.name.as_deref(),
        Some(NAME),
        "the name comes from userinfo, so it was merged"
    );
    let issued = rig.rogue.issued();
    let t = &signed_in.tokens;
    assert!(issued.iter().any(|i| i == t.access_token.expose()));
    let refresh = t.refresh_token.as_ref().expect("a refresh token");
    assert!(rig.rogue.refresh_token_live(refresh.expose()));
    let id_token = t.id_token.as_ref().expect("the ID token is kept");
    assert!(issued.iter().any(|i| i == id_token.expose()));
    assert!(
        t.access_expires_at
            .is_some_and(|at| at > chrono::Utc::now()),
        "expires_in becomes an expiry time in the future"
    );
    assert_eq!(
        rig.rogue.token_auth(),
        vec![ClientAuth::SecretBasic],
        "a confidential client authenticates with client_secret_basic"
    );

    assert_eq!(page.status, 200, "success page: {}", page.body);
    assert!(page.body.contains("signed in to Latchkey"), "{}", page.body);
    assert!(
        page.body.contains(NAME),
        "the page names who signed in (name, else email): {}",
        page.body
    );
    rig.assert_no_secrets("the success page", &page.body);
}

#[tokio::test]
async fn public_client_signs_in_without_a_secret() {
    let rig = rig_with(Client::Public, Redirect::default(), Defect::None).await;
    let pending = rig.start().await;
    let approval = rig.rogue.authorize(pending.authorize_url());
    let (result, page) = tokio::join!(
        finish(pending, &rig.http),
        browse(&rig.http, approval.callback())
    );
    let (signed_in, _) = result.expect("a public client signs in with PKCE alone");
    assert_eq!(signed_in.identity.subject, SUBJECT);
    assert_eq!(page.status, 200);
    assert_eq!(
        rig.rogue.token_auth(),
        vec![ClientAuth::None],
        "a public client sends client_id only"
    );
}

/// The harness is only worth something if the provider is strict where a real one is: a wrong
/// PKCE verifier, a missing client authentication or a replayed code are refused.
#[tokio::test]
async fn the_rogue_provider_is_strict_where_a_real_one_is() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let rig = rig(Defect::None).await;
    let verifier = "v".repeat(50);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/callback";
    let mut url = url::Url::parse(&format!("{}/authorize", rig.rogue.issuer())).expect("url");
    url.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", crate::CLIENT_ID),
        ("code_challenge_method", "S256"),
        ("code_challenge", &challenge),
        ("scope", "openid"),
        ("redirect_uri", redirect),
        ("nonce", "n"),
        ("state", "s"),
    ]);
    let code = rig.rogue.authorize(&url).code;
    let token_url = format!("{}/token", rig.rogue.issuer());
    let post = |verifier: &str, basic: bool| {
        let mut req = rig.http.post(&token_url).form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ]);
        if basic {
            req = req.basic_auth(crate::CLIENT_ID, Some("desk%3Atop%2Fsecret%2B1"));
        }
        req.send()
    };
    let no_auth = post(&verifier, false).await.expect("answer");
    assert_eq!(
        no_auth.status().as_u16(),
        401,
        "client authentication is required"
    );
    let wrong_verifier = post(&"w".repeat(50), true).await.expect("answer");
    assert_eq!(wrong_verifier.status().as_u16(), 400, "PKCE is checked");
    // The wrong verifier spent the code, as a strict provider does.
    let replay = post(&verifier, true).await.expect("answer");
    assert_eq!(replay.status().as_u16(), 400, "codes are single-use");
    let text = replay.text().await.expect("body");
    assert!(text.contains("invalid_grant"), "{text}");
}
