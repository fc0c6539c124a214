//! Who is calling: `Authorization: Bearer <OIDC ID token>`, verified by latchkey-auth's
//! [`latchkey_auth::verify_bearer_id_token`] (the same rules the desktop applies at sign-in).

use crate::config::ProviderConfig;
use crate::ledger::Account;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use latchkey_auth::{AuthError, Provider, ProviderInfo, Redirect};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use url::Url;

/// A boxed future, so [`Authenticate`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns a bearer credential into the caller's account.
pub trait Authenticate: Send + Sync {
    /// # Errors
    /// [`AuthError::InvalidToken`] (or `Config` for an issuer not in the allow-list) when the
    /// credential is not acceptable: the API answers 401. [`AuthError::Unreachable`] /
    /// [`AuthError::Protocol`] when the provider could not be asked: 503.
    fn identify<'a>(&'a self, bearer: &'a str) -> BoxFuture<'a, Result<Account, AuthError>>;
}

/// The current time, passed in so tests can move it.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Verifies ID tokens from the configured providers. Each provider's discovery document and
/// keys are fetched at first use and kept; an unknown `kid` makes the verifier refetch the keys
/// once, and the new keys are kept.
///
/// Tokens that passed verification are remembered (by their SHA-256, with the account and the
/// token's `exp`) so a client sending the same token again costs no signature check: a
/// remembered token is accepted only while `now < exp`; once it expires it is forgotten and
/// verified from scratch, so `exp` is never skipped, and `iss`/`aud`/signature were checked
/// when it was remembered (none of them can change for the same bytes). At most
/// [`TOKEN_CACHE_SIZE`] tokens are kept.
pub struct OidcAuthenticator {
    http: reqwest::Client,
    clock: Clock,
    providers: HashMap<String, Slot>,
    verified: Mutex<Verified>,
}

/// Tokens that passed verification, by SHA-256, with their account and `exp`. Forgotten all at
/// once whenever a provider's keys change (a dropped key must stop vouching for its tokens):
/// `generation` counts those changes, so a verification that started before one is not kept.
#[derive(Default)]
struct Verified {
    tokens: HashMap<[u8; 32], (Account, DateTime<Utc>)>,
    generation: u64,
}

/// How many verified tokens are remembered (a few hundred bytes each).
pub const TOKEN_CACHE_SIZE: usize = 10_000;

struct Slot {
    client_ids: Vec<String>,
    info: RwLock<Option<ProviderInfo>>,
}

impl OidcAuthenticator {
    /// Accepts ID tokens from `providers` (each for its own client ids), checked with `http`
    /// (never following redirects: use `latchkey_auth::http_client`) at the time `clock` gives.
    pub fn new(http: reqwest::Client, providers: &[ProviderConfig], clock: Clock) -> Self {
        let providers = providers
            .iter()
            .map(|p| {
                (
                    p.issuer.trim_end_matches('/').to_string(),
                    Slot {
                        client_ids: p.client_ids.clone(),
                        info: RwLock::new(None),
                    },
                )
            })
            .collect();
        OidcAuthenticator {
            http,
            clock,
            providers,
            verified: Mutex::new(Verified::default()),
        }
    }

    async fn verify(&self, token: &str) -> Result<Account, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = (self.clock)();
        let mut generation = None;
        if let Ok(mut cache) = self.verified.lock() {
            match cache.tokens.get(&digest) {
                Some((account, exp)) if now < *exp => return Ok(account.clone()),
                Some(_) => {
                    cache.tokens.remove(&digest);
                }
                None => {}
            }
            generation = Some(cache.generation);
        }
        let account = self.verify_fully(token).await?;
        if let Some(exp) = unverified_claims(token).ok().and_then(|c| expiry(&c)) {
            if let Ok(mut cache) = self.verified.lock() {
                if Some(cache.generation) == generation {
                    if cache.tokens.len() >= TOKEN_CACHE_SIZE {
                        cache.tokens.retain(|_, (_, e)| now < *e);
                        if cache.tokens.len() >= TOKEN_CACHE_SIZE {
                            cache.tokens.clear();
                        }
                    }
                    cache.tokens.insert(digest, (account.clone(), exp));
                }
            }
        }
        Ok(account)
    }

    /// The provider whose keys `issuer` (a token's unverified `iss`) must be checked with: the
    /// one configured with exactly that issuer, or else a Microsoft multi-tenant one
    /// (`.../common/...`, `.../organizations/...`, `.../consumers/...`) on the same origin whose
    /// discovered document admits it (`ProviderInfo::may_issue`: its tenant issuers). Any other
    /// issuer is refused without a request to anyone.
    async fn slot_for(&self, issuer: &str) -> Result<(&Slot, ProviderInfo), AuthError> {
        if let Some((configured, slot)) = self.providers.get_key_value(issuer.trim_end_matches('/'))
        {
            let info = self.info(configured, slot).await?;
            return Ok((slot, info));
        }
        let refused =
            || AuthError::InvalidToken("its issuer is not accepted by this service".into());
        let origin = Url::parse(issuer).map_err(|_| refused())?.origin();
        let mut unreachable = None;
        for (configured, slot) in &self.providers {
            let Ok(url) = Url::parse(configured) else {
                continue;
            };
            if url.origin() != origin || !is_multi_tenant(&url) {
                continue;
            }
            match self.info(configured, slot).await {
                Ok(info) if info.may_issue(issuer) => return Ok((slot, info)),
                Ok(_) => {}
                Err(e) => unreachable = Some(e),
            }
        }
        Err(unreachable.unwrap_or_else(refused))
    }

    /// The provider's discovered document and keys, fetched at first use.
    async fn info(&self, configured: &str, slot: &Slot) -> Result<ProviderInfo, AuthError> {
        if let Some(info) = slot.info.read().map(|g| g.clone()).unwrap_or(None) {
            return Ok(info);
        }
        let info =
            ProviderInfo::discover(&self.http, &provider_for(configured, slot)?, (self.clock)())
                .await?;
        if let Ok(mut g) = slot.info.write() {
            *g = Some(info.clone());
        }
        Ok(info)
    }

    async fn verify_fully(&self, token: &str) -> Result<Account, AuthError> {
        // The unverified `iss` only picks which provider's keys to check the token with; the
        // verifier then checks `iss` (and everything else) against that provider.
        let claims = unverified_claims(token)?;
        let issuer = claims
            .get("iss")
            .and_then(|v| v.as_str())
            .ok_or_else(|| AuthError::InvalidToken("it names no issuer".into()))?;
        let (slot, mut info) = self.slot_for(issuer).await?;
        let before = info.jwks.clone();
        let result = latchkey_auth::verify_bearer_id_token(
            &self.http,
            &mut info,
            &slot.client_ids,
            token,
            (self.clock)(),
        )
        .await;
        if info.jwks != before {
            if let Ok(mut g) = slot.info.write() {
                *g = Some(info);
            }
            if let Ok(mut cache) = self.verified.lock() {
                cache.tokens.clear();
                cache.generation += 1;
            }
        }
        let id = result?;
        Ok(Account {
            issuer: id.issuer,
            subject: id.subject,
        })
    }
}

/// Whether a configured issuer is one of Microsoft's multi-tenant endpoints, whose tokens name
/// the user's own tenant as `iss`.
fn is_multi_tenant(url: &Url) -> bool {
    url.path_segments()
        .is_some_and(|mut s| s.any(|seg| matches!(seg, "common" | "organizations" | "consumers")))
}

/// `exp` of (already verified) claims.
fn expiry(claims: &serde_json::Value) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

impl Authenticate for OidcAuthenticator {
    fn identify<'a>(&'a self, bearer: &'a str) -> BoxFuture<'a, Result<Account, AuthError>> {
        Box::pin(self.verify(bearer))
    }
}

/// The discovery-only view of a provider latchkey-auth's `discover` takes.
fn provider_for(issuer: &str, slot: &Slot) -> Result<Provider, AuthError> {
    let metadata_url = Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .map_err(|_| AuthError::Config("the issuer is not a URL".into()))?;
    Ok(Provider {
        name: issuer.to_string(),
        metadata_url,
        client_id: slot.client_ids.first().cloned().unwrap_or_default(),
        client_secret: None,
        scopes: vec!["openid".into()],
        auth_params: vec![],
        redirect: Redirect::default(),
        allowed_tenants: vec![],
        allowed_domains: vec![],
    })
}

/// The claims of a JWT, read without verifying anything.
fn unverified_claims(token: &str) -> Result<serde_json::Value, AuthError> {
    let bad = || AuthError::InvalidToken("it is not a well-formed JWT".into());
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let bytes = B64.decode(payload).map_err(|_| bad())?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if !claims.is_object() {
        return Err(bad());
    }
    Ok(claims)
}

/// The `iss` claim of a JWT, read without verifying anything.
#[cfg(test)]
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    unverified_claims(token)?
        .get("iss")
        .and_then(|v| v.as_str())
        .map(String::from)
        .ok_or_else(|| AuthError::InvalidToken("it names no issuer".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!("e30.{}.c2ln", B64.encode(claims))
    }

    #[test]
    fn the_issuer_is_read_from_the_payload() {
        assert_eq!(
            unverified_issuer(&jwt(r#"{"iss":"https://i.example","sub":"a"}"#)).unwrap(),
            "https://i.example"
        );
    }

    #[test]
    fn malformed_tokens_are_invalid() {
        for t in [
            "",
            "a.b",
            "a.b.c.d",
            "e30.!!!.c2ln",
            &jwt("[1]"),
            &jwt(r#"{"sub":"a"}"#),
        ] {
            assert!(
                matches!(unverified_issuer(t), Err(AuthError::InvalidToken(_))),
                "{t:?} must be refused"
            );
        }
    }

    #[tokio::test]
    async fn an_unlisted_issuer_is_refused_without_any_request() {
        let auth = OidcAuthenticator::new(
            latchkey_auth::http_client().unwrap(),
            &[ProviderConfig {
                issuer: "http://127.0.0.1:9".into(),
                client_ids: vec!["c".into()],
            }],
            Arc::new(Utc::now),
        );
        let err = auth
            .identify(&jwt(r#"{"iss":"https://evil.example","sub":"a"}"#))
            .await
            .unwrap_err();
        assert!(matches!(err, AuthError::InvalidToken(_)), "{err:?}");
    }
}
