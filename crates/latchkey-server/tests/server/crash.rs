//! SIGKILL the real server during bursts of spends, 20 times: every spend the client saw
//! acknowledged is in the ledger exactly once, nothing else is, and the balance row equals the
//! sum of the entries. A client's retries (same idempotency key) after the restart then land
//! each remaining spend exactly once and replay the acknowledged ones byte for byte.

use crate::support::idp::{idp, IdTokens, PUBLIC_CLIENT};
use crate::support::{self, pg};
use chrono::Utc;
use latchkey_server::ledger::{Account, Operation};
use latchkey_testkit::server::Service;
use std::collections::HashMap;
use tokio::sync::mpsc;

const ROUNDS: usize = 20;
const BURST: usize = 12;
const GRANTED: i64 = 100_000;

/// One spend of `amount` with `key` as its idempotency key and its memo.
async fn spend(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
    amount: i64,
) -> Result<(u16, String), reqwest::Error> {
    let resp = http
        .post(format!("{base}/v1/spend"))
        .bearer_auth(token)
        .json(&serde_json::json!({"amount": amount, "idempotency_key": key, "memo": key}))
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}

/// posted and held from the balance row, and as the entries add up, read in ONE statement (one
/// snapshot): a spend the killed server had already sent may still be committing.
async fn books(db: &tokio_postgres::Client) -> ((i64, i64), (i64, i64)) {
    let row = db
        .query_one(
            "SELECT b.posted, b.held,
                    COALESCE(sum(CASE WHEN e.kind IN ('grant','purchase','voucher','refund')
                                      THEN e.amount
                                      WHEN e.kind IN ('spend','capture') THEN -e.amount
                                      ELSE 0 END), 0)::bigint,
                    COALESCE(sum(CASE WHEN e.kind = 'hold' THEN e.amount
                                      WHEN e.kind IN ('capture','release','expire') THEN -e.amount
                                      ELSE 0 END), 0)::bigint
             FROM balances b LEFT JOIN entries e ON e.user_id = b.user_id
             GROUP BY b.user_id, b.posted, b.held",
            &[],
        )
        .await
        .unwrap();
    ((row.get(0), row.get(1)), (row.get(2), row.get(3)))
}

/// How many spend entries each memo (= key) has.
async fn spends_by_key(db: &tokio_postgres::Client) -> HashMap<String, i64> {
    db.query(
        "SELECT memo, count(*) FROM entries WHERE kind = 'spend' GROUP BY memo",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_bursts_loses_no_acknowledged_spend_and_invents_none() {
    let (ledger, url) = support::ledger().await;
    let who = Account {
        issuer: idp().issuer.clone(),
        subject: "crash".into(),
    };
    let grant = Operation::Grant {
        amount: GRANTED,
        memo: None,
    };
    ledger.apply(&who, None, &grant, Utc::now()).await.unwrap();
    let token = idp().id_token(PUBLIC_CLIENT, "crash").await;
    let http = latchkey_auth::http_client().unwrap();

    // key -> (amount, the acknowledged answer if the client saw one)
    let mut sent: HashMap<String, (i64, Option<String>)> = HashMap::new();
    for round in 0..ROUNDS {
        let mut server = Service::start(&url, &idp().issuer, "");
        let (acks, mut acked) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for i in 0..BURST {
            let key = format!("r{round}-s{i}");
            let amount = 1 + (i as i64 % 3);
            sent.insert(key.clone(), (amount, None));
            let (http, base, token, acks) = (
                http.clone(),
                server.base.clone(),
                token.clone(),
                acks.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let answer = spend(&http, &base, &token, &key, amount).await;
                if let Ok((status, body)) = answer {
                    assert_eq!(status, 200, "a spend is acknowledged or cut off: {body}");
                    let _ = acks.send(());
                    return (key, Some(body));
                }
                (key, None)
            }));
        }
        drop(acks);
        // Kill as soon as the first spend of the burst is acknowledged: the rest are in flight.
        acked
            .recv()
            .await
            .expect("at least one spend of each burst is acknowledged");
        server.stop(); // SIGKILL
        for task in tasks {
            let (key, body) = task.await.unwrap();
            sent.get_mut(&key).unwrap().1 = body;
        }
    }

    let db = pg::connect(&url).await;
    let landed = spends_by_key(&db).await;
    let acknowledged: Vec<&String> = sent
        .iter()
        .filter(|(_, v)| v.1.is_some())
        .map(|(k, _)| k)
        .collect();
    assert!(
        acknowledged.len() >= ROUNDS,
        "each round acknowledged a spend"
    );
    for key in &acknowledged {
        assert_eq!(
            landed.get(*key),
            Some(&1),
            "acknowledged spend {key} is in the ledger once"
        );
    }
    for (key, n) in &landed {
        assert!(
            sent.contains_key(key),
            "the ledger has a spend nobody sent: {key}"
        );
        assert_eq!(*n, 1, "spend {key} is in the ledger {n} times");
    }
    let (row, sums) = books(&db).await;
    assert_eq!(row, sums, "the balance row equals the sum of the entries");

    // The client retries everything it did not see acknowledged, and replays what it did.
    let server = Service::start(&url, &idp().issuer, "");
    for (key, (amount, ack)) in &sent {
        let (status, body) = spend(&http, &server.base, &token, key, *amount)
            .await
            .unwrap();
        assert_eq!(status, 200, "the retry of {key} succeeds: {body}");
        if let Some(first) = ack {
            assert_eq!(
                &body, first,
                "a replay answers exactly what was acknowledged"
            );
        }
    }
    let landed = spends_by_key(&db).await;
    assert_eq!(
        landed.len(),
        sent.len(),
        "every spend sent is in the ledger"
    );
    assert!(landed.values().all(|n| *n == 1), "each exactly once");
    let (row, sums) = books(&db).await;
    assert_eq!(row, sums, "the balance row equals the sum of the entries");
    let total: i64 = sent.values().map(|v| v.0).sum();
    assert_eq!(
        row,
        (GRANTED - total, 0),
        "posted is the grant minus every spend"
    );
}
