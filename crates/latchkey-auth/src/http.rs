use std::time::Duration;

/// The one HTTP client constructor for talking to providers: no redirects followed (a
/// redirecting token or discovery endpoint must not lead us elsewhere: SSRF), bounded
/// connect and overall timeouts, rustls.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    // The one place allowed to build a client (clippy.toml bans the others).
    #[allow(clippy::disallowed_methods)]
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .user_agent(concat!("latchkey/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The most Latchkey reads of any one answer from a provider (discovery, signing keys, token,
/// userinfo, revocation): no legitimate answer comes near it.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// An answer that went past [`MAX_ANSWER_BYTES`]: reading stopped there.
#[derive(Debug)]
pub struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the answer is larger than {} MiB",
            MAX_ANSWER_BYTES >> 20
        )
    }
}

/// Reads a response's body, stopping (and failing with [`TooLarge`] inside the error) as soon
/// as it passes `limit` bytes, whatever its `Content-Length` claims.
pub async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, CappedError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(CappedError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(CappedError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(CappedError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Why [`read_capped`] failed.
#[derive(Debug)]
pub enum CappedError {
    /// The body passed the limit.
    TooLarge,
    /// Reading it failed.
    Read(reqwest::Error),
}

impl CappedError {
    /// As an [`AuthError`](crate::AuthError) about `what` (e.g. "discovery").
    pub(crate) fn into_auth(self, what: &str) -> crate::AuthError {
        match self {
            CappedError::TooLarge => {
                crate::AuthError::Protocol(format!("{what}: {TooLarge}; refused"))
            }
            CappedError::Read(e) => crate::AuthError::from_reqwest(what, &e),
        }
    }
}
