//! The discovery cache: provider metadata from disk while fresh, else from the provider.

use crate::config::ProviderConfig;
use crate::core::Core;
use crate::error::{Error, Result};
use crate::views::ProviderView;
use chrono::Duration as TimeDelta;
use latchkey_auth::ProviderInfo;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// Cached discovery documents are used for this long before being fetched again.
const DISCOVERY_MAX_AGE_SECS: i64 = 24 * 3600;

impl Core {
    fn info_cache_path(&self, p: &ProviderConfig) -> PathBuf {
        let hash: String = Sha256::digest(p.metadata_url.as_str().as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.data_dir.join("providers").join(format!("{hash}.json"))
    }

    /// Discovery, from the on-disk cache when fresh, else from the provider.
    pub(crate) async fn provider_info(&self, p: &ProviderConfig) -> Result<ProviderInfo> {
        let path = self.info_cache_path(p);
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(info) = serde_json::from_slice::<ProviderInfo>(&bytes) {
                let fresh =
                    self.now() - info.fetched_at < TimeDelta::seconds(DISCOVERY_MAX_AGE_SECS);
                if fresh && info.is_for(&p.metadata_url) {
                    return Ok(info);
                }
            }
        }
        let info = ProviderInfo::discover(&self.http, &p.to_provider(false), self.now()).await?;
        self.save_provider_info(p, &info);
        Ok(info)
    }

    /// Caches discovery; a failure to cache only costs a fetch next time.
    pub(crate) fn save_provider_info(&self, p: &ProviderConfig, info: &ProviderInfo) {
        let path = self.info_cache_path(p);
        if let Ok(bytes) = serde_json::to_vec(info) {
            let _ = latchkey_auth::write_private(&path, &bytes, latchkey_auth::Existing::Replace);
        }
    }

    pub(crate) fn provider_for_info(
        p: &ProviderConfig,
        info: &ProviderInfo,
    ) -> latchkey_auth::Provider {
        let offline_access = info
            .metadata
            .get("scopes_supported")
            .and_then(|s| s.as_array())
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("offline_access")));
        p.to_provider(offline_access)
    }

    /// Whether the provider's discovery document answers now.
    pub(crate) async fn reachable(&self, provider: &str) -> bool {
        let Ok(p) = self.provider(Some(provider)) else {
            return false;
        };
        match self.http.get(p.metadata_url.clone()).send().await {
            Ok(resp) => resp.status().is_success(),
            Err(_) => false,
        }
    }

    /// Every configured provider, with whether its discovery document is reachable now.
    pub async fn providers(&self) -> Vec<ProviderView> {
        let mut out = Vec::new();
        for p in &self.config.providers {
            let result =
                ProviderInfo::discover(&self.http, &p.to_provider(false), self.now()).await;
            if let Ok(info) = &result {
                self.save_provider_info(p, info);
            }
            out.push(ProviderView {
                name: p.name.clone(),
                issuer: p.issuer(),
                redirect: match &p.redirect {
                    latchkey_auth::Redirect::Loopback { port, path } => format!(
                        "http://127.0.0.1:{}{path}",
                        port.map(|p| p.to_string())
                            .unwrap_or_else(|| "<any port>".into())
                    ),
                    latchkey_auth::Redirect::DeepLink { uri } => uri.to_string(),
                },
                reachable: result.is_ok(),
                problem: result.err().map(|e| Error::from(e).message),
            });
        }
        out
    }
}
