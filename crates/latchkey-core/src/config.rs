//! The configuration file: Streamlit's `secrets.toml` shape.
//!
//! ```toml
//! [auth]
//! session_days = 30            # optional
//! cookie_secret = "..."        # Streamlit's; accepted and ignored
//!
//! [auth.google]                # one table per provider...
//! client_id = "...apps.googleusercontent.com"
//! client_secret = "..."        # optional: absent means a public client
//! allowed_domains = ["corp.example"]   # optional: Workspace domains (the `hd` claim)
//!
//! [auth.microsoft]             # Microsoft Entra: the metadata URL from `tenant`
//! client_id = "00000000-0000-0000-0000-000000000000"
//! tenant = "common"            # default; "organizations", "consumers" or a tenant GUID
//! allowed_tenants = ["72f988bf-86f1-41af-91ab-2d7cd011db47"]   # optional: `tid`s accepted
//!
//! [auth.company]
//! client_id = "latchkey"
//! server_metadata_url = "https://id.example.com/.well-known/openid-configuration"
//! client_kwargs = { scope = "openid profile email", prompt = "select_account" }
//! redirect = "loopback"        # or "deep-link"
//! redirect_uri = "http://127.0.0.1:8765/callback"   # optional: pin the port/path
//!
//! [wallet]
//! voucher_keys = ["LKPUB1...."]
//! welcome_credits = 10
//! offline_only = true          # no credit service: the local wallet is the only ledger
//!
//! [service]                    # the credit service (latchkey-server); the wallet lives there
//! url = "https://credits.example.com"
//! ```
//! ...or `[auth]` holds one provider inline (`client_id`, ... directly), named `default`.
//! Every error names the file, the line and the key.

use latchkey_auth::{
    is_loopback_host, issuer_from_metadata_url, ClientSecret, Provider, Redirect, WELL_KNOWN,
};
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};
use toml::Spanned;
use url::Url;

/// Google's discovery document, used by `[auth.google]` without `server_metadata_url`.
pub const GOOGLE_METADATA_URL: &str =
    "https://accounts.google.com/.well-known/openid-configuration";
/// Microsoft Entra's discovery document for `[auth.microsoft]` without
/// `server_metadata_url`; `{tenant}` is the table's `tenant` (default `common`).
pub const MICROSOFT_METADATA_URL: &str =
    "https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration";
/// The deep-link redirect used when `redirect = "deep-link"` names no `redirect_uri`.
pub const DEFAULT_DEEP_LINK: &str = "latchkey://auth/callback";

/// What `[auth]` may hold, for the message about a key it may not.
const AUTH_KEYS: &str = "unknown key; expected session_days, client_id, client_secret, \
                         server_metadata_url, client_kwargs, redirect, or a [auth.<name>] table";
/// What a provider table may hold, for the message about a key it may not.
const PROVIDER_KEYS: &str = "unknown key; expected client_id, client_secret, \
                             server_metadata_url, client_kwargs, redirect, redirect_uri, \
                             tenant, allowed_tenants or allowed_domains";
/// The provider keys that may stand inline in `[auth]` (the provider `default`).
const INLINE_PROVIDER_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "server_metadata_url",
    "client_kwargs",
    "redirect",
];
/// Authorization parameters Latchkey sets itself: `client_kwargs` may not override them.
const RESERVED_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_type",
];

/// A loaded configuration.
#[derive(Debug)]
pub struct Config {
    /// The file it came from; `None` when there was none at the default place.
    pub source: Option<PathBuf>,
    /// Providers in file order.
    pub providers: Vec<ProviderConfig>,
    /// How long a sign-in lasts, whatever the tokens say.
    pub session_days: u32,
    /// The `[wallet]` table.
    pub wallet: WalletConfig,
    /// The `[service]` table: the credit service, when one is configured.
    pub service: Option<ServiceConfig>,
    /// Keys accepted but ignored (Streamlit-only), for `--verbose`.
    pub notes: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: None,
            providers: Vec::new(),
            session_days: 30,
            wallet: WalletConfig::default(),
            service: None,
            notes: Vec::new(),
        }
    }
}

/// `[wallet]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletConfig {
    /// Trusted voucher public keys.
    pub voucher_keys: Vec<String>,
    /// Credits granted once per account at its first sign-in.
    pub welcome_credits: i64,
    /// What one analytics run costs.
    pub analytics_cost: i64,
    /// `offline_only = true`: there is no credit service; the local wallet is the ledger.
    pub offline_only: bool,
}

/// `[service]`: where the credit service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Its base URL (`https`, or `http` to a loopback IP literal); its path ends with `/`.
    pub url: Url,
}

impl Default for WalletConfig {
    fn default() -> Self {
        Self {
            voucher_keys: Vec::new(),
            welcome_credits: 0,
            analytics_cost: 1,
            offline_only: false,
        }
    }
}

/// One `[auth.<name>]` provider.
#[derive(Debug)]
pub struct ProviderConfig {
    /// The table's name: `google` in `[auth.google]`, `default` for an inline `[auth]`.
    pub name: String,
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`; absent for public clients.
    pub client_secret: Option<ClientSecret>,
    /// `server_metadata_url` (Google's when `[auth.google]` names none).
    pub metadata_url: Url,
    /// `client_kwargs` other than `scope`, in file order.
    pub auth_params: Vec<(String, String)>,
    /// From `client_kwargs.scope`; `None` means the default.
    pub scope: Option<Vec<String>>,
    /// `redirect` and `redirect_uri`.
    pub redirect: Redirect,
    /// Google needs `access_type=offline` (not the `offline_access` scope) for refresh tokens.
    pub is_google: bool,
    /// `allowed_tenants`: Microsoft tenant ids (GUIDs) whose ID tokens are accepted; empty
    /// means any.
    pub allowed_tenants: Vec<String>,
    /// `allowed_domains`: Google Workspace domains (the `hd` claim) whose ID tokens are
    /// accepted; empty means any.
    pub allowed_domains: Vec<String>,
}

impl ProviderConfig {
    /// The provider for a sign-in. `supports_offline_access` comes from the discovery
    /// document: the default scope asks for a refresh token the way the provider wants.
    pub fn to_provider(&self, supports_offline_access: bool) -> Provider {
        let mut scopes = self.scope.clone().unwrap_or_else(|| {
            let mut s = vec!["openid".to_string(), "profile".into(), "email".into()];
            if supports_offline_access && !self.is_google {
                s.push("offline_access".into());
            }
            s
        });
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into());
        }
        let mut auth_params = self.auth_params.clone();
        if self.is_google {
            if !auth_params.iter().any(|(k, _)| k == "access_type") {
                auth_params.push(("access_type".into(), "offline".into()));
            }
            if !auth_params.iter().any(|(k, _)| k == "prompt") {
                auth_params.push(("prompt".into(), "consent".into()));
            }
        }
        Provider {
            name: self.name.clone(),
            metadata_url: self.metadata_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.as_ref().map(ClientSecret::duplicate),
            scopes,
            auth_params,
            redirect: self.redirect.clone(),
            allowed_tenants: self.allowed_tenants.clone(),
            allowed_domains: self.allowed_domains.clone(),
        }
    }

    /// The issuer this provider's discovery URL names.
    pub fn issuer(&self) -> String {
        issuer_from_metadata_url(&self.metadata_url)
    }
}

/// A configuration problem, located: `file:line: key: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {message}")]
pub struct ConfigError {
    /// The file's name.
    pub file: String,
    /// The 1-based line of the problem.
    pub line: usize,
    /// The key, as `[auth.x] client_id`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Reads and checks the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        line: 0,
        key: "(file)".into(),
        message: format!("cannot read it: {e}"),
    })?;
    let mut config = parse(&text, &path.display().to_string())?;
    config.source = Some(path.to_path_buf());
    Ok(config)
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let at = span.start.min(self.text.len());
        ConfigError {
            file: self.file.to_string(),
            line: self.text[..at].matches('\n').count() + 1,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn string(&self, v: &Spanned<DeValue<'_>>, key: &str) -> Result<String, ConfigError> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            other => Err(self.err(
                v.span(),
                key,
                format!("expected a string, found {}", other.type_str()),
            )),
        }
    }

    fn strings(&self, v: &Spanned<DeValue<'_>>, key: &str) -> Result<Vec<String>, ConfigError> {
        let bad = || {
            self.err(
                v.span(),
                key,
                "expected a list of strings, e.g. [\"a\", \"b\"]",
            )
        };
        let DeValue::Array(items) = v.get_ref() else {
            return Err(bad());
        };
        items
            .iter()
            .map(|i| match i.get_ref() {
                DeValue::String(s) => Ok(s.trim().to_ascii_lowercase()),
                _ => Err(bad()),
            })
            .collect()
    }

    fn integer(
        &self,
        v: &Spanned<DeValue<'_>>,
        key: &str,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let bad = || {
            self.err(
                v.span(),
                key,
                format!("expected a whole number from {min} to {max}"),
            )
        };
        match v.get_ref() {
            DeValue::Integer(i) => {
                let n = i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
                    .map_err(|_| bad())?;
                if (min..=max).contains(&n) {
                    Ok(n)
                } else {
                    Err(bad())
                }
            }
            _ => Err(bad()),
        }
    }
}

/// Parses configuration text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let ctx = Ctx { text, file };
    let root = DeTable::parse(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        ctx.err(span, "(syntax)", format!("not valid TOML: {}", e.message()))
    })?;
    let mut config = Config::default();
    let mut auth = None;
    for (k, v) in root.get_ref().iter() {
        match k.get_ref().as_ref() {
            "auth" => auth = Some(v),
            "wallet" => config.wallet = parse_wallet(&ctx, v)?,
            "service" => config.service = Some(parse_service(&ctx, v)?),
            other => config
                .notes
                .push(format!("ignored top-level `{other}` (not Latchkey's)")),
        }
    }
    if let (true, Some(_)) = (config.wallet.offline_only, &config.service) {
        let at = text.find("offline_only").unwrap_or(0);
        return Err(ctx.err(
            at..at,
            "[wallet] offline_only",
            "is true but a [service] url is also set; remove one of the two",
        ));
    }
    let Some(auth) = auth else {
        return Err(ctx.err(
            0..0,
            "[auth]",
            "the file has no [auth] table; add one with your provider's client_id",
        ));
    };
    let DeValue::Table(table) = auth.get_ref() else {
        return Err(ctx.err(auth.span(), "auth", "expected a table ([auth])"));
    };
    let mut inline = Vec::new();
    for (k, v) in table.iter() {
        let key = k.get_ref().as_ref();
        match (key, v.get_ref()) {
            ("session_days", _) => {
                config.session_days = ctx.integer(v, "[auth] session_days", 1, 3650)? as u32
            }
            ("cookie_secret" | "redirect_uri" | "expose_tokens", _) => config.notes.push(format!(
                "ignored [auth] {key} (a Streamlit web setting; Latchkey does not need it)"
            )),
            (inline_key, _) if INLINE_PROVIDER_KEYS.contains(&inline_key) => inline.push((k, v)),
            (name, DeValue::Table(t)) => {
                if name == "default" && !inline.is_empty() {
                    let why = "conflicts with the provider written inline in [auth]";
                    return Err(ctx.err(k.span(), "[auth.default]", why));
                }
                config
                    .providers
                    .push(parse_provider(&ctx, name, k.span(), t)?);
            }
            (other, _) => return Err(ctx.err(k.span(), &format!("[auth] {other}"), AUTH_KEYS)),
        }
    }
    if !inline.is_empty() {
        if config.providers.iter().any(|p| p.name == "default") {
            return Err(ctx.err(
                auth.span(),
                "[auth]",
                "has both an inline provider and [auth.default]",
            ));
        }
        let mut t = DeTable::default();
        for (k, v) in inline {
            t.insert(k.clone(), v.clone());
        }
        config
            .providers
            .insert(0, parse_provider(&ctx, "default", auth.span(), &t)?);
    }
    Ok(config)
}

fn parse_provider(
    ctx: &Ctx<'_>,
    name: &str,
    span: std::ops::Range<usize>,
    t: &DeTable<'_>,
) -> Result<ProviderConfig, ConfigError> {
    let section = if name == "default" {
        "[auth]".to_string()
    } else {
        format!("[auth.{name}]")
    };
    let key = |k: &str| format!("{section} {k}");
    let mut client_id = None;
    let mut client_secret = None;
    let mut metadata = None;
    let mut auth_params = Vec::new();
    let mut scope = None;
    let mut redirect_kind: Option<(String, std::ops::Range<usize>)> = None;
    let mut redirect_uri: Option<(String, std::ops::Range<usize>)> = None;
    let mut tenant: Option<(String, std::ops::Range<usize>)> = None;
    let mut allowed_tenants = Vec::new();
    let mut allowed_domains = Vec::new();
    for (k, v) in t.iter() {
        let k_str = k.get_ref().as_ref();
        match k_str {
            "client_id" => {
                let s = ctx.string(v, &key("client_id"))?;
                if s.trim().is_empty() {
                    let why = "is empty; paste your OAuth client ID";
                    return Err(ctx.err(v.span(), &key("client_id"), why));
                }
                client_id = Some(s);
            }
            "client_secret" => {
                client_secret = Some(ClientSecret::new(ctx.string(v, &key("client_secret"))?))
            }
            "server_metadata_url" => {
                let s = ctx.string(v, &key("server_metadata_url"))?;
                metadata = Some((s, v.span()));
            }
            "client_kwargs" => {
                let DeValue::Table(kw) = v.get_ref() else {
                    let why = "expected a table, e.g. { prompt = \"select_account\" }";
                    return Err(ctx.err(v.span(), &key("client_kwargs"), why));
                };
                for (kk, kv) in kw.iter() {
                    let kname = kk.get_ref().to_string();
                    let full = key(&format!("client_kwargs.{kname}"));
                    let value = match kv.get_ref() {
                        DeValue::String(s) => s.to_string(),
                        DeValue::Boolean(b) => b.to_string(),
                        DeValue::Integer(i) => i.as_str().to_string(),
                        other => {
                            let why = format!("expected a string, found {}", other.type_str());
                            return Err(ctx.err(kv.span(), &full, why));
                        }
                    };
                    if kname == "scope" {
                        let scopes: Vec<String> =
                            value.split_whitespace().map(str::to_string).collect();
                        if scopes.is_empty() {
                            let why = "is empty; e.g. \"openid profile email\"";
                            return Err(ctx.err(kv.span(), &full, why));
                        }
                        scope = Some(scopes);
                    } else if RESERVED_PARAMS.contains(&kname.as_str()) {
                        let why = "is set by Latchkey itself and cannot be overridden";
                        return Err(ctx.err(kv.span(), &full, why));
                    } else {
                        auth_params.push((kname, value));
                    }
                }
            }
            "redirect" => redirect_kind = Some((ctx.string(v, &key("redirect"))?, v.span())),
            "redirect_uri" => redirect_uri = Some((ctx.string(v, &key("redirect_uri"))?, v.span())),
            "tenant" => {
                let s = ctx.string(v, &key("tenant"))?;
                let known = ["common", "organizations", "consumers"].contains(&s.as_str());
                if name != "microsoft" {
                    let why = "only [auth.microsoft] has a tenant; elsewhere give \
                               server_metadata_url";
                    return Err(ctx.err(k.span(), &key("tenant"), why));
                }
                if !known && !is_guid(&s) {
                    let why = "expected \"common\", \"organizations\", \"consumers\" or a \
                               tenant id (GUID)";
                    return Err(ctx.err(v.span(), &key("tenant"), why));
                }
                tenant = Some((s, v.span()));
            }
            "allowed_tenants" => {
                allowed_tenants = ctx.strings(v, &key("allowed_tenants"))?;
                if let Some(bad) = allowed_tenants.iter().find(|t| !is_guid(t)) {
                    let why = format!("`{bad}` is not a tenant id (a GUID)");
                    return Err(ctx.err(v.span(), &key("allowed_tenants"), why));
                }
            }
            "allowed_domains" => {
                allowed_domains = ctx.strings(v, &key("allowed_domains"))?;
                let plain = |d: &String| {
                    !d.is_empty()
                        && d.contains('.')
                        && d.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                };
                if let Some(bad) = allowed_domains.iter().find(|d| !plain(d)) {
                    let why = format!("`{bad}` is not a domain name like example.com");
                    return Err(ctx.err(v.span(), &key("allowed_domains"), why));
                }
            }
            other => return Err(ctx.err(k.span(), &key(other), PROVIDER_KEYS)),
        }
    }
    let client_id = client_id.ok_or_else(|| {
        ctx.err(
            span.clone(),
            &key("client_id"),
            "is missing; paste your OAuth client ID",
        )
    })?;
    let (metadata_url, is_google) = match metadata {
        Some((s, sp)) => {
            let url = Url::parse(&s).map_err(|e| {
                ctx.err(
                    sp.clone(),
                    &key("server_metadata_url"),
                    format!("is not a URL ({e})"),
                )
            })?;
            let loopback = url.scheme() == "http" && is_loopback_host(url.host_str());
            if url.scheme() != "https" && !loopback {
                return Err(ctx.err(
                    sp,
                    &key("server_metadata_url"),
                    "must be https (plain http only for 127.0.0.0/8 or [::1], never a name such as \
                     localhost)",
                ));
            }
            if !url.path().ends_with(WELL_KNOWN) || url.query().is_some() {
                return Err(ctx.err(
                    sp,
                    &key("server_metadata_url"),
                    format!("must be the issuer followed by {WELL_KNOWN}"),
                ));
            }
            let google = url.host_str() == Some("accounts.google.com");
            (url, google)
        }
        None if name == "google" => (Url::parse(GOOGLE_METADATA_URL).expect("static URL"), true),
        None if name == "microsoft" => {
            let tenant = tenant.as_ref().map_or("common", |(t, _)| t.as_str());
            let url = MICROSOFT_METADATA_URL.replace("{tenant}", tenant);
            (
                Url::parse(&url).expect("a checked tenant makes a URL"),
                false,
            )
        }
        None => return Err(ctx.err(
            span,
            &key("server_metadata_url"),
            "is missing; give the provider's discovery URL (…/.well-known/openid-configuration)",
        )),
    };
    let kind = redirect_kind
        .as_ref()
        .map(|(k, _)| k.as_str())
        .unwrap_or("loopback");
    let redirect = match kind {
        "loopback" => match redirect_uri {
            None => Redirect::default(),
            Some((s, sp)) => {
                let bad = |m: &str| ctx.err(sp.clone(), &key("redirect_uri"), m.to_string());
                let url = Url::parse(&s).map_err(|_| bad("is not a URL"))?;
                if url.scheme() != "http"
                    || url.host_str() != Some("127.0.0.1")
                    || url.query().is_some()
                {
                    return Err(bad(
                        "must be http://127.0.0.1:PORT/PATH for a loopback redirect",
                    ));
                }
                Redirect::Loopback {
                    port: url.port().filter(|p| *p != 0),
                    path: url.path().to_string(),
                }
            }
        },
        "deep-link" => {
            let (s, sp) =
                redirect_uri.unwrap_or_else(|| (DEFAULT_DEEP_LINK.to_string(), span.clone()));
            let url = Url::parse(&s)
                .map_err(|_| ctx.err(sp.clone(), &key("redirect_uri"), "is not a URL"))?;
            if matches!(
                url.scheme(),
                "http" | "https" | "file" | "javascript" | "data"
            ) {
                let why = "a deep-link redirect needs the app's own scheme, e.g. \
                           latchkey://auth/callback";
                return Err(ctx.err(sp, &key("redirect_uri"), why));
            }
            Redirect::DeepLink { uri: url }
        }
        _ => {
            let sp = redirect_kind.map(|(_, sp)| sp).unwrap_or(span);
            return Err(ctx.err(
                sp,
                &key("redirect"),
                "expected \"loopback\" or \"deep-link\"",
            ));
        }
    };
    Ok(ProviderConfig {
        name: name.to_string(),
        client_id,
        client_secret,
        metadata_url,
        auth_params,
        scope,
        redirect,
        is_google,
        allowed_tenants,
        allowed_domains,
    })
}

/// `8-4-4-4-12` hexadecimal digits: a Microsoft tenant id.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn parse_wallet(ctx: &Ctx<'_>, v: &Spanned<DeValue<'_>>) -> Result<WalletConfig, ConfigError> {
    let DeValue::Table(t) = v.get_ref() else {
        return Err(ctx.err(v.span(), "wallet", "expected a table ([wallet])"));
    };
    let mut w = WalletConfig::default();
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "voucher_keys" => {
                let DeValue::Array(items) = v.get_ref() else {
                    return Err(ctx.err(
                        v.span(),
                        "[wallet] voucher_keys",
                        "expected a list of public keys",
                    ));
                };
                for item in items.iter() {
                    let key = ctx.string(item, "[wallet] voucher_keys")?;
                    if let Err(e) = key.parse::<latchkey_wallet::PublicKey>() {
                        return Err(ctx.err(
                            item.span(),
                            "[wallet] voucher_keys",
                            format!("not a voucher public key (LKVP1...): {e}"),
                        ));
                    }
                    w.voucher_keys.push(key);
                }
            }
            "welcome_credits" => {
                w.welcome_credits = ctx.integer(v, "[wallet] welcome_credits", 0, 1_000_000_000)?
            }
            "analytics_cost" => {
                w.analytics_cost = ctx.integer(v, "[wallet] analytics_cost", 1, 1_000_000)?
            }
            "offline_only" => match v.get_ref() {
                DeValue::Boolean(b) => w.offline_only = *b,
                _ => {
                    let why = "expected true or false";
                    return Err(ctx.err(v.span(), "[wallet] offline_only", why));
                }
            },
            other => {
                return Err(ctx.err(
                    k.span(),
                    &format!("[wallet] {other}"),
                    "unknown key; expected voucher_keys, welcome_credits, analytics_cost or \
                     offline_only",
                ))
            }
        }
    }
    Ok(w)
}

fn parse_service(ctx: &Ctx<'_>, v: &Spanned<DeValue<'_>>) -> Result<ServiceConfig, ConfigError> {
    let DeValue::Table(t) = v.get_ref() else {
        return Err(ctx.err(v.span(), "service", "expected a table ([service])"));
    };
    let mut url = None;
    for (k, v) in t.iter() {
        match k.get_ref().as_ref() {
            "url" => {
                let s = ctx.string(v, "[service] url")?;
                let bad = |m: String| ctx.err(v.span(), "[service] url", m);
                let mut parsed = Url::parse(&s).map_err(|e| bad(format!("is not a URL ({e})")))?;
                if !parsed.path().ends_with('/') {
                    // So that joining `v1/balance` keeps a path prefix.
                    let path = format!("{}/", parsed.path());
                    parsed.set_path(&path);
                }
                // Plain HTTP only to a loopback IP literal (a name could resolve elsewhere).
                let http_ok = parsed.scheme() == "http" && is_loopback_host(parsed.host_str());
                if parsed.scheme() != "https" && !http_ok {
                    return Err(bad(
                        "must be https (plain http only for 127.0.0.1 or [::1])".into(),
                    ));
                }
                if parsed.query().is_some()
                    || parsed.fragment().is_some()
                    || !parsed.username().is_empty()
                    || parsed.password().is_some()
                {
                    return Err(bad(
                        "must be the service's base URL, with no query, fragment or user".into(),
                    ));
                }
                url = Some(parsed);
            }
            other => {
                return Err(ctx.err(
                    k.span(),
                    &format!("[service] {other}"),
                    "unknown key; expected url",
                ))
            }
        }
    }
    let url = url.ok_or_else(|| {
        ctx.err(
            v.span(),
            "[service] url",
            "is missing; give the credit service's address, e.g. https://credits.example.com",
        )
    })?;
    Ok(ServiceConfig { url })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(text: &str) -> ConfigError {
        parse(text, "auth.toml").expect_err("this config must be refused")
    }

    #[test]
    fn microsoft_preset_fills_the_tenant_and_an_explicit_url_wins() {
        let c = parse("[auth.microsoft]\nclient_id = \"app\"\n", "auth.toml").unwrap();
        assert_eq!(
            c.providers[0].metadata_url.as_str(),
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
            "the default tenant is common"
        );
        for tenant in [
            "organizations",
            "consumers",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
        ] {
            let text = format!("[auth.microsoft]\nclient_id = \"app\"\ntenant = \"{tenant}\"\n");
            let c = parse(&text, "auth.toml").unwrap();
            assert_eq!(
                c.providers[0].issuer(),
                format!("https://login.microsoftonline.com/{tenant}/v2.0")
            );
            assert!(!c.providers[0].is_google);
        }
        let c = parse(
            "[auth.microsoft]\nclient_id = \"app\"\ntenant = \"consumers\"\n\
             server_metadata_url = \"https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration\"\n",
            "auth.toml",
        )
        .unwrap();
        assert_eq!(
            c.providers[0].issuer(),
            "https://login.microsoftonline.com/organizations/v2.0",
            "an explicit server_metadata_url wins over the preset (the Streamlit shape)"
        );
        let e = err("[auth.microsoft]\nclient_id = \"app\"\ntenant = \"contoso\"\n");
        assert_eq!((e.line, e.key.as_str()), (3, "[auth.microsoft] tenant"));
        assert!(e.message.contains("organizations"), "{e}");
        let e = err("[auth.company]\nclient_id = \"app\"\ntenant = \"common\"\n");
        assert!(e.message.contains("only [auth.microsoft]"), "{e}");
    }

    #[test]
    fn allow_lists_are_checked_and_reach_the_provider() {
        let c = parse(
            "[auth.microsoft]\nclient_id = \"app\"\n\
             allowed_tenants = [\"72F988BF-86F1-41AF-91AB-2D7CD011DB47\"]\n\
             [auth.google]\nclient_id = \"g\"\nallowed_domains = [\"Corp.Example\"]\n",
            "auth.toml",
        )
        .unwrap();
        let by_name = |n: &str| c.providers.iter().find(|p| p.name == n).unwrap();
        let ms = by_name("microsoft").to_provider(true);
        assert_eq!(ms.allowed_tenants, ["72f988bf-86f1-41af-91ab-2d7cd011db47"]);
        assert!(ms.allowed_domains.is_empty());
        let g = by_name("google").to_provider(true);
        assert_eq!(
            g.allowed_domains,
            ["corp.example"],
            "domains compare lowercased"
        );
        let e = err("[auth.x]\nclient_id = \"a\"\nserver_metadata_url = \"https://i/.well-known/openid-configuration\"\nallowed_tenants = [\"contoso\"]\n");
        assert_eq!(e.line, 4);
        assert!(e.message.contains("not a tenant id"), "{e}");
        let e = err("[auth.google]\nclient_id = \"a\"\nallowed_domains = [\"ann@corp.example\"]\n");
        assert!(e.message.contains("not a domain name"), "{e}");
        let e = err("[auth.google]\nclient_id = \"a\"\nallowed_domains = \"corp.example\"\n");
        assert!(e.message.contains("list of strings"), "{e}");
    }

    #[test]
    fn streamlit_inline_provider_is_default_and_web_keys_are_ignored() {
        let c = parse(
            r#"[auth]
redirect_uri = "http://localhost:8501/oauth2callback"
cookie_secret = "x"
client_id = "abc"
client_secret = "s"
server_metadata_url = "https://id.example.com/.well-known/openid-configuration"
"#,
            "secrets.toml",
        )
        .unwrap();
        assert_eq!(c.providers.len(), 1);
        assert_eq!(c.providers[0].name, "default");
        assert_eq!(c.providers[0].issuer(), "https://id.example.com");
        assert_eq!(
            c.notes.len(),
            2,
            "both Streamlit keys are noted: {:?}",
            c.notes
        );
        assert_eq!(c.session_days, 30);
    }

    #[test]
    fn google_preset_asks_for_offline_access_the_google_way() {
        let c = parse(
            "[auth.google]\nclient_id = \"x.apps.googleusercontent.com\"\n",
            "f",
        )
        .unwrap();
        let p = c.providers[0].to_provider(true);
        assert_eq!(p.metadata_url.as_str(), GOOGLE_METADATA_URL);
        assert!(p
            .auth_params
            .contains(&("access_type".into(), "offline".into())));
        assert!(p.auth_params.contains(&("prompt".into(), "consent".into())));
        assert!(
            !p.scopes.contains(&"offline_access".to_string()),
            "Google rejects offline_access"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = err("[auth]\nsession_days = 30\n\n[auth.company]\nclient_id = 42\n");
        assert_eq!(
            (e.file.as_str(), e.line, e.key.as_str()),
            ("auth.toml", 5, "[auth.company] client_id")
        );
        assert!(e.message.contains("expected a string"), "{e}");

        let e = err("[auth.company]\nclient_id = \"x\"\n");
        assert_eq!(e.key, "[auth.company] server_metadata_url");
        assert_eq!(e.line, 1);

        let e = err(r#"[auth.c]
client_id = "x"
server_metadata_url = "http://id.example.com/.well-known/openid-configuration"
"#);
        assert_eq!(e.line, 3);
        assert!(e.message.contains("https"), "{e}");

        let e = err("[auth]\nsession_days = 0\n");
        assert_eq!((e.line, e.key.as_str()), (2, "[auth] session_days"));

        let e = err(r#"[auth]
client_id = "a"
[auth.x]
client_id="b"
redirect = "carrier-pigeon"
server_metadata_url="http://127.0.0.1:1/.well-known/openid-configuration"
"#);
        assert_eq!((e.line, e.key.as_str()), (5, "[auth.x] redirect"));

        let e = err("[auth\n");
        assert_eq!(e.key, "(syntax)");
        assert_eq!(e.line, 1);
    }

    #[test]
    fn loopback_pins_and_deep_links() {
        let c = parse(
            r#"[auth.a]
client_id="a"
server_metadata_url="http://127.0.0.1:9/.well-known/openid-configuration"
redirect_uri="http://127.0.0.1:8765/cb"
[auth.b]
client_id="b"
server_metadata_url="http://[::1]:9/.well-known/openid-configuration"
redirect="deep-link"
"#,
            "f",
        )
        .unwrap();
        assert_eq!(
            c.providers[0].redirect,
            Redirect::Loopback {
                port: Some(8765),
                path: "/cb".into()
            }
        );
        assert_eq!(
            c.providers[1].redirect,
            Redirect::DeepLink {
                uri: Url::parse(DEFAULT_DEEP_LINK).unwrap()
            }
        );
        let e = err(r#"[auth.a]
client_id="a"
server_metadata_url="http://127.0.0.1:9/.well-known/openid-configuration"
redirect_uri="http://0.0.0.0:8765/cb"
"#);
        assert_eq!(e.line, 4, "binding beyond 127.0.0.1 is refused");
        let e = err(r#"[auth.a]
client_id="a"
server_metadata_url="http://localhost:9/.well-known/openid-configuration"
"#);
        assert_eq!(
            (e.line, e.message.contains("never a name")),
            (3, true),
            "plain http to the name localhost is refused: {e}"
        );
        let c = parse(
            "[auth.a]\nclient_id=\"a\"\nserver_metadata_url=\"http://127.0.0.2:9/.well-known/openid-configuration\"\n",
            "f",
        );
        assert!(c.is_ok(), "any 127.0.0.0/8 literal is loopback");
    }

    #[test]
    fn wallet_settings() {
        let (_, public) = latchkey_wallet::voucher::keygen().unwrap();
        let key = public.to_text();
        let text = format!("[auth]\n[wallet]\nvoucher_keys=[\"{key}\"]\nwelcome_credits=10\n");
        let c = parse(&text, "f").unwrap();
        assert_eq!(c.wallet.voucher_keys, vec![key]);
        let e = err("[auth]\n[wallet]\nvoucher_keys = [\n  \"nope\",\n]\n");
        assert_eq!(
            (e.line, e.key.as_str()),
            (4, "[wallet] voucher_keys"),
            "a bad key is refused where it is written"
        );
        assert_eq!(c.wallet.welcome_credits, 10);
        let e = err("[auth]\n[wallet]\nwelcome_credits=-1\n");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn service_settings() {
        let c = parse(
            "[auth]\n[service]\nurl = \"https://credits.example.com/\"\n",
            "f",
        )
        .unwrap();
        let url = c.service.expect("a service").url;
        assert_eq!(url.as_str(), "https://credits.example.com/");
        let c = parse("[auth]\n[service]\nurl = \"http://127.0.0.1:8787\"\n", "f").unwrap();
        assert!(c.service.is_some(), "plain http to a loopback IP literal");
        for (text, line, key) in [
            (
                "[auth]\n[service]\n\nurl = \"http://example.com\"\n",
                4,
                "[service] url",
            ),
            (
                "[auth]\n[service]\nurl = \"http://localhost:1\"\n",
                3,
                "[service] url",
            ),
            ("[auth]\n[service]\nurl = \"ftp://x\"\n", 3, "[service] url"),
            ("[auth]\n[service]\nurl = 3\n", 3, "[service] url"),
            (
                "[auth]\n[service]\nurl = \"https://a?b=1\"\n",
                3,
                "[service] url",
            ),
            ("[auth]\n[service]\nport = 1\n", 3, "[service] port"),
            (
                "[auth]\n[wallet]\noffline_only = \"yes\"\n",
                3,
                "[wallet] offline_only",
            ),
            (
                "[auth]\n[service]\nurl = \"https://a\"\n[wallet]\noffline_only = true\n",
                5,
                "[wallet] offline_only",
            ),
        ] {
            let e = err(text);
            assert_eq!((e.line, e.key.as_str()), (line, key), "{text:?}: {e}");
        }
        let c = parse("[auth]\n[wallet]\noffline_only = true\n", "f").unwrap();
        assert!(c.wallet.offline_only && c.service.is_none());
    }

    /// Lines a TOML file might hold: tables, strings, numbers, inline tables, arrays.
    const TOML_LIKE: &str = concat!(
        r#"(\[auth(\.[a-z]{1,5})?\]\n"#,
        r#"|[a-z_]{1,12} = ("[^"\n]{0,20}"|[0-9]{1,4}|\{ [a-z]+ = "x" \}|\[\])\n"#,
        r#"){0,12}"#,
    );

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = parse(&text, "f");
        }

        #[test]
        fn toml_like_text_never_panics(text in TOML_LIKE) {
            let _ = parse(&text, "f");
        }
    }
}
