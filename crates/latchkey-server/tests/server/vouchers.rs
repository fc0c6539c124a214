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
    let v = vouchers::issue(&s.ledger, None, 40, None, Utc::now())
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
    let for_bob = vouchers::issue(&s.ledger, None, 7, Some(&user("bob")), Utc::now())
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
    let old = vouchers::issue(&s.ledger, None, 5, None, Utc::now())
        .await
        .unwrap();
    let k2 = vouchers::rotate(&s.ledger, None, Utc::now()).await.unwrap();
    let new = vouchers::issue(&s.ledger, None, 6, None, Utc::now())
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
    let v = vouchers::issue(&s.ledger, None, 50, None, Utc::now())
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

/// Every published key whose seed appears verbatim in `pg_dump` of the database: each run of at
/// least 64 hex digits in the dump (how it prints bytea) is tried, 32 bytes at every offset, as
/// an Ed25519 seed.
fn seeds_in_dump(db_url: &str, published: &[String]) -> Vec<String> {
    let out = std::process::Command::new(latchkey_testkit::pg::program("pg_dump"))
        .args(["--data-only", "--table=voucher_keys", db_url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dump = String::from_utf8_lossy(&out.stdout);
    let mut found = Vec::new();
    for run in dump.split(|c: char| !c.is_ascii_hexdigit()) {
        let Ok(bytes) = hex::decode(&run[..run.len() & !1]) else {
            continue;
        };
        for w in bytes.windows(32) {
            let public = PrivateKey::from_seed(w.try_into().unwrap())
                .public_key()
                .to_text();
            if published.contains(&public) && !found.contains(&public) {
                found.push(public);
            }
        }
    }
    found
}

#[tokio::test]
async fn sealed_seeds_are_not_in_the_database() {
    use latchkey_server::config::Secret;
    use latchkey_server::vouchers::{SealKey, VoucherError};
    let s = server().await;
    let now = Utc::now();
    let published = |s: &Server| {
        let ledger = s.ledger.clone();
        async move {
            vouchers::published(&ledger)
                .await
                .unwrap()
                .keys
                .into_iter()
                .map(|k| k.public_key)
                .collect::<Vec<_>>()
        }
    };

    // Without a seal key (as before), the seed is in the database: the check can see one.
    let before = vouchers::issue(&s.ledger, None, 5, None, now)
        .await
        .unwrap();
    let keys = published(&s).await;
    assert_eq!(
        seeds_in_dump(&s.db_url, &keys),
        keys,
        "a plainly stored seed is found by this check"
    );

    // With a seal key: the old seed is sealed, the new key is made sealed.
    let seal = SealKey::parse(&Secret::new("5a".repeat(32))).unwrap();
    vouchers::rotate(&s.ledger, Some(&seal), now).await.unwrap();
    let after = vouchers::issue(&s.ledger, Some(&seal), 6, None, now)
        .await
        .unwrap();
    let keys = published(&s).await;
    assert_eq!(keys.len(), 2);
    assert_eq!(
        seeds_in_dump(&s.db_url, &keys),
        Vec::<String>::new(),
        "no seed of any key is in the database once sealed"
    );

    // The database alone cannot sign: no seal key, or another one, and nothing is issued.
    let other = SealKey::parse(&Secret::new("a5".repeat(32))).unwrap();
    for seal in [None, Some(&other)] {
        assert!(
            matches!(
                vouchers::issue(&s.ledger, seal, 1, None, now).await,
                Err(VoucherError::Sealed(_))
            ),
            "issuing without the right seal key is refused"
        );
        assert!(matches!(
            vouchers::rotate(&s.ledger, seal, now).await,
            Err(VoucherError::Sealed(_))
        ));
    }
    assert_eq!(
        published(&s).await.len(),
        2,
        "no key was added by a refused rotation"
    );

    // Vouchers signed before and after sealing both redeem (the public keys did not change).
    for (v, k) in [(&before, "seal-r1"), (&after, "seal-r2")] {
        vouchers::redeem(&s.ledger, &user("sealer"), v, k, now)
            .await
            .expect("the voucher redeems");
    }
}
