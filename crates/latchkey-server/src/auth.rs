//! Who is calling: `Authorization: Bearer <OIDC ID token>`, verified by latchkey-auth's
//! [`latchkey_auth::verify_bearer_id_token`] (the same rules the desktop applies at sign-in).

use crate::config::ProviderConfig;
use crate::ledger::Account;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use latchkey_auth::{AuthError, Provider, ProviderInfo, Redirect};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
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
pub struct OidcAuthenticator {
    http: reqwest::Client,
    clock: Clock,
    providers: HashMap<String, Slot>,
}

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
                    p.issuer.clone(),
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
        }
    }

    async fn verify(&self, token: &str) -> Result<Account, AuthError> {
        // The unverified `iss` only picks which provider's keys to check the token with; the
        // verifier then checks `iss` (and everything else) against that provider.
        let issuer = unverified_issuer(token)?;
        let slot = self
            .providers
            .get(issuer.trim_end_matches('/'))
            .ok_or_else(|| {
                AuthError::InvalidToken("its issuer is not accepted by this service".into())
            })?;
        let cached = slot.info.read().map(|g| g.clone()).unwrap_or(None);
        let mut info = match cached {
            Some(info) => info,
            None => {
                let info = ProviderInfo::discover(
                    &self.http,
                    &provider_for(&issuer, slot)?,
                    (self.clock)(),
                )
                .await?;
                if let Ok(mut g) = slot.info.write() {
                    *g = Some(info.clone());
                }
                info
            }
        };
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
        }
        let id = result?;
        Ok(Account {
            issuer: id.issuer,
            subject: id.subject,
        })
    }
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

/// The `iss` claim of a JWT, read without verifying anything.
fn unverified_issuer(token: &str) -> Result<String, AuthError> {
    let bad = || AuthError::InvalidToken("it is not a well-formed JWT".into());
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let bytes = B64.decode(payload).map_err(|_| bad())?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    claims
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
