//! Tokens handed to the faces (`latchkey token`).

use crate::core::Core;
use crate::error::{Code, Error, Result};
use latchkey_auth::{AccessToken, IdToken};

/// Which token [`Core::token`] hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// The access token, for the provider's APIs (refreshed first when about to expire).
    Access,
    /// The latest ID token, for services that accept one as a bearer credential.
    Id,
}

/// A token handed to a face: still a typed secret (redacted `Debug`, wiped on drop).
#[derive(Debug)]
pub enum Token {
    /// An access token ([`TokenKind::Access`]).
    Access(AccessToken),
    /// An ID token ([`TokenKind::Id`]).
    Id(IdToken),
}

impl Token {
    /// The token itself: only for handing it to where it belongs.
    pub fn expose(&self) -> &str {
        match self {
            Token::Access(t) => t.expose(),
            Token::Id(t) => t.expose(),
        }
    }
}

impl Core {
    /// A fresh token of this kind for the active account, or the chosen provider's.
    ///
    /// # Errors
    /// [`Code::NotSignedIn`] when no account fits or it has no ID token;
    /// [`Code::SessionExpired`] when the provider ended the session; [`Code::Offline`] when a
    /// needed refresh cannot reach the provider.
    pub async fn token(&self, provider: Option<&str>, kind: TokenKind) -> Result<Token> {
        self.end_expired_sessions()?;
        let record = self.pick(provider)?;
        let (tokens, _) = self.fresh_tokens(&record).await?;
        match kind {
            TokenKind::Access => Ok(Token::Access(tokens.access_token)),
            TokenKind::Id => tokens.id_token.map(Token::Id).ok_or_else(|| {
                Error::new(
                    Code::NotSignedIn,
                    "this session has no ID token; sign in again",
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{signed_in, t0, Rig};
    use latchkey_auth::{account_id, KeyStore};

    #[tokio::test]
    async fn tokens_gone_from_the_keychain_mean_signed_out_not_a_crash() {
        let rig = Rig::new();
        let app = rig.at(t0());
        app.store_session("p", signed_in("bob")).unwrap();
        rig.store
            .delete(&account_id("http://127.0.0.1:9", "bob"))
            .unwrap();
        let e = app.token(None, TokenKind::Access).await.unwrap_err();
        assert_eq!(e.code, Code::NotSignedIn);
        assert!(e.message.contains("bob@example.test"), "{}", e.message);
        assert!(!e.message.contains("at-bob"), "never a token in a message");
    }
}
