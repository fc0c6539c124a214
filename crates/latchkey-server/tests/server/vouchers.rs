//! Vouchers issued by the service: redemption once across all users, bindings, forgeries, key
//! rotation and the published keys.

use crate::support::idp::{idp, IdTokens, PUBLIC_CLIENT};
use crate::support::{server, Server};
use chrono::Utc;
use latchkey_server::ledger::Account;
use latchkey_server::vouchers;
use latchkey_wallet::voucher::{self as wallet_voucher, PrivateKey, VoucherSpec};
use latchkey_wallet::Credits;
use serde_json::json;

async fn token(login: &str) -> String {
    idp().id_token(PUBLIC_CLIENT, login).await
}

fn user(login: &str) -> Account {
    Account {
        issuer: idp().issuer.clone(),
        subject: login.into(),
    }
}

async fn redeem(s: &Server, t: &str, voucher: &str, key: &str) -> crate::support::Answer {
    s.post(
        "/v1/redeem",
        Some(t),
        &json!({"voucher": voucher, "idempotency_key": key}),
    )
    .await
}

#[tokio::test]
async fn a_voucher_counts_once_across_all_users() {
    let s = server().await;
    let v = vouchers::issue(&s.ledger, 40, None, Utc::now())
        .await
        .unwrap();
    let (alice, bob) = (token("alice").await, token("bob").await);
    let a = redeem(&s, &alice, &v, "r1").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json["entries"][0]["kind"], "voucher");
    assert_eq!(a.json["balance"]["available"], 40);
    let replay = redeem(&s, &alice, &v, "r1").await;
    assert_eq!(
        replay.json, a.json,
        "the same key replays the first receipt"
    );
    let again = redeem(&s, &alice, &v, "r2").await;
    assert_eq!((again.status, again.code()), (409, "already_redeemed"));
    let theirs = redeem(&s, &bob, &v, "r1").await;
    assert_eq!((theirs.status, theirs.code()), (409, "already_redeemed"));
    let b = s.get("/v1/balance", Some(&alice)).await;
    assert_eq!(b.json["available"], 40, "once, whatever the key");
    let b = s.get("/v1/balance", Some(&bob)).await;
    assert_eq!(b.json["available"], 0);
}

#[tokio::test]
async fn bound_forged_and_malformed_vouchers_are_refused() {
    let s = server().await;
    let (alice, bob) = (token("alice").await, token("bob").await);
    let for_bob = vouchers::issue(&s.ledger, 7, Some(&user("bob")), Utc::now())
        .await
        .unwrap();
    let a = redeem(&s, &alice, &for_bob, "k").await;
    assert_eq!(
        (a.status, a.code()),
        (400, "invalid_voucher"),
        "bound to bob"
    );
    assert_eq!(redeem(&s, &bob, &for_bob, "k").await.status, 200);

    // Same format, signed by a key the service never had.
    let forged = wallet_voucher::issue(
        &PrivateKey::from_seed([9; 32]),
        &VoucherSpec::new(Credits(1_000)),
    )
    .unwrap();
    let a = redeem(&s, &alice, &forged, "k2").await;
    assert_eq!((a.status, a.code()), (400, "invalid_voucher"), "{a:?}");
    let a = redeem(&s, &alice, "LKV1.garbage.x", "k3").await;
    assert_eq!((a.status, a.code()), (400, "invalid_voucher"));
    let b = s.get("/v1/balance", Some(&alice)).await;
    assert_eq!(b.json["available"], 0, "nothing refused was credited");
}

#[tokio::test]
async fn rotated_keys_are_published_with_their_signatures() {
    let s = server().await;
    let old = vouchers::issue(&s.ledger, 5, None, Utc::now())
        .await
        .unwrap();
    let k2 = vouchers::rotate(&s.ledger, Utc::now()).await.unwrap();
    let new = vouchers::issue(&s.ledger, 6, None, Utc::now())
        .await
        .unwrap();

    let a = s.get("/.well-known/latchkey-keys", None).await;
    assert_eq!(a.status, 200);
    let keys = a.json["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        (keys[0]["active"].as_bool(), keys[1]["active"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(keys[1]["kid"], k2.kid.as_str());
    assert_eq!(keys[1]["signed_by"], keys[0]["kid"]);
    assert!(
        vouchers::verify_rotation(
            keys[0]["public_key"].as_str().unwrap(),
            keys[1]["public_key"].as_str().unwrap(),
            keys[1]["signature"].as_str().unwrap(),
        ),
        "the previous key signed the new one"
    );
    assert!(
        !vouchers::verify_rotation(
            keys[1]["public_key"].as_str().unwrap(),
            keys[1]["public_key"].as_str().unwrap(),
            keys[1]["signature"].as_str().unwrap(),
        ),
        "a key cannot vouch for itself"
    );
    let text = a.json.to_string();
    assert!(
        !text.contains("seed") && !text.contains("LKVS1"),
        "no private key is served: {text}"
    );

    let alice = token("alice").await;
    assert_eq!(
        redeem(&s, &alice, &old, "a").await.status,
        200,
        "old vouchers stay good"
    );
    let a = redeem(&s, &alice, &new, "b").await;
    assert_eq!(a.json["balance"]["available"], 11);
    assert_eq!(
        wallet_voucher::decode(&new).unwrap().key_id,
        k2.kid,
        "new vouchers are signed with the new key"
    );
}

#[tokio::test]
async fn racing_redemptions_of_one_voucher_credit_exactly_once() {
    let s = server().await;
    let v = vouchers::issue(&s.ledger, 50, None, Utc::now())
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for i in 0..8 {
        tokens.push(token(&format!("racer{i}")).await);
    }
    let answers = futures_join(&s, &tokens, &v).await;
    let won = answers.iter().filter(|&&st| st == 200).count();
    let lost = answers.iter().filter(|&&st| st == 409).count();
    assert_eq!(
        (won, lost),
        (1, 7),
        "one winner, the rest already_redeemed: {answers:?}"
    );
    let db = crate::support::pg::connect(&s.db_url).await;
    let credited = crate::support::pg::scalar(
        &db,
        "SELECT COALESCE(sum(amount), 0)::bigint FROM entries WHERE kind = 'voucher'",
        &[],
    )
    .await;
    assert_eq!(
        credited, 50,
        "the voucher's credits exist once in the whole ledger"
    );
}

async fn futures_join(s: &Server, tokens: &[String], v: &str) -> Vec<u16> {
    let mut tasks = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let (http, base, t, v) = (s.http.clone(), s.base.clone(), t.clone(), v.to_string());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/v1/redeem"))
                .bearer_auth(t)
                .json(&json!({"voucher": v, "idempotency_key": format!("k{i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
