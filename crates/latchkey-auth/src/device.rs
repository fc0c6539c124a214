//! Signing in where no browser can reach this machine's loopback port (a server over SSH, a
//! container, a machine with no display):
//!
//! - [`DeviceSignIn`]: the OAuth 2.0 Device Authorization Grant (RFC 8628), when the provider
//!   advertises a `device_authorization_endpoint`. The user opens a short URL on any other
//!   device and types a code; we poll the token endpoint meanwhile. `openidconnect`/`oauth2`
//!   speak the protocol (the polling loop, `authorization_pending`, `slow_down` adding 5 s);
//!   the answer is judged exactly as a browser sign-in's, by the same function.
//! - [`PastedCallbacks`]: for providers without one, the user copies the address the browser
//!   ended on (it carries `code` and `state`) and pastes it back; it is checked like any
//!   callback and completes the ordinary [`crate::PendingSignIn`].

use crate::callback::{parse_callback, same_secret};
use crate::deeplink::DeepLinkError;
use crate::discovery::ProviderInfo;
use crate::error::AuthError;
use crate::flow::{
    client_for, judge_token_response, token_error, ClientChecks, Delivery, SignedIn, TokenTransport,
};
use crate::provider::{is_acceptable_provider_url, Provider};
use crate::secret::ClientSecret;
use chrono::{DateTime, Utc};
use openidconnect::core::{CoreDeviceAuthorizationResponse, CoreTokenResponse};
use openidconnect::{
    DeviceAuthorizationUrl, DeviceCodeErrorResponseType, Nonce, RequestTokenError, Scope,
};
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use url::Url;

/// The discovery document's key for the device authorization endpoint (RFC 8628 §4).
const DEVICE_ENDPOINT: &str = "device_authorization_endpoint";
/// Never poll faster than this, whatever `interval` the provider names (0 would spin).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest user code shown; real ones are 8–12 characters.
const MAX_USER_CODE: usize = 64;

/// One device sign-in: the codes are shown to the user, then [`DeviceSignIn::finish`] polls
/// until they approve on their other device, refuse, or the code expires.
pub struct DeviceSignIn {
    info: ProviderInfo,
    client_id: String,
    client_secret: Option<ClientSecret>,
    allowed_tenants: Vec<String>,
    allowed_domains: Vec<String>,
    details: CoreDeviceAuthorizationResponse,
    verification_uri: Url,
    verification_uri_complete: Option<Url>,
    user_code: String,
}

impl std::fmt::Debug for DeviceSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSignIn")
            .field("issuer", &self.info.issuer())
            .field("verification_uri", &self.verification_uri.as_str())
            .finish_non_exhaustive()
    }
}

impl DeviceSignIn {
    /// Whether the provider offers the device flow: its discovery document names an
    /// acceptable `device_authorization_endpoint` (`https`, or `http` on loopback).
    ///
    /// # Errors
    /// [`AuthError::Config`] or [`AuthError::Protocol`] when it names one that is not
    /// acceptable.
    pub fn offered(info: &ProviderInfo) -> Result<bool, AuthError> {
        Ok(info.endpoint(DEVICE_ENDPOINT)?.is_some())
    }

    /// Asks the provider for a device code and a user code (RFC 8628 §3.1), with the
    /// provider's scopes and this app's client authentication (the secret, when configured,
    /// as the token endpoint takes it). No PKCE (the grant has none) and no extra authorization
    /// parameters (`prompt`, `hd`...: they belong to the browser's authorization request).
    ///
    /// # Errors
    /// [`AuthError::Config`] when the provider has no device endpoint; [`AuthError::Protocol`]
    /// when it answers with an error or unusable codes; [`AuthError::Unreachable`] offline.
    pub async fn start(
        http: &reqwest::Client,
        provider: &Provider,
        info: ProviderInfo,
    ) -> Result<Self, AuthError> {
        let endpoint = info.endpoint(DEVICE_ENDPOINT)?.ok_or_else(|| {
            AuthError::Config(format!(
                "provider `{}` offers no device sign-in (its discovery document has no {DEVICE_ENDPOINT})",
                provider.name
            ))
        })?;
        let client = client_for(
            &info,
            &provider.client_id,
            provider.client_secret.as_ref(),
            None,
        )?
        .set_device_authorization_url(DeviceAuthorizationUrl::from_url(endpoint));
        let mut request = client.exchange_device_code();
        for scope in provider.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let transport = TokenTransport::new(http);
        let details: CoreDeviceAuthorizationResponse = request
            .request_async(&transport)
            .await
            .map_err(|e| token_error("the device authorization", transport.status(), e))?;

        let verification_uri = shown_url(details.verification_uri().as_str(), "verification_uri")?
            .ok_or_else(|| {
                AuthError::Protocol(
                    "the device authorization has an unusable verification_uri".into(),
                )
            })?;
        let verification_uri_complete = match details.verification_uri_complete() {
            Some(u) => shown_url(u.secret(), "verification_uri_complete")?,
            None => None,
        };
        let user_code = details.user_code().secret().clone();
        if user_code.is_empty()
            || user_code.chars().count() > MAX_USER_CODE
            || user_code.chars().any(char::is_control)
        {
            return Err(AuthError::Protocol(
                "the device authorization's user_code is empty, too long or not printable".into(),
            ));
        }
        Ok(Self {
            info,
            client_id: provider.client_id.clone(),
            client_secret: provider.client_secret.as_ref().map(ClientSecret::duplicate),
            allowed_tenants: provider.allowed_tenants.clone(),
            allowed_domains: provider.allowed_domains.clone(),
            details,
            verification_uri,
            verification_uri_complete,
            user_code,
        })
    }

    /// The code the user types at [`DeviceSignIn::verification_uri`]. Printable, short.
    pub fn user_code(&self) -> &str {
        &self.user_code
    }

    /// Where the user goes on their other device (`https`, or `http` on loopback).
    pub fn verification_uri(&self) -> &Url {
        &self.verification_uri
    }

    /// The same with the code filled in, when the provider offers it (for a QR code).
    pub fn verification_uri_complete(&self) -> Option<&Url> {
        self.verification_uri_complete.as_ref()
    }

    /// How long the codes are valid, as the provider said.
    pub fn expires_in(&self) -> Duration {
        self.details.expires_in()
    }

    /// The provider information, possibly with refreshed signing keys once finished.
    pub fn provider_info(&self) -> &ProviderInfo {
        &self.info
    }

    /// Polls the token endpoint every `interval` seconds (5 when the provider names none,
    /// +5 s after each `slow_down`, continuing on `authorization_pending`) until the user
    /// approves, then validates the ID token as [`crate::PendingSignIn::finish`] does. Ends at
    /// `timeout` or when the code expires ([`AuthError::TimedOut`]), when `cancel` resolves
    /// ([`AuthError::Cancelled`]), or on `access_denied` ([`AuthError::Denied`]).
    pub async fn finish(
        self,
        http: &reqwest::Client,
        now: impl Fn() -> DateTime<Utc> + Send + Sync + Clone + 'static,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<(SignedIn, ProviderInfo), AuthError> {
        self.finish_with(http, now, timeout, cancel, |d| tokio::time::sleep(d))
            .await
    }

    /// [`DeviceSignIn::finish`] with the wait between polls supplied (tests record it).
    async fn finish_with<F: Future<Output = ()>>(
        mut self,
        http: &reqwest::Client,
        now: impl Fn() -> DateTime<Utc> + Send + Sync + Clone + 'static,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
        sleep: impl Fn(Duration) -> F,
    ) -> Result<(SignedIn, ProviderInfo), AuthError> {
        let response = {
            let poll = self.poll(http, now.clone(), sleep);
            tokio::pin!(poll);
            tokio::pin!(cancel);
            tokio::select! {
                _ = &mut cancel => return Err(AuthError::Cancelled),
                _ = tokio::time::sleep(timeout) => return Err(AuthError::TimedOut(timeout.as_secs())),
                r = &mut poll => r?,
            }
        };
        let approved_at = std::time::Instant::now();
        let checks = ClientChecks {
            client_id: &self.client_id,
            secret: self.client_secret.as_ref(),
            allowed_tenants: &self.allowed_tenants,
            allowed_domains: &self.allowed_domains,
        };
        // RFC 8628 has no nonce: the ID token comes straight from the token endpoint in
        // exchange for a device code only this process holds, so (as on refresh) a `nonce`
        // claim is neither required nor checked. Everything else is checked as usual.
        let any_nonce = |_: Option<&Nonce>| Ok(());
        let (identity, tokens) = judge_token_response(
            http,
            &mut self.info,
            &checks,
            &response,
            any_nonce,
            None,
            now(),
        )
        .await?;
        Ok((
            SignedIn {
                identity,
                tokens,
                callback_at: approved_at,
            },
            self.info,
        ))
    }

    async fn poll<F: Future<Output = ()>>(
        &self,
        http: &reqwest::Client,
        now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static,
        sleep: impl Fn(Duration) -> F,
    ) -> Result<CoreTokenResponse, AuthError> {
        let client = client_for(
            &self.info,
            &self.client_id,
            self.client_secret.as_ref(),
            None,
        )?;
        let transport = TokenTransport::new(http);
        let result = client
            .exchange_device_access_token(&self.details)
            .map_err(|e| AuthError::Config(e.to_string()))?
            .set_time_fn(now)
            .request_async(&transport, |d: Duration| sleep(d.max(MIN_INTERVAL)), None)
            .await;
        result.map_err(|e| match e {
            RequestTokenError::ServerResponse(r)
                if *r.error() == DeviceCodeErrorResponseType::AccessDenied =>
            {
                AuthError::Denied {
                    error: "access_denied".into(),
                    description: r
                        .error_description()
                        .map(|d| d.chars().filter(|c| !c.is_control()).take(300).collect()),
                }
            }
            RequestTokenError::ServerResponse(r)
                if *r.error() == DeviceCodeErrorResponseType::ExpiredToken =>
            {
                AuthError::TimedOut(self.details.expires_in().as_secs())
            }
            other => match token_error("the device sign-in", transport.status(), other) {
                AuthError::InvalidGrant => AuthError::Protocol(
                    "the provider refused the device code (invalid_grant)".into(),
                ),
                e => e,
            },
        })
    }
}

/// A provider-supplied URL the user is shown: parsed (so no control characters survive) and
/// `https` (or `http` on loopback). `None` when it is not a URL.
fn shown_url(s: &str, what: &str) -> Result<Option<Url>, AuthError> {
    let Ok(url) = Url::parse(s) else {
        return Ok(None);
    };
    if !is_acceptable_provider_url(&url) {
        return Err(AuthError::Config(format!(
            "the provider's {what} ({url}) is not https; only loopback providers may use http"
        )));
    }
    Ok(Some(url))
}

/// Where a pending browser sign-in takes the address its browser ended on, pasted back by
/// the user ([`crate::PendingSignIn::pasted_callbacks`]). Cheap to clone.
#[derive(Clone)]
pub struct PastedCallbacks {
    redirect: Url,
    state: String,
    tx: mpsc::Sender<Delivery>,
}

impl std::fmt::Debug for PastedCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PastedCallbacks")
            .field("redirect", &self.redirect.as_str())
            .finish_non_exhaustive()
    }
}

impl PastedCallbacks {
    pub(crate) fn new(redirect: Url, state: String, tx: mpsc::Sender<Delivery>) -> Self {
        Self {
            redirect,
            state,
            tx,
        }
    }

    /// The redirect URI the pasted address must start with.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect
    }

    /// Hands the pending sign-in one pasted address. It must be this sign-in's redirect URI
    /// (scheme, host, port and path) and carry its `state`; the sign-in then checks `iss`,
    /// exchanges the code with its PKCE verifier and validates the tokens as for any callback.
    ///
    /// # Errors
    /// [`DeepLinkError::NotACallback`] for another address (nothing is changed: the user may
    /// paste again); [`DeepLinkError::Malformed`] for a callback whose parameters are broken;
    /// [`DeepLinkError::WrongState`] for another sign-in's (stale or forged) callback;
    /// [`DeepLinkError::NotPending`] when the sign-in is over.
    pub fn feed(&self, address: &str) -> Result<(), DeepLinkError> {
        let address = address
            .trim()
            .trim_matches(|c| c == '"' || c == '\'' || c == '<' || c == '>');
        let url = Url::parse(address).map_err(|_| DeepLinkError::NotACallback)?;
        let same_place = url.scheme() == self.redirect.scheme()
            && url.host_str() == self.redirect.host_str()
            && url.port_or_known_default() == self.redirect.port_or_known_default()
            && url.path() == self.redirect.path();
        if !same_place {
            return Err(DeepLinkError::NotACallback);
        }
        let callback =
            parse_callback(url.query().unwrap_or("")).map_err(DeepLinkError::Malformed)?;
        if !callback
            .state()
            .is_some_and(|s| same_secret(s, &self.state))
        {
            return Err(DeepLinkError::WrongState);
        }
        self.tx
            .try_send(Delivery {
                callback,
                reply: None,
            })
            .map_err(|_| DeepLinkError::NotPending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Redirect;
    use http_body_util::{BodyExt, Full};
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::TokioIo;
    use std::sync::{Arc, Mutex};

    /// A provider stand-in speaking just RFC 8628: `/device` hands out codes, `/token`
    /// answers the scripted errors in turn. Records every token request's form.
    struct StandIn {
        base: String,
        polls: Arc<Mutex<Vec<String>>>,
    }

    async fn stand_in(interval: Option<u64>, answers: &[&'static str]) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let polls = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.to_vec()));
        let (p, base2) = (polls.clone(), base.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (p, a, base) = (p.clone(), answers.clone(), base2.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (p, a, base) = (p.clone(), a.clone(), base.clone());
                        async move {
                            let path = req.uri().path().to_string();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let form = String::from_utf8_lossy(&body).into_owned();
                            let (status, json) = if path == "/device" {
                                let mut v = serde_json::json!({
                                    "device_code": "dc-1", "user_code": "WDJB-MJHT",
                                    "verification_uri": format!("{base}/device/verify"),
                                    "verification_uri_complete": format!("{base}/device/verify?user_code=WDJB-MJHT"),
                                    "expires_in": 600,
                                });
                                if let Some(i) = interval {
                                    v["interval"] = i.into();
                                }
                                (200, v)
                            } else {
                                p.lock().unwrap().push(form);
                                let mut a = a.lock().unwrap();
                                let error = if a.is_empty() {
                                    "expired_token"
                                } else {
                                    a.remove(0)
                                };
                                (400, serde_json::json!({ "error": error }))
                            };
                            let mut resp = Response::new(Full::new(Bytes::from(json.to_string())));
                            *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            resp.headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StandIn { base, polls }
    }

    fn info(base: &str) -> ProviderInfo {
        ProviderInfo {
            metadata: serde_json::json!({
                "issuer": base,
                "authorization_endpoint": format!("{base}/auth"),
                "token_endpoint": format!("{base}/token"),
                "jwks_uri": format!("{base}/jwks"),
                "device_authorization_endpoint": format!("{base}/device"),
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }),
            jwks: serde_json::json!({ "keys": [] }),
            fetched_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn provider(base: &str) -> Provider {
        Provider {
            name: "standin".into(),
            metadata_url: Url::parse(&format!("{base}/.well-known/openid-configuration")).unwrap(),
            client_id: "device-client".into(),
            client_secret: None,
            scopes: vec!["openid".into(), "profile".into()],
            auth_params: vec![("prompt".into(), "consent".into())],
            redirect: Redirect::default(),
            allowed_tenants: vec![],
            allowed_domains: vec![],
        }
    }

    /// Runs a device sign-in against the stand-in with a sleep that only records.
    async fn run(
        interval: Option<u64>,
        answers: &[&'static str],
    ) -> (Result<(), AuthError>, Vec<Duration>, Vec<String>) {
        let s = stand_in(interval, answers).await;
        let http = crate::http_client().unwrap();
        let sign_in = DeviceSignIn::start(&http, &provider(&s.base), info(&s.base))
            .await
            .expect("the stand-in hands out codes");
        assert_eq!(sign_in.user_code(), "WDJB-MJHT");
        assert_eq!(
            sign_in.verification_uri_complete().map(Url::as_str),
            Some(format!("{}/device/verify?user_code=WDJB-MJHT", s.base).as_str())
        );
        let slept = Arc::new(Mutex::new(Vec::new()));
        let rec = slept.clone();
        let result = sign_in
            .finish_with(
                &http,
                Utc::now,
                Duration::from_secs(3600),
                std::future::pending(),
                move |d| {
                    rec.lock().unwrap().push(d);
                    std::future::ready(())
                },
            )
            .await
            .map(|_| ());
        let slept = slept.lock().unwrap().clone();
        let polls = s.polls.lock().unwrap().clone();
        (result, slept, polls)
    }

    #[tokio::test]
    async fn slow_down_adds_five_seconds_and_pending_keeps_the_pace() {
        let (result, slept, polls) = run(
            Some(2),
            &[
                "authorization_pending",
                "slow_down",
                "authorization_pending",
                "access_denied",
            ],
        )
        .await;
        assert!(
            matches!(&result, Err(AuthError::Denied { error, .. }) if error == "access_denied"),
            "access_denied ends the sign-in as denied: {result:?}"
        );
        let secs: Vec<u64> = slept.iter().map(Duration::as_secs).collect();
        assert_eq!(
            secs,
            [2, 7, 7],
            "the interval is honoured, slow_down adds 5 s for every later poll"
        );
        assert_eq!(
            polls.len(),
            4,
            "one poll per answer, none after the refusal"
        );
        for form in &polls {
            assert!(
                form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code")
                    && form.contains("device_code=dc-1")
                    && form.contains("client_id=device-client"),
                "each poll is a device_code grant for this client: {form}"
            );
        }
    }

    #[tokio::test]
    async fn no_interval_means_five_seconds_and_expiry_is_a_timeout() {
        let (result, slept, _) = run(None, &["authorization_pending", "expired_token"]).await;
        assert!(
            matches!(result, Err(AuthError::TimedOut(600))),
            "expired_token ends the sign-in as timed out: {result:?}"
        );
        assert_eq!(
            slept,
            [Duration::from_secs(5)],
            "RFC 8628's default interval"
        );
    }

    #[tokio::test]
    async fn a_provider_without_a_device_endpoint_is_said_so() {
        let mut i = info("http://127.0.0.1:9");
        assert!(DeviceSignIn::offered(&i).unwrap());
        i.metadata.as_object_mut().unwrap().remove(DEVICE_ENDPOINT);
        assert!(!DeviceSignIn::offered(&i).unwrap());
        let http = crate::http_client().unwrap();
        let e = DeviceSignIn::start(&http, &provider("http://127.0.0.1:9"), i)
            .await
            .unwrap_err();
        assert!(matches!(e, AuthError::Config(_)), "{e:?}");
        i = info("http://127.0.0.1:9");
        i.metadata[DEVICE_ENDPOINT] = "http://id.example.com/device".into();
        assert!(
            DeviceSignIn::offered(&i).is_err(),
            "a plain-http device endpoint off loopback is refused"
        );
    }

    #[test]
    fn a_pasted_address_must_be_this_sign_ins_redirect_with_its_state() {
        let (tx, mut rx) = mpsc::channel(4);
        let redirect = Url::parse("http://127.0.0.1:4711/callback").unwrap();
        let p = PastedCallbacks::new(redirect, "the-state".into(), tx);
        for other in [
            "not a url",
            "http://127.0.0.1:4712/callback?code=c&state=the-state",
            "http://127.0.0.1:4711/elsewhere?code=c&state=the-state",
            "https://127.0.0.1:4711/callback?code=c&state=the-state",
        ] {
            assert_eq!(p.feed(other), Err(DeepLinkError::NotACallback), "{other}");
        }
        assert_eq!(
            p.feed("http://127.0.0.1:4711/callback?code=c&state=another"),
            Err(DeepLinkError::WrongState)
        );
        assert_eq!(
            p.feed("http://127.0.0.1:4711/callback?code=c"),
            Err(DeepLinkError::WrongState),
            "no state is no match"
        );
        assert!(matches!(
            p.feed("http://127.0.0.1:4711/callback?code=c&state=the-state&state=the-state"),
            Err(DeepLinkError::Malformed(_))
        ));
        assert!(
            rx.try_recv().is_err(),
            "nothing refused reaches the sign-in"
        );
        p.feed("  'http://127.0.0.1:4711/callback?code=c&state=the-state&iss=x'\n")
            .expect("the genuine address, quoted and with spaces, is taken");
        let d = rx.try_recv().expect("delivered");
        assert_eq!(d.callback.iss(), Some("x"), "iss travels on to be checked");
    }
}
