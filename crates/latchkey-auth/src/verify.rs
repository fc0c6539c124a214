//! ID-token validation: the signature against the provider's keys (refetched once on an
//! unknown key), then `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `sub` and `at_hash`.

use crate::discovery::ProviderInfo;
use crate::error::AuthError;
use crate::flow::{client_for, Identity};
use crate::secret::ClientSecret;
use crate::tenant::IssuerRule;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use openidconnect::core::{
    CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, ClaimsVerificationError, ClientId, Nonce, NonceVerifier, OAuth2TokenResponse,
    SignatureVerificationError,
};

/// How far in the future an ID token's `iat` may be (clock skew between us and the provider).
const MAX_FUTURE_IAT_SECS: i64 = 300;
/// How old an ID token fresh from the token endpoint may be.
const MAX_AGE_IAT_SECS: i64 = 86_400;

/// Verifies an ID token presented as a bearer credential (the credit service's
/// `Authorization: Bearer <ID token>`), by the same rules as a sign-in: the signature against
/// the provider's keys (the JWKS is refetched once when the token names an unknown key, and
/// `info` then holds the new keys: callers keep it), `iss` equal to the discovered issuer,
/// (for a Microsoft multi-tenant provider: the token's own tenant issuer, see
/// [`verify_id_token`]), `aud` containing one of `client_ids`, `azp` (when present, or when there are several
/// audiences) equal to that client id, `exp`, `iat` within the accepted window and a non-empty
/// `sub`. No nonce is required (a `nonce` claim is accepted as it is): the token was obtained
/// by a sign-in elsewhere.
///
/// # Errors
/// [`AuthError::InvalidToken`] when any check fails (the message says which, never the
/// token); [`AuthError::Config`] when `client_ids` is empty; [`AuthError::Unreachable`] or
/// [`AuthError::Protocol`] when the keys had to be refetched and could not be.
pub async fn verify_bearer_id_token(
    http: &reqwest::Client,
    info: &mut ProviderInfo,
    client_ids: &[String],
    id_token: &str,
    now: DateTime<Utc>,
) -> Result<Identity, AuthError> {
    let token: CoreIdToken = id_token
        .parse()
        .map_err(|_| AuthError::InvalidToken("it is not a well-formed JWT".into()))?;
    let any_nonce = |_: Option<&Nonce>| Ok(());
    let issuer = token_issuer(info, &token)?;
    // The audience is checked before the signature, so trying each client id is cheap; the
    // first one the token is addressed to is the one `azp` must name.
    let mut addressed_to = None;
    let mut last_error = None;
    for client_id in client_ids {
        match verify_once(
            info,
            issuer.as_deref(),
            client_id,
            None,
            &token,
            any_nonce,
            now,
        ) {
            Err(e @ ClaimsVerificationError::InvalidAudience(_)) => last_error = Some(e),
            _ => {
                addressed_to = Some(client_id.as_str());
                break;
            }
        }
    }
    let client_id = match (addressed_to, last_error) {
        (Some(id), _) => id,
        (None, Some(e)) => return Err(AuthError::InvalidToken(describe_claims_error(&e))),
        (None, None) => {
            return Err(AuthError::Config(
                "no client id to check the ID token's audience against".into(),
            ))
        }
    };
    let claims = verify_id_token(http, info, client_id, None, &token, any_nonce, now).await?;
    Ok(identity_from(&claims))
}

/// Validates an ID token fully: signature against the provider's JWKS (refetched once when
/// the token names an unknown key), `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`. For a Microsoft
/// multi-tenant provider `iss` must be the issuer template filled with the token's own `tid`
/// (a GUID; for `consumers`, the consumer tenant): the signature then vouches for both.
pub(crate) async fn verify_id_token(
    http: &reqwest::Client,
    info: &mut ProviderInfo,
    client_id: &str,
    secret: Option<&ClientSecret>,
    id_token: &CoreIdToken,
    nonce: impl NonceVerifier + Clone,
    now: DateTime<Utc>,
) -> Result<CoreIdTokenClaims, AuthError> {
    let issuer = token_issuer(info, id_token)?;
    let issuer = issuer.as_deref();
    let first = verify_once(
        info,
        issuer,
        client_id,
        secret,
        id_token,
        nonce.clone(),
        now,
    );
    let claims = match first {
        Err(ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::NoMatchingKey,
        )) => {
            // The provider may have rotated its keys since we fetched them.
            info.refetch_jwks(http).await?;
            verify_once(info, issuer, client_id, secret, id_token, nonce, now)
        }
        other => other,
    }
    .map_err(|e| AuthError::InvalidToken(describe_claims_error(&e)))?;

    // azp: with several audiences it must be present; when present it must be us.
    let several = claims.audiences().len() > 1;
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != client_id => {
            return Err(AuthError::InvalidToken(format!(
                "its authorized party (azp) is `{}`, not this app",
                azp.as_str()
            )))
        }
        None if several => {
            return Err(AuthError::InvalidToken(
                "it names several audiences but no authorized party (azp)".into(),
            ))
        }
        _ => {}
    }
    if claims.subject().as_str().is_empty() {
        return Err(AuthError::InvalidToken("its subject (sub) is empty".into()));
    }
    Ok(claims)
}

/// The issuer this token must carry when it is not the document's own: for a Microsoft
/// multi-tenant provider, the template filled with the token's `tid` (read before the
/// signature is checked; the check then proves it). `None` for every other provider.
fn token_issuer(info: &ProviderInfo, id_token: &CoreIdToken) -> Result<Option<String>, AuthError> {
    let rule = info.issuer_rule();
    if matches!(rule, IssuerRule::Exact(_)) {
        return Ok(None);
    }
    let claims = unverified_claims(id_token);
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str());
    rule.expected_issuer(text("iss"), text("tid")).map(Some)
}

/// The token's payload as JSON, read without any check: only for claims the signature check
/// then covers (or has covered), and never `Null` for a well-formed JWT.
pub(crate) fn unverified_claims(id_token: &CoreIdToken) -> serde_json::Value {
    use base64::Engine as _;
    let jwt = id_token.to_string();
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// The provider's allow-lists, applied to a verified token: `tid` among `allowed_tenants`,
/// `hd` among `allowed_domains` (each only when its list is not empty).
pub(crate) fn check_allow_lists(
    allowed_tenants: &[String],
    allowed_domains: &[String],
    id_token: &CoreIdToken,
) -> Result<(), AuthError> {
    let claims = unverified_claims(id_token);
    let listed = |claim: &str, list: &[String], what: &str| -> Result<(), AuthError> {
        if list.is_empty() {
            return Ok(());
        }
        match claims.get(claim).and_then(|v| v.as_str()) {
            Some(v) if list.iter().any(|a| a.eq_ignore_ascii_case(v)) => Ok(()),
            Some(v) => Err(AuthError::InvalidToken(format!(
                "its {what} ({claim}) `{v}` is not among this provider's allowed {what}s ({})",
                list.join(", ")
            ))),
            None => Err(AuthError::InvalidToken(format!(
                "it names no {what} ({claim}), and this provider accepts only {}",
                list.join(", ")
            ))),
        }
    };
    listed("tid", allowed_tenants, "tenant")?;
    listed("hd", allowed_domains, "Workspace domain")
}

fn verify_once(
    info: &ProviderInfo,
    issuer: Option<&str>,
    client_id: &str,
    secret: Option<&ClientSecret>,
    id_token: &CoreIdToken,
    nonce: impl NonceVerifier,
    now: DateTime<Utc>,
) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
    let client = match issuer {
        None => client_for(info, client_id, secret, None),
        Some(issuer) => info.core_metadata_for(Some(issuer)).map(|meta| {
            CoreClient::from_provider_metadata(meta, ClientId::new(client_id.to_string()), None)
        }),
    }
    .map_err(|e| ClaimsVerificationError::Other(e.to_string()))?;
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
            CoreJwsSigningAlgorithm::RsaSsaPssSha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            CoreJwsSigningAlgorithm::EcdsaP384Sha384,
            CoreJwsSigningAlgorithm::EdDsa,
        ])
        .set_time_fn(move || now)
        .set_issue_time_verifier_fn(move |iat| {
            if iat > now + TimeDelta::seconds(MAX_FUTURE_IAT_SECS) {
                Err(format!("it was issued in the future ({iat})"))
            } else if iat < now - TimeDelta::seconds(MAX_AGE_IAT_SECS) {
                Err(format!("it was issued too long ago ({iat})"))
            } else {
                Ok(())
            }
        });
    id_token.claims(&verifier, nonce).cloned()
}

fn describe_claims_error(e: &ClaimsVerificationError) -> String {
    match e {
        ClaimsVerificationError::Expired(m) => format!("it is expired or mistimed: {m}"),
        ClaimsVerificationError::InvalidAudience(m) => format!("wrong audience (aud): {m}"),
        ClaimsVerificationError::InvalidIssuer(m) => format!("wrong issuer (iss): {m}"),
        ClaimsVerificationError::InvalidNonce(m) => format!("wrong or missing nonce: {m}"),
        ClaimsVerificationError::InvalidSubject(m) => format!("bad subject (sub): {m}"),
        ClaimsVerificationError::SignatureVerification(s) => match s {
            SignatureVerificationError::NoMatchingKey => {
                "its signing key is not among the provider's keys".into()
            }
            SignatureVerificationError::NoSignature => "it is not signed (alg: none)".into(),
            SignatureVerificationError::DisallowedAlg(m) => format!("disallowed algorithm: {m}"),
            other => format!("bad signature: {other}"),
        },
        other => other.to_string(),
    }
}

pub(crate) fn check_access_token_hash(
    info: &ProviderInfo,
    client_id: &str,
    response: &CoreTokenResponse,
    id_token: &CoreIdToken,
    claims: &CoreIdTokenClaims,
) -> Result<(), AuthError> {
    let Some(expected) = claims.access_token_hash() else {
        return Ok(());
    };
    let client = client_for(info, client_id, None, None)?;
    let verifier = client.id_token_verifier();
    let bad = |why: String| AuthError::InvalidToken(format!("at_hash check failed: {why}"));
    let alg = id_token.signing_alg().map_err(|e| bad(e.to_string()))?;
    let key = id_token
        .signing_key(&verifier)
        .map_err(|e| bad(e.to_string()))?;
    let actual = AccessTokenHash::from_token(response.access_token(), alg, key)
        .map_err(|e| bad(e.to_string()))?;
    if &actual != expected {
        return Err(bad("the access token does not match the ID token".into()));
    }
    Ok(())
}

/// Who a verified token names. The issuer is the token's own (verified equal to the
/// provider's, or for a multi-tenant provider to the user's tenant issuer), so accounts are
/// per tenant.
pub(crate) fn identity_from(claims: &CoreIdTokenClaims) -> Identity {
    Identity {
        issuer: claims.issuer().as_str().to_string(),
        username: claims.preferred_username().map(|u| u.as_str().to_string()),
        subject: claims.subject().as_str().to_string(),
        email: claims.email().map(|e| e.as_str().to_string()),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string()),
        picture: claims
            .picture()
            .and_then(|p| p.get(None))
            .map(|p| p.as_str().to_string()),
    }
}
