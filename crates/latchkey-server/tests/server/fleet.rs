//! Two server processes over one database keep the same ledger as one: the server holds no
//! state, so which server a request reaches changes nothing.

use crate::support::idp::{idp, IdTokens, PUBLIC_CLIENT};
use crate::support::{self, pg};
use chrono::Utc;
use latchkey_server::ledger::{Account, Operation};
use latchkey_testkit::server::Service;
use serde_json::json;
use std::collections::BTreeMap;

const USERS: usize = 4;
const OPS: usize = 24;

/// Per user: the balance row, and every entry as (kind, amount, memo) in that user's order.
type Books = BTreeMap<String, ((i64, i64), Vec<(String, i64, Option<String>)>)>;

async fn books(url: &str) -> Books {
    let db = pg::connect(url).await;
    let mut out = Books::new();
    for row in db
        .query(
            "SELECT u.subject, b.posted, b.held FROM users u JOIN balances b ON b.user_id = u.id",
            &[],
        )
        .await
        .unwrap()
    {
        let subject: String = row.get(0);
        let entries = db
            .query(
                "SELECT e.kind, e.amount, e.memo FROM entries e JOIN users u ON u.id = e.user_id \
                 WHERE u.subject = $1 ORDER BY e.server_seq",
                &[&subject],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        out.insert(subject, ((row.get(1), row.get(2)), entries));
    }
    out
}

/// The same workload against `servers` (round robin): each user, concurrently with the others,
/// spends, reserves and captures, and sends every request twice (the second time to the next
/// server), as a client retrying through a load balancer would.
async fn run(servers: &[Service], tokens: &[String]) {
    let http = latchkey_auth::http_client().unwrap();
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let mut users = Vec::new();
    for (u, token) in tokens.iter().enumerate() {
        let (http, bases, token) = (http.clone(), bases.clone(), token.clone());
        users.push(tokio::spawn(async move {
            let mut hold = None;
            for op in 0..OPS {
                let key = format!("u{u}-op{op}");
                let (path, body) = match (op % 3, hold) {
                    (1, _) => (
                        "reserve",
                        json!({"amount": 5, "idempotency_key": key, "memo": key}),
                    ),
                    (2, Some(h)) => (
                        "capture",
                        json!({"hold": h, "amount": 2, "idempotency_key": key}),
                    ),
                    _ => (
                        "spend",
                        json!({"amount": 1 + op as i64 % 4, "idempotency_key": key, "memo": key}),
                    ),
                };
                let mut answers = Vec::new();
                for attempt in 0..2 {
                    let base = &bases[(u + op + attempt) % bases.len()];
                    let resp = http
                        .post(format!("{base}/v1/{path}"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200, "{path} {key}");
                    answers.push(resp.json::<serde_json::Value>().await.unwrap());
                }
                assert_eq!(
                    answers[0], answers[1],
                    "a retry on another server replays the answer"
                );
                hold =
                    (path == "reserve").then(|| answers[0]["entries"][0]["seq"].as_i64().unwrap());
            }
        }));
    }
    for u in users {
        u.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_over_one_database_keep_the_same_ledger_as_one() {
    let mut tokens = Vec::new();
    for u in 0..USERS {
        tokens.push(idp().id_token(PUBLIC_CLIENT, &format!("fleet{u}")).await);
    }
    let mut results = Vec::new();
    for count in [1, 2] {
        let (ledger, url) = support::ledger().await;
        for u in 0..USERS {
            let who = Account {
                issuer: idp().issuer.clone(),
                subject: format!("fleet{u}"),
            };
            let grant = Operation::Grant {
                amount: 1_000,
                memo: None,
            };
            ledger.apply(&who, None, &grant, Utc::now()).await.unwrap();
        }
        let servers: Vec<Service> = (0..count)
            .map(|_| Service::start(&url, &idp().issuer, ""))
            .collect();
        run(&servers, &tokens).await;
        results.push(books(&url).await);
    }
    assert_eq!(results[0].len(), USERS, "every user has books");
    assert!(
        results[0].values().all(|(_, entries)| entries.len() > OPS),
        "every operation left entries"
    );
    assert_eq!(
        results[0], results[1],
        "two servers give the same ledger as one"
    );
}
