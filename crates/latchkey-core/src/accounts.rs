//! Non-secret session metadata: who is signed in, with which provider, until when. Lives in
//! `<data dir>/accounts.json` so a start with no network (and no keychain call) shows who is
//! signed in. Tokens are never here: they are in the vault.

use crate::error::{Code, Error, Result};
use chrono::{DateTime, Utc};
use latchkey_auth::Identity;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where an account's token key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Storage {
    /// In the OS keychain (the default).
    Keychain,
    /// In a file readable only by its owner (the explicit insecure opt-in).
    InsecureFile,
}

/// One signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// `latchkey_auth::account_id(issuer, subject)`.
    pub id: String,
    /// The configured provider's name it signed in with.
    pub provider: String,
    /// Who it is.
    pub identity: Identity,
    /// When it signed in.
    pub signed_in_at: DateTime<Utc>,
    /// When the sign-in ends (`session_days` after it), whatever the tokens say.
    pub session_expires_at: DateTime<Utc>,
    /// When its access token expires, when known.
    pub access_expires_at: Option<DateTime<Utc>>,
    /// Where its token key is kept.
    pub storage: Storage,
    /// The issuer its provider's discovery URL named at sign-in (for Microsoft's
    /// `common`/`organizations`/`consumers`, that URL's, not the tenant's): its tokens go only
    /// there (RFC 9700 §4.4). Absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_issuer: Option<String>,
    /// The client id it signed in with; its tokens are used only by that client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    /// The id of the account faces act on by default.
    pub active: Option<String>,
    /// Every signed-in account, in sign-in order.
    pub accounts: Vec<AccountRecord>,
}

impl Accounts {
    /// The active account's record.
    pub fn active(&self) -> Option<&AccountRecord> {
        let id = self.active.as_deref()?;
        self.accounts.iter().find(|a| a.id == id)
    }

    /// Adds or replaces (same issuer + subject) an account, and makes it active.
    pub fn upsert(&mut self, record: AccountRecord) {
        self.active = Some(record.id.clone());
        match self.accounts.iter_mut().find(|a| a.id == record.id) {
            Some(existing) => *existing = record,
            None => self.accounts.push(record),
        }
    }

    /// Removes an account; when it was active, the most recently signed-in one left becomes
    /// active.
    pub fn remove(&mut self, id: &str) -> Option<AccountRecord> {
        let pos = self.accounts.iter().position(|a| a.id == id)?;
        let removed = self.accounts.remove(pos);
        if self.active.as_deref() == Some(id) {
            self.active = self
                .accounts
                .iter()
                .max_by_key(|a| a.signed_in_at)
                .map(|a| a.id.clone());
        }
        Some(removed)
    }
}

/// The accounts file, read and written under an exclusive lock so the desktop app and the
/// CLI can change it at the same time without losing each other's changes.
#[derive(Debug, Clone)]
pub struct AccountStore {
    path: PathBuf,
    lock_path: PathBuf,
}

fn storage_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(Code::Storage, format!("{}: {e}", path.display()))
}

impl AccountStore {
    /// The store in `<data_dir>/accounts.json`.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("accounts.json"),
            lock_path: data_dir.join("accounts.lock"),
        }
    }

    /// Reads the accounts (no lock needed: writes are atomic renames).
    pub fn read(&self) -> Result<Accounts> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                storage_error(
                    &self.path,
                    format!("unreadable ({e}); move it away and sign in again"),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Accounts::default()),
            Err(e) => Err(storage_error(&self.path, e)),
        }
    }

    /// Read-modify-write under the lock. `change` returning an error writes nothing.
    pub fn update<T>(&self, change: impl FnOnce(&mut Accounts) -> Result<T>) -> Result<T> {
        if let Some(dir) = self.path.parent() {
            // The data folder is its owner's only (0700), even when something made it wider.
            latchkey_auth::create_private_dir(dir).map_err(|e| storage_error(dir, e))?;
        }
        let lock = latchkey_auth::open_private(&self.lock_path)
            .map_err(|e| storage_error(&self.lock_path, e))?;
        lock.lock().map_err(|e| storage_error(&self.lock_path, e))?;
        let mut accounts = self.read()?;
        let out = change(&mut accounts)?;
        let bytes =
            serde_json::to_vec_pretty(&accounts).map_err(|e| storage_error(&self.path, e))?;
        latchkey_auth::write_private(&self.path, &bytes, latchkey_auth::Existing::Replace)
            .map_err(|e| storage_error(&self.path, e))?;
        drop(lock);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(sub: &str, at: i64) -> AccountRecord {
        AccountRecord {
            id: latchkey_auth::account_id("https://i", sub),
            provider: "p".into(),
            identity: Identity {
                issuer: "https://i".into(),
                subject: sub.into(),
                email: None,
                name: None,
                username: None,
                picture: None,
            },
            signed_in_at: Utc.timestamp_opt(at, 0).unwrap(),
            session_expires_at: Utc.timestamp_opt(at + 1000, 0).unwrap(),
            access_expires_at: None,
            storage: Storage::Keychain,
            provider_issuer: None,
            client_id: None,
        }
    }

    #[test]
    fn upsert_replaces_same_account_and_activates() {
        let mut a = Accounts::default();
        a.upsert(record("alice", 1));
        a.upsert(record("bob", 2));
        a.upsert(record("alice", 3));
        assert_eq!(
            a.accounts.len(),
            2,
            "signing in again replaces, never duplicates"
        );
        assert_eq!(a.active().unwrap().identity.subject, "alice");
        a.remove(&a.active.clone().unwrap());
        assert_eq!(
            a.active().unwrap().identity.subject,
            "bob",
            "the next account becomes active"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_data_folder_and_its_files_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let store = AccountStore::new(&data);
        store
            .update(|a| {
                a.upsert(record("alice", 1));
                Ok(())
            })
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&data),
            0o700,
            "the data folder is narrowed to its owner"
        );
        for f in ["accounts.json", "accounts.lock"] {
            assert_eq!(
                mode(&data.join(f)),
                0o600,
                "{f} is readable by its owner only"
            );
        }
    }

    #[test]
    fn a_failed_update_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = AccountStore::new(dir.path());
        store
            .update(|a| {
                a.upsert(record("alice", 1));
                Ok(())
            })
            .unwrap();
        let before = store.read().unwrap();
        let r: Result<()> = store.update(|a| {
            a.accounts.clear();
            Err(Error::new(Code::Internal, "no"))
        });
        assert!(r.is_err());
        assert_eq!(
            store.read().unwrap(),
            before,
            "a refused change must leave the file as it was"
        );
    }
}
