use chrono::{DateTime, Utc};
use zeroize::Zeroize;

/// A secret string (token, client secret). `Debug` prints `[redacted]`, there is no `Display`,
/// it is not `Clone`, and memory is wiped on drop. Read it with [`Secret::expose`].
#[derive(PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself: only for sending it where it belongs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// An explicit copy; cloning a secret should be a visible decision.
    pub fn duplicate(&self) -> Self {
        Self(self.0.clone())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The tokens of one signed-in account.
#[derive(Debug)]
pub struct TokenSet {
    pub access_token: Secret,
    /// When the access token expires, when the provider said so.
    pub access_expires_at: Option<DateTime<Utc>>,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<Secret>,
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
            access_token: Secret::new("at-very-secret"),
            access_expires_at: None,
            refresh_token: Some(Secret::new("rt-very-secret")),
            id_token: Some(Secret::new("id-very-secret")),
        };
        let shown = format!("{tokens:?}");
        assert!(
            !shown.contains("very-secret"),
            "Debug leaked a token: {shown}"
        );
        assert!(shown.contains("[redacted]"));
    }
}
