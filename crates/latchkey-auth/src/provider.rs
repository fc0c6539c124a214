use crate::secret::ClientSecret;
use url::Url;

/// One configured OpenID Provider and this app's client registration at it.
#[derive(Debug)]
pub struct Provider {
    /// The name the user configured (`google`, `default`, ...).
    pub name: String,
    /// The provider's discovery document, `<issuer>/.well-known/openid-configuration`.
    pub metadata_url: Url,
    /// This app's client id at the provider.
    pub client_id: String,
    /// Absent for public clients. Desktop "secrets" are not confidential (RFC 8252 §8.5), but
    /// they are still never logged, printed or put in the authorization URL.
    pub client_secret: Option<ClientSecret>,
    /// Scopes asked for; always includes `openid`.
    pub scopes: Vec<String>,
    /// Extra authorization request parameters (`prompt`, `login_hint`, `hd`, `access_type`...).
    pub auth_params: Vec<(String, String)>,
    /// Where the provider sends the browser back.
    pub redirect: Redirect,
    /// When not empty, only ID tokens whose tenant (`tid`, Microsoft Entra) is listed are
    /// accepted; GUIDs, compared without regard to case.
    pub allowed_tenants: Vec<String>,
    /// When not empty, only ID tokens whose hosted domain (`hd`, Google Workspace) is listed
    /// are accepted: never judged by the email's domain, which anyone can have.
    pub allowed_domains: Vec<String>,
}

/// How the provider sends the user back to the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// `http://127.0.0.1:PORT/PATH`, on an ephemeral port unless pinned.
    Loopback {
        /// A fixed port, for providers that need one registered; else any free port.
        port: Option<u16>,
        /// The callback path (`/callback`).
        path: String,
    },
    /// A custom-scheme URL the app shell receives from the OS and feeds to a
    /// [`crate::DeepLinkInbox`].
    DeepLink {
        /// The redirect URI (`latchkey://auth/callback`).
        uri: Url,
    },
}

impl Default for Redirect {
    fn default() -> Self {
        Redirect::Loopback {
            port: None,
            path: "/callback".into(),
        }
    }
}

impl Provider {
    /// The issuer the discovery URL names (see [`issuer_from_metadata_url`]).
    pub fn expected_issuer(&self) -> String {
        issuer_from_metadata_url(&self.metadata_url)
    }
}

/// Where a discovery document lives, after its issuer (OpenID Connect Discovery §4).
pub const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The issuer a discovery URL names: the URL without [`WELL_KNOWN`] (unchanged when it does
/// not end so).
pub fn issuer_from_metadata_url(url: &Url) -> String {
    let s = url.as_str();
    s.strip_suffix(WELL_KNOWN).unwrap_or(s).to_string()
}

/// Whether `host` (as [`Url::host_str`] gives it) is a loopback IP literal: an address in
/// `127.0.0.0/8` or `[::1]`, the only hosts plain HTTP may reach. Never a name, not even
/// `localhost`: a resolver or hosts file may send a name anywhere (RFC 8252 §8.3).
pub fn is_loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else {
        return false;
    };
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip == std::net::Ipv6Addr::LOCALHOST),
        None => host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback()),
    }
}

/// Whether `url` is plain HTTP to a loopback host, the only place plain HTTP is allowed.
pub(crate) fn is_loopback_http(url: &Url) -> bool {
    url.scheme() == "http" && is_loopback_host(url.host_str())
}

/// Whether a provider URL is acceptable: `https`, or `http` to a loopback host.
pub(crate) fn is_acceptable_provider_url(url: &Url) -> bool {
    url.scheme() == "https" || is_loopback_http(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_reaches_loopback_ip_literals_only() {
        for ok in [
            "http://127.0.0.1:9/x",
            "http://127.8.9.10/x",
            "http://[::1]:9/x",
            "http://[0:0:0:0:0:0:0:1]/x",
            "https://id.example.com/x",
            "https://localhost/x",
        ] {
            assert!(is_acceptable_provider_url(&Url::parse(ok).unwrap()), "{ok}");
        }
        for refused in [
            "http://localhost:9/x",
            "http://LOCALHOST/x",
            "http://localhost./x",
            "http://127.0.0.1.nip.io/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://0.0.0.0/x",
            "http://10.0.0.1/x",
            "http://id.example.com/x",
            "ftp://127.0.0.1/x",
        ] {
            assert!(
                !is_acceptable_provider_url(&Url::parse(refused).unwrap()),
                "{refused}: a name may resolve anywhere; only loopback IP literals get plain http"
            );
        }
    }
}
