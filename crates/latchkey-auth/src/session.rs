//! Using an existing session: refresh, revoke, RP-initiated logout.

use crate::discovery::ProviderInfo;
use crate::error::AuthError;
use crate::flow::{client_for, token_error, token_set, TokenTransport};
use crate::provider::Provider;
use crate::secret::{IdToken, RefreshToken, TokenSet};
use crate::verify::verify_id_token;
use chrono::{DateTime, Utc};
use openidconnect::{Nonce, OAuth2TokenResponse, TokenResponse};
use url::Url;

/// The outcome of a refresh: new tokens (the refresh token rotated when the provider rotates
/// it; write it back).
#[derive(Debug)]
pub struct Refreshed {
    /// The new tokens, the old refresh and ID tokens kept where none came.
    pub tokens: TokenSet,
}

/// Exchanges the refresh token for fresh tokens. A new ID token is validated like the first
/// (except the nonce, which refreshed ID tokens don't carry) and must name the same subject.
/// `invalid_grant` is [`AuthError::InvalidGrant`]: the session is over.
///
/// A rotated refresh token is handed to `keep_rotated` as soon as the answer arrives, before
/// anything else in it is checked: the old one is spent at the provider by then, so the new
/// one must be stored even when the rest of the answer is refused (a rotating provider that
/// sees the spent one again revokes the whole family). An error from `keep_rotated` ends the
/// refresh with that error.
pub async fn refresh(
    http: &reqwest::Client,
    provider: &Provider,
    info: &mut ProviderInfo,
    tokens: &TokenSet,
    subject: &str,
    now: DateTime<Utc>,
    keep_rotated: impl FnOnce(&RefreshToken) -> Result<(), AuthError>,
) -> Result<Refreshed, AuthError> {
    let refresh_token = tokens
        .refresh_token
        .as_ref()
        .ok_or(AuthError::InvalidGrant)?;
    let client = client_for(
        info,
        &provider.client_id,
        provider.client_secret.as_ref(),
        None,
    )?;
    let transport = TokenTransport::new(http);
    let rt = openidconnect::RefreshToken::new(refresh_token.expose().to_string());
    let response = client
        .exchange_refresh_token(&rt)
        .map_err(|e| AuthError::Config(e.to_string()))?
        .request_async(&transport)
        .await
        .map_err(|e| token_error("the token refresh", transport.status(), e))?;
    if let Some(rotated) = response.refresh_token() {
        if rotated.secret() != refresh_token.expose() {
            keep_rotated(&RefreshToken::new(rotated.secret().clone()))?;
        }
    }
    if let Some(id_token) = response.id_token() {
        let any_nonce = |_: Option<&Nonce>| Ok(());
        let claims = verify_id_token(
            http,
            info,
            &provider.client_id,
            provider.client_secret.as_ref(),
            id_token,
            any_nonce,
            now,
        )
        .await?;
        if claims.subject().as_str() != subject {
            return Err(AuthError::InvalidToken(
                "the refreshed ID token names another subject".into(),
            ));
        }
    }
    let tokens = token_set(
        &response,
        now,
        tokens.refresh_token.as_ref().map(RefreshToken::duplicate),
        tokens.id_token.as_ref().map(IdToken::duplicate),
    );
    Ok(Refreshed { tokens })
}

/// Revokes the refresh token (RFC 7009) when the provider has a revocation endpoint.
/// Returns `Ok(false)` when it has none.
pub async fn revoke(
    http: &reqwest::Client,
    provider: &Provider,
    info: &ProviderInfo,
    refresh_token: &RefreshToken,
) -> Result<bool, AuthError> {
    let Some(url) = info.endpoint("revocation_endpoint")? else {
        return Ok(false);
    };
    let mut form = vec![
        ("token", refresh_token.expose().to_string()),
        ("token_type_hint", "refresh_token".to_string()),
    ];
    let mut req = http.post(url);
    match &provider.client_secret {
        Some(secret) => {
            req = req.basic_auth(
                form_encode(&provider.client_id),
                Some(form_encode(secret.expose())),
            )
        }
        None => form.push(("client_id", provider.client_id.clone())),
    }
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let resp = req
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| AuthError::from_reqwest("revocation", &e))?;
    if resp.status().is_success() {
        Ok(true)
    } else {
        Err(AuthError::Protocol(format!(
            "revocation: HTTP {}",
            resp.status()
        )))
    }
}

/// RFC 6749 §2.3.1: client credentials are form-encoded before HTTP Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The provider's RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0), naming the
/// client only: no token travels in the URL.
pub fn end_session_url(provider: &Provider, info: &ProviderInfo) -> Result<Option<Url>, AuthError> {
    let Some(mut url) = info.endpoint("end_session_endpoint")? else {
        return Ok(None);
    };
    url.query_pairs_mut()
        .append_pair("client_id", &provider.client_id);
    Ok(Some(url))
}
