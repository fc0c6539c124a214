//! [`Core`]: the one API the desktop app and the CLI call. This file holds its construction
//! and the parts every other idea uses; each idea lives in its own file, in its own
//! `impl Core` block: discovery.rs, signin.rs, sessions.rs, tokens.rs, switch.rs, logout.rs.

use crate::accounts::{AccountStore, Storage};
use crate::config::{self, Config, ProviderConfig};
use crate::error::{Code, Error, Result};
use chrono::{DateTime, Utc};
use latchkey_auth::{
    http_client, DeepLinkInbox, InsecureFileKeyStore, KeyStore, Keychain, SignInOptions, Vault,
    DEFAULT_KEYCHAIN_TIMEOUT,
};
use latchkey_wallet::{Clock, SystemClock};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The Latchkey core for one data directory and configuration.
pub struct Core {
    /// The configuration it was opened with.
    pub config: Config,
    pub(crate) data_dir: PathBuf,
    pub(crate) accounts: AccountStore,
    keychain: Arc<dyn KeyStore>,
    insecure: Arc<dyn KeyStore>,
    pub(crate) insecure_storage: bool,
    pub(crate) http: reqwest::Client,
    clock: Arc<dyn Clock>,
    pub(crate) inbox: DeepLinkInbox,
    wallet: crate::wallet::WalletSlot,
    analytics: crate::analytics::AnalyticsSlot,
}

impl Core {
    /// Loads the configuration, creates the data folder owner-only (0700 on Unix, narrowed when
    /// it is wider) and prepares, without touching the network or the keychain.
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
        // Private before anything lands in it: the wallet and analytics databases and the
        // service caches are created with the process umask and rely on this 0700 folder (an
        // existing wider one is narrowed), not only the sign-in's own 0600 files.
        latchkey_auth::create_private_dir(&data_dir).map_err(|e| {
            Error::new(
                Code::Storage,
                format!("cannot create the data folder {}: {e}", data_dir.display()),
            )
        })?;
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
            analytics: Default::default(),
        })
    }

    /// Where accounts, sealed tokens, the discovery cache and the wallet live.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the app shell feeds deep-link URLs.
    pub fn deep_link_inbox(&self) -> &DeepLinkInbox {
        &self.inbox
    }

    /// The core's clock's time (fixed in tests).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub(crate) fn wallet_slot(&self) -> &crate::wallet::WalletSlot {
        &self.wallet
    }

    pub(crate) fn analytics_slot(&self) -> &crate::analytics::AnalyticsSlot {
        &self.analytics
    }

    pub(crate) fn vault(&self, storage: Storage) -> Vault {
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
        let names = |providers: &[ProviderConfig]| {
            let names: Vec<_> = providers.iter().map(|p| p.name.as_str()).collect();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        let providers = self.config.providers.as_slice();
        match name {
            Some(n) => providers.iter().find(|p| p.name == n).ok_or_else(|| {
                let known = names(providers);
                let message = format!("no provider named `{n}` in {where_} (configured: {known})");
                Error::new(Code::Config, message)
            }),
            None => match providers {
                [] => Err(Error::new(
                    Code::Config,
                    format!(
                        "no sign-in provider is configured; add an [auth.<name>] table to \
                         {where_} (see README)"
                    ),
                )),
                [only] => Ok(only),
                several => Err(Error::new(
                    Code::Config,
                    format!(
                        "several providers are configured ({}); choose one",
                        names(several)
                    ),
                )),
            },
        }
    }
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
    send(app.token(None, crate::TokenKind::Access));
    send(app.logout(crate::LogoutTarget::Active, false));
    send(app.begin_sign_in(None, SignInOptions::default()));
    send(app.providers());
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn open_makes_the_data_folder_private_before_anything_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("auth.toml");
        std::fs::write(
            &config,
            "[auth]\nclient_id = \"a\"\n\
             server_metadata_url = \"https://id.example.com/.well-known/openid-configuration\"\n",
        )
        .unwrap();
        let fresh = tmp.path().join("new").join("latchkey");
        let open = |dir: &Path| {
            Core::open(CoreOptions {
                config_path: Some(config.clone()),
                data_dir: Some(dir.to_path_buf()),
                ..Default::default()
            })
        };
        open(&fresh).map_err(|e| e.message).unwrap();
        assert_eq!(
            mode(&fresh),
            0o700,
            "the wallet's and analytics' files rely on a 0700 folder existing before them"
        );

        let wide = tmp.path().join("wide");
        std::fs::create_dir(&wide).unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o755)).unwrap();
        open(&wide).map_err(|e| e.message).unwrap();
        assert_eq!(mode(&wide), 0o700, "a folder left wider is narrowed");
    }
}
