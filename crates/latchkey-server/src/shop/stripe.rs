//! Stripe: Checkout Session creation (form-encoded, Bearer secret key) and webhook signatures
//! (`Stripe-Signature: t=TIMESTAMP,v1=HEX...`, HMAC-SHA256 over `TIMESTAMP.BODY`).

use super::config::Secret;
use super::provider::{Order, PaymentProvider, Started};
use super::ShopError;
use crate::auth::BoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use url::Url;

/// How far a webhook's timestamp may be from our clock, in seconds (Stripe's default).
pub const TOLERANCE_SECS: i64 = 300;

/// Stripe Checkout as a [`PaymentProvider`].
pub struct Stripe {
    http: reqwest::Client,
    api_base: Url,
    secret_key: Secret,
}

impl Stripe {
    /// A client for `api_base` with `secret_key`, over `http` (which must not follow
    /// redirects: use `latchkey_auth::http_client`).
    pub fn new(http: reqwest::Client, api_base: Url, secret_key: Secret) -> Stripe {
        Stripe {
            http,
            api_base,
            secret_key,
        }
    }
}

#[derive(Deserialize)]
struct Session {
    id: String,
    url: String,
}

/// The form Stripe's `POST /v1/checkout/sessions` takes for one pack.
pub fn session_form(order: &Order<'_>) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("mode", "payment")
        .append_pair("line_items[0][quantity]", "1")
        .append_pair("line_items[0][price_data][currency]", &order.pack.currency)
        .append_pair(
            "line_items[0][price_data][unit_amount]",
            &order.pack.amount.to_string(),
        )
        .append_pair(
            "line_items[0][price_data][product_data][name]",
            &order.pack.label,
        )
        .append_pair("success_url", order.success_url.as_str())
        .append_pair("cancel_url", order.cancel_url.as_str())
        .append_pair("client_reference_id", order.checkout_id)
        .append_pair("metadata[checkout]", order.checkout_id)
        .append_pair("metadata[pack]", &order.pack.id)
        .append_pair("metadata[issuer]", &order.account.issuer)
        .append_pair("metadata[subject]", &order.account.subject);
    form.finish()
}

impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn start<'a>(&'a self, order: &'a Order<'a>) -> BoxFuture<'a, Result<Started, ShopError>> {
        Box::pin(async move {
            let url = self
                .api_base
                .join("v1/checkout/sessions")
                .map_err(|e| ShopError::Provider(format!("bad api_base: {e}")))?;
            let resp = self
                .http
                .post(url)
                .bearer_auth(self.secret_key.expose())
                // Our checkout id: a retried creation cannot make a second session.
                .header("Idempotency-Key", order.checkout_id)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(session_form(order))
                .send()
                .await
                .map_err(|e| ShopError::Provider(format!("Stripe cannot be reached: {e}")))?;
            let status = resp.status();
            if !status.is_success() {
                return Err(ShopError::Provider(format!(
                    "Stripe refused the checkout session (HTTP {status})"
                )));
            }
            let session: Session = resp.json().await.map_err(|e| {
                ShopError::Provider(format!("Stripe's answer is not a checkout session: {e}"))
            })?;
            if !session.id.starts_with("cs_") || !session.url.starts_with("https://") {
                return Err(ShopError::Provider(
                    "Stripe's answer is not a checkout session (id or url)".into(),
                ));
            }
            Ok(Started {
                provider_ref: Some(session.id),
                url: session.url,
            })
        })
    }
}

/// Why a webhook's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `Stripe-Signature` header, or no `t=` or no `v1=` in it.
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    /// The timestamp is more than [`TOLERANCE_SECS`] from now (a replay, or a wrong clock).
    #[error("the webhook's timestamp is outside the {TOLERANCE_SECS} s tolerance")]
    OutOfTolerance,
    /// No `v1` signature matches the body with our endpoint secret.
    #[error("no v1 signature matches the body")]
    NoMatch,
}

/// Checks `Stripe-Signature` as Stripe documents it: `expected = HMAC-SHA256(secret,
/// t + "." + body)`, compared in constant time with each `v1`; `|now - t|` at most 300 s.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &Secret,
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut t: Option<&str> = None;
    let mut v1: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => {
                if let Ok(bytes) = hex::decode(v) {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    let ts: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now_unix.abs_diff(ts) > TOLERANCE_SECS as u64 {
        return Err(SignatureError::OutOfTolerance);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| SignatureError::NoMatch)?;
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    // `verify_slice` compares in constant time.
    if v1.iter().any(|sig| mac.clone().verify_slice(sig).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// Signs `body` at `t` as Stripe does (for tests and tools): the header value.
pub fn sign(body: &[u8], secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_signature_made_as_stripe_makes_it_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_700_000_000);
        assert_eq!(
            verify_signature(Some(&header), body, &Secret::new(SECRET), 1_700_000_100),
            Ok(())
        );
        // Stripe may send several v1 values (secret rolling): any one matching is enough.
        let two = format!("t=1700000000,v1={},{}", "00".repeat(32), &header[13..]);
        assert_eq!(
            verify_signature(Some(&two), body, &Secret::new(SECRET), 1_700_000_000),
            Ok(())
        );
    }

    #[test]
    fn altered_old_or_missing_signatures_are_refused() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, 1_700_000_000);
        let s = Secret::new(SECRET);
        assert_eq!(
            verify_signature(Some(&header), br#"{"id":"evt_2"}"#, &s, 1_700_000_000),
            Err(SignatureError::NoMatch),
            "a changed body must fail"
        );
        assert_eq!(
            verify_signature(
                Some(&header),
                body,
                &Secret::new("whsec_other"),
                1_700_000_000
            ),
            Err(SignatureError::NoMatch),
            "another endpoint's secret must fail"
        );
        assert_eq!(
            verify_signature(Some(&header), body, &s, 1_700_000_301),
            Err(SignatureError::OutOfTolerance),
            "older than 300 s is a replay"
        );
        assert_eq!(
            verify_signature(Some(&header), body, &s, 1_699_999_699),
            Err(SignatureError::OutOfTolerance)
        );
        for bad in ["", "t=1700000000", "v1=00", "t=x,v1=00", "garbage"] {
            assert_eq!(
                verify_signature(Some(bad), body, &s, 1_700_000_000),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            verify_signature(None, body, &s, 1_700_000_000),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("sk_live_123")), "[redacted]");
    }
}
