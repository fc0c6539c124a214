//! Importing a single-machine wallet (issue 9) on the real stack: vouchers verified again and
//! credited once across all users, local grants not counted, spends taking uncounted credits
//! first, every outcome recorded so a replay (or another device) applies nothing twice.

use crate::support::idp::{idp, IdTokens, PUBLIC_CLIENT};
use crate::support::{server, Answer, Server};
use chrono::Utc;
use latchkey_server::vouchers;
use latchkey_wallet::voucher::{self as wallet_voucher, PrivateKey, VoucherSpec};
use latchkey_wallet::Credits;
use serde_json::{json, Value};

const A: &str = "import-device-aaaa";
const B: &str = "import-device-bbbb";

async fn call(s: &Server, t: &str, method: reqwest::Method, path: &str, body: Value) -> Answer {
    let resp = s
        .http
        .request(method, format!("{}{path}", s.base))
        .bearer_auth(t)
        .json(&body)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        json: serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {status} {text}")),
    }
}

async fn import(s: &Server, t: &str, dev: &str, entries: &[Value]) -> Answer {
    let path = format!("/v1/devices/{dev}/import");
    call(
        s,
        t,
        reqwest::Method::POST,
        &path,
        json!({ "entries": entries }),
    )
    .await
}

fn entry(id: i64, kind: &str, amount: i64, voucher: Option<&str>) -> Value {
    let mut e = json!({"entry_id": id, "kind": kind, "amount": amount,
                       "local_time": "2026-01-01T00:00:00Z"});
    if let Some(v) = voucher {
        e["voucher"] = v.into();
    }
    e
}

/// `(outcome, amount or reason, replayed)` per entry.
fn outcomes(a: &Answer) -> Vec<(String, Value, bool)> {
    a.json["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("outcomes: {a:?}"))
        .iter()
        .map(|o| {
            let what = if o["outcome"] == "imported" {
                o["amount"].clone()
            } else {
                o["reason"].clone()
            };
            (
                o["outcome"].as_str().unwrap().to_string(),
                what,
                o["replayed"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn o(outcome: &str, what: Value, replayed: bool) -> (String, Value, bool) {
    (outcome.to_string(), what, replayed)
}

#[tokio::test]
async fn a_wallet_is_imported_once_and_only_what_the_service_can_verify_counts() {
    let s = server().await;
    let t = idp().id_token(PUBLIC_CLIENT, "import-alice").await;
    for dev in [A, B] {
        let r = call(
            &s,
            &t,
            reqwest::Method::PUT,
            &format!("/v1/devices/{dev}"),
            json!({"name": dev}),
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let ours = vouchers::issue(&s.ledger, None, 50, None, Utc::now())
        .await
        .unwrap();
    let used = vouchers::issue(&s.ledger, None, 7, None, Utc::now())
        .await
        .unwrap();
    let redeemed = call(
        &s,
        &t,
        reqwest::Method::POST,
        "/v1/redeem",
        json!({"voucher": used, "idempotency_key": "r-1"}),
    )
    .await;
    assert_eq!(redeemed.status, 200, "{redeemed:?}");
    let forged = wallet_voucher::issue(
        &PrivateKey::from_seed([9; 32]),
        &VoucherSpec::new(Credits(1000)),
    )
    .unwrap();

    // The single-machine wallet: welcome 10, voucher 50, the voucher already redeemed at the
    // service, a self-signed voucher, spends of 30 and 15, a refund of 5, a hold.
    let wallet = vec![
        entry(1, "grant", 10, None),
        entry(2, "voucher", 50, Some(&ours)),
        entry(3, "voucher", 7, Some(&used)),
        entry(4, "voucher", 1000, Some(&forged)),
        entry(5, "spend", 30, None),
        entry(6, "refund", 5, None),
        entry(7, "spend", 15, None),
        entry(8, "hold", 2, None),
    ];
    let first = import(&s, &t, A, &wallet).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(
        outcomes(&first),
        vec![
            o("rejected", json!("local_grant"), false),
            o("imported", json!(50), false),
            o("rejected", json!("already_redeemed"), false),
            o("rejected", json!("invalid_voucher"), false),
            // 10 + 7 + 1000 uncounted first: the spends take none of the 50.
            o("rejected", json!("uncounted"), false),
            o("rejected", json!("uncounted"), false),
            o("rejected", json!("uncounted"), false),
            o("rejected", json!("not_importable"), false),
        ],
        "{first:?}"
    );
    assert_eq!(
        first.json["balance"],
        json!({"posted": 57, "held": 0, "available": 57}),
        "7 redeemed at the service before + the 50 imported: nothing minted"
    );

    let replay = import(&s, &t, A, &wallet).await;
    assert!(
        outcomes(&replay).iter().all(|(_, _, replayed)| *replayed),
        "a second import of the same wallet applies nothing: {replay:?}"
    );
    assert_eq!(outcomes(&replay)[1], o("imported", json!(50), true));
    assert_eq!(replay.json["balance"]["posted"], 57, "nothing twice");
    let mut changed = wallet.clone();
    changed[4] = entry(5, "spend", 31, None);
    assert_eq!(
        outcomes(&import(&s, &t, A, &changed).await)[4].0,
        "conflict",
        "the same local id with other parameters"
    );

    // The same wallet copied to another device: its voucher is spent already.
    let other = import(&s, &t, B, &wallet[..2]).await;
    assert_eq!(
        outcomes(&other),
        vec![
            o("rejected", json!("local_grant"), false),
            o("rejected", json!("already_redeemed"), false),
        ]
    );
    let b = s.get("/v1/balance", Some(&t)).await.json;
    assert_eq!(b["posted"], 57, "still nothing twice: {b}");
    let n: i64 = s
        .ledger
        .pool()
        .get()
        .await
        .unwrap()
        .query_one("SELECT count(*) FROM wallet_imports", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10, "every entry's outcome is recorded once per device");
    let again = call(
        &s,
        &t,
        reqwest::Method::POST,
        "/v1/redeem",
        json!({"voucher": ours, "idempotency_key": "r-2"}),
    )
    .await;
    assert_eq!(
        (again.status, again.json["code"].as_str()),
        (409, Some("already_redeemed")),
        "a voucher an import credited is not redeemed again: {again:?}"
    );
}

#[tokio::test]
async fn spends_paid_by_counted_credits_are_spent_at_the_service_across_batches() {
    let s = server().await;
    let t = idp().id_token(PUBLIC_CLIENT, "import-bob").await;
    let r = call(
        &s,
        &t,
        reqwest::Method::PUT,
        &format!("/v1/devices/{A}"),
        json!({"name": "laptop"}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let v = vouchers::issue(&s.ledger, None, 40, None, Utc::now())
        .await
        .unwrap();
    let first = import(
        &s,
        &t,
        A,
        &[
            entry(1, "grant", 5, None),
            entry(2, "voucher", 40, Some(&v)),
        ],
    )
    .await;
    assert_eq!(first.json["balance"]["posted"], 40, "{first:?}");
    // The next batch is judged with what the first left: 5 uncounted, 40 counted.
    let second = import(
        &s,
        &t,
        A,
        &[entry(3, "spend", 12, None), entry(4, "refund", 3, None)],
    )
    .await;
    assert_eq!(
        outcomes(&second),
        vec![
            o("imported", json!(7), false),
            o("imported", json!(3), false),
        ],
        "the spend's first 5 were the grant's; the refund gives back counted ones: {second:?}"
    );
    assert_eq!(
        second.json["balance"],
        json!({"posted": 36, "held": 0, "available": 36}),
        "40 - 7 + 3: the wallet had 45 - 12 + 3 = 36, all of it now counted"
    );
    let bad = import(&s, &t, "import-device-none", &[entry(1, "grant", 1, None)]).await;
    assert_eq!(
        (bad.status, bad.json["code"].as_str()),
        (404, Some("unknown_device")),
        "only a registered device imports"
    );
}
