//! The server's TOML configuration (`--config PATH` or `LATCHKEY_SERVER_CONFIG`).

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// Where the server listens when the configuration says nothing: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// The environment variable naming the configuration file when `--config` is absent.
pub const CONFIG_ENV: &str = "LATCHKEY_SERVER_CONFIG";

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where `serve` binds (default 127.0.0.1:8787): exactly there, nowhere else.
    pub listen: SocketAddr,
    /// The PostgreSQL URL, from `database_url` or the variable `database_url_env` names.
    pub database_url: DatabaseUrl,
    /// The accepted identity providers; ID tokens from any other issuer are refused.
    pub providers: Vec<ProviderConfig>,
    /// Longest time one request may take before it is answered 408 (seconds).
    pub request_timeout_secs: u64,
    /// Largest accepted request body (bytes); larger ones are answered 413.
    pub max_body_bytes: usize,
    /// Credit packs, the payment provider and welcome credits.
    pub shop: crate::shop::ShopConfig,
    /// The key voucher signing seeds are sealed with (`voucher_seal_key_env` or
    /// `voucher_seal_key_file`); none: seeds are stored plainly.
    pub voucher_seal_key: Option<crate::vouchers::SealKey>,
    /// How much a device may borrow for offline spending, and for how long (`[sync]`).
    pub lease_policy: crate::sync::LeasePolicy,
}

/// One accepted OpenID Provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The issuer exactly as its ID tokens' `iss` states it; discovery is at
    /// `issuer + /.well-known/openid-configuration`.
    pub issuer: String,
    /// The desktop client ids accepted as the ID token's `aud`.
    pub client_ids: Vec<String>,
}

/// A secret (a database URL that may carry a password, an API key): `Debug` prints
/// `[redacted]`, and nothing here displays it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret (never shown by `Debug`).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the driver, the HTTP client or the HMAC only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The PostgreSQL connection URL. It may carry a password: a [`Secret`].
pub type DatabaseUrl = Secret;

/// A configuration that cannot be used. The message names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither `--config` nor `LATCHKEY_SERVER_CONFIG` names a file.
    #[error("no configuration: pass --config PATH or set {CONFIG_ENV}")]
    Missing,
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file named.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid configuration: `FILE:LINE: KEY: what is wrong`.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    listen: Option<toml::Spanned<String>>,
    database_url: Option<toml::Spanned<String>>,
    database_url_env: Option<toml::Spanned<String>>,
    request_timeout_secs: Option<toml::Spanned<u64>>,
    max_body_bytes: Option<toml::Spanned<usize>>,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    packs: Vec<toml::Spanned<crate::shop::Pack>>,
    payment: Option<toml::Spanned<crate::shop::RawPayment>>,
    welcome_credits: Option<toml::Spanned<i64>>,
    voucher_seal_key_env: Option<toml::Spanned<String>>,
    voucher_seal_key_file: Option<toml::Spanned<String>>,
    sync: Option<RawSync>,
}

/// `[sync]`: the offline lease policy (issue 9). Every key is optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    lease_credits: Option<toml::Spanned<i64>>,
    max_lease_credits: Option<toml::Spanned<i64>>,
    lease_days: Option<toml::Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    issuer: toml::Spanned<String>,
    client_ids: toml::Spanned<Vec<String>>,
}

impl Config {
    /// Reads the file named by `path`, else by `LATCHKEY_SERVER_CONFIG`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None => std::env::var_os(CONFIG_ENV)
                .map(PathBuf::from)
                .ok_or(ConfigError::Missing)?,
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::parse(&path.display().to_string(), &text, |k| {
            std::env::var(k).ok()
        })
    }

    /// Parses `text` (named `file` in messages); `env` looks up `database_url_env`.
    pub fn parse(
        file: &str,
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let at = |span: std::ops::Range<usize>, key: &str, what: &str| {
            ConfigError::Invalid(format!(
                "{file}:{}: {key}: {what}",
                line_of(text, span.start)
            ))
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => (line_of(text, span.start), key_at(text, span.start)),
                None => (1, None),
            };
            let key = key.map(|k| format!("{k}: ")).unwrap_or_default();
            ConfigError::Invalid(format!("{file}:{line}: {key}{}", e.message().trim()))
        })?;

        let listen = match &raw.listen {
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|_| at(0..0, "listen", "bad default"))?,
            Some(l) => l.get_ref().parse().map_err(|_| {
                at(
                    l.span(),
                    "listen",
                    "expected an address and port such as 127.0.0.1:8787",
                )
            })?,
        };

        let database_url = match (&raw.database_url, &raw.database_url_env) {
            (Some(u), None) => DatabaseUrl::new(u.get_ref().clone()),
            (None, Some(var)) => DatabaseUrl::new(env(var.get_ref()).ok_or_else(|| {
                at(
                    var.span(),
                    "database_url_env",
                    &format!("the environment variable {} is not set", var.get_ref()),
                )
            })?),
            (Some(u), Some(_)) => {
                return Err(at(
                    u.span(),
                    "database_url",
                    "give database_url or database_url_env, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::Invalid(format!(
                    "{file}: database_url: missing (or name an environment variable in database_url_env)"
                )))
            }
        };
        if !(database_url.expose().starts_with("postgres://")
            || database_url.expose().starts_with("postgresql://"))
        {
            let span = raw.database_url.as_ref().map(|s| s.span()).unwrap_or(0..0);
            // The URL itself is never repeated: it may hold a password.
            return Err(at(
                span,
                "database_url",
                "expected a postgres:// or postgresql:// URL",
            ));
        }

        let mut providers: Vec<ProviderConfig> = Vec::new();
        for p in raw.providers {
            let issuer = p.issuer.get_ref().trim_end_matches('/').to_string();
            let ok = Url::parse(&issuer)
                .map(|u| {
                    u.scheme() == "https"
                        || (u.scheme() == "http"
                            && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")))
                })
                .unwrap_or(false);
            if !ok {
                return Err(at(
                    p.issuer.span(),
                    "providers.issuer",
                    "expected an https URL (http only on loopback)",
                ));
            }
            if providers.iter().any(|q| q.issuer == issuer) {
                return Err(at(
                    p.issuer.span(),
                    "providers.issuer",
                    "this issuer is listed twice",
                ));
            }
            let client_ids = p.client_ids.get_ref().clone();
            if client_ids.is_empty() || client_ids.iter().any(|c| c.trim().is_empty()) {
                return Err(at(
                    p.client_ids.span(),
                    "providers.client_ids",
                    "list at least one non-empty client id",
                ));
            }
            providers.push(ProviderConfig { issuer, client_ids });
        }

        let request_timeout_secs = match raw.request_timeout_secs {
            None => 30,
            Some(t) if (1..=600).contains(t.get_ref()) => *t.get_ref(),
            Some(t) => {
                return Err(at(
                    t.span(),
                    "request_timeout_secs",
                    "expected 1 to 600 seconds",
                ))
            }
        };
        let max_body_bytes = match raw.max_body_bytes {
            None => 64 * 1024,
            Some(b) if (1024..=1024 * 1024).contains(b.get_ref()) => *b.get_ref(),
            Some(b) => {
                return Err(at(
                    b.span(),
                    "max_body_bytes",
                    "expected 1024 to 1048576 bytes",
                ))
            }
        };
        let voucher_seal_key =
            if raw.voucher_seal_key_env.is_none() && raw.voucher_seal_key_file.is_none() {
                None
            } else {
                let span = raw
                    .voucher_seal_key_env
                    .as_ref()
                    .or(raw.voucher_seal_key_file.as_ref())
                    .map(|s| s.span())
                    .unwrap_or(0..0);
                let secret = crate::shop::config::secret(
                    &raw.voucher_seal_key_env,
                    &raw.voucher_seal_key_file,
                    "voucher_seal_key",
                    span.clone(),
                    &at,
                    &env,
                )?;
                Some(
                    crate::vouchers::SealKey::parse(&secret)
                        .map_err(|e| at(span, "voucher_seal_key", &e.to_string()))?,
                )
            };
        let lease_policy = lease_policy(raw.sync, &at)?;
        let shop = crate::shop::ShopConfig::from_raw(
            raw.packs,
            raw.payment,
            raw.welcome_credits,
            &at,
            &env,
        )?;
        Ok(Config {
            listen,
            database_url,
            providers,
            request_timeout_secs,
            max_body_bytes,
            shop,
            voucher_seal_key,
            lease_policy,
        })
    }
}

/// `[sync]` over [`crate::sync::LeasePolicy::default`]: `lease_credits` 0 to
/// `max_lease_credits`, `max_lease_credits` 1 to 10^12, `lease_days` 1 to 365.
fn lease_policy(
    raw: Option<RawSync>,
    at: &impl Fn(std::ops::Range<usize>, &str, &str) -> ConfigError,
) -> Result<crate::sync::LeasePolicy, ConfigError> {
    let mut policy = crate::sync::LeasePolicy::default();
    let Some(raw) = raw else {
        return Ok(policy);
    };
    let max_amount = crate::ledger::MAX_AMOUNT;
    if let Some(m) = &raw.max_lease_credits {
        if !(1..=max_amount).contains(m.get_ref()) {
            return Err(at(
                m.span(),
                "sync.max_lease_credits",
                &format!("expected 1 to {max_amount} credits"),
            ));
        }
        policy.max_credits = *m.get_ref();
    }
    if let Some(l) = &raw.lease_credits {
        if !(0..=policy.max_credits).contains(l.get_ref()) {
            return Err(at(
                l.span(),
                "sync.lease_credits",
                &format!(
                    "expected 0 to {} credits (sync.max_lease_credits)",
                    policy.max_credits
                ),
            ));
        }
        policy.default_credits = *l.get_ref();
    } else {
        policy.default_credits = policy.default_credits.min(policy.max_credits);
    }
    if let Some(d) = &raw.lease_days {
        if !(1..=365).contains(d.get_ref()) {
            return Err(at(d.span(), "sync.lease_days", "expected 1 to 365 days"));
        }
        policy.ttl = chrono::Duration::days(*d.get_ref());
    }
    Ok(policy)
}

/// 1-based line number of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The key written on the line holding byte offset `at` (`key = ...`), if any.
fn key_at(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let end = text[at..].find('\n').map(|i| at + i).unwrap_or(text.len());
    let line = text[start..end].trim();
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    (!key.is_empty()).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse("server.toml", text, |k| {
            (k == "PGURL").then(|| "postgresql://u:hunter2@127.0.0.1/db".to_string())
        })
    }

    #[test]
    fn minimal_config_listens_on_loopback_by_default() {
        let c = parse("database_url = \"postgresql://u@127.0.0.1/db\"\n").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.providers.is_empty());
        assert_eq!(c.max_body_bytes, 65536);
    }

    #[test]
    fn providers_and_env_url_are_read() {
        let c = parse(
            "listen = \"0.0.0.0:9000\"\ndatabase_url_env = \"PGURL\"\n\
             [[providers]]\nissuer = \"https://accounts.example.com/\"\nclient_ids = [\"a\", \"b\"]\n",
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(
            c.providers,
            vec![ProviderConfig {
                issuer: "https://accounts.example.com".into(),
                client_ids: vec!["a".into(), "b".into()],
            }]
        );
        assert_eq!(
            c.database_url.expose(),
            "postgresql://u:hunter2@127.0.0.1/db"
        );
    }

    #[test]
    fn the_database_url_never_shows_in_debug() {
        let c = parse("database_url_env = \"PGURL\"\n").unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2"),
            "Debug leaked the password: {shown}"
        );
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "database_url = \"postgresql://x@h/d\"\nlisten = \"nowhere\"\n",
                "server.toml:2: listen:",
            ),
            (
                "database_url = \"postgresql://x@h/d\"\n\nlsten = \"1.2.3.4:5\"\n",
                "server.toml:3: lsten: unknown field",
            ),
            (
                "database_url = \"postgresql://x@h/d\"\nmax_body_bytes = \"big\"\n",
                "server.toml:2: max_body_bytes:",
            ),
            (
                "database_url = \"postgresql://x@h/d\"\n[[providers]]\nissuer = \"http://evil.example\"\nclient_ids = [\"a\"]\n",
                "server.toml:3: providers.issuer:",
            ),
            (
                "database_url = \"postgresql://x@h/d\"\n[[providers]]\nissuer = \"https://i.example\"\nclient_ids = []\n",
                "server.toml:4: providers.client_ids:",
            ),
            ("database_url_env = \"NOPE\"\n", "server.toml:1: database_url_env:"),
            ("listen = \"127.0.0.1:1\"\n", "server.toml: database_url: missing"),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text).to_string();
            assert!(
                err.starts_with(want),
                "for {text:?}: got {err:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn the_sync_section_sets_the_lease_policy() {
        let base = "database_url = \"postgresql://u@127.0.0.1/db\"\n";
        assert_eq!(
            parse(base).unwrap().lease_policy,
            crate::sync::LeasePolicy::default(),
            "no [sync]: min(available, 20) for 14 days"
        );
        let c = parse(&format!(
            "{base}[sync]\nlease_credits = 50\nmax_lease_credits = 500\nlease_days = 3\n"
        ))
        .unwrap();
        assert_eq!(
            c.lease_policy,
            crate::sync::LeasePolicy {
                default_credits: 50,
                max_credits: 500,
                ttl: chrono::Duration::days(3),
            }
        );
        let capped = parse(&format!("{base}[sync]\nmax_lease_credits = 5\n")).unwrap();
        assert_eq!(
            capped.lease_policy.target(None),
            5,
            "a maximum below the default size lowers the default"
        );
        let cases = [
            (
                "[sync]\nlease_days = 0\n",
                "server.toml:3: sync.lease_days:",
            ),
            (
                "[sync]\nlease_credits = -1\n",
                "server.toml:3: sync.lease_credits:",
            ),
            (
                "[sync]\nmax_lease_credits = 10\nlease_credits = 11\n",
                "server.toml:4: sync.lease_credits:",
            ),
            (
                "[sync]\nmax_lease_credits = 0\n",
                "server.toml:3: sync.max_lease_credits:",
            ),
            (
                "[sync]\nlease_dayz = 3\n",
                "server.toml:3: lease_dayz: unknown field",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&format!("{base}{text}")).expect_err(text).to_string();
            assert!(
                err.starts_with(want),
                "for {text:?}: got {err:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn a_bad_url_is_refused_without_repeating_it() {
        let err = parse("database_url = \"mysql://root:hunter2@h/d\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("server.toml:1: database_url:"), "{err}");
        assert!(
            !err.contains("hunter2"),
            "the error leaked the password: {err}"
        );
    }

    #[test]
    fn the_voucher_seal_key_comes_from_the_environment_and_is_checked() {
        let env = |k: &str| match k {
            "SEAL" => Some("5a".repeat(32)),
            "SHORT" => Some("5a5a".to_string()),
            _ => None,
        };
        let base = "database_url = \"postgresql://u@127.0.0.1/db\"\n";
        assert!(parse(base).unwrap().voucher_seal_key.is_none());
        let c = Config::parse(
            "server.toml",
            &format!("{base}voucher_seal_key_env = \"SEAL\"\n"),
            env,
        )
        .unwrap();
        assert!(c.voucher_seal_key.is_some());
        assert!(
            !format!("{c:?}").contains(&"5a".repeat(32)),
            "never in Debug"
        );
        let err = Config::parse(
            "server.toml",
            &format!("{base}voucher_seal_key_env = \"SHORT\"\n"),
            env,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("server.toml:2: voucher_seal_key") && err.contains("64 hex digits"),
            "{err}"
        );
        assert!(!err.contains("5a5a"), "the error repeats no key: {err}");
    }
}
