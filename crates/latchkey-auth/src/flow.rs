//! One authorization-code + PKCE sign-in, from the authorization URL to validated tokens.

use crate::callback::Callback;
use crate::deeplink::DeepLinkInbox;
use crate::device::PastedCallbacks;
use crate::discovery::ProviderInfo;
use crate::error::AuthError;
use crate::loopback::LoopbackReceiver;
use crate::provider::{Provider, Redirect};
use crate::secret::{AccessToken, ClientSecret, IdToken, RefreshToken, TokenSet};
use crate::tenant::IssuerRule;
use crate::verify::{check_access_token_hash, check_allow_lists, identity_from, verify_id_token};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use url::Url;

/// A callback handed from a receiver to the pending flow, with a way to tell the browser
/// page how it ended (loopback only).
pub(crate) struct Delivery {
    pub callback: Callback,
    pub reply: Option<oneshot::Sender<Verdict>>,
}

pub(crate) enum Verdict {
    SignedIn { who: String },
    Failed { what: String },
}

/// Who signed in, from the validated ID token (and userinfo). Not secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider's issuer identifier.
    pub issuer: String,
    /// The person's stable id at that issuer (`sub`).
    pub subject: String,
    /// Their email, when the provider shares it (not necessarily verified).
    pub email: Option<String>,
    /// Their full name, when shared.
    pub name: Option<String>,
    /// The name they sign in with (`preferred_username`), when shared: Microsoft's stand-in
    /// for an email, which its tokens often lack. Not unique, never an account key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// A URL of their picture, when shared.
    pub picture: Option<String>,
}

impl Identity {
    /// How to name this person in one line: see [`display_name`].
    pub fn display_name(&self) -> &str {
        display_name(
            self.name.as_deref(),
            self.email.as_deref().or(self.username.as_deref()),
            &self.subject,
        )
    }
}

/// The one way every face names a person in a line: the name, else the email (callers pass
/// `preferred_username` where there is no email), else the subject (never empty after a
/// sign-in: an empty `sub` is refused).
pub fn display_name<'a>(
    name: Option<&'a str>,
    email: Option<&'a str>,
    subject: &'a str,
) -> &'a str {
    name.filter(|n| !n.is_empty())
        .or(email.filter(|e| !e.is_empty()))
        .unwrap_or(subject)
}

/// A completed sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// Who signed in.
    pub identity: Identity,
    /// Their tokens, to be kept in the vault.
    pub tokens: TokenSet,
    /// When the genuine callback reached us (for measuring the local overhead).
    pub callback_at: std::time::Instant,
}

/// Per-sign-in choices.
#[derive(Debug, Clone, Default)]
pub struct SignInOptions {
    /// `prompt` for this request only (e.g. `select_account` for "Add account"); overrides the
    /// provider's configured one.
    pub prompt: Option<String>,
    /// A link shown on the browser's success page to bring the app forward (`latchkey://`).
    pub app_link: Option<String>,
}

/// One sign-in waiting for the browser. The receiver listens from [`PendingSignIn::start`]
/// until this value is finished or dropped.
pub struct PendingSignIn {
    authorize_url: Url,
    issuer: String,
    info: ProviderInfo,
    client_id: String,
    client_secret: Option<ClientSecret>,
    allowed_tenants: Vec<String>,
    allowed_domains: Vec<String>,
    redirect_uri: RedirectUrl,
    state: String,
    nonce: Nonce,
    verifier: Option<PkceCodeVerifier>,
    rx: mpsc::Receiver<Delivery>,
    /// For addresses pasted back by the user ([`PendingSignIn::pasted_callbacks`]).
    tx: mpsc::Sender<Delivery>,
    wrong_state: Arc<AtomicBool>,
    loopback: Option<LoopbackReceiver>,
    inbox: Option<DeepLinkInbox>,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("issuer", &self.issuer)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .finish_non_exhaustive()
    }
}

impl Drop for PendingSignIn {
    fn drop(&mut self) {
        if let Some(inbox) = &self.inbox {
            inbox.disarm(&self.state);
        }
    }
}

/// The receiver's channel closed before a callback came (it never does while it listens).
fn receiver_stopped() -> AuthError {
    AuthError::Protocol("the callback receiver stopped".into())
}

/// Refuses a provider whose discovery document lists PKCE methods without `S256`: it would
/// ignore or reject the challenge, and a code without PKCE can be stolen and redeemed. An
/// absent list says nothing (RFC 8414 §2), so it is allowed; every sign-in sends S256 anyway.
fn require_s256(metadata: &serde_json::Value) -> Result<(), AuthError> {
    let Some(methods) = metadata.get("code_challenge_methods_supported") else {
        return Ok(());
    };
    let listed = methods
        .as_array()
        .is_some_and(|m| m.iter().any(|v| v.as_str() == Some("S256")));
    if listed {
        Ok(())
    } else {
        Err(AuthError::Config(format!(
            "the provider supports PKCE only as {methods}, not S256; Latchkey signs in only with              S256 PKCE (ask the provider's administrator to enable it)"
        )))
    }
}

/// Random bytes for `state` and `nonce`: 256 bits, well over the 128 required.
const RANDOM_BYTES: u32 = 32;
impl PendingSignIn {
    /// Prepares the authorization request and starts listening for its callback: on
    /// `127.0.0.1` for loopback providers (before any browser opens), or in `inbox` for
    /// deep-link providers.
    pub async fn start(
        provider: &Provider,
        info: ProviderInfo,
        options: &SignInOptions,
        inbox: Option<&DeepLinkInbox>,
    ) -> Result<Self, AuthError> {
        require_s256(&info.metadata)?;
        let state = CsrfToken::new_random_len(RANDOM_BYTES);
        let nonce = Nonce::new_random_len(RANDOM_BYTES);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (tx, rx) = mpsc::channel(4);
        let wrong_state = Arc::new(AtomicBool::new(false));

        let (redirect_uri, loopback, inbox) = match &provider.redirect {
            Redirect::Loopback { port, path } => {
                let receiver = LoopbackReceiver::bind(
                    *port,
                    path.clone(),
                    state.secret().clone(),
                    options.app_link.clone(),
                    tx.clone(),
                    wrong_state.clone(),
                )
                .await
                .map_err(AuthError::Receiver)?;
                let uri = format!("http://127.0.0.1:{}{}", receiver.addr.port(), path);
                (uri, Some(receiver), None)
            }
            Redirect::DeepLink { uri } => {
                let inbox = inbox.ok_or_else(|| {
                    AuthError::Config(format!(
                        "provider `{}` redirects to a deep link ({uri}), which only the desktop \
                         app can receive",
                        provider.name
                    ))
                })?;
                inbox.arm(
                    uri.clone(),
                    state.secret().clone(),
                    tx.clone(),
                    wrong_state.clone(),
                );
                (uri.to_string(), None, Some(inbox.clone()))
            }
        };
        let redirect_uri = RedirectUrl::new(redirect_uri)
            .map_err(|e| AuthError::Config(format!("bad redirect URI: {e}")))?;

        let client = CoreClient::from_provider_metadata(
            info.core_metadata()?,
            ClientId::new(provider.client_id.clone()),
            None, // the secret never goes near the authorization URL
        )
        .set_redirect_uri(redirect_uri.clone());
        let state_for_url = CsrfToken::new(state.secret().clone());
        let nonce_for_url = nonce.clone();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || state_for_url,
                move || nonce_for_url,
            )
            .set_pkce_challenge(challenge);
        for scope in provider.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for (k, v) in &provider.auth_params {
            if k == "prompt" && options.prompt.is_some() {
                continue;
            }
            request = request.add_extra_param(k.clone(), v.clone());
        }
        if let Some(prompt) = &options.prompt {
            request = request.add_extra_param("prompt", prompt.clone());
        }
        // Google's account-chooser hint, when exactly one Workspace domain is allowed (the
        // `hd` claim is still checked: the hint only filters the chooser).
        if let [domain] = provider.allowed_domains.as_slice() {
            if !provider.auth_params.iter().any(|(k, _)| k == "hd") {
                request = request.add_extra_param("hd", domain.clone());
            }
        }
        let (authorize_url, _, _) = request.url();

        Ok(Self {
            authorize_url,
            issuer: info.issuer().to_string(),
            info,
            client_id: provider.client_id.clone(),
            client_secret: provider.client_secret.as_ref().map(ClientSecret::duplicate),
            allowed_tenants: provider.allowed_tenants.clone(),
            allowed_domains: provider.allowed_domains.clone(),
            redirect_uri,
            state: state.secret().clone(),
            nonce,
            verifier: Some(verifier),
            rx,
            tx,
            wrong_state,
            loopback,
            inbox,
        })
    }

    /// The URL to open in the user's browser. Carries no secret.
    pub fn authorize_url(&self) -> &Url {
        &self.authorize_url
    }

    /// The redirect URI this sign-in listens on.
    pub fn redirect_uri(&self) -> &str {
        self.redirect_uri.as_str()
    }

    /// The provider information, possibly with refreshed signing keys: callers cache it.
    pub fn provider_info(&self) -> &ProviderInfo {
        &self.info
    }

    /// Where to hand the address the browser ended on, pasted back by the user when that
    /// browser runs where this machine's loopback port is out of reach. It is checked like
    /// any callback (redirect, `state`; then `iss` and PKCE when the sign-in finishes).
    pub fn pasted_callbacks(&self) -> PastedCallbacks {
        PastedCallbacks::new(
            self.redirect_uri.url().clone(),
            self.state.clone(),
            self.tx.clone(),
        )
    }

    /// Waits for the genuine callback (at most `timeout`, or until `cancel` resolves), then
    /// exchanges the code and validates everything. The browser page shows the outcome.
    pub async fn finish(
        mut self,
        http: &reqwest::Client,
        now: impl Fn() -> DateTime<Utc>,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<(SignedIn, ProviderInfo), AuthError> {
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        tokio::pin!(cancel);
        let delivery = tokio::select! {
            _ = &mut cancel => return Err(AuthError::Cancelled),
            _ = &mut deadline => {
                return Err(if self.wrong_state.load(Ordering::SeqCst) {
                    AuthError::StateMismatch
                } else {
                    AuthError::TimedOut(timeout.as_secs())
                });
            }
            d = self.rx.recv() => d.ok_or_else(receiver_stopped)?,
        };
        let callback_at = std::time::Instant::now();
        let result =
            self.complete(delivery.callback, http, now())
                .await
                .map(|(identity, tokens)| SignedIn {
                    identity,
                    tokens,
                    callback_at,
                });
        if let Some(reply) = delivery.reply {
            let verdict = match &result {
                Ok(signed_in) => Verdict::SignedIn {
                    who: signed_in.identity.display_name().to_string(),
                },
                Err(e) => Verdict::Failed {
                    what: format!("Sign-in failed: {e}."),
                },
            };
            let _ = reply.send(verdict);
            if let Some(loopback) = self.loopback.as_mut() {
                loopback.page_delivered(Duration::from_secs(5)).await;
            }
        }
        let info = self.info.clone();
        result.map(|s| (s, info))
    }

    async fn complete(
        &mut self,
        callback: Callback,
        http: &reqwest::Client,
        now: DateTime<Utc>,
    ) -> Result<(Identity, TokenSet), AuthError> {
        // RFC 9207: a callback naming another issuer is a mix-up attack; a provider that
        // advertises `iss` must send it.
        let rule = self.info.issuer_rule();
        match callback.iss() {
            Some(iss) if !rule.fits(iss) => {
                return Err(AuthError::InvalidToken(if iss == self.issuer {
                    format!("the callback names the literal template issuer `{iss}`, not a tenant")
                } else if matches!(rule, IssuerRule::Tenant { .. }) {
                    format!(
                        "the callback came from issuer `{iss}`, not a tenant of `{}`",
                        self.issuer
                    )
                } else {
                    format!(
                        "the callback came from issuer `{iss}`, not `{}`",
                        self.issuer
                    )
                }))
            }
            None if self
                .info
                .metadata
                .get("authorization_response_iss_parameter_supported")
                .and_then(|v| v.as_bool())
                == Some(true) =>
            {
                return Err(AuthError::InvalidToken(
                    "the callback lacks the `iss` its provider promises (RFC 9207)".into(),
                ))
            }
            _ => {}
        }
        let callback_iss = callback.iss().map(str::to_string);
        let code = match callback {
            Callback::Error {
                error, description, ..
            } => return Err(AuthError::Denied { error, description }),
            Callback::Code { code, .. } => code,
        };
        let verifier = self
            .verifier
            .take()
            .ok_or_else(|| AuthError::Protocol("the sign-in was already completed".into()))?;
        let client = client_for(
            &self.info,
            &self.client_id,
            self.client_secret.as_ref(),
            Some(&self.redirect_uri),
        )?;
        let transport = TokenTransport::new(http);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| AuthError::Config(e.to_string()))?
            .set_pkce_verifier(verifier)
            .request_async(&transport)
            .await
            .map_err(
                |e| match token_error("the code exchange", transport.status(), e) {
                    AuthError::InvalidGrant => AuthError::Protocol(
                        "the provider refused the authorization code (invalid_grant)".into(),
                    ),
                    other => other,
                },
            )?;

        let nonce = self.nonce.clone();
        let checks = ClientChecks {
            client_id: &self.client_id,
            secret: self.client_secret.as_ref(),
            allowed_tenants: &self.allowed_tenants,
            allowed_domains: &self.allowed_domains,
        };
        judge_token_response(
            http,
            &mut self.info,
            &checks,
            &response,
            &nonce,
            callback_iss,
            now,
        )
        .await
    }
}

/// This app's registration at the provider, as a token answer is judged against it.
pub(crate) struct ClientChecks<'a> {
    pub client_id: &'a str,
    pub secret: Option<&'a ClientSecret>,
    pub allowed_tenants: &'a [String],
    pub allowed_domains: &'a [String],
}

/// The one judgement of a sign-in's token answer, whichever way the grant came (browser
/// callback or device code): the ID token fully (signature, `iss`, `aud`, `azp`, `exp`, `iat`,
/// `nonce` by `nonce`, `sub`), `at_hash`, the allow-lists, the callback's `iss` (when there was
/// a callback), then userinfo, whose `sub` must match. Returns who signed in and the tokens.
pub(crate) async fn judge_token_response(
    http: &reqwest::Client,
    info: &mut ProviderInfo,
    checks: &ClientChecks<'_>,
    response: &CoreTokenResponse,
    nonce: impl openidconnect::NonceVerifier + Clone,
    callback_iss: Option<String>,
    now: DateTime<Utc>,
) -> Result<(Identity, TokenSet), AuthError> {
    let id_token = response
        .id_token()
        .ok_or_else(|| AuthError::InvalidToken("the token response has no ID token".into()))?;
    let claims = verify_id_token(
        http,
        info,
        checks.client_id,
        checks.secret,
        id_token,
        nonce,
        now,
    )
    .await?;
    check_access_token_hash(info, checks.client_id, response, id_token, &claims)?;
    check_allow_lists(checks.allowed_tenants, checks.allowed_domains, id_token)?;

    let mut identity = identity_from(&claims);
    // A multi-tenant callback's `iss` fits the template; it must name the token's tenant.
    if let Some(iss) = callback_iss.filter(|i| *i != identity.issuer) {
        return Err(AuthError::InvalidToken(format!(
            "the callback came from issuer `{iss}`, the ID token from `{}`",
            identity.issuer
        )));
    }
    merge_userinfo(http, info, response, &mut identity).await?;
    Ok((identity, token_set(response, now, None, None)))
}

/// `CoreClient` as built from discovery: authorization endpoint set, token and userinfo
/// endpoints as the document says.
pub(crate) type DiscoveredClient = openidconnect::Client<
    openidconnect::EmptyAdditionalClaims,
    openidconnect::core::CoreAuthDisplay,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJsonWebKey,
    openidconnect::core::CoreAuthPrompt,
    openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    CoreTokenResponse,
    openidconnect::core::CoreTokenIntrospectionResponse,
    openidconnect::core::CoreRevocableToken,
    openidconnect::core::CoreRevocationErrorResponse,
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// A client for the token endpoint (with the secret, sent as client_secret_basic).
pub(crate) fn client_for(
    info: &ProviderInfo,
    client_id: &str,
    secret: Option<&ClientSecret>,
    redirect: Option<&RedirectUrl>,
) -> Result<DiscoveredClient, AuthError> {
    let mut client = CoreClient::from_provider_metadata(
        info.core_metadata()?,
        ClientId::new(client_id.to_string()),
        secret.map(|s| openidconnect::ClientSecret::new(s.expose().to_string())),
    );
    if let Some(r) = redirect {
        client = client.set_redirect_uri(r.clone());
    }
    Ok(client)
}

/// Fills missing profile claims from userinfo. Its `sub` must equal the ID token's (OIDC Core
/// §5.3.2); other userinfo failures only mean a thinner profile.
async fn merge_userinfo(
    http: &reqwest::Client,
    info: &ProviderInfo,
    response: &CoreTokenResponse,
    identity: &mut Identity,
) -> Result<(), AuthError> {
    let Some(url) = info.endpoint("userinfo_endpoint")? else {
        return Ok(());
    };
    let Ok(resp) = http
        .get(url)
        .bearer_auth(response.access_token().secret())
        .header("accept", "application/json")
        .send()
        .await
    else {
        return Ok(());
    };
    if !resp.status().is_success() {
        return Ok(());
    }
    let body = match crate::http::read_capped(resp, crate::http::MAX_ANSWER_BYTES).await {
        Ok(bytes) => bytes,
        Err(crate::http::CappedError::TooLarge) => {
            return Err(crate::http::CappedError::TooLarge.into_auth("userinfo"))
        }
        Err(_) => return Ok(()),
    };
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(());
    };
    let sub = body.get("sub").and_then(|v| v.as_str());
    if sub != Some(identity.subject.as_str()) {
        return Err(AuthError::InvalidToken(format!(
            "userinfo describes subject `{}`, not the ID token's `{}`",
            sub.unwrap_or("(none)"),
            identity.subject
        )));
    }
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
    identity.email = identity.email.take().or_else(|| text("email"));
    identity.name = identity.name.take().or_else(|| text("name"));
    identity.username = identity
        .username
        .take()
        .or_else(|| text("preferred_username"));
    identity.picture = identity.picture.take().or_else(|| text("picture"));
    Ok(())
}

/// Tokens from a token response; on refresh, a provider that sends no new refresh or ID token
/// means the old ones stay.
pub(crate) fn token_set(
    response: &CoreTokenResponse,
    now: DateTime<Utc>,
    old_refresh: Option<RefreshToken>,
    old_id: Option<IdToken>,
) -> TokenSet {
    TokenSet {
        access_token: AccessToken::new(response.access_token().secret().clone()),
        access_expires_at: response
            .expires_in()
            .and_then(|d| TimeDelta::from_std(d).ok())
            .map(|d| now + d),
        refresh_token: response
            .refresh_token()
            .map(|r| RefreshToken::new(r.secret().clone()))
            .or(old_refresh),
        id_token: response
            .id_token()
            .map(|t| IdToken::new(t.to_string()))
            .or(old_id),
    }
}

/// Sends token requests through the one HTTP client and remembers the last answer's HTTP
/// status, which oauth2 drops from its parse errors: a failure can then say "HTTP 500".
pub(crate) struct TokenTransport<'a> {
    http: &'a reqwest::Client,
    status: std::sync::atomic::AtomicU16,
}

impl<'a> TokenTransport<'a> {
    pub(crate) fn new(http: &'a reqwest::Client) -> Self {
        Self {
            http,
            status: std::sync::atomic::AtomicU16::new(0),
        }
    }

    /// The last answer's status, when there was one.
    pub(crate) fn status(&self) -> Option<u16> {
        Some(self.status.load(Ordering::SeqCst)).filter(|s| *s != 0)
    }
}

// A type (not a closure) so the futures that use it stay provably `Send`.
impl<'c> openidconnect::AsyncHttpClient<'c> for TokenTransport<'_> {
    type Error = openidconnect::HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<
            dyn Future<Output = Result<openidconnect::HttpResponse, Self::Error>>
                + Send
                + Sync
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            use openidconnect::HttpClientError;
            let request: reqwest::Request = request.try_into().map_err(Box::new)?;
            let response = self.http.execute(request).await.map_err(Box::new)?;
            self.status
                .store(response.status().as_u16(), Ordering::SeqCst);
            let mut builder = openidconnect::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            // Read at most MAX_ANSWER_BYTES, never whatever the token endpoint sends.
            let body = crate::http::read_capped(response, crate::http::MAX_ANSWER_BYTES)
                .await
                .map_err(|e| match e {
                    crate::http::CappedError::TooLarge => {
                        HttpClientError::Other(crate::http::TooLarge.to_string())
                    }
                    crate::http::CappedError::Read(e) => HttpClientError::Reqwest(Box::new(e)),
                })?;
            builder.body(body).map_err(HttpClientError::Http)
        })
    }
}

/// Classifies a token endpoint failure without ever echoing its body. `status` is the HTTP
/// status of the answer, when one came.
pub(crate) fn token_error<RE>(
    what: &str,
    status: Option<u16>,
    e: RequestTokenError<
        openidconnect::HttpClientError<reqwest::Error>,
        openidconnect::StandardErrorResponse<RE>,
    >,
) -> AuthError
where
    RE: openidconnect::ErrorResponseType + std::fmt::Display + 'static,
{
    let bad_status = status.filter(|s| !(200..300).contains(s));
    match e {
        RequestTokenError::ServerResponse(r) => {
            if r.error().to_string() == "invalid_grant" {
                AuthError::InvalidGrant
            } else {
                AuthError::Protocol(format!("{what} was refused ({})", r.error()))
            }
        }
        RequestTokenError::Request(openidconnect::HttpClientError::Reqwest(e)) => {
            AuthError::from_reqwest(what, &e)
        }
        RequestTokenError::Request(openidconnect::HttpClientError::Other(m)) => {
            // Our own transport's words (an answer past the size limit).
            AuthError::Protocol(format!("{what}: {m}; refused"))
        }
        RequestTokenError::Request(_) => AuthError::Unreachable(format!("{what} failed")),
        RequestTokenError::Parse(..) | RequestTokenError::Other(_) if bad_status.is_some() => {
            AuthError::Protocol(format!(
                "{what}: the token endpoint answered HTTP {}",
                bad_status.unwrap_or_default()
            ))
        }
        RequestTokenError::Parse(e, _body) => {
            let inner = e.inner().to_string();
            // An ID token lacking a required claim fails while the response is parsed.
            let in_jwt = [
                "Failed to parse payload JSON",
                "Failed to parse header JSON",
                "Invalid JSON web token",
            ]
            .iter()
            .any(|m| inner.contains(m));
            if in_jwt {
                let claim = inner
                    .split("missing field `")
                    .nth(1)
                    .and_then(|rest| rest.split('`').next());
                return AuthError::InvalidToken(match claim {
                    Some(c) => format!("it lacks the required claim `{c}`"),
                    None => "it is not a well-formed JWT".into(),
                });
            }
            let why = if inner.starts_with("missing field") {
                inner
            } else {
                format!("unexpected content at `{}`", e.path())
            };
            AuthError::Protocol(format!(
                "the token endpoint's answer to {what} is unusable: {why}"
            ))
        }
        RequestTokenError::Other(m) => AuthError::Protocol(format!("{what}: {m}")),
    }
}
