//! [`Core`]: the one API the desktop app and the CLI call.

use crate::accounts::{AccountRecord, AccountStore, Storage};
use crate::config::{self, Config, ProviderConfig};
use crate::error::{Code, Error, Result};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use latchkey_auth::{
    account_id, http_client, Clock, DeepLinkInbox, InsecureFileKeyStore, KeyStore, Keychain,
    PendingSignIn, ProviderInfo, Secret, SignInOptions, SignedIn, SystemClock, TokenSet, Vault,
    DEFAULT_KEYCHAIN_TIMEOUT,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Cached discovery documents are used for this long before being fetched again.
const DISCOVERY_MAX_AGE_SECS: i64 = 24 * 3600;
/// An access token this close to expiry is refreshed before use.
const REFRESH_MARGIN_SECS: i64 = 60;

/// Where things are and how to reach them; each field has an environment variable.
#[derive(Debug, Clone, Default)]
pub struct CoreOptions {
    /// `--config`, else `LATCHKEY_CONFIG`, else `<config dir>/latchkey/auth.toml`.
    pub config_path: Option<PathBuf>,
    /// `LATCHKEY_DATA_DIR`, else `<data dir>/latchkey`.
    pub data_dir: Option<PathBuf>,
    /// `LATCHKEY_KEYRING_SERVICE`, else `latchkey`.
    pub keyring_service: Option<String>,
    /// Keep token keys in a 0600 file instead of the keychain (explicit, reported).
    pub insecure_storage: bool,
}

impl CoreOptions {
    /// Options from the environment; explicit fields set later win.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Self {
            config_path: var("LATCHKEY_CONFIG").map(PathBuf::from),
            data_dir: var("LATCHKEY_DATA_DIR").map(PathBuf::from),
            keyring_service: var("LATCHKEY_KEYRING_SERVICE").and_then(|v| v.into_string().ok()),
            insecure_storage: false,
        }
    }
}

/// An account as faces show it (`latchkey status --json`). No tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub picture: Option<String>,
    pub active: bool,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the sign-in ends, whatever the tokens say (`session_days`).
    pub session_expires_at: DateTime<Utc>,
    /// The provider could not be reached just now.
    pub offline: bool,
}

/// A configured provider (`latchkey providers`).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    pub name: String,
    pub issuer: String,
    pub redirect: String,
    pub reachable: bool,
    /// Why discovery failed, when it did.
    pub problem: Option<String>,
}

/// Which accounts `logout` acts on.
#[derive(Debug, Clone)]
pub enum LogoutTarget {
    Active,
    All,
    Subject(String),
}

/// What `logout` did.
#[derive(Debug, Default, Serialize)]
pub struct LogoutReport {
    pub signed_out: Vec<AccountView>,
    /// How many refresh tokens the providers confirmed revoked.
    pub revoked: usize,
    /// Revocations that could not be done (offline...): the local sign-out still happened.
    pub warnings: Vec<String>,
    /// RP-initiated logout pages to open (`--everywhere`).
    pub end_session_urls: Vec<String>,
}

/// A finished sign-in.
#[derive(Debug)]
pub struct Completed {
    pub account: AccountView,
    /// From the genuine callback's arrival to the account being stored: token exchange, ID
    /// token validation, userinfo, keychain.
    pub after_callback: Duration,
    /// Welcome credits granted by this (first) sign-in.
    pub welcome_credits: Option<i64>,
    /// Why the wallet could not be reached, when it could not.
    pub wallet_problem: Option<String>,
}

/// A sign-in in progress: show `authorize_url()` / open the browser, then
/// [`Core::finish_sign_in`].
#[derive(Debug)]
pub struct SignIn {
    pub provider: String,
    pub pending: PendingSignIn,
}

/// The Latchkey core for one data directory and configuration.
pub struct Core {
    pub config: Config,
    data_dir: PathBuf,
    accounts: AccountStore,
    keychain: Arc<dyn KeyStore>,
    insecure: Arc<dyn KeyStore>,
    insecure_storage: bool,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    inbox: DeepLinkInbox,
    wallet: crate::wallet::WalletSlot,
}

impl Core {
    /// Loads the configuration and prepares (without touching the network or the keychain).
    pub fn open(options: CoreOptions) -> Result<Self> {
        let config = match &options.config_path {
            Some(path) => config::load(path),
            None => match default_config_path() {
                Some(path) if path.exists() => config::load(&path),
                _ => Ok(Config::default()),
            },
        }
        .map_err(|e| Error::new(Code::Config, e.to_string()))?;
        let data_dir = match options.data_dir {
            Some(d) => d,
            None => directories::BaseDirs::new()
                .map(|b| b.data_dir().join("latchkey"))
                .ok_or_else(|| {
                    Error::new(Code::Storage, "no home directory; set LATCHKEY_DATA_DIR")
                })?,
        };
        let service = options.keyring_service.unwrap_or_else(|| "latchkey".into());
        let keychain: Arc<dyn KeyStore> =
            Arc::new(Keychain::new(service, DEFAULT_KEYCHAIN_TIMEOUT));
        Self::with_parts(
            config,
            data_dir,
            keychain,
            Arc::new(SystemClock),
            options.insecure_storage,
        )
    }

    /// Assembles an app from explicit parts (tests use a memory key store and a fixed clock).
    pub fn with_parts(
        config: Config,
        data_dir: PathBuf,
        keychain: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        insecure_storage: bool,
    ) -> Result<Self> {
        let http = http_client()
            .map_err(|e| Error::new(Code::Internal, format!("cannot set up HTTP: {e}")))?;
        Ok(Self {
            accounts: AccountStore::new(&data_dir),
            insecure: Arc::new(InsecureFileKeyStore::new(
                data_dir.join("insecure-keys.json"),
            )),
            data_dir,
            config,
            keychain,
            insecure_storage,
            http,
            clock,
            inbox: DeepLinkInbox::new(),
            wallet: Default::default(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the app shell feeds deep-link URLs.
    pub fn deep_link_inbox(&self) -> &DeepLinkInbox {
        &self.inbox
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub(crate) fn wallet_slot(&self) -> &crate::wallet::WalletSlot {
        &self.wallet
    }

    fn vault(&self, storage: Storage) -> Vault {
        let store = match storage {
            Storage::Keychain => self.keychain.clone(),
            Storage::InsecureFile => self.insecure.clone(),
        };
        Vault::new(store, self.data_dir.join("tokens"))
    }

    /// The provider named, or the only one configured.
    pub fn provider(&self, name: Option<&str>) -> Result<&ProviderConfig> {
        let where_ = self
            .config
            .source
            .as_ref()
            .map(|p| p.display().to_string())
            .or_else(|| default_config_path().map(|p| p.display().to_string()))
            .unwrap_or_else(|| "your config file".into());
        match name {
            Some(n) => self.config.providers.iter().find(|p| p.name == n).ok_or_else(|| {
                let known: Vec<_> = self.config.providers.iter().map(|p| p.name.as_str()).collect();
                Error::new(Code::Config, format!("no provider named `{n}` in {where_} (configured: {})", if known.is_empty() { "none".into() } else { known.join(", ") }))
            }),
            None => match self.config.providers.as_slice() {
                [] => Err(Error::new(Code::Config, format!("no sign-in provider is configured; add an [auth.<name>] table to {where_} (see README)"))),
                [only] => Ok(only),
                several => Err(Error::new(Code::Config, format!(
                    "several providers are configured ({}); choose one with --provider",
                    several.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                ))),
            },
        }
    }

    fn info_cache_path(&self, p: &ProviderConfig) -> PathBuf {
        let hash: String = Sha256::digest(p.metadata_url.as_str().as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.data_dir.join("providers").join(format!("{hash}.json"))
    }

    /// Discovery, from the on-disk cache when fresh, else from the provider.
    async fn provider_info(&self, p: &ProviderConfig) -> Result<ProviderInfo> {
        let path = self.info_cache_path(p);
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(info) = serde_json::from_slice::<ProviderInfo>(&bytes) {
                let fresh =
                    self.now() - info.fetched_at < TimeDelta::seconds(DISCOVERY_MAX_AGE_SECS);
                if fresh && info.issuer() == p.issuer() {
                    return Ok(info);
                }
            }
        }
        let info = ProviderInfo::discover(&self.http, &p.to_provider(false), self.now()).await?;
        self.save_provider_info(p, &info);
        Ok(info)
    }

    /// Caches discovery; a failure to cache only costs a fetch next time.
    fn save_provider_info(&self, p: &ProviderConfig, info: &ProviderInfo) {
        let path = self.info_cache_path(p);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Ok(bytes) = serde_json::to_vec(info) {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            if std::fs::write(&tmp, bytes).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
    }

    fn provider_for_info(p: &ProviderConfig, info: &ProviderInfo) -> latchkey_auth::Provider {
        let offline_access = info
            .metadata
            .get("scopes_supported")
            .and_then(|s| s.as_array())
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("offline_access")));
        p.to_provider(offline_access)
    }

    /// Starts a sign-in: discovery, then the receiver starts listening. Nothing is changed
    /// until [`Core::finish_sign_in`] succeeds.
    pub async fn begin_sign_in(
        &self,
        provider: Option<&str>,
        options: SignInOptions,
    ) -> Result<SignIn> {
        let p = self.provider(provider)?;
        let info = self.provider_info(p).await?;
        let provider = Self::provider_for_info(p, &info);
        let options = fit_prompt(options, &info);
        let pending = PendingSignIn::start(&provider, info, &options, Some(&self.inbox)).await?;
        Ok(SignIn {
            provider: p.name.clone(),
            pending,
        })
    }

    /// Waits for the browser, validates, then stores the session. A failure anywhere leaves
    /// every existing session exactly as it was.
    pub async fn finish_sign_in(
        &self,
        sign_in: SignIn,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<Completed> {
        let clock = self.clock.clone();
        let (signed_in, info) = sign_in
            .pending
            .finish(&self.http, move || clock.now(), timeout, cancel)
            .await?;
        if let Ok(p) = self.provider(Some(&sign_in.provider)) {
            self.save_provider_info(p, &info);
        }
        let callback_at = signed_in.callback_at;
        let account = self.store_session(&sign_in.provider, signed_in)?;
        let after_callback = callback_at.elapsed();
        // The sign-in stands even if the wallet cannot be opened; the faces say so.
        let welcome = self.grant_welcome(&account.issuer, &account.subject);
        Ok(Completed {
            account,
            after_callback,
            welcome_credits: welcome.as_ref().ok().copied().flatten(),
            wallet_problem: welcome.err().map(|e| e.message),
        })
    }

    fn store_session(&self, provider: &str, signed_in: SignedIn) -> Result<AccountView> {
        let SignedIn {
            identity, tokens, ..
        } = signed_in;
        let id = account_id(&identity.issuer, &identity.subject);
        let storage = if self.insecure_storage {
            Storage::InsecureFile
        } else {
            Storage::Keychain
        };
        let previous = self
            .accounts
            .read()?
            .accounts
            .into_iter()
            .find(|a| a.id == id);
        self.vault(storage).save(&id, &tokens)?;
        if let Some(prev) = &previous {
            if prev.storage != storage {
                let _ = self.vault(prev.storage).forget(&id);
            }
        }
        let now = self.now();
        let record = AccountRecord {
            id: id.clone(),
            provider: provider.to_string(),
            identity,
            signed_in_at: now,
            session_expires_at: now + TimeDelta::days(i64::from(self.config.session_days)),
            access_expires_at: tokens.access_expires_at,
            storage,
        };
        self.accounts.update(|a| {
            a.upsert(record.clone());
            Ok(())
        })?;
        Ok(view(&record, true, false))
    }

    /// Every account, from local files only: no network, no keychain. For a first paint.
    pub fn status_local(&self) -> Result<Vec<AccountView>> {
        let accounts = self.accounts.read()?;
        Ok(accounts
            .accounts
            .iter()
            .map(|r| view(r, accounts.active.as_deref() == Some(r.id.as_str()), false))
            .collect())
    }

    /// Every account, with the session checked: ended sessions are signed out, expired
    /// access tokens refreshed, unreachable providers marked `offline`.
    pub async fn status(&self) -> Result<Vec<AccountView>> {
        self.end_expired_sessions()?;
        let accounts = self.accounts.read()?;
        let mut reachable: HashMap<String, bool> = HashMap::new();
        let mut out = Vec::new();
        for r in &accounts.accounts {
            let mut record = r.clone();
            let mut offline = false;
            if record
                .access_expires_at
                .is_some_and(|t| t <= self.now() + TimeDelta::seconds(REFRESH_MARGIN_SECS))
            {
                match self.fresh_tokens(&record).await {
                    Ok((_, updated)) => record = updated,
                    Err(e) if e.code == Code::Offline => offline = true,
                    Err(e) if e.code == Code::SessionExpired || e.code == Code::NotSignedIn => {
                        continue
                    }
                    Err(e) => return Err(e),
                }
            }
            if !offline {
                offline = !match reachable.get(&record.provider) {
                    Some(ok) => *ok,
                    None => {
                        let ok = self.reachable(&record.provider).await;
                        reachable.insert(record.provider.clone(), ok);
                        ok
                    }
                };
            }
            out.push(view(
                &record,
                accounts.active.as_deref() == Some(record.id.as_str()),
                offline,
            ));
        }
        Ok(out)
    }

    async fn reachable(&self, provider: &str) -> bool {
        let Ok(p) = self.provider(Some(provider)) else {
            return false;
        };
        match self.http.get(p.metadata_url.clone()).send().await {
            Ok(resp) => resp.status().is_success(),
            Err(_) => false,
        }
    }

    /// Signs out (locally) every account whose `session_days` have passed.
    fn end_expired_sessions(&self) -> Result<()> {
        let now = self.now();
        let expired: Vec<AccountRecord> = self
            .accounts
            .read()?
            .accounts
            .into_iter()
            .filter(|a| a.session_expires_at <= now)
            .collect();
        for r in expired {
            self.forget_locally(&r)?;
        }
        Ok(())
    }

    fn forget_locally(&self, r: &AccountRecord) -> Result<()> {
        self.vault(r.storage).forget(&r.id)?;
        self.accounts.update(|a| {
            a.remove(&r.id);
            Ok(())
        })
    }

    /// The active account's record.
    pub(crate) fn active_account(&self) -> Result<AccountRecord> {
        self.pick(None)
    }

    fn pick(&self, provider: Option<&str>) -> Result<AccountRecord> {
        let accounts = self.accounts.read()?;
        let active = accounts.active().cloned();
        let chosen = match provider {
            None => active,
            Some(p) => active.filter(|a| a.provider == p).or_else(|| {
                accounts
                    .accounts
                    .iter()
                    .filter(|a| a.provider == p)
                    .max_by_key(|a| a.signed_in_at)
                    .cloned()
            }),
        };
        chosen.ok_or_else(|| {
            Error::new(
                Code::NotSignedIn,
                match provider {
                    Some(p) => {
                        format!("not signed in with `{p}`; run `latchkey login --provider {p}`")
                    }
                    None => "not signed in; run `latchkey login`".into(),
                },
            )
        })
    }

    /// Tokens for `record`, refreshed (under a per-account lock, so the app and the CLI never
    /// spend a rotating refresh token twice) when the access token is about to expire.
    async fn fresh_tokens(&self, record: &AccountRecord) -> Result<(TokenSet, AccountRecord)> {
        let vault = self.vault(record.storage);
        let lock_path = self
            .data_dir
            .join("tokens")
            .join(format!("{}.lock", record.id));
        std::fs::create_dir_all(self.data_dir.join("tokens"))
            .map_err(|e| Error::new(Code::Storage, e.to_string()))?;
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::new(Code::Storage, format!("{}: {e}", lock_path.display())))?;
        lock.lock()
            .map_err(|e| Error::new(Code::Storage, e.to_string()))?;
        let signed_out = || {
            Error::new(
                Code::NotSignedIn,
                format!(
                    "{} is no longer signed in here (its tokens are gone); run `latchkey login`",
                    record.identity.display()
                ),
            )
        };
        let tokens = vault.load(&record.id)?.ok_or_else(signed_out)?;
        if !tokens.access_expired(self.now(), REFRESH_MARGIN_SECS) {
            return Ok((tokens, record.clone()));
        }
        let p = self.provider(Some(&record.provider))?;
        let mut info = self.provider_info(p).await?;
        let provider = Self::provider_for_info(p, &info);
        let refreshed = latchkey_auth::refresh(
            &self.http,
            &provider,
            &mut info,
            &tokens,
            &record.identity.subject,
            self.now(),
        )
        .await;
        match refreshed {
            Ok(r) => {
                vault.save(&record.id, &r.tokens)?;
                let mut updated = record.clone();
                updated.access_expires_at = r.tokens.access_expires_at;
                let u = updated.clone();
                self.accounts.update(move |a| {
                    if let Some(x) = a.accounts.iter_mut().find(|x| x.id == u.id) {
                        x.access_expires_at = u.access_expires_at;
                    }
                    Ok(())
                })?;
                Ok((r.tokens, updated))
            }
            Err(latchkey_auth::AuthError::InvalidGrant) => {
                drop(lock);
                self.forget_locally(record)?;
                Err(Error::new(Code::SessionExpired, format!(
                    "the provider ended the session of {} (invalid_grant); it was signed out here; run `latchkey login`",
                    record.identity.display()
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A fresh access token (or ID token) of the active account, or the chosen provider's.
    pub async fn token(&self, provider: Option<&str>, id_token: bool) -> Result<Secret> {
        self.end_expired_sessions()?;
        let record = self.pick(provider)?;
        let (tokens, _) = self.fresh_tokens(&record).await?;
        if id_token {
            tokens.id_token.ok_or_else(|| {
                Error::new(
                    Code::NotSignedIn,
                    "this session has no ID token; sign in again",
                )
            })
        } else {
            Ok(tokens.access_token)
        }
    }

    pub(crate) fn find_account(&self, subject: &str) -> Result<AccountRecord> {
        let accounts = self.accounts.read()?;
        let matches: Vec<_> = accounts
            .accounts
            .iter()
            .filter(|a| {
                a.identity.subject == subject || a.identity.email.as_deref() == Some(subject)
            })
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::new(Code::UnknownAccount, format!("no signed-in account `{subject}`; see `latchkey status`"))),
            _ => Err(Error::new(Code::UnknownAccount, format!("`{subject}` matches accounts at several providers; sign out of one with `latchkey logout --all`"))),
        }
    }

    /// Makes the account with this subject (or email) the active one.
    pub fn switch(&self, subject: &str) -> Result<AccountView> {
        let record = self.find_account(subject)?;
        self.accounts.update(|a| {
            a.active = Some(record.id.clone());
            Ok(())
        })?;
        Ok(view(&record, true, false))
    }

    /// Signs accounts out: tokens and metadata forgotten here, refresh tokens revoked at the
    /// provider when possible (best effort: offline sign-out still succeeds locally).
    pub async fn logout(&self, target: LogoutTarget, everywhere: bool) -> Result<LogoutReport> {
        let records = match target {
            LogoutTarget::Active => vec![self.pick(None)?],
            LogoutTarget::All => self.accounts.read()?.accounts,
            LogoutTarget::Subject(s) => vec![self.find_account(&s)?],
        };
        let mut report = LogoutReport::default();
        for r in records {
            let tokens = self.vault(r.storage).load(&r.id).ok().flatten();
            let provider_cfg = self.provider(Some(&r.provider)).ok();
            if let Some(p) = provider_cfg {
                match self.provider_info(p).await {
                    Ok(info) => {
                        let provider = Self::provider_for_info(p, &info);
                        if let Some(rt) = tokens.as_ref().and_then(|t| t.refresh_token.as_ref()) {
                            match latchkey_auth::revoke(&self.http, &provider, &info, rt).await {
                                Ok(true) => report.revoked += 1,
                                Ok(false) => {}
                                Err(e) => report.warnings.push(format!(
                                    "could not revoke the session of {} at the provider ({e}); signed out here only",
                                    r.identity.display()
                                )),
                            }
                        }
                        if everywhere {
                            match latchkey_auth::end_session_url(&provider, &info) {
                                Ok(Some(url)) => report.end_session_urls.push(url.to_string()),
                                Ok(None) => report.warnings.push(format!(
                                    "`{}` offers no way to end its own session",
                                    r.provider
                                )),
                                Err(e) => report.warnings.push(e.to_string()),
                            }
                        }
                    }
                    Err(e) => report.warnings.push(format!(
                        "could not reach `{}` to revoke the session ({}); signed out here only",
                        r.provider, e.message
                    )),
                }
            }
            self.forget_locally(&r)?;
            report.signed_out.push(view(&r, false, false));
        }
        Ok(report)
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

fn view(r: &AccountRecord, active: bool, offline: bool) -> AccountView {
    AccountView {
        provider: r.provider.clone(),
        issuer: r.identity.issuer.clone(),
        subject: r.identity.subject.clone(),
        email: r.identity.email.clone(),
        name: r.identity.name.clone(),
        picture: r.identity.picture.clone(),
        active,
        expires_at: r.access_expires_at,
        session_expires_at: r.session_expires_at,
        offline,
    }
}

/// A provider that lists its supported `prompt` values and lacks the one asked for (often
/// `select_account`) gets `login` instead, which also lets the user pick another account;
/// sending an unsupported value would fail the sign-in.
fn fit_prompt(mut options: SignInOptions, info: &ProviderInfo) -> SignInOptions {
    let supported: Option<Vec<&str>> = info
        .metadata
        .get("prompt_values_supported")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect());
    if let (Some(prompt), Some(supported)) = (&options.prompt, supported) {
        if !supported.contains(&prompt.as_str()) {
            options.prompt = supported.contains(&"login").then(|| "login".to_string());
        }
    }
    options
}

/// `<config dir>/latchkey/auth.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.config_dir().join("latchkey").join("auth.toml"))
}

/// The desktop shell runs these futures on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(app: &Core) {
    fn send<T: Send>(_: T) {}
    send(app.status());
    send(app.token(None, false));
    send(app.logout(LogoutTarget::Active, false));
    send(app.begin_sign_in(None, SignInOptions::default()));
    send(app.providers());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use latchkey_auth::{FixedClock, Identity, MemoryKeyStore};

    fn app_at(dir: &Path, store: &MemoryKeyStore, now: DateTime<Utc>) -> Core {
        let config = config::parse(
            "[auth]\nsession_days = 2\n[auth.p]\nclient_id = \"c\"\nserver_metadata_url = \"http://127.0.0.1:9/.well-known/openid-configuration\"\n",
            "test.toml",
        )
        .unwrap();
        Core::with_parts(
            config,
            dir.to_path_buf(),
            Arc::new(store.clone()),
            Arc::new(FixedClock(now)),
            false,
        )
        .unwrap()
    }

    fn signed_in(sub: &str) -> SignedIn {
        SignedIn {
            identity: Identity {
                issuer: "http://127.0.0.1:9".into(),
                subject: sub.into(),
                email: Some(format!("{sub}@example.test")),
                name: None,
                picture: None,
            },
            tokens: TokenSet {
                access_token: Secret::new(format!("at-{sub}")),
                access_expires_at: None,
                refresh_token: None,
                id_token: None,
            },
            callback_at: std::time::Instant::now(),
        }
    }

    #[tokio::test]
    async fn a_session_ends_after_session_days_whatever_the_tokens_say() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let app = app_at(dir.path(), &store, t0);
        let view = app.store_session("p", signed_in("alice")).unwrap();
        assert_eq!(view.session_expires_at, t0 + TimeDelta::days(2));
        // The access token never expires, so only session_days can end this session.
        let later = app_at(dir.path(), &store, t0 + TimeDelta::days(1));
        assert_eq!(later.token(None, false).await.unwrap().expose(), "at-alice");

        let ended = app_at(dir.path(), &store, t0 + TimeDelta::days(2));
        assert!(
            ended.status().await.unwrap().is_empty(),
            "the session is over after 2 days"
        );
        let e = ended.token(None, false).await.unwrap_err();
        assert_eq!(e.code, Code::NotSignedIn);
        let id = account_id("http://127.0.0.1:9", "alice");
        assert!(
            store.get(&id).unwrap().is_none(),
            "its key is gone from the keychain"
        );
    }

    #[tokio::test]
    async fn tokens_gone_from_the_keychain_mean_signed_out_not_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let app = app_at(dir.path(), &store, t0);
        app.store_session("p", signed_in("bob")).unwrap();
        store
            .delete(&account_id("http://127.0.0.1:9", "bob"))
            .unwrap();
        let e = app.token(None, false).await.unwrap_err();
        assert_eq!(e.code, Code::NotSignedIn);
        assert!(e.message.contains("bob@example.test"), "{}", e.message);
        assert!(!e.message.contains("at-bob"), "never a token in a message");
    }

    #[test]
    fn analytics_is_paid_by_reserve_then_capture_and_bad_input_costs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let mut app = app_at(dir.path(), &store, Utc::now());
        app.config.wallet.analytics_cost = 2;
        app.store_session("p", signed_in("ann")).unwrap();
        let balance = |app: &Core| {
            app.with_wallet(None, |w, a| w.balance(a))
                .unwrap()
                .available
                .get()
        };

        let broke = app.run_analytics("2026-01-01,1\n", "run-0").unwrap_err();
        assert_eq!(
            broke.code,
            Code::InsufficientCredits,
            "refused before any work"
        );

        app.with_wallet(None, |w, a| {
            w.grant(a, "g", latchkey_wallet::Credits(5), None)
        })
        .unwrap();
        let bad = app
            .run_analytics("2026-01-01,1\nnot,a,row\n", "run-1")
            .unwrap_err();
        assert!(bad.message.starts_with("line 2"), "{}", bad.message);
        assert_eq!(balance(&app), 5, "malformed input costs nothing");

        let run = app
            .run_analytics("date,value\n2026-01-01,1\n2026-02-01,3\n", "run-2")
            .unwrap();
        assert_eq!((run.report.rows, run.report.sum, run.cost), (2, 4.0, 2));
        assert_eq!(balance(&app), 3, "a run costs analytics_cost");
        let again = app
            .run_analytics("date,value\n2026-01-01,1\n2026-02-01,3\n", "run-2")
            .unwrap();
        assert_eq!(again.report, run.report);
        assert_eq!(balance(&app), 3, "a retried run id is charged once");
        let holds = app.with_wallet(None, |w, a| w.holds(a)).unwrap();
        assert!(holds.is_empty(), "no hold is left open");
    }

    #[test]
    fn switch_and_unknown_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let app = app_at(dir.path(), &store, Utc::now());
        app.store_session("p", signed_in("a")).unwrap();
        app.store_session("p", signed_in("b")).unwrap();
        assert_eq!(
            app.switch("a@example.test").unwrap().subject,
            "a",
            "switch by email works too"
        );
        let local = app.status_local().unwrap();
        assert_eq!(
            local.iter().filter(|v| v.active).count(),
            1,
            "exactly one active account"
        );
        assert_eq!(app.switch("zed").unwrap_err().code, Code::UnknownAccount);
    }
}
