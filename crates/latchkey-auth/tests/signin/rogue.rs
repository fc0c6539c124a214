//! A small OpenID Provider that misbehaves on purpose.
//!
//! It is honest where a real provider must be strict (PKCE S256, client authentication,
//! single-use codes, redirect URI binding, rotating refresh tokens) and lies in exactly one
//! chosen way, the [`Defect`], so each test proves that latchkey-auth refuses that lie.
//!
//! The authorization endpoint is not served over HTTP: the test plays the browser and calls
//! [`Rogue::authorize`] with the URL latchkey-auth built, as a real provider's login page would
//! receive it, and gets the code to send back to the redirect URI.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::Utc;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use url::Url;

/// The one way the provider lies. Everything else it does by the book.
#[derive(Clone, Default)]
pub enum Defect {
    /// A well-behaved provider.
    #[default]
    None,
    /// The ID token's signature does not verify (one byte flipped).
    BadSignature,
    /// An unsigned ID token (`alg: none`, empty signature).
    AlgNone,
    /// An ID token MAC'ed (HS256) with the client secret instead of signed with a published key.
    Hs256WithSecret,
    /// `aud` names another client.
    WrongAud,
    /// `aud` names us and another client, with no `azp`.
    SeveralAudiencesNoAzp,
    /// `azp` names another client.
    AzpOther,
    /// `iss` names another issuer.
    WrongIss,
    /// `exp` ten minutes in the past.
    Expired,
    /// No `iat` claim.
    MissingIat,
    /// `iat` an hour in the future.
    FutureIat,
    /// No `sub` claim.
    MissingSub,
    /// A `nonce` that is not the one asked for.
    WrongNonce,
    /// No `nonce` claim.
    MissingNonce,
    /// Signed with a key whose `kid` is never published in the JWKS.
    UnpublishedKey,
    /// The token endpoint answers HTTP 500 with a plain-text body.
    TokenEndpoint500,
    /// Userinfo describes another subject.
    UserinfoOtherSub,
    /// A refresh grant is answered with `invalid_grant`.
    RefreshInvalidGrant,
    /// A refreshed ID token names another subject.
    RefreshOtherSub,
    /// The revocation endpoint answers HTTP 503.
    Revoke503,
    /// `at_hash` does not match the access token issued with the ID token.
    BadAtHash,
    /// The token response has no `id_token`.
    NoIdToken,
    /// The token endpoint redirects (307) to another URL that would answer with tokens.
    TokenRedirect,
    /// The discovery document names another issuer than its URL.
    DiscoveryWrongIssuer,
    /// The token endpoint waits at the gate until the test opens it.
    HoldTokenEndpoint(Arc<Gate>),
    /// The JWKS is valid but padded past 1 MiB.
    HugeJwks,
    /// The token endpoint's answer is valid but padded past 1 MiB.
    HugeTokenAnswer,
}

/// Two MiB of padding: a field every parser ignores, past Latchkey's 1 MiB limit.
fn padding() -> Value {
    json!("x".repeat(2 * 1024 * 1024))
}

/// Lets a test know a request reached the token endpoint, and decide when it is answered.
#[derive(Default)]
pub struct Gate {
    pub arrived: Notify,
    pub release: Notify,
}

/// One RSA signing key with its public JWK.
pub struct Key {
    pub kid: &'static str,
    signer: SigningKey<Sha256>,
    pub jwk: Value,
}

impl Key {
    fn generate(kid: &'static str) -> Self {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .expect("2048-bit RSA key generation");
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": B64.encode(private.n().to_bytes_be()),
            "e": B64.encode(private.e().to_bytes_be()),
        });
        Self {
            kid,
            signer: SigningKey::<Sha256>::new(private),
            jwk,
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        self.signer.sign(input).to_vec()
    }
}

/// A JWT of `claims`, RS256-signed with `key`: for tests that need a token shape no provider
/// here issues (Microsoft's tenant claims checked by a service).
pub fn sign_jwt(key: &Key, claims: &Value) -> String {
    let header = B64.encode(json!({"alg": "RS256", "typ": "JWT", "kid": key.kid}).to_string());
    let input = format!("{header}.{}", B64.encode(claims.to_string()));
    format!("{input}.{}", B64.encode(key.sign(input.as_bytes())))
}

/// Keys are generated once per test binary: RSA generation is slow in debug builds.
pub fn key_a() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("rogue-key-1"))
}

/// The key the provider rotates to.
pub fn key_b() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("rogue-key-2"))
}

/// A key that no JWKS ever lists.
pub fn key_unpublished() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::generate("never-published"))
}

/// The subject every sign-in at the rogue provider is for.
pub const SUBJECT: &str = "user-1";
pub const EMAIL: &str = "ada@example.test";
/// Given by userinfo only, so its presence proves userinfo was merged.
pub const NAME: &str = "Ada Lovelace";

/// What the "login page" granted: enough to build the redirect back to latchkey.
#[derive(Debug, Clone)]
pub struct Approval {
    pub code: String,
    pub state: String,
    pub redirect_uri: String,
    pub nonce: String,
    pub iss: String,
}

impl Approval {
    /// The genuine callback: `redirect_uri?code=..&state=..&iss=..` (RFC 9207).
    pub fn callback(&self) -> String {
        self.callback_with(&[
            ("code", &self.code),
            ("state", &self.state),
            ("iss", &self.iss),
        ])
    }

    /// The redirect URI with exactly these query parameters.
    pub fn callback_with(&self, params: &[(&str, &str)]) -> String {
        let mut url = Url::parse(&self.redirect_uri).expect("redirect_uri is a URL");
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    }
}

/// A code waiting to be exchanged, bound to what the authorization request said.
struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
}

/// How a token request authenticated the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    SecretBasic,
    /// A public client: `client_id` in the form, no secret.
    None,
}

/// A revocation request as the provider saw it.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub auth: ClientAuth,
    pub form: HashMap<String, String>,
}

struct State {
    defect: Defect,
    rotated: bool,
    codes: HashMap<String, Grant>,
    /// Refresh token -> subject; a used refresh token is removed (rotation).
    refresh_tokens: HashMap<String, String>,
    access_tokens: Vec<String>,
    /// Every token the provider ever issued: none may show up in a page or error message.
    issued: Vec<String>,
    token_auth: Vec<ClientAuth>,
    revocations: Vec<Revocation>,
    serial: u64,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    state: Mutex<State>,
    jwks_hits: AtomicUsize,
    token_hits: AtomicUsize,
    redirect_hits: AtomicUsize,
}

/// The running provider. Dropping it stops the listener and every connection.
pub struct Rogue {
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Rogue {
    /// Starts the provider on `127.0.0.1:0` for one registered client.
    pub async fn start(client_id: &str, client_secret: Option<&str>, defect: Defect) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the rogue provider");
        let port = listener.local_addr().expect("local addr").port();
        let inner = Arc::new(Inner {
            issuer: format!("http://127.0.0.1:{port}"),
            client_id: client_id.to_string(),
            client_secret: client_secret.map(str::to_string),
            state: Mutex::new(State {
                defect,
                rotated: false,
                codes: HashMap::new(),
                refresh_tokens: HashMap::new(),
                access_tokens: Vec::new(),
                issued: Vec::new(),
                token_auth: Vec::new(),
                revocations: Vec::new(),
                serial: 0,
            }),
            jwks_hits: AtomicUsize::new(0),
            token_hits: AtomicUsize::new(0),
            redirect_hits: AtomicUsize::new(0),
        });
        let shared = inner.clone();
        let task = tokio::spawn(async move {
            // Connections live in this set, so aborting the accept task ends them all.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                while connections.try_join_next().is_some() {}
                let shared = shared.clone();
                connections.spawn(async move {
                    let service = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(route(&shared, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { inner, task }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn metadata_url(&self) -> Url {
        Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            self.inner.issuer
        ))
        .expect("metadata URL")
    }

    /// Changes how the provider lies from now on.
    pub fn set_defect(&self, defect: Defect) {
        self.lock().defect = defect;
    }

    /// Rotates the signing key: from now on tokens are signed with key B and the JWKS lists
    /// only key B.
    pub fn rotate_key(&self) {
        key_b();
        self.lock().rotated = true;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_hits(&self) -> usize {
        self.inner.jwks_hits.load(Ordering::SeqCst)
    }

    /// How many requests reached the token endpoint.
    pub fn token_hits(&self) -> usize {
        self.inner.token_hits.load(Ordering::SeqCst)
    }

    /// How many requests followed the token endpoint's redirect.
    pub fn redirect_hits(&self) -> usize {
        self.inner.redirect_hits.load(Ordering::SeqCst)
    }

    /// How each token request authenticated the client.
    pub fn token_auth(&self) -> Vec<ClientAuth> {
        self.lock().token_auth.clone()
    }

    pub fn revocations(&self) -> Vec<Revocation> {
        self.lock().revocations.clone()
    }

    /// Every token the provider has issued so far.
    pub fn issued(&self) -> Vec<String> {
        self.lock().issued.clone()
    }

    /// Whether this refresh token is still valid here (not used, not revoked).
    pub fn refresh_token_live(&self, token: &str) -> bool {
        self.lock().refresh_tokens.contains_key(token)
    }

    /// An ID token for `sub` as this provider would issue it now (with its current defect),
    /// without a sign-in: what a client presents to a service as a bearer credential.
    pub fn mint_id_token(&self, sub: &str, nonce: Option<&str>) -> String {
        let st = self.lock();
        id_token(
            &self.inner,
            &st,
            sub,
            nonce,
            "an access token issued with it",
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().expect("rogue state lock")
    }

    /// The authorization endpoint, as the browser's login page would handle it: checks the
    /// request like a strict provider and approves it, returning what to redirect back with.
    pub fn authorize(&self, url: &Url) -> Approval {
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let get = |k: &str| {
            q.get(k)
                .unwrap_or_else(|| panic!("the authorization request has no `{k}`: {url}"))
                .clone()
        };
        assert_eq!(
            url.as_str().split('?').next(),
            Some(format!("{}/authorize", self.inner.issuer).as_str()),
            "the request goes to the discovered authorization endpoint"
        );
        assert_eq!(get("response_type"), "code", "authorization code flow");
        assert_eq!(get("client_id"), self.inner.client_id);
        assert_eq!(get("code_challenge_method"), "S256", "PKCE must be S256");
        assert!(
            get("scope").split(' ').any(|s| s == "openid"),
            "an OpenID request asks for the openid scope"
        );
        let challenge = get("code_challenge");
        assert_eq!(
            challenge.len(),
            43,
            "an S256 challenge is 43 base64url chars"
        );
        let redirect_uri = get("redirect_uri");
        let nonce = get("nonce");
        let state = get("state");
        let mut st = self.lock();
        st.serial += 1;
        let code = format!("code-{}-{}", st.serial, random_token());
        st.codes.insert(
            code.clone(),
            Grant {
                redirect_uri: redirect_uri.clone(),
                challenge,
                nonce: nonce.clone(),
            },
        );
        Approval {
            code,
            state,
            redirect_uri,
            nonce,
            iss: self.inner.issuer.clone(),
        }
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("random bytes");
    B64.encode(bytes)
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(Full::new(body.into()))
        .expect("static response parts")
}

fn json_reply(status: StatusCode, body: &Value) -> Reply {
    reply(status, "application/json", body.to_string())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
    json_reply(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

async fn route(inner: &Inner, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(StatusCode::BAD_REQUEST, "text/plain", "unreadable body"),
    };
    match (method, path.as_str()) {
        (Method::GET, "/.well-known/openid-configuration") => {
            let wrong = matches!(
                inner.state.lock().expect("lock").defect,
                Defect::DiscoveryWrongIssuer
            );
            let issuer = if wrong {
                "http://127.0.0.1:1"
            } else {
                &inner.issuer
            };
            json_reply(StatusCode::OK, &discovery(issuer))
        }
        (Method::GET, "/jwks") => {
            inner.jwks_hits.fetch_add(1, Ordering::SeqCst);
            let rotated = inner.state.lock().expect("lock").rotated;
            let key = if rotated { key_b() } else { key_a() };
            let mut jwks = json!({ "keys": [key.jwk] });
            if matches!(inner.state.lock().expect("lock").defect, Defect::HugeJwks) {
                jwks["padding"] = padding();
            }
            json_reply(StatusCode::OK, &jwks)
        }
        (Method::POST, "/token") => {
            inner.token_hits.fetch_add(1, Ordering::SeqCst);
            let gate = match &inner.state.lock().expect("lock").defect {
                Defect::HoldTokenEndpoint(gate) => Some(gate.clone()),
                _ => None,
            };
            if let Some(gate) = gate {
                gate.arrived.notify_one();
                gate.release.notified().await;
            }
            if matches!(
                inner.state.lock().expect("lock").defect,
                Defect::TokenRedirect
            ) {
                return Response::builder()
                    .status(StatusCode::TEMPORARY_REDIRECT)
                    .header("location", format!("{}/token-elsewhere", inner.issuer))
                    .body(Full::new(Bytes::new()))
                    .expect("static response parts");
            }
            token(inner, &headers, &body)
        }
        (_, "/token-elsewhere") => {
            inner.redirect_hits.fetch_add(1, Ordering::SeqCst);
            token(inner, &headers, &body)
        }
        (Method::GET, "/userinfo") => userinfo(inner, &headers),
        (Method::POST, "/revoke") => revoke(inner, &headers, &body),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found"),
    }
}

fn discovery(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "authorization_response_iss_parameter_supported": true,
    })
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Authenticates the client as a strict provider would: the registered secret by HTTP Basic
/// (form-encoded, RFC 6749 §2.3.1) for a confidential client, `client_id` alone for a public one.
fn client_auth(
    inner: &Inner,
    headers: &hyper::HeaderMap,
    form: &HashMap<String, String>,
) -> Result<ClientAuth, &'static str> {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    match (&inner.client_secret, basic) {
        (Some(secret), Some(b64)) => {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "bad basic credentials")?;
            let raw = String::from_utf8_lossy(&raw).into_owned();
            let (id, pw) = raw.split_once(':').ok_or("bad basic credentials")?;
            let decode = |s: &str| -> String {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            if decode(id) != inner.client_id || decode(pw) != *secret {
                return Err("wrong client credentials");
            }
            if form.contains_key("client_secret") {
                return Err("use one client authentication method");
            }
            Ok(ClientAuth::SecretBasic)
        }
        (Some(_), None) => Err("this client must authenticate"),
        (None, Some(_)) => Err("this public client has no secret"),
        (None, None) => {
            if form.get("client_id") != Some(&inner.client_id) {
                return Err("unknown client_id");
            }
            Ok(ClientAuth::None)
        }
    }
}

fn invalid_client(why: &str) -> Reply {
    oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", why)
}

fn token(inner: &Inner, headers: &hyper::HeaderMap, body: &[u8]) -> Reply {
    let form = form(body);
    let defect = inner.state.lock().expect("lock").defect.clone();
    if matches!(defect, Defect::TokenEndpoint500) {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "Internal Server Error",
        );
    }
    let auth = match client_auth(inner, headers, &form) {
        Ok(a) => a,
        Err(why) => return invalid_client(why),
    };
    let mut st = inner.state.lock().expect("lock");
    st.token_auth.push(auth);
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(grant) = form.get("code").and_then(|c| st.codes.remove(c)) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown or used code",
                );
            };
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "redirect_uri differs",
                );
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let len_ok = (43..=128).contains(&verifier.len());
            let computed = B64.encode(Sha256::digest(verifier.as_bytes()));
            if !len_ok || computed != grant.challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "PKCE verification failed",
                );
            }
            issue(inner, &mut st, SUBJECT, Some(&grant.nonce))
        }
        Some("refresh_token") => {
            if matches!(defect, Defect::RefreshInvalidGrant) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "refresh token revoked",
                );
            }
            let Some(sub) = form
                .get("refresh_token")
                .and_then(|t| st.refresh_tokens.remove(t))
            else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "unknown refresh token",
                );
            };
            let sub = if matches!(defect, Defect::RefreshOtherSub) {
                "user-2".to_string()
            } else {
                sub
            };
            issue(inner, &mut st, &sub, None)
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "unsupported grant type",
        ),
    }
}

/// Issues access, refresh and ID tokens, the ID token shaped by the current defect.
fn issue(inner: &Inner, st: &mut State, sub: &str, nonce: Option<&str>) -> Reply {
    st.serial += 1;
    let access = format!("at-{}-{}", st.serial, random_token());
    let refresh = format!("rt-{}-{}", st.serial, random_token());
    let id_token = id_token(inner, st, sub, nonce, &access);
    st.access_tokens.push(access.clone());
    st.issued
        .extend([access.clone(), refresh.clone(), id_token.clone()]);
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
        "scope": "openid profile email",
    });
    if matches!(st.defect, Defect::NoIdToken) {
        body.as_object_mut().expect("object").remove("id_token");
    }
    st.refresh_tokens.insert(refresh.clone(), sub.to_string());
    body["refresh_token"] = json!(refresh);
    if matches!(st.defect, Defect::HugeTokenAnswer) {
        body["padding"] = padding();
    }
    json_reply(StatusCode::OK, &body)
}

fn id_token(inner: &Inner, st: &State, sub: &str, nonce: Option<&str>, access: &str) -> String {
    let now = Utc::now().timestamp();
    let digest = Sha256::digest(access.as_bytes());
    let mut claims = json!({
        "iss": inner.issuer,
        "sub": sub,
        "aud": inner.client_id,
        "exp": now + 600,
        "iat": now,
        "email": EMAIL,
        "email_verified": true,
        "at_hash": B64.encode(&digest[..16]),
    });
    if let Some(n) = nonce {
        claims["nonce"] = json!(n);
    }
    let c = claims.as_object_mut().expect("claims object");
    match &st.defect {
        Defect::WrongAud => {
            c.insert("aud".into(), json!("someone-else"));
        }
        Defect::SeveralAudiencesNoAzp => {
            c.insert("aud".into(), json!([inner.client_id, "other-client"]));
        }
        Defect::AzpOther => {
            c.insert("azp".into(), json!("other-client"));
        }
        Defect::WrongIss => {
            c.insert("iss".into(), json!("http://127.0.0.1:1/impostor"));
        }
        Defect::Expired => {
            c.insert("exp".into(), json!(now - 600));
            c.insert("iat".into(), json!(now - 1200));
        }
        Defect::MissingIat => {
            c.remove("iat");
        }
        Defect::FutureIat => {
            c.insert("iat".into(), json!(now + 3600));
            c.insert("exp".into(), json!(now + 7200));
        }
        Defect::MissingSub => {
            c.remove("sub");
        }
        Defect::WrongNonce if nonce.is_some() => {
            c.insert("nonce".into(), json!("not-the-nonce-that-was-asked-for"));
        }
        Defect::MissingNonce => {
            c.remove("nonce");
        }
        Defect::BadAtHash => {
            let other = Sha256::digest(b"some other access token");
            c.insert("at_hash".into(), json!(B64.encode(&other[..16])));
        }
        _ => {}
    }
    let payload = B64.encode(claims.to_string());
    match &st.defect {
        Defect::AlgNone => {
            let header = B64.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
            format!("{header}.{payload}.")
        }
        Defect::Hs256WithSecret => {
            use hmac::Mac as _;
            let header = B64.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
            let input = format!("{header}.{payload}");
            let secret = inner.client_secret.as_deref().unwrap_or("no-secret");
            let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes any key length");
            mac.update(input.as_bytes());
            let sig = mac.finalize().into_bytes();
            format!("{input}.{}", B64.encode(sig))
        }
        defect => {
            let key = match defect {
                Defect::UnpublishedKey => key_unpublished(),
                _ if st.rotated => key_b(),
                _ => key_a(),
            };
            let header =
                B64.encode(json!({"alg": "RS256", "typ": "JWT", "kid": key.kid}).to_string());
            let input = format!("{header}.{payload}");
            let mut sig = key.sign(input.as_bytes());
            if matches!(defect, Defect::BadSignature) {
                let last = sig.len() - 1;
                sig[last] ^= 0x01;
            }
            format!("{input}.{}", B64.encode(sig))
        }
    }
}

fn userinfo(inner: &Inner, headers: &hyper::HeaderMap) -> Reply {
    let st = inner.state.lock().expect("lock");
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !bearer.is_some_and(|b| st.access_tokens.iter().any(|t| t == b)) {
        return reply(StatusCode::UNAUTHORIZED, "application/json", "{}");
    }
    let sub = if matches!(st.defect, Defect::UserinfoOtherSub) {
        "someone-else"
    } else {
        SUBJECT
    };
    json_reply(
        StatusCode::OK,
        &json!({
            "sub": sub,
            "email": EMAIL,
            "name": NAME,
            "picture": "http://127.0.0.1/ada.png",
        }),
    )
}

fn revoke(inner: &Inner, headers: &hyper::HeaderMap, body: &[u8]) -> Reply {
    let form = form(body);
    if matches!(inner.state.lock().expect("lock").defect, Defect::Revoke503) {
        return reply(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "try later");
    }
    let auth = match client_auth(inner, headers, &form) {
        Ok(a) => a,
        Err(why) => return invalid_client(why),
    };
    let mut st = inner.state.lock().expect("lock");
    if let Some(t) = form.get("token") {
        st.refresh_tokens.remove(t);
    }
    st.revocations.push(Revocation { auth, form });
    reply(StatusCode::OK, "text/plain", "")
}
