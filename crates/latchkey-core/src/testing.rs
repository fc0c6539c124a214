//! Fixtures for the unit tests of the `impl Core` files.

use crate::config;
use crate::core::Core;
use chrono::{DateTime, TimeZone, Utc};
use latchkey_auth::{AccessToken, Identity, MemoryKeyStore, SignedIn, TokenSet};
use latchkey_wallet::FixedClock;
use std::path::Path;
use std::sync::Arc;

/// A core over `dir` with one provider `p` (unreachable), `session_days = 2`, a memory key
/// store and a clock stopped at `now`.
pub(crate) fn app_at(dir: &Path, store: &MemoryKeyStore, now: DateTime<Utc>) -> Core {
    let config = config::parse(
        r#"[auth]
session_days = 2
[auth.p]
client_id = "c"
server_metadata_url = "http://127.0.0.1:9/.well-known/openid-configuration"
"#,
        "test.toml",
    )
    .unwrap();
    Core::with_parts(
        config,
        dir.to_path_buf(),
        Arc::new(store.clone()),
        Arc::new(FixedClock::new(now)),
        false,
    )
    .unwrap()
}

/// The instant the tests' clocks start at: 2026-01-01T12:00:00Z.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

/// A fresh data directory and key store; cores over them at any instant share both.
pub(crate) struct Rig {
    pub dir: tempfile::TempDir,
    pub store: MemoryKeyStore,
}

impl Rig {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            store: MemoryKeyStore::new(),
        }
    }

    /// A core over this rig's directory and store whose clock stands at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> Core {
        app_at(self.dir.path(), &self.store, now)
    }
}

/// A finished sign-in of `sub` at provider `p`: access token `at-<sub>`, which never expires.
pub(crate) fn signed_in(sub: &str) -> SignedIn {
    SignedIn {
        identity: Identity {
            issuer: "http://127.0.0.1:9".into(),
            subject: sub.into(),
            email: Some(format!("{sub}@example.test")),
            name: None,
            username: None,
            picture: None,
        },
        tokens: TokenSet {
            access_token: AccessToken::new(format!("at-{sub}")),
            access_expires_at: None,
            refresh_token: None,
            id_token: None,
        },
        callback_at: std::time::Instant::now(),
    }
}
