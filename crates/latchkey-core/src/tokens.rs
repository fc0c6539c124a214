//! Tokens handed to the faces (`latchkey token`).

use crate::core::Core;
use crate::error::{Code, Error, Result};
use latchkey_auth::Secret;

impl Core {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{app_at, signed_in};
    use chrono::{TimeZone, Utc};
    use latchkey_auth::{account_id, KeyStore, MemoryKeyStore};

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
}
