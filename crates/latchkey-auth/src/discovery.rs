//! OpenID Provider discovery and signing keys.

use crate::error::AuthError;
use crate::provider::{is_acceptable_provider_url, issuer_from_metadata_url, Provider};
use crate::tenant::{document_issuer_fits, IssuerRule};
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::IssuerUrl;
use serde::{Deserialize, Serialize};
use url::Url;

/// A provider's discovery document and its signing keys (JWKS), as fetched at `fetched_at`.
/// Non-secret: callers may cache it on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// The discovery document as the provider sent it.
    pub metadata: serde_json::Value,
    /// The provider's signing keys (JWKS).
    pub jwks: serde_json::Value,
    /// When the document was fetched (caches expire from here).
    pub fetched_at: DateTime<Utc>,
}

impl ProviderInfo {
    /// Fetches the discovery document and JWKS. The document's `issuer` must equal the issuer
    /// the discovery URL names (for Microsoft's `common`/`organizations` URLs: that issuer with
    /// `{tenantid}` as its tenant; for `consumers`: with the consumer tenant's GUID), and every
    /// endpoint must be `https` (or `http` on loopback).
    pub async fn discover(
        http: &reqwest::Client,
        provider: &Provider,
        now: DateTime<Utc>,
    ) -> Result<Self, AuthError> {
        let metadata: serde_json::Value =
            get_json(http, &provider.metadata_url, "discovery").await?;
        let expected = provider.expected_issuer();
        let issuer = metadata
            .get("issuer")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !document_issuer_fits(&expected, issuer) {
            return Err(AuthError::Config(format!(
                "the discovery document at {} names issuer `{issuer}`, expected `{expected}`",
                provider.metadata_url
            )));
        }
        let mut info = ProviderInfo {
            metadata,
            jwks: serde_json::Value::Null,
            fetched_at: now,
        };
        // Checks every endpoint and the document's shape before the keys are fetched.
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "revocation_endpoint",
            "end_session_endpoint",
        ] {
            info.endpoint(key)?;
        }
        info.refetch_jwks(http).await?;
        info.core_metadata()?;
        Ok(info)
    }

    /// Fetches the JWKS again: called once when an ID token names a key we don't know
    /// (the provider rotated its signing keys).
    pub async fn refetch_jwks(&mut self, http: &reqwest::Client) -> Result<(), AuthError> {
        let jwks_uri = self
            .endpoint("jwks_uri")?
            .ok_or_else(|| AuthError::Protocol("the discovery document has no jwks_uri".into()))?;
        let jwks: serde_json::Value = get_json(http, &jwks_uri, "signing keys").await?;
        serde_json::from_value::<CoreJsonWebKeySet>(jwks.clone())
            .map_err(|e| AuthError::Protocol(format!("the signing keys are malformed: {e}")))?;
        self.jwks = jwks;
        Ok(())
    }

    /// The issuer identifier, exactly as the provider states it.
    pub fn issuer(&self) -> &str {
        self.metadata
            .get("issuer")
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }

    /// Whether this document is the one a discovery URL leads to (its issuer fits the URL, by
    /// the rules of [`ProviderInfo::discover`]): a cached copy is reused only then.
    pub fn is_for(&self, metadata_url: &Url) -> bool {
        document_issuer_fits(&issuer_from_metadata_url(metadata_url), self.issuer())
    }

    /// Whether an ID token naming issuer `iss` may come from this provider: `iss` is the
    /// document's issuer, or for a Microsoft multi-tenant document (`{tenantid}` template or the
    /// consumer tenant) a tenant issuer it admits. Only a routing hint (e.g. which configured
    /// provider's keys to try for a bearer token): verification still checks everything.
    pub fn may_issue(&self, iss: &str) -> bool {
        self.issuer_rule().fits(iss)
    }

    /// How ID tokens of this provider must name their issuer.
    pub(crate) fn issuer_rule(&self) -> IssuerRule {
        IssuerRule::of(self.issuer())
    }

    /// An endpoint URL from the document, if present; an error if present but unacceptable.
    pub fn endpoint(&self, key: &str) -> Result<Option<Url>, AuthError> {
        let Some(v) = self.metadata.get(key) else {
            return Ok(None);
        };
        let s = v.as_str().ok_or_else(|| {
            AuthError::Protocol(format!("the discovery document's `{key}` is not a string"))
        })?;
        let url = Url::parse(s).map_err(|_| {
            AuthError::Protocol(format!("the discovery document's `{key}` is not a URL"))
        })?;
        if !is_acceptable_provider_url(&url) {
            return Err(AuthError::Config(format!(
                "the provider's `{key}` ({url}) is not https; only loopback providers may use http"
            )));
        }
        Ok(Some(url))
    }

    /// The metadata in `openidconnect`'s type, with the signing keys attached.
    pub(crate) fn core_metadata(&self) -> Result<CoreProviderMetadata, AuthError> {
        self.core_metadata_for(None)
    }

    /// The metadata as [`Self::core_metadata`], with `issuer` (a tenant's own issuer, for a
    /// Microsoft multi-tenant document) in place of the document's.
    pub(crate) fn core_metadata_for(
        &self,
        issuer: Option<&str>,
    ) -> Result<CoreProviderMetadata, AuthError> {
        let mut meta: CoreProviderMetadata = serde_json::from_value(self.metadata.clone())
            .map_err(|e| {
                AuthError::Protocol(format!("the discovery document is malformed: {e}"))
            })?;
        let jwks: CoreJsonWebKeySet = serde_json::from_value(self.jwks.clone())
            .map_err(|e| AuthError::Protocol(format!("the signing keys are malformed: {e}")))?;
        if let Some(issuer) = issuer {
            let issuer = IssuerUrl::new(issuer.to_string()).map_err(|_| {
                AuthError::InvalidToken(format!("its issuer `{issuer}` is not a URL"))
            })?;
            meta = meta.set_issuer(issuer);
        }
        Ok(meta.set_jwks(jwks))
    }
}

async fn get_json(
    http: &reqwest::Client,
    url: &Url,
    what: &str,
) -> Result<serde_json::Value, AuthError> {
    let resp = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| AuthError::from_reqwest(what, &e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(AuthError::Protocol(format!(
            "{what} ({url}): HTTP {status}"
        )));
    }
    let body = crate::http::read_capped(resp, crate::http::MAX_ANSWER_BYTES)
        .await
        .map_err(|e| e.into_auth(what))?;
    serde_json::from_slice(&body)
        .map_err(|_| AuthError::Protocol(format!("{what} ({url}): the answer was not valid JSON")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(issuer: &str) -> ProviderInfo {
        ProviderInfo {
            metadata: serde_json::json!({ "issuer": issuer }),
            jwks: serde_json::Value::Null,
            fetched_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_multi_tenant_document_may_issue_for_its_tenants_only() {
        let ms = "https://login.microsoftonline.com";
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let common = info(&format!("{ms}/{{tenantid}}/v2.0"));
        assert!(common.may_issue(&format!("{ms}/{tenant}/v2.0")));
        assert!(!common.may_issue(&format!("{ms}/{{tenantid}}/v2.0")));
        assert!(!common.may_issue(&format!("https://evil.example/{tenant}/v2.0")));
        let exact = info("https://accounts.google.com");
        assert!(exact.may_issue("https://accounts.google.com"));
        assert!(!exact.may_issue("https://accounts.google.com/x"));
        let url = Url::parse(&format!(
            "{ms}/common/v2.0/.well-known/openid-configuration"
        ))
        .unwrap();
        assert!(common.is_for(&url), "a cached common document is reused");
        assert!(!exact.is_for(&url));
    }
}
