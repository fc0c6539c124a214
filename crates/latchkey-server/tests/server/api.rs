//! The HTTP API with REAL ID tokens from the test OpenID Provider.

use crate::support::idp::{idp, rogue_idp, IdTokens, CONFIDENTIAL_CLIENT, PUBLIC_CLIENT};
use crate::support::{server, server_with, Options, Server};
use chrono::{Duration, Utc};
use latchkey_server::ledger::{Account, Operation};
use serde_json::json;
use std::collections::HashMap;
use std::sync::OnceLock;
use tokio::sync::Mutex;

/// A real ID token for `login` at the listed provider, for the listed (public) client. Each
/// test has its own database, so the same login is a new user in every test.
async fn token(login: &str) -> String {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().await;
    if let Some(t) = cache.get(login) {
        return t.clone();
    }
    let t = idp().id_token(PUBLIC_CLIENT, login).await;
    cache.insert(login.to_string(), t.clone());
    t
}

/// Gives `login` credits the operator's way (the ledger, not HTTP).
async fn grant(s: &Server, login: &str, amount: i64) {
    let who = Account {
        issuer: idp().issuer.clone(),
        subject: login.into(),
    };
    s.ledger
        .apply(
            &who,
            None,
            &Operation::Grant { amount, memo: None },
            Utc::now(),
        )
        .await
        .expect("grant");
}

#[tokio::test]
async fn healthz_checks_the_database() {
    let s = server().await;
    let a = s.get("/healthz", None).await;
    assert_eq!((a.status, a.json["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn balance_spend_reserve_capture_release_and_history() {
    let s = server().await;
    let t = token("alice").await;
    let a = s.get("/v1/balance", Some(&t)).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json,
        json!({"posted": 0, "held": 0, "available": 0}),
        "a new user has nothing"
    );
    grant(&s, "alice", 20).await;

    let a = s
        .post(
            "/v1/spend",
            Some(&t),
            &json!({"amount": 5, "idempotency_key": "s1", "memo": "Export"}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.json["balance"],
        json!({"posted": 15, "held": 0, "available": 15})
    );
    assert_eq!(a.json["entries"][0]["kind"], "spend");
    assert_eq!(a.json["entries"][0]["memo"], "Export");

    let a = s
        .post(
            "/v1/reserve",
            Some(&t),
            &json!({"amount": 6, "ttl_secs": 300, "idempotency_key": "r1"}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.json["balance"],
        json!({"posted": 15, "held": 6, "available": 9})
    );
    let hold = a.json["entries"][0]["seq"]
        .as_i64()
        .expect("the hold's seq");
    assert_eq!(a.json["entries"][0]["kind"], "hold");

    let a = s
        .post(
            "/v1/capture",
            Some(&t),
            &json!({"hold": hold, "amount": 2, "idempotency_key": "c1"}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.json["balance"],
        json!({"posted": 13, "held": 0, "available": 13})
    );
    let kinds: Vec<_> = a.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, vec![json!("capture"), json!("release")]);

    let a = s
        .post(
            "/v1/reserve",
            Some(&t),
            &json!({"amount": 13, "idempotency_key": "r2"}),
        )
        .await;
    let hold2 = a.json["entries"][0]["seq"].as_i64().unwrap();
    let a = s
        .post(
            "/v1/release",
            Some(&t),
            &json!({"hold": hold2, "idempotency_key": "x1"}),
        )
        .await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(
        a.json["balance"],
        json!({"posted": 13, "held": 0, "available": 13})
    );

    let a = s
        .post(
            "/v1/release",
            Some(&t),
            &json!({"hold": hold2, "idempotency_key": "x2"}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (404, "unknown_entry"),
        "a settled hold is gone"
    );

    // History, oldest first, two per page.
    let mut kinds = Vec::new();
    let mut path = "/v1/history?limit=2".to_string();
    loop {
        let a = s.get(&path, Some(&t)).await;
        assert_eq!(a.status, 200, "{a:?}");
        let entries = a.json["entries"].as_array().unwrap();
        assert!(entries.len() <= 2);
        kinds.extend(
            entries
                .iter()
                .map(|e| e["kind"].as_str().unwrap().to_string()),
        );
        match a.json["next_after"].as_i64() {
            Some(after) => path = format!("/v1/history?limit=2&after={after}"),
            None => break,
        }
    }
    assert_eq!(
        kinds,
        ["grant", "spend", "hold", "capture", "release", "hold", "release"],
        "every entry once, oldest first"
    );
}

#[tokio::test]
async fn insufficient_credits_change_nothing() {
    let s = server().await;
    let t = token("alice").await;
    grant(&s, "alice", 3).await;
    for (path, body) in [
        ("/v1/spend", json!({"amount": 4, "idempotency_key": "a"})),
        ("/v1/reserve", json!({"amount": 4, "idempotency_key": "b"})),
    ] {
        let a = s.post(path, Some(&t), &body).await;
        assert_eq!(
            (a.status, a.code()),
            (402, "insufficient_credits"),
            "{path}: {a:?}"
        );
        assert!(a.json["message"].as_str().unwrap().contains("3 available"));
    }
    let a = s.get("/v1/balance", Some(&t)).await;
    assert_eq!(
        a.json["available"], 3,
        "a refused spend must not move the balance"
    );
    let h = s.get("/v1/history", Some(&t)).await;
    assert_eq!(
        h.json["entries"].as_array().unwrap().len(),
        1,
        "only the grant"
    );
}

#[tokio::test]
async fn idempotent_replay_returns_the_first_result_and_conflicts_are_refused() {
    let s = server().await;
    let t = token("alice").await;
    grant(&s, "alice", 10).await;
    let body = json!({"amount": 4, "idempotency_key": "once"});
    let first = s.post("/v1/spend", Some(&t), &body).await;
    assert_eq!(first.status, 200);
    let again = s.post("/v1/spend", Some(&t), &body).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json, first.json,
        "the replay is the first answer, byte for byte in JSON"
    );
    let other = s
        .post(
            "/v1/spend",
            Some(&t),
            &json!({"amount": 5, "idempotency_key": "once"}),
        )
        .await;
    assert_eq!((other.status, other.code()), (409, "idempotency_conflict"));
    let other_op = s
        .post(
            "/v1/reserve",
            Some(&t),
            &json!({"amount": 4, "idempotency_key": "once"}),
        )
        .await;
    assert_eq!(
        (other_op.status, other_op.code()),
        (409, "idempotency_conflict")
    );
    let a = s.get("/v1/balance", Some(&t)).await;
    assert_eq!(a.json["available"], 6, "4 spent exactly once");
}

#[tokio::test]
async fn users_are_kept_apart() {
    let s = server().await;
    let alice = token("alice").await;
    let bob = token("bob").await;
    grant(&s, "alice", 10).await;
    let hold = s
        .post(
            "/v1/reserve",
            Some(&alice),
            &json!({"amount": 4, "idempotency_key": "r"}),
        )
        .await
        .json["entries"][0]["seq"]
        .as_i64()
        .unwrap();
    let a = s
        .post(
            "/v1/capture",
            Some(&bob),
            &json!({"hold": hold, "amount": 4, "idempotency_key": "r"}),
        )
        .await;
    assert_eq!(
        (a.status, a.code()),
        (404, "unknown_entry"),
        "someone else's hold is indistinguishable from none"
    );
    let missing = s
        .post(
            "/v1/capture",
            Some(&bob),
            &json!({"hold": hold + 1000, "amount": 4, "idempotency_key": "q"}),
        )
        .await;
    assert_eq!(
        a.json, missing.json,
        "the same answer whether or not the hold exists"
    );
    assert_eq!(s.get("/v1/balance", Some(&bob)).await.json["posted"], 0);
    assert_eq!(
        s.get("/v1/history", Some(&bob)).await.json["entries"],
        json!([])
    );
    assert_eq!(s.get("/v1/balance", Some(&alice)).await.json["held"], 4);
}

/// Flips one character of the signature: same header and claims, a forged signature.
fn forge(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig: Vec<char> = sig.chars().collect();
    let mid = sig.len() / 2;
    sig[mid] = if sig[mid] == 'A' { 'B' } else { 'A' };
    format!("{head}.{}", sig.into_iter().collect::<String>())
}

/// Replaces the claims with `claims` (keeping header and signature): a tampered token.
fn tamper(token: &str, f: impl Fn(&mut serde_json::Value)) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    f(&mut claims);
    format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    )
}

async fn assert_unauthorized(s: &Server, token: Option<&str>, why: &str) {
    for a in [
        s.get("/v1/balance", token).await,
        s.post(
            "/v1/spend",
            token,
            &json!({"amount": 1, "idempotency_key": "k"}),
        )
        .await,
    ] {
        assert_eq!((a.status, a.code()), (401, "unauthorized"), "{why}: {a:?}");
        assert!(a.json["message"].is_string());
    }
}

#[tokio::test]
async fn bad_credentials_get_401_and_change_nothing() {
    let s = server().await;
    let good = token("mallory").await;
    assert_unauthorized(&s, None, "no Authorization header").await;
    assert_unauthorized(&s, Some(""), "an empty bearer").await;
    assert_unauthorized(&s, Some("not-a-jwt"), "garbage").await;
    assert_unauthorized(&s, Some(&forge(&good)), "a forged signature").await;
    assert_unauthorized(
        &s,
        Some(&tamper(&good, |c| c["sub"] = json!("alice"))),
        "claims changed under a valid signature",
    )
    .await;
    assert_unauthorized(
        &s,
        Some(&tamper(&good, |c| c["iss"] = json!("https://evil.example"))),
        "an issuer not in the allow-list",
    )
    .await;
    let other_audience = idp().id_token(CONFIDENTIAL_CLIENT, "mallory").await;
    assert_unauthorized(&s, Some(&other_audience), "a token for another client").await;
    let unlisted = rogue_idp().id_token(PUBLIC_CLIENT, "mallory").await;
    assert_unauthorized(&s, Some(&unlisted), "a token from an unlisted provider").await;

    let client = crate::support::pg::connect(&s.db_url).await;
    let users: i64 = crate::support::pg::scalar(&client, "SELECT count(*) FROM users", &[]).await;
    assert_eq!(users, 0, "no refused request created anything");
    for header in [
        format!("Basic {good}"),
        good.clone(),
        format!("Bearer{good}"),
    ] {
        let a = s.get_authorized("/v1/balance", &header).await;
        assert_eq!((a.status, a.code()), (401, "unauthorized"), "{a:?}");
    }
    // The genuine token works on the same server, whatever the scheme's case.
    assert_eq!(s.get("/v1/balance", Some(&good)).await.status, 200);
    let a = s
        .get_authorized("/v1/balance", &format!("bEaReR {good}"))
        .await;
    assert_eq!(a.status, 200, "the scheme is case-insensitive: {a:?}");
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    // The server's clock runs two hours ahead: the provider's one-hour token has expired.
    let s = server_with(Options {
        clock_offset: Duration::hours(2),
        ..Options::default()
    })
    .await;
    let t = token("alice").await;
    assert_unauthorized(&s, Some(&t), "an expired token").await;
    let a = s.get("/v1/balance", Some(&t)).await;
    assert!(
        a.json["message"].as_str().unwrap().contains("expired"),
        "{a:?}"
    );
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_json_errors() {
    let s = server().await;
    let t = token("alice").await;
    grant(&s, "alice", 10).await;
    let cases = [
        ("{not json", "malformed JSON"),
        ("[]", "not an object"),
        (r#"{"amount": 1}"#, "no idempotency key"),
        (
            r#"{"amount": "1", "idempotency_key": "k"}"#,
            "amount as a string",
        ),
        (
            r#"{"amount": 1.5, "idempotency_key": "k"}"#,
            "fractional amount",
        ),
        (r#"{"amount": 1e30, "idempotency_key": "k"}"#, "huge amount"),
        (
            r#"{"amount": 99999999999999999999, "idempotency_key": "k"}"#,
            "beyond i64",
        ),
        (
            r#"{"amount": 1000000000001, "idempotency_key": "k"}"#,
            "above the bound",
        ),
        (r#"{"amount": 0, "idempotency_key": "k"}"#, "zero"),
        (r#"{"amount": -5, "idempotency_key": "k"}"#, "negative"),
        (r#"{"amount": 1, "idempotency_key": ""}"#, "empty key"),
        (
            r#"{"amount": 1, "idempotency_key": "k", "extra": 1}"#,
            "unknown field",
        ),
    ];
    for (body, why) in cases {
        let a = s.post_raw("/v1/spend", Some(&t), body.to_string()).await;
        assert_eq!((a.status, a.code()), (400, "invalid_input"), "{why}: {a:?}");
    }
    let big = format!(
        r#"{{"amount": 1, "idempotency_key": "k", "memo": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let a = s.post_raw("/v1/spend", Some(&t), big).await;
    assert_eq!((a.status, a.code()), (413, "payload_too_large"), "{a:?}");
    let a = s.get("/v1/history?limit=abc", Some(&t)).await;
    assert_eq!((a.status, a.code()), (400, "invalid_input"));
    let a = s.get("/v1/history?limit=100000", Some(&t)).await;
    assert_eq!((a.status, a.code()), (400, "invalid_input"));
    let a = s.get("/v1/nothing-here", Some(&t)).await;
    assert_eq!((a.status, a.code()), (404, "not_found"));
    let a = s.get("/v1/spend", Some(&t)).await;
    assert_eq!((a.status, a.code()), (405, "method_not_allowed"));
    assert_eq!(
        s.get("/v1/balance", Some(&t)).await.json["available"],
        10,
        "no refused request moved the balance"
    );
}

#[tokio::test]
async fn sixteen_clients_spend_the_last_hundred_credits_exactly_once() {
    let s = std::sync::Arc::new(server().await);
    let t = token("alice").await;
    grant(&s, "alice", 100).await;
    let mut clients = Vec::new();
    for c in 0..16 {
        let s = s.clone();
        let t = t.clone();
        clients.push(tokio::spawn(async move {
            let mut spent = 0;
            for i in 0.. {
                let a = s
                    .post(
                        "/v1/spend",
                        Some(&t),
                        &json!({"amount": 1, "idempotency_key": format!("c{c}-{i}")}),
                    )
                    .await;
                match (a.status, a.code()) {
                    (200, _) => {
                        spent += 1;
                        assert!(a.json["balance"]["available"].as_i64().unwrap() >= 0);
                    }
                    (402, "insufficient_credits") => break,
                    other => panic!("unexpected answer {other:?}: {a:?}"),
                }
            }
            spent
        }));
    }
    let mut total = 0;
    for c in clients {
        total += c.await.expect("client");
    }
    assert_eq!(total, 100, "exactly the 100 credits were spent, no more");
    let b = s.get("/v1/balance", Some(&t)).await;
    assert_eq!(b.json, json!({"posted": 0, "held": 0, "available": 0}));
    let client = crate::support::pg::connect(&s.db_url).await;
    let spends: i64 = crate::support::pg::scalar(
        &client,
        "SELECT count(*) FROM entries WHERE kind = 'spend'",
        &[],
    )
    .await;
    assert_eq!(spends, 100, "one entry per acknowledged spend");
}

#[tokio::test]
async fn the_same_key_sent_at_once_spends_once() {
    let s = std::sync::Arc::new(server().await);
    let t = token("alice").await;
    grant(&s, "alice", 10).await;
    let body = json!({"amount": 3, "idempotency_key": "double-click"});
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (s, t, body) = (s.clone(), t.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            s.post("/v1/spend", Some(&t), &body).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert!(
        answers.iter().all(|a| a.json == answers[0].json),
        "every racer gets the first result"
    );
    assert_eq!(
        s.get("/v1/balance", Some(&t)).await.json["available"],
        7,
        "spent once"
    );
}

#[tokio::test]
async fn a_database_that_is_down_gives_503() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens on `port` once the probe above is dropped.
    let s = server_with(Options {
        db_url: Some(format!("postgresql://latchkey@127.0.0.1:{port}/nowhere")),
        ..Options::default()
    })
    .await;
    let t = token("alice").await;
    let a = s.get("/healthz", None).await;
    assert_eq!((a.status, a.code()), (503, "unavailable"), "{a:?}");
    let a = s.get("/v1/balance", Some(&t)).await;
    assert_eq!((a.status, a.code()), (503, "unavailable"), "{a:?}");
    let a = s
        .post(
            "/v1/spend",
            Some(&t),
            &json!({"amount": 1, "idempotency_key": "k"}),
        )
        .await;
    assert_eq!((a.status, a.code()), (503, "unavailable"), "{a:?}");
    assert!(!a.json["message"]
        .as_str()
        .unwrap()
        .contains(&port.to_string()));
}

#[tokio::test]
async fn a_client_that_stalls_mid_body_gets_a_408_json_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = server_with(Options {
        request_timeout: std::time::Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let t = token("alice").await;
    grant(&s, "alice", 10).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/spend HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {t}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"amount\": 1"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    // Send nothing more: the server must give up on its own and answer.
    let mut buf = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        let mut chunk = [0u8; 4096];
        loop {
            let n = conn.read(&mut chunk).await.unwrap_or(0);
            buf.extend_from_slice(&chunk[..n]);
            if n == 0 || String::from_utf8_lossy(&buf).contains("\"code\"") {
                break;
            }
        }
    })
    .await
    .expect("the server answers a stalled request");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains(r#""code":"timeout""#), "{text}");
    assert_eq!(s.get("/v1/balance", Some(&t)).await.json["available"], 10);
}

#[tokio::test]
async fn keys_rotated_at_the_provider_are_fetched_again_once() {
    let mut own = crate::support::idp::Idp::start(&[]);
    let s = server_with(Options {
        issuer: Some(own.issuer.clone()),
        ..Options::default()
    })
    .await;
    let before = own.id_token(PUBLIC_CLIENT, "alice").await;
    assert_eq!(
        s.get("/v1/balance", Some(&before)).await.status,
        200,
        "keys fetched at first use"
    );
    own.restart();
    let after = own.id_token(PUBLIC_CLIENT, "alice").await;
    let a = s.get("/v1/balance", Some(&after)).await;
    assert_eq!(
        a.status, 200,
        "a token signed with a new key makes the server refetch: {a:?}"
    );
    assert_unauthorized(
        &s,
        Some(&before),
        "a token signed with a key the provider dropped",
    )
    .await;
}
