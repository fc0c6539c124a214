//! Where tokens live: sealed with a per-account key that only the keychain holds.
//!
//! Windows Credential Manager caps one secret at 2,560 bytes, and ID plus refresh tokens
//! exceed it. So the keychain holds one random 256-bit key per account (44 characters, fits
//! every OS), and the token bundle is sealed with XChaCha20-Poly1305 under that key in
//! `<dir>/<account id>.sealed` (mode 0600). Without the keychain entry the file is noise;
//! forgetting the key forgets the tokens.

use crate::error::AuthError;
use crate::private_file;
use crate::secret::{AccessToken, IdToken, RefreshToken, TokenSet};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zeroize::{Zeroize, Zeroizing};

/// How long one keychain call may take before it counts as unavailable.
pub const DEFAULT_KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A stable, short, non-secret id for an account: the first 128 bits of
/// SHA-256(issuer, subject), hex. Used for file names and keychain entry names.
pub fn account_id(issuer: &str, subject: &str) -> String {
    let mut h = Sha256::new();
    h.update(issuer.as_bytes());
    h.update([0u8]);
    h.update(subject.as_bytes());
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A small store of named secrets: the OS keychain, or a stand-in.
pub trait KeyStore: Send + Sync {
    /// The secret stored under `name`; `Ok(None)` when there is none. Wiped when dropped.
    fn get(&self, name: &str) -> Result<Option<Zeroizing<String>>, AuthError>;
    /// Stores `secret` under `name`, replacing what was there.
    fn set(&self, name: &str, secret: &str) -> Result<(), AuthError>;
    /// Removes `name`; removing what is not there is fine.
    fn delete(&self, name: &str) -> Result<(), AuthError>;
    /// What this store is, for messages (`"the OS keychain"`).
    fn describe(&self) -> &'static str;
}

/// The OS keychain (Secret Service, macOS Keychain, Windows Credential Manager) via `keyring`.
/// Every call runs on its own thread under a timeout: a keychain that hangs (a locked
/// collection waiting for a prompt nobody sees) becomes an error, not a frozen app.
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
    timeout: Duration,
}

impl Keychain {
    /// Entries under `service` (the keychain's "service" or "target" name); each call gives
    /// up after `timeout`.
    pub fn new(service: impl Into<String>, timeout: Duration) -> Self {
        Self {
            service: service.into(),
            timeout,
        }
    }

    fn call<T: Send + 'static>(
        &self,
        name: &str,
        op: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<T, AuthError> {
        let (service, user) = (self.service.clone(), name.to_string());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result = keyring::Entry::new(&service, &user).and_then(|e| op(&e));
            let _ = tx.send(result);
        });
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(keychain_error(e)),
            Err(_) => Err(AuthError::KeychainUnavailable(format!(
                "it did not answer within {} seconds; unlock it and try again",
                self.timeout.as_secs()
            ))),
        }
    }
}

fn keychain_error(e: keyring::Error) -> AuthError {
    let hint = if cfg!(target_os = "linux") {
        "unlock it (or install and start gnome-keyring, or another Secret Service)"
    } else {
        "unlock it and try again"
    };
    let what = match &e {
        keyring::Error::NoStorageAccess(_) => "it is locked or refused access".to_string(),
        keyring::Error::PlatformFailure(inner) => format!("{inner}"),
        other => other.to_string(),
    };
    AuthError::KeychainUnavailable(format!("{what}; {hint}"))
}

impl KeyStore for Keychain {
    fn get(&self, name: &str) -> Result<Option<Zeroizing<String>>, AuthError> {
        self.call(name, |e| match e.get_password() {
            Ok(p) => Ok(Some(Zeroizing::new(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(other) => Err(other),
        })
    }

    fn set(&self, name: &str, secret: &str) -> Result<(), AuthError> {
        // The copy handed to the keychain's thread is wiped when that thread is done with it.
        let secret = Zeroizing::new(secret.to_string());
        self.call(name, move |e| e.set_password(&secret))
    }

    fn delete(&self, name: &str) -> Result<(), AuthError> {
        self.call(name, |e| match e.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(other) => Err(other),
        })
    }

    fn describe(&self) -> &'static str {
        "the OS keychain"
    }
}

/// Secrets in memory only: for unit tests.
#[derive(Default, Clone)]
pub struct MemoryKeyStore {
    entries: Arc<Mutex<HashMap<String, String>>>,
}

impl MemoryKeyStore {
    /// An empty store; clones share the entries.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyStore for MemoryKeyStore {
    fn get(&self, name: &str) -> Result<Option<Zeroizing<String>>, AuthError> {
        Ok(self.lock().get(name).cloned().map(Zeroizing::new))
    }
    fn set(&self, name: &str, secret: &str) -> Result<(), AuthError> {
        self.lock().insert(name.to_string(), secret.to_string());
        Ok(())
    }
    fn delete(&self, name: &str) -> Result<(), AuthError> {
        self.lock().remove(name);
        Ok(())
    }
    fn describe(&self) -> &'static str {
        "memory"
    }
}

/// The explicit, reported opt-in without a keychain (`--insecure-storage`, as gh has): keys
/// in a 0600 JSON file, so anyone who can read your files can read your tokens.
#[derive(Debug, Clone)]
pub struct InsecureFileKeyStore {
    path: PathBuf,
}

impl InsecureFileKeyStore {
    /// Keys kept in the JSON file at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn read(&self) -> Result<HashMap<String, String>, AuthError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                AuthError::Vault(format!("{} is not readable: {e}", self.path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
            Err(e) => Err(AuthError::Vault(format!("{}: {e}", self.path.display()))),
        }
    }

    fn write(&self, entries: &HashMap<String, String>) -> Result<(), AuthError> {
        let bytes = serde_json::to_vec(entries).map_err(|e| AuthError::Vault(e.to_string()))?;
        write_private(&self.path, &bytes)
    }
}

impl KeyStore for InsecureFileKeyStore {
    fn get(&self, name: &str) -> Result<Option<Zeroizing<String>>, AuthError> {
        Ok(self.read()?.get(name).cloned().map(Zeroizing::new))
    }
    fn set(&self, name: &str, secret: &str) -> Result<(), AuthError> {
        let mut all = self.read()?;
        all.insert(name.to_string(), secret.to_string());
        self.write(&all)
    }
    fn delete(&self, name: &str) -> Result<(), AuthError> {
        let mut all = self.read()?;
        if all.remove(name).is_some() {
            self.write(&all)?;
        }
        Ok(())
    }
    fn describe(&self) -> &'static str {
        "an unencrypted file readable only by you"
    }
}

/// Writes a sealed file or the insecure key store: owner only, replaced atomically.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    private_file::write_private(path, bytes, private_file::Existing::Replace)
        .map_err(|e| AuthError::Vault(format!("{}: {e}", path.display())))
}

#[derive(Serialize, Deserialize)]
struct Bundle {
    access_token: String,
    access_expires_at: Option<DateTime<Utc>>,
    refresh_token: Option<String>,
    id_token: Option<String>,
}

/// The bundle holds the tokens in clear while it is sealed or opened: wiped when dropped.
impl Drop for Bundle {
    fn drop(&mut self) {
        self.access_token.zeroize();
        self.refresh_token.zeroize();
        self.id_token.zeroize();
    }
}

const SEAL_VERSION: &[u8; 4] = b"LKT1";

/// Token sets, sealed per account: key in a [`KeyStore`], ciphertext in `dir`.
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn KeyStore>,
    dir: PathBuf,
}

impl Vault {
    /// Keys in `store`, sealed files in `dir`.
    pub fn new(store: Arc<dyn KeyStore>, dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            dir: dir.into(),
        }
    }

    /// What holds the keys, for messages.
    pub fn describe(&self) -> &'static str {
        self.store.describe()
    }

    fn path(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{account}.sealed"))
    }

    /// Seals and stores `tokens` for `account` (an [`account_id`]), replacing earlier ones.
    pub fn save(&self, account: &str, tokens: &TokenSet) -> Result<(), AuthError> {
        let key = match self.store.get(account)? {
            Some(k) => decode_key(&k)?,
            None => {
                let mut k = Zeroizing::new([0u8; 32]);
                getrandom::fill(k.as_mut())
                    .map_err(|e| AuthError::Vault(format!("no randomness: {e}")))?;
                self.store
                    .set(account, &Zeroizing::new(B64.encode(k.as_ref())))?;
                k
            }
        };
        let bundle = Bundle {
            access_token: tokens.access_token.expose().to_string(),
            access_expires_at: tokens.access_expires_at,
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|s| s.expose().to_string()),
            id_token: tokens.id_token.as_ref().map(|s| s.expose().to_string()),
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&bundle).map_err(|e| AuthError::Vault(e.to_string()))?,
        );
        drop(bundle);
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| AuthError::Vault(format!("no randomness: {e}")))?;
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: account.as_bytes(),
                },
            )
            .map_err(|_| AuthError::Vault("sealing failed".into()))?;
        let mut out = Vec::with_capacity(4 + 24 + sealed.len());
        out.extend_from_slice(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        write_private(&self.path(account), &out)
    }

    /// The tokens of `account`; `Ok(None)` when there are none (never signed in, signed out,
    /// or the keychain entry was removed).
    pub fn load(&self, account: &str) -> Result<Option<TokenSet>, AuthError> {
        let bytes = match std::fs::read(self.path(account)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuthError::Vault(e.to_string())),
        };
        let Some(key) = self.store.get(account)? else {
            return Ok(None);
        };
        let key = decode_key(&key)?;
        if bytes.len() < 28 || &bytes[..4] != SEAL_VERSION {
            return Err(AuthError::Vault("the sealed token file is damaged".into()));
        }
        let cipher = XChaCha20Poly1305::new(key.as_ref().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(&bytes[4..28]),
                    Payload {
                        msg: &bytes[28..],
                        aad: account.as_bytes(),
                    },
                )
                .map_err(|_| {
                    AuthError::Vault(
                        "the sealed tokens do not match the keychain's key; sign in again".into(),
                    )
                })?,
        );
        let mut b: Bundle = serde_json::from_slice(&plain)
            .map_err(|_| AuthError::Vault("the sealed tokens are malformed".into()))?;
        Ok(Some(TokenSet {
            access_token: AccessToken::new(std::mem::take(&mut b.access_token)),
            access_expires_at: b.access_expires_at,
            refresh_token: b.refresh_token.take().map(RefreshToken::new),
            id_token: b.id_token.take().map(IdToken::new),
        }))
    }

    /// Forgets `account`'s tokens: the key first (that alone makes the file unreadable),
    /// then the file.
    pub fn forget(&self, account: &str) -> Result<(), AuthError> {
        self.store.delete(account)?;
        match std::fs::remove_file(self.path(account)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(AuthError::Vault(e.to_string())),
        }
    }
}

fn decode_key(text: &str) -> Result<Zeroizing<[u8; 32]>, AuthError> {
    let bytes = Zeroizing::new(
        B64.decode(text.trim())
            .map_err(|_| AuthError::Vault("the keychain entry is not a Latchkey key".into()))?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(AuthError::Vault(
            "the keychain entry is not a Latchkey key".into(),
        ));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(tag: &str) -> TokenSet {
        TokenSet {
            access_token: AccessToken::new(format!("access-{tag}")),
            access_expires_at: None,
            refresh_token: Some(RefreshToken::new(format!(
                "refresh-{tag}-{}",
                "x".repeat(3000)
            ))),
            id_token: Some(IdToken::new(format!("id-{tag}"))),
        }
    }

    #[test]
    fn round_trip_and_nothing_in_clear_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let vault = Vault::new(Arc::new(store.clone()), dir.path());
        let id = account_id("https://issuer", "alice");
        vault.save(&id, &tokens("one")).unwrap();
        let back = vault.load(&id).unwrap().expect("saved tokens load back");
        assert_eq!(back.access_token.expose(), "access-one");
        assert!(back
            .refresh_token
            .unwrap()
            .expose()
            .starts_with("refresh-one"));
        let on_disk = std::fs::read(dir.path().join(format!("{id}.sealed"))).unwrap();
        assert!(
            !on_disk.windows(6).any(|w| w == b"access" || w == b"refres"),
            "tokens must never be on disk in clear"
        );
        let key = store.get(&id).unwrap().unwrap();
        assert!(
            key.len() < 100,
            "the keychain holds a small key, well under Windows' cap"
        );
    }

    #[test]
    fn forgetting_the_key_forgets_the_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let vault = Vault::new(Arc::new(store.clone()), dir.path());
        let id = account_id("https://issuer", "bob");
        vault.save(&id, &tokens("b")).unwrap();
        store.delete(&id).unwrap();
        assert!(vault.load(&id).unwrap().is_none(), "no key, no tokens");
        vault.forget(&id).unwrap();
        assert!(!dir.path().join(format!("{id}.sealed")).exists());
    }

    #[test]
    fn a_bundle_cannot_be_swapped_between_accounts() {
        let dir = tempfile::tempdir().unwrap();
        let store = MemoryKeyStore::new();
        let vault = Vault::new(Arc::new(store.clone()), dir.path());
        let a = account_id("https://issuer", "a");
        let b = account_id("https://issuer", "b");
        vault.save(&a, &tokens("a")).unwrap();
        vault.save(&b, &tokens("b")).unwrap();
        // Give b's file a's content and a's key: the account id is bound in as AAD.
        std::fs::copy(
            dir.path().join(format!("{a}.sealed")),
            dir.path().join(format!("{b}.sealed")),
        )
        .unwrap();
        store.set(&b, &store.get(&a).unwrap().unwrap()).unwrap();
        assert!(matches!(vault.load(&b), Err(AuthError::Vault(_))));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = InsecureFileKeyStore::new(dir.path().join("keys.json"));
        store.set("k", "v").unwrap();
        let mode = std::fs::metadata(dir.path().join("keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the insecure store is at least owner-only"
        );
        assert_eq!(
            store.get("k").unwrap().as_deref().map(String::as_str),
            Some("v")
        );
    }
}
