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
