//! Secrets as types: one newtype per kind of secret, made by [`new_secret_type!`], so an
//! access token cannot be passed where a refresh token belongs, and none can be printed by
//! accident.

use chrono::{DateTime, Utc};

/// Makes a secret string type (like `oauth2`'s `new_secret_type!`): `Debug` prints
/// `Name([redacted])`, there is no `Display`, no `Clone` (an explicit
/// [`duplicate`](AccessToken::duplicate) instead) and no `PartialEq` (compare what
/// [`expose`](AccessToken::expose) returns, where a test must), and the memory is wiped on
/// drop. Read the value with `expose`, only to send it where it belongs.
#[macro_export]
macro_rules! new_secret_type {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself: only for sending it where it belongs.
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// An explicit copy; copying a secret should be a visible decision.
            pub fn duplicate(&self) -> Self {
                Self(self.0.clone())
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                $crate::__zeroize::Zeroize::zeroize(&mut self.0);
            }
        }
    };
}

new_secret_type!(
    /// An OAuth access token: what APIs accept as `Authorization: Bearer`.
    AccessToken
);
new_secret_type!(
    /// An OAuth refresh token: exchanged for new tokens, rotated by many providers.
    RefreshToken
);
new_secret_type!(
    /// An OpenID Connect ID token (a signed JWT naming who signed in).
    IdToken
);
new_secret_type!(
    /// This app's client secret at a provider. Desktop "secrets" are not confidential
    /// (RFC 8252 §8.5), but they are still never logged, printed or put in a URL.
    ClientSecret
);

/// The client secret's former name, kept while code outside this crate (the credit
/// service's tests) moves to [`ClientSecret`].
pub type Secret = ClientSecret;

/// The tokens of one signed-in account.
#[derive(Debug)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// When the access token expires, when the provider said so.
    pub access_expires_at: Option<DateTime<Utc>>,
    /// The refresh token, when the provider gave one.
    pub refresh_token: Option<RefreshToken>,
    /// The latest ID token, when there is one.
    pub id_token: Option<IdToken>,
}

impl TokenSet {
    /// Whether the access token is expired (or expires within `margin_secs`) at `now`.
    /// A token without an expiry is taken as valid.
    pub fn access_expired(&self, now: DateTime<Utc>, margin_secs: i64) -> bool {
        self.access_expires_at
            .is_some_and(|at| at <= now + chrono::Duration::seconds(margin_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let tokens = TokenSet {
            access_token: AccessToken::new("at-very-secret"),
            access_expires_at: None,
            refresh_token: Some(RefreshToken::new("rt-very-secret")),
            id_token: Some(IdToken::new("id-very-secret")),
        };
        let shown = format!("{tokens:?}");
        assert!(
            !shown.contains("very-secret"),
            "Debug leaked a token: {shown}"
        );
        assert!(shown.contains("AccessToken([redacted])"), "{shown}");
        assert_eq!(
            format!("{:?}", ClientSecret::new("cs-very-secret")),
            "ClientSecret([redacted])"
        );
    }
}
