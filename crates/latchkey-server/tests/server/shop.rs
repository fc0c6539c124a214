//! Packs, checkout (demo and Stripe), the Stripe webhook and welcome credits, with real ID
//! tokens and a real PostgreSQL. Stripe itself cannot be reached from here: a local HTTP server
//! answers its documented request/response shapes, and webhooks are signed by the test exactly
//! as Stripe signs them (HMAC-SHA256 over `t.body`).

use crate::support::idp::{idp, IdTokens, PUBLIC_CLIENT};
use crate::support::{pg, server_with, Options, Server};
use axum::http::HeaderMap;
use chrono::Utc;
use latchkey_server::shop::stripe::sign;
use latchkey_server::shop::{Pack, PaymentConfig, Secret, ShopConfig};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use url::Url;

const WHSEC: &str = "whsec_test_endpoint_secret";
const SK: &str = "sk_test_51Latchkey";

fn packs() -> Vec<Pack> {
    vec![
        Pack {
            id: "small".into(),
            credits: 100,
            amount: 500,
            currency: "eur".into(),
            label: "100 credits".into(),
        },
        Pack {
            id: "large".into(),
            credits: 1200,
            amount: 5000,
            currency: "eur".into(),
            label: "1200 credits".into(),
        },
    ]
}

fn demo() -> ShopConfig {
    ShopConfig {
        packs: packs(),
        payment: Some(PaymentConfig::Demo { public_url: None }),
        welcome_credits: 0,
    }
}

async fn token(login: &str) -> String {
    idp().id_token(PUBLIC_CLIENT, login).await
}

async fn available(s: &Server, t: &str) -> i64 {
    let a = s.get("/v1/balance", Some(t)).await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["available"].as_i64().unwrap()
}

/// A GET whose answer is a page: (status, headers, body).
async fn page(s: &Server, path: &str) -> (u16, HeaderMap, String) {
    let r = s
        .http
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn packs_are_listed_without_signing_in() {
    let s = server_with(Options {
        shop: demo(),
        ..Options::default()
    })
    .await;
    let a = s.get("/v1/packs", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json,
        json!({"packs": serde_json::to_value(packs()).unwrap()})
    );
}

#[tokio::test]
async fn demo_checkout_pays_once_through_the_demo_page() {
    let s = server_with(Options {
        shop: demo(),
        ..Options::default()
    })
    .await;
    let (alice, bob) = (token("alice").await, token("bob").await);
    let a = s
        .post(
            "/v1/checkout",
            Some(&alice),
            &json!({"pack": "small", "idempotency_key": "buy-1"}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    let id = a.json["checkout_id"].as_str().unwrap().to_string();
    let url = a.json["url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/demo/checkout/{id}", s.base));

    let again = s
        .post(
            "/v1/checkout",
            Some(&alice),
            &json!({"pack": "small", "idempotency_key": "buy-1"}),
        )
        .await;
    assert_eq!(again.json, a.json, "the same key gives the same checkout");
    let other = s
        .post(
            "/v1/checkout",
            Some(&alice),
            &json!({"pack": "large", "idempotency_key": "buy-1"}),
        )
        .await;
    assert_eq!((other.status, other.code()), (409, "idempotency_conflict"));
    let unknown = s
        .post(
            "/v1/checkout",
            Some(&alice),
            &json!({"pack": "huge", "idempotency_key": "buy-2"}),
        )
        .await;
    assert_eq!((unknown.status, unknown.code()), (400, "unknown_pack"));
    let anon = s
        .post(
            "/v1/checkout",
            None,
            &json!({"pack": "small", "idempotency_key": "buy-3"}),
        )
        .await;
    assert_eq!(anon.status, 401, "checkout needs a signed-in caller");

    let st = s.get(&format!("/v1/checkout/{id}"), Some(&alice)).await;
    assert_eq!(
        (st.json["status"].as_str(), st.json["credits"].as_i64()),
        (Some("pending"), Some(100))
    );
    let theirs = s.get(&format!("/v1/checkout/{id}"), Some(&bob)).await;
    assert_eq!(
        (theirs.status, theirs.code()),
        (404, "unknown_checkout"),
        "someone else's checkout looks like a missing one"
    );

    let (status, headers, html) = page(&s, &format!("/demo/checkout/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("DEMO checkout") && html.contains("Pay (DEMO)"),
        "{html}"
    );
    assert!(
        html.contains("no money moves"),
        "the page says it is a demo"
    );
    assert!(
        !html.contains("<script") && !html.contains("http"),
        "no external resources: {html}"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("form-action 'self'"),
        "{csp}"
    );

    let pay = |s: &Server| {
        let url = format!("{}/demo/checkout/{id}/pay", s.base);
        let http = s.http.clone();
        async move { http.post(url).send().await.unwrap() }
    };
    let r = pay(&s).await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "POST-redirect-GET to the success page"
    );
    assert_eq!(
        r.headers()["location"],
        format!("/checkout/{id}/done").as_str()
    );
    assert_eq!(available(&s, &alice).await, 100);
    let r = pay(&s).await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        available(&s, &alice).await,
        100,
        "paying twice credits once"
    );

    let (_, _, done) = page(&s, &format!("/checkout/{id}/done")).await;
    assert!(
        done.contains(&format!("latchkey://purchase?checkout={id}")),
        "{done}"
    );
    assert!(
        done.contains("close this tab") && done.contains("DEMO"),
        "{done}"
    );
    let st = s.get(&format!("/v1/checkout/{id}"), Some(&alice)).await;
    assert_eq!(st.json["status"], "paid");
    let h = s.get("/v1/history", Some(&alice)).await;
    let kinds: Vec<&str> = h.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["purchase"], "one purchase entry");
    assert_eq!(available(&s, &bob).await, 0);
}

#[tokio::test]
async fn a_cancelled_demo_checkout_cannot_be_paid() {
    let s = server_with(Options {
        shop: demo(),
        ..Options::default()
    })
    .await;
    let alice = token("alice").await;
    let a = s
        .post(
            "/v1/checkout",
            Some(&alice),
            &json!({"pack": "small", "idempotency_key": "k"}),
        )
        .await;
    let id = a.json["checkout_id"].as_str().unwrap().to_string();
    let (status, _, html) = page(&s, &format!("/checkout/{id}/cancel")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Nothing was charged"), "{html}");
    let st = s.get(&format!("/v1/checkout/{id}"), Some(&alice)).await;
    assert_eq!(st.json["status"], "cancelled");
    let r = s
        .http
        .post(format!("{}/demo/checkout/{id}/pay", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(available(&s, &alice).await, 0);
    let (status, _, _) = page(&s, "/demo/checkout/co_AAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(status, 404, "an unknown checkout has no page");
}

#[tokio::test]
async fn without_payment_configured_checkout_is_unavailable() {
    let s = server_with(Options {
        shop: ShopConfig {
            packs: packs(),
            ..ShopConfig::default()
        },
        ..Options::default()
    })
    .await;
    let a = s
        .post(
            "/v1/checkout",
            Some(&token("alice").await),
            &json!({"pack": "small", "idempotency_key": "k"}),
        )
        .await;
    assert_eq!((a.status, a.code()), (503, "payments_not_configured"));
}

/// What the local "Stripe" received: (path, headers, form body).
type Seen = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

/// A local server answering `POST /v1/checkout/sessions` as Stripe documents it.
async fn fake_stripe() -> (Url, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/v1/checkout/sessions",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let n = {
                    let mut r = record.lock().unwrap();
                    r.push(("/v1/checkout/sessions".into(), headers, body));
                    r.len()
                };
                axum::Json(json!({
                    "id": format!("cs_test_{n}"),
                    "object": "checkout.session",
                    "mode": "payment",
                    "payment_status": "unpaid",
                    "status": "open",
                    "url": format!("https://checkout.stripe.com/c/pay/cs_test_{n}"),
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

async fn stripe_server(db_url: Option<String>) -> (Server, Seen) {
    let (api_base, seen) = fake_stripe().await;
    let s = server_with(Options {
        db_url,
        shop: ShopConfig {
            packs: packs(),
            payment: Some(PaymentConfig::Stripe {
                public_url: Url::parse("https://credits.example/").unwrap(),
                secret_key: Secret::new(SK),
                webhook_secret: Secret::new(WHSEC),
                api_base,
            }),
            welcome_credits: 0,
        },
        ..Options::default()
    })
    .await;
    (s, seen)
}

/// A `checkout.session.completed` event as Stripe sends it.
fn completed(
    event: &str,
    session: &str,
    checkout: &str,
    pack: &str,
    amount: i64,
    currency: &str,
) -> String {
    json!({
        "id": event,
        "object": "event",
        "type": "checkout.session.completed",
        "created": Utc::now().timestamp(),
        "data": {"object": {
            "id": session,
            "object": "checkout.session",
            "payment_status": "paid",
            "status": "complete",
            "amount_total": amount,
            "currency": currency,
            "client_reference_id": checkout,
            "metadata": {"checkout": checkout, "pack": pack},
        }}
    })
    .to_string()
}

async fn deliver(s: &Server, body: &str, signature: &str) -> (u16, Value) {
    let r = s
        .http
        .post(format!("{}/v1/webhooks/stripe", s.base))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

fn signed_now(body: &str) -> String {
    sign(body.as_bytes(), WHSEC, Utc::now().timestamp())
}

async fn start_stripe_checkout(s: &Server, t: &str, key: &str) -> String {
    let a = s
        .post(
            "/v1/checkout",
            Some(t),
            &json!({"pack": "small", "idempotency_key": key}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    a.json["checkout_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn stripe_checkout_sends_the_documented_form_with_the_secret_key() {
    let (s, seen) = stripe_server(None).await;
    let alice = token("alice").await;
    let a = s
        .post(
            "/v1/checkout",
            Some(&alice),
            &json!({"pack": "small", "idempotency_key": "k1"}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["url"], "https://checkout.stripe.com/c/pay/cs_test_1");
    let id = a.json["checkout_id"].as_str().unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "one session created");
    let (_, headers, body) = &seen[0];
    assert_eq!(headers["authorization"], format!("Bearer {SK}").as_str());
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(headers["idempotency-key"], id);
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let want = [
        ("mode", "payment".to_string()),
        ("line_items[0][quantity]", "1".into()),
        ("line_items[0][price_data][currency]", "eur".into()),
        ("line_items[0][price_data][unit_amount]", "500".into()),
        (
            "line_items[0][price_data][product_data][name]",
            "100 credits".into(),
        ),
        (
            "success_url",
            format!("https://credits.example/checkout/{id}/done"),
        ),
        (
            "cancel_url",
            format!("https://credits.example/checkout/{id}/cancel"),
        ),
        ("client_reference_id", id.to_string()),
        ("metadata[checkout]", id.to_string()),
        ("metadata[pack]", "small".into()),
        ("metadata[issuer]", idp().issuer.clone()),
        ("metadata[subject]", "alice".into()),
    ];
    for (k, v) in want {
        assert_eq!(form.get(k), Some(&v), "form field {k}");
    }
}

#[tokio::test]
async fn a_paid_session_is_credited_exactly_once() {
    let (s, _) = stripe_server(None).await;
    let alice = token("alice").await;
    let id = start_stripe_checkout(&s, &alice, "k1").await;
    let body = completed("evt_1", "cs_test_1", &id, "small", 500, "eur");
    let (status, json) = deliver(&s, &body, &signed_now(&body)).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("credited")),
        "{json}"
    );
    assert_eq!(available(&s, &alice).await, 100);

    let (status, json) = deliver(&s, &body, &signed_now(&body)).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("duplicate")),
        "same event id"
    );
    let other = completed("evt_2", "cs_test_1", &id, "small", 500, "eur");
    let (status, json) = deliver(&s, &other, &signed_now(&other)).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("already_credited")),
        "another event for the same payment"
    );
    assert_eq!(available(&s, &alice).await, 100, "one payment, one credit");
    let st = s.get(&format!("/v1/checkout/{id}"), Some(&alice)).await;
    assert_eq!(st.json["status"], "paid");
    let (_, _, html) = page(&s, &format!("/checkout/{id}/done")).await;
    assert!(
        html.contains("Payment received") && !html.contains("DEMO"),
        "{html}"
    );
    assert!(html.contains(&format!("latchkey://purchase?checkout={id}")));
}

#[tokio::test]
async fn refused_webhooks_change_nothing() {
    let (s, _) = stripe_server(None).await;
    let alice = token("alice").await;
    let id = start_stripe_checkout(&s, &alice, "k1").await;
    let db = pg::connect(&s.db_url).await;
    let good = completed("evt_9", "cs_test_1", &id, "small", 500, "eur");
    let now = Utc::now().timestamp();
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        (
            "signed with another secret",
            good.clone(),
            sign(good.as_bytes(), "whsec_other", now),
            400,
            "invalid_signature",
        ),
        (
            "older than 300 s (a replay)",
            good.clone(),
            sign(good.as_bytes(), WHSEC, now - 301),
            400,
            "invalid_signature",
        ),
        (
            "re-signed body with another amount under the old signature",
            completed("evt_9", "cs_test_1", &id, "small", 1, "eur"),
            signed_now(&good),
            400,
            "invalid_signature",
        ),
        (
            "no signature",
            good.clone(),
            String::new(),
            400,
            "invalid_signature",
        ),
        (
            "wrong amount",
            completed("evt_9", "cs_test_1", &id, "small", 499, "eur"),
            String::new(),
            400,
            "payment_mismatch",
        ),
        (
            "wrong currency",
            completed("evt_9", "cs_test_1", &id, "small", 500, "usd"),
            String::new(),
            400,
            "payment_mismatch",
        ),
        (
            "unknown pack",
            completed("evt_9", "cs_test_1", &id, "gold", 500, "eur"),
            String::new(),
            400,
            "unknown_pack",
        ),
        (
            "another pack than the checkout's",
            completed("evt_9", "cs_test_1", &id, "large", 5000, "eur"),
            String::new(),
            400,
            "payment_mismatch",
        ),
        (
            "unknown checkout",
            completed(
                "evt_9",
                "cs_test_1",
                "co_AAAAAAAAAAAAAAAAAAAAAA",
                "small",
                500,
                "eur",
            ),
            String::new(),
            400,
            "payment_mismatch",
        ),
        (
            "another session than the checkout's",
            completed("evt_9", "cs_test_999", &id, "small", 500, "eur"),
            String::new(),
            400,
            "payment_mismatch",
        ),
    ];
    for (why, body, sig, status, code) in cases {
        let sig = if sig.is_empty() && code != "invalid_signature" {
            signed_now(&body)
        } else {
            sig
        };
        let (got, json) = deliver(&s, &body, &sig).await;
        assert_eq!(
            (got, json["code"].as_str()),
            (status, Some(code)),
            "{why}: {json}"
        );
        assert_eq!(available(&s, &alice).await, 0, "{why}: nothing credited");
        let events = pg::scalar(&db, "SELECT count(*) FROM stripe_events", &[]).await;
        assert_eq!(
            events, 0,
            "{why}: a refused event is not recorded as processed"
        );
    }
    // The genuine event, with the same id as the refused ones, still goes through.
    let (got, json) = deliver(&s, &good, &signed_now(&good)).await;
    assert_eq!(
        (got, json["outcome"].as_str()),
        (200, Some("credited")),
        "{json}"
    );
    assert_eq!(available(&s, &alice).await, 100);
}

#[tokio::test]
async fn welcome_credits_are_granted_once_per_identity() {
    let shop = ShopConfig {
        welcome_credits: 25,
        ..ShopConfig::default()
    };
    let s = server_with(Options {
        shop: shop.clone(),
        ..Options::default()
    })
    .await;
    let alice = token("alice").await;
    assert_eq!(
        available(&s, &alice).await,
        25,
        "first request: welcome credits"
    );
    assert_eq!(
        available(&s, &alice).await,
        25,
        "second request: nothing more"
    );
    // Another server process over the same database (its own empty cache): still once.
    let s2 = server_with(Options {
        shop,
        db_url: Some(s.db_url.clone()),
        ..Options::default()
    })
    .await;
    assert_eq!(
        available(&s2, &alice).await,
        25,
        "the database decides, not the process"
    );
    let h = s2.get("/v1/history", Some(&alice)).await;
    assert_eq!(h.json["entries"].as_array().unwrap().len(), 1);
    assert_eq!(h.json["entries"][0]["memo"], "Welcome credits");
    assert_eq!(
        available(&s, &token("bob").await).await,
        25,
        "each identity once"
    );
}

#[tokio::test]
async fn one_event_delivered_many_times_at_once_credits_once() {
    let (s, _) = stripe_server(None).await;
    let alice = token("alice").await;
    let id = start_stripe_checkout(&s, &alice, "k1").await;
    let body = completed("evt_burst", "cs_test_1", &id, "small", 500, "eur");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (http, base, body) = (s.http.clone(), s.base.clone(), body.clone());
        let sig = signed_now(&body);
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{base}/v1/webhooks/stripe"))
                .header("stripe-signature", sig)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.unwrap()["outcome"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let credited = outcomes.iter().filter(|o| *o == "credited").count();
    assert_eq!(credited, 1, "exactly one delivery credits: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| ["credited", "already_credited", "duplicate"].contains(&o.as_str())),
        "{outcomes:?}"
    );
    assert_eq!(available(&s, &alice).await, 100);
}

#[tokio::test]
async fn an_expired_session_closes_its_checkout_and_unpaid_sessions_credit_nothing() {
    let (s, _) = stripe_server(None).await;
    let alice = token("alice").await;
    let id = start_stripe_checkout(&s, &alice, "k1").await;
    let unpaid = completed("evt_a", "cs_test_1", &id, "small", 500, "eur").replace(
        "\"payment_status\":\"paid\"",
        "\"payment_status\":\"unpaid\"",
    );
    assert!(unpaid.contains("\"unpaid\""), "{unpaid}");
    let (status, json) = deliver(&s, &unpaid, &signed_now(&unpaid)).await;
    assert_eq!((status, json["outcome"].as_str()), (200, Some("ignored")));
    assert_eq!(
        available(&s, &alice).await,
        0,
        "not paid yet: nothing credited"
    );

    let expired = completed("evt_b", "cs_test_1", &id, "small", 500, "eur")
        .replace("checkout.session.completed", "checkout.session.expired");
    let (status, json) = deliver(&s, &expired, &signed_now(&expired)).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("expired")),
        "{json}"
    );
    let st = s.get(&format!("/v1/checkout/{id}"), Some(&alice)).await;
    assert_eq!(st.json["status"], "expired");
    assert_eq!(available(&s, &alice).await, 0);
}

/// A `charge.refunded` event as Stripe sends it: the Charge, with the CUMULATIVE refunded amount.
fn refunded(
    event: &str,
    payment_intent: &str,
    amount: i64,
    amount_refunded: i64,
    cur: &str,
) -> String {
    json!({
        "id": event,
        "object": "event",
        "type": "charge.refunded",
        "created": Utc::now().timestamp(),
        "data": {"object": {
            "id": "ch_test_1",
            "object": "charge",
            "payment_intent": payment_intent,
            "amount": amount,
            "amount_refunded": amount_refunded,
            "currency": cur,
            "refunded": amount_refunded == amount,
        }}
    })
    .to_string()
}

/// Refunds take bought credits back: proportionally (rounded in the user's favour), never
/// below zero available (the rest is debt, shown by `report`), each part once however often or
/// in whatever order Stripe delivers the events; refunds that do not match a paid checkout
/// change nothing.
#[tokio::test]
async fn a_refund_takes_back_its_credits_once_and_records_what_was_spent_as_debt() {
    let (s, _) = stripe_server(None).await;
    let alice = token("alice").await;
    let id = start_stripe_checkout(&s, &alice, "k1").await;
    let mut paid: Value =
        serde_json::from_str(&completed("evt_1", "cs_test_1", &id, "small", 500, "eur")).unwrap();
    paid["data"]["object"]["payment_intent"] = json!("pi_test_1");
    let paid = paid.to_string();
    let (status, json) = deliver(&s, &paid, &signed_now(&paid)).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("credited")),
        "{json}"
    );
    let spent = s
        .post(
            "/v1/spend",
            Some(&alice),
            &json!({"amount": 70, "idempotency_key": "s1"}),
        )
        .await;
    assert_eq!(spent.status, 200, "{spent:?}");
    assert_eq!(available(&s, &alice).await, 30);

    // Refused: unknown payment, more than paid, another currency. Nothing changes.
    for (body, why) in [
        (
            refunded("evt_x1", "pi_unknown", 500, 100, "eur"),
            "unknown payment",
        ),
        (
            refunded("evt_x2", "pi_test_1", 500, 600, "eur"),
            "more than paid",
        ),
        (
            refunded("evt_x3", "pi_test_1", 500, 100, "usd"),
            "other currency",
        ),
    ] {
        let (status, json) = deliver(&s, &body, &signed_now(&body)).await;
        assert_eq!(
            (status, json["code"].as_str()),
            (400, Some("payment_mismatch")),
            "{why}: {json}"
        );
    }
    assert_eq!(
        available(&s, &alice).await,
        30,
        "refused refunds move nothing"
    );
    let unsigned = refunded("evt_x4", "pi_test_1", 500, 500, "eur");
    let (status, _) = deliver(
        &s,
        &unsigned,
        &sign(unsigned.as_bytes(), "whsec_other", Utc::now().timestamp()),
    )
    .await;
    assert_eq!(
        status, 400,
        "a refund signed with another secret is refused"
    );

    // 1.99 of 5.00 refunded: 39.8 credits due, 39 taken back (the user's favour); only 30 are
    // available, so 30 are taken and 9 are owed.
    let r1 = refunded("evt_r1", "pi_test_1", 500, 199, "eur");
    let (status, json) = deliver(&s, &r1, &signed_now(&r1)).await;
    assert_eq!(
        (status, json["outcome"].as_str()),
        (200, Some("refunded")),
        "{json}"
    );
    assert_eq!(available(&s, &alice).await, 0, "never below zero");
    let (_, json) = deliver(&s, &r1, &signed_now(&r1)).await;
    assert_eq!(json["outcome"], "duplicate");
    let debts = latchkey_server::report::debts(&s.ledger).await.unwrap();
    assert_eq!(
        debts
            .iter()
            .map(|d| (d.subject.as_str(), d.credits))
            .collect::<Vec<_>>(),
        [("alice", 9)],
        "what was spent is owed"
    );

    // New credits arrive; an older event (1.00 refunded, less than seen) takes nothing beyond
    // what is due: only the 9 owed.
    let who = latchkey_server::ledger::Account {
        issuer: idp().issuer.clone(),
        subject: "alice".into(),
    };
    let grant = latchkey_server::ledger::Operation::Grant {
        amount: 20,
        memo: None,
    };
    s.ledger
        .apply(&who, None, &grant, Utc::now())
        .await
        .unwrap();
    let r0 = refunded("evt_r0", "pi_test_1", 500, 100, "eur");
    let (_, json) = deliver(&s, &r0, &signed_now(&r0)).await;
    assert_eq!(json["outcome"], "refunded", "{json}");
    assert_eq!(
        available(&s, &alice).await,
        11,
        "20 granted, the 9 owed taken"
    );
    assert!(latchkey_server::report::debts(&s.ledger)
        .await
        .unwrap()
        .is_empty());

    // Refunded in full: 100 due in all, 39 taken, 11 available → 50 taken in all, 50 owed.
    let r2 = refunded("evt_r2", "pi_test_1", 500, 500, "eur");
    let (_, json) = deliver(&s, &r2, &signed_now(&r2)).await;
    assert_eq!(json["outcome"], "refunded", "{json}");
    assert_eq!(available(&s, &alice).await, 0);
    let debts = latchkey_server::report::debts(&s.ledger).await.unwrap();
    assert_eq!(debts.iter().map(|d| d.credits).collect::<Vec<_>>(), [50]);
    let history = s.ledger.history(&who, None, Some(100)).await.unwrap();
    let reversals: Vec<(i64, Option<&str>)> = history
        .entries
        .iter()
        .filter(|e| e.kind == latchkey_server::ledger::EntryKind::Reversal)
        .map(|e| (e.amount, e.memo.as_deref()))
        .collect();
    assert_eq!(
        reversals,
        [
            (30, Some("Refund of purchase")),
            (9, Some("Refund of purchase")),
            (11, Some("Refund of purchase"))
        ],
        "each part taken back once, as a reversal entry"
    );
    let db = pg::connect(&s.db_url).await;
    let posted: i64 = pg::scalar(
        &db,
        "SELECT posted FROM balances b JOIN users u ON u.id = b.user_id WHERE u.subject = 'alice'",
        &[],
    )
    .await;
    assert_eq!(
        posted,
        100 - 70 + 20 - 50,
        "the balance row agrees with the entries"
    );
    let report = latchkey_server::report::report(&s.ledger).await.unwrap();
    assert_eq!(
        report.iter().map(|l| l.reversed).sum::<i64>(),
        50,
        "report counts the reversals"
    );
}
