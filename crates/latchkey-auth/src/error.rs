/// Everything that can go wrong while signing in or using a session. Messages are short, say
/// what happened in plain words, and never contain a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The provider (or the user) refused: an `error=` callback such as `access_denied`.
    #[error(
        "the provider refused the sign-in ({error}{})",
        with_description(description)
    )]
    Denied {
        /// The error code.
        error: String,
        /// The provider's `error_description`.
        description: Option<String>,
    },
    /// No genuine callback arrived in time.
    #[error("the sign-in timed out after {0} seconds with no answer from the browser")]
    TimedOut(u64),
    /// Only callbacks with the wrong `state` arrived before the time ran out: a forged or
    /// stale redirect, never a genuine one.
    #[error(
        "the sign-in timed out; a callback with the wrong state was rejected (a stale or \
         forged sign-in link)"
    )]
    StateMismatch,
    /// The caller cancelled the pending sign-in.
    #[error("the sign-in was cancelled")]
    Cancelled,
    /// The ID token (or the callback's `iss`, or userinfo) failed validation.
    #[error("the provider's ID token was rejected: {0}")]
    InvalidToken(String),
    /// The provider answered, but not as the protocol requires (HTTP 500, malformed JSON...).
    #[error("the provider gave an unusable answer: {0}")]
    Protocol(String),
    /// The provider could not be reached (no network, refused, timed out).
    #[error("could not reach the provider: {0}")]
    Unreachable(String),
    /// The refresh token was refused (`invalid_grant`): the session is over.
    #[error("the provider no longer accepts this session (invalid_grant); sign in again")]
    InvalidGrant,
    /// The provider's configuration is unusable (bad URL, issuer mismatch...).
    #[error("provider configuration: {0}")]
    Config(String),
    /// The OS keychain cannot be used.
    #[error("the keychain is unavailable: {0}")]
    KeychainUnavailable(String),
    /// Sealed tokens exist but cannot be read back.
    #[error("the stored tokens could not be read: {0}")]
    Vault(String),
    /// The loopback receiver could not listen.
    #[error("could not listen for the sign-in callback on 127.0.0.1: {0}")]
    Receiver(#[source] std::io::Error),
}

/// `": <description>"`, or nothing.
fn with_description(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl AuthError {
    /// Classifies a failed HTTP request: connection problems are `Unreachable`, the rest
    /// `Protocol`. The URL is kept (never secret); query strings are dropped.
    pub(crate) fn from_reqwest(what: &str, e: &reqwest::Error) -> Self {
        let mut url = e.url().cloned();
        if let Some(u) = url.as_mut() {
            u.set_query(None);
        }
        let at = url.map(|u| format!(" ({u})")).unwrap_or_default();
        if e.is_connect() || e.is_timeout() {
            let why = if e.is_timeout() {
                "timed out"
            } else {
                "connection failed"
            };
            AuthError::Unreachable(format!("{what}{at}: {why}"))
        } else if let Some(status) = e.status() {
            AuthError::Protocol(format!("{what}{at}: HTTP {status}"))
        } else if e.is_decode() {
            AuthError::Protocol(format!("{what}{at}: the answer was not valid JSON"))
        } else {
            AuthError::Unreachable(format!("{what}{at}: request failed"))
        }
    }
}
