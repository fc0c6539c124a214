//! Issue 9's service side on the real stack (PostgreSQL, REAL ID tokens, the router on a
//! loopback port; the real `serve` process for the crash test): devices, leases, push with
//! per-entry outcomes, pull by cursor, lease limits, lost devices, replay after SIGKILL.

use crate::support::idp::{idp, IdTokens, PUBLIC_CLIENT};
use crate::support::{self, pg, server, Answer, Server};
use chrono::Utc;
use latchkey_server::ledger::{Account, Operation};
use latchkey_testkit::server::Service;
use serde_json::{json, Value};
use std::collections::HashMap;

const A: &str = "device-aaaaaaaaaaaa";
const B: &str = "device-bbbbbbbbbbbb";

async fn token(login: &str) -> String {
    idp().id_token(PUBLIC_CLIENT, login).await
}

async fn grant(s: &Server, login: &str, amount: i64) {
    let who = Account {
        issuer: idp().issuer.clone(),
        subject: login.into(),
    };
    let op = Operation::Grant { amount, memo: None };
    s.ledger.apply(&who, None, &op, Utc::now()).await.unwrap();
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Answer {
    let mut req = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    Answer {
        status,
        json: serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON: {status} {text}")),
    }
}

async fn register(s: &Server, t: &str, dev: &str) -> Answer {
    let url = format!("{}/v1/devices/{dev}", s.base);
    call(
        &s.http,
        reqwest::Method::PUT,
        url,
        t,
        Some(json!({"name": dev})),
    )
    .await
}

async fn lease(s: &Server, t: &str, dev: &str, credits: Option<i64>) -> Answer {
    let url = format!("{}/v1/devices/{dev}/lease", s.base);
    let body = credits.map_or(json!({}), |c| json!({ "credits": c }));
    call(&s.http, reqwest::Method::POST, url, t, Some(body)).await
}

async fn remove(s: &Server, t: &str, dev: &str) -> Answer {
    let url = format!("{}/v1/devices/{dev}", s.base);
    call(&s.http, reqwest::Method::DELETE, url, t, None).await
}

fn spend(id: &str, amount: i64, lease: i64) -> Value {
    json!({"entry_id": id, "kind": "spend", "amount": amount, "lease_id": lease,
           "local_time": "2026-01-01T00:00:00Z", "memo": id})
}

async fn push(base: &str, http: &reqwest::Client, t: &str, dev: &str, entries: &[Value]) -> Answer {
    let url = format!("{base}/v1/devices/{dev}/entries");
    let body = json!({ "entries": entries });
    call(http, reqwest::Method::POST, url, t, Some(body)).await
}

async fn pull(s: &Server, t: &str, after: i64, limit: i64) -> Answer {
    let url = format!("{}/v1/sync?after={after}&limit={limit}", s.base);
    call(&s.http, reqwest::Method::GET, url, t, None).await
}

fn outcomes(a: &Answer) -> Vec<&str> {
    a.json["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("outcomes: {a:?}"))
        .iter()
        .map(|o| o["outcome"].as_str().unwrap())
        .collect()
}

async fn balance(s: &Server, t: &str) -> Value {
    s.get("/v1/balance", Some(t)).await.json
}

#[tokio::test]
async fn register_lease_push_replay_conflict_reject_and_pull_by_cursor() {
    let s = server().await;
    let t = token("sync-alice").await;
    grant(&s, "sync-alice", 100).await;
    let r = register(&s, &t, A).await;
    assert_eq!((r.status, r.json["name"].as_str()), (200, Some(A)), "{r:?}");

    let l = lease(&s, &t, A, None).await;
    assert_eq!(l.status, 200, "{l:?}");
    assert_eq!(
        (l.json["granted"].as_i64(), l.json["remaining"].as_i64()),
        (Some(20), Some(20)),
        "the default lease is min(available, 20)"
    );
    let lid = l.json["lease_id"].as_i64().unwrap();
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 100, "held": 20, "available": 80}),
        "a lease is a hold at the service"
    );

    let batch = [
        spend("e1", 5, lid),
        spend("e2", 5, lid),
        spend("e3", 3, lid),
    ];
    let first = push(&s.base, &s.http, &t, A, &batch).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(outcomes(&first), ["applied"; 3]);
    assert_eq!(first.json["lease"]["remaining"], 7);
    assert_eq!(
        first.json["balance"],
        json!({"posted": 87, "held": 7, "available": 80}),
        "spends come out of the lease, not out of what others may spend"
    );

    // The same batch again: nothing changes, each id answers with its first ledger entry.
    let again = push(&s.base, &s.http, &t, A, &batch).await;
    assert_eq!(outcomes(&again), ["already_applied"; 3]);
    for i in 0..3 {
        assert_eq!(
            again.json["outcomes"][i]["server_seq"], first.json["outcomes"][i]["server_seq"],
            "a replay names the entry that applied it"
        );
    }
    assert_eq!(again.json["balance"], first.json["balance"]);

    let mixed = [
        spend("e1", 6, lid), // same id, other amount
        spend("e4", 8, lid), // beyond the 7 left
        json!({"entry_id": "e5", "kind": "grant", "amount": 50, "lease_id": lid,
               "local_time": "2026-01-01T00:00:00Z"}), // a device cannot mint
        spend("e6", 1, lid + 1000), // not its lease
        spend("e7", 7, lid), // exactly what is left
        spend("e7", 7, lid), // twice in one batch
    ];
    let m = push(&s.base, &s.http, &t, A, &mixed).await;
    assert_eq!(
        outcomes(&m),
        [
            "conflict",
            "rejected",
            "rejected",
            "rejected",
            "applied",
            "already_applied"
        ],
        "{m:?}"
    );
    let reasons: Vec<&str> = m.json["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["beyond_lease", "not_pushable", "unknown_lease"]);
    assert_eq!(
        m.json["balance"],
        json!({"posted": 80, "held": 0, "available": 80}),
        "only the 7 within the lease moved; rejections move nothing"
    );
    // A rejected id is used up: its replay answers the same rejection.
    let r = push(&s.base, &s.http, &t, A, &[spend("e4", 8, lid)]).await;
    assert_eq!(r.json["outcomes"][0], m.json["outcomes"][1]);

    // Pull: everything in server_seq order, rejections included, pushed ids named.
    let all = pull(&s, &t, 0, 1000).await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.json["more"], false);
    let entries = all.json["entries"].as_array().unwrap();
    let seqs: Vec<i64> = entries
        .iter()
        .map(|e| e["server_seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "increasing: {seqs:?}");
    let pushed: Vec<(&str, bool)> = entries
        .iter()
        .filter_map(|e| Some((e["entry_id"].as_str()?, e.get("rejected").is_some())))
        .collect();
    assert_eq!(
        pushed,
        [
            ("e1", false),
            ("e2", false),
            ("e3", false),
            ("e7", false),
            ("e4", true),
            ("e5", true),
            ("e6", true)
        ],
        "each pushed id once, applied or rejected"
    );
    assert_eq!(all.json["cursor"], json!(seqs.last().unwrap()));
    // Paged by 2 with the cursor: the same entries, nothing skipped or repeated.
    let (mut cursor, mut paged) = (0, Vec::new());
    loop {
        let p = pull(&s, &t, cursor, 2).await;
        paged.extend(p.json["entries"].as_array().unwrap().iter().cloned());
        cursor = p.json["cursor"].as_i64().unwrap();
        if p.json["more"] == false {
            break;
        }
    }
    assert_eq!(&paged, entries, "keyset pages add up to the whole");
    let idle = pull(&s, &t, cursor, 50).await;
    assert_eq!(
        (
            idle.json["entries"].as_array().unwrap().len(),
            &idle.json["cursor"]
        ),
        (0, &json!(cursor)),
        "nothing after the last cursor"
    );
}

#[tokio::test]
async fn leases_of_60_and_40_let_two_devices_spend_100_not_160() {
    let s = server().await;
    let t = token("sync-bob").await;
    grant(&s, "sync-bob", 100).await;
    register(&s, &t, A).await;
    register(&s, &t, B).await;
    let la = lease(&s, &t, A, Some(60)).await;
    let lb = lease(&s, &t, B, Some(60)).await;
    assert_eq!(la.json["granted"], 60);
    assert_eq!(lb.json["granted"], 40, "never more than is available");
    let online = s
        .post(
            "/v1/spend",
            Some(&t),
            &json!({"amount": 1, "idempotency_key": "k"}),
        )
        .await;
    assert_eq!(
        online.code(),
        "insufficient_credits",
        "both leases hold it all"
    );

    // Both offline try to spend 80 in steps of 10, then push.
    let (ia, ib) = (
        la.json["lease_id"].as_i64().unwrap(),
        lb.json["lease_id"].as_i64().unwrap(),
    );
    let a: Vec<Value> = (0..8).map(|i| spend(&format!("a{i}"), 10, ia)).collect();
    let b: Vec<Value> = (0..8).map(|i| spend(&format!("b{i}"), 10, ib)).collect();
    let (pa, pb) = tokio::join!(
        push(&s.base, &s.http, &t, A, &a),
        push(&s.base, &s.http, &t, B, &b)
    );
    let applied = |p: &Answer| outcomes(p).iter().filter(|o| **o == "applied").count();
    assert_eq!((applied(&pa), applied(&pb)), (6, 4), "{pa:?} {pb:?}");
    assert!(outcomes(&pa)[6..].iter().all(|o| *o == "rejected"));
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 0, "held": 0, "available": 0}),
        "100 spent, not 160; never negative"
    );
    let db = pg::connect(&s.db_url).await;
    let spent = pg::scalar(
        &db,
        "SELECT COALESCE(sum(amount), 0)::bigint FROM entries WHERE kind = 'spend'",
        &[],
    )
    .await;
    assert_eq!(
        spent, 100,
        "the ledger holds exactly the spends within the leases"
    );
}

#[tokio::test]
async fn a_removed_device_loses_its_lease_and_its_later_pushes_are_stored_rejected() {
    let s = server().await;
    let t = token("sync-carol").await;
    grant(&s, "sync-carol", 50).await;
    register(&s, &t, A).await;
    register(&s, &t, B).await;
    let la = lease(&s, &t, A, Some(20)).await;
    let ia = la.json["lease_id"].as_i64().unwrap();
    lease(&s, &t, B, Some(10)).await;

    // B removes the lost A: A's lease closes, B's stays.
    let r = remove(&s, &t, A).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json["removed_at"].is_string());
    assert!(r.json.get("lease").is_none(), "the lease is closed");
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 50, "held": 10, "available": 40}),
        "A's 20 are back; B's 10 stay held"
    );
    assert_eq!(
        remove(&s, &t, A).await.status,
        200,
        "removing twice is fine"
    );

    // A reappears with spends made offline: stored as rejected, nothing moves.
    let p = push(&s.base, &s.http, &t, A, &[spend("lost1", 5, ia)]).await;
    assert_eq!(p.status, 200, "{p:?}");
    assert_eq!(p.json["outcomes"][0]["reason"], "device_removed");
    assert_eq!(balance(&s, &t).await["posted"], 50);
    let rejected: Vec<Value> = pull(&s, &t, 0, 100).await.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("rejected").is_some())
        .cloned()
        .collect();
    assert_eq!(rejected.len(), 1, "every device sees the rejection");
    assert_eq!(
        (
            &rejected[0]["entry_id"],
            &rejected[0]["device_id"],
            &rejected[0]["rejected"]
        ),
        (&json!("lost1"), &json!(A), &json!("device_removed"))
    );

    // A can neither lease nor re-register; the list shows it removed.
    assert_eq!(lease(&s, &t, A, None).await.code(), "device_removed");
    assert_eq!(register(&s, &t, A).await.code(), "device_removed");
    let list = s.get("/v1/devices", Some(&t)).await;
    let devices = list.json["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let b = devices.iter().find(|d| d["device_id"] == B).unwrap();
    assert_eq!(b["lease"]["granted"], 10, "B's lease is untouched");
}

#[tokio::test]
async fn unknown_and_malformed_devices_are_refused_without_changes() {
    let s = server().await;
    let t = token("sync-dave").await;
    grant(&s, "sync-dave", 10).await;
    let p = push(&s.base, &s.http, &t, A, &[spend("x", 1, 1)]).await;
    assert_eq!((p.status, p.code()), (404, "unknown_device"));
    assert_eq!(register(&s, &t, "short").await.code(), "invalid_input");
    let l = lease(&s, &t, B, None).await;
    assert_eq!((l.status, l.code()), (404, "unknown_device"));
    assert_eq!(balance(&s, &t).await["held"], 0);
    // What cannot even be stored as rejected refuses the whole batch.
    register(&s, &t, A).await;
    let mut nul = spend("ok", 1, 1);
    nul["memo"] = json!("a\u{0}b");
    let mut ancient = spend("old", 1, 1);
    ancient["local_time"] = json!("0001-01-01T00:00:00Z");
    for bad in [nul, ancient] {
        let p = push(&s.base, &s.http, &t, A, &[spend("fine", 1, 1), bad]).await;
        assert_eq!((p.status, p.code()), (400, "invalid_input"), "{p:?}");
    }
    let all = pull(&s, &t, 0, 100).await;
    assert!(
        all.json["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("entry_id").is_none()),
        "a refused batch stores nothing"
    );
}

#[tokio::test]
async fn the_owner_gives_its_lease_back_and_renewal_tops_it_up() {
    let s = server().await;
    let t = token("sync-erin").await;
    grant(&s, "sync-erin", 30).await;
    register(&s, &t, A).await;
    let l = lease(&s, &t, A, Some(10)).await;
    let id = l.json["lease_id"].as_i64().unwrap();
    push(&s.base, &s.http, &t, A, &[spend("r1", 4, id)]).await;
    let renewed = lease(&s, &t, A, Some(10)).await;
    assert_eq!(renewed.json["lease_id"], id, "renewal keeps the lease");
    assert_eq!(
        (
            &renewed.json["granted"],
            &renewed.json["spent"],
            &renewed.json["remaining"]
        ),
        (&json!(14), &json!(4), &json!(10)),
        "topped up to 10 remaining"
    );
    let url = format!("{}/v1/devices/{A}/lease", s.base);
    let closed = call(&s.http, reqwest::Method::DELETE, url, &t, None).await;
    assert_eq!(closed.status, 200, "{closed:?}");
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 26, "held": 0, "available": 26})
    );
    let late = push(&s.base, &s.http, &t, A, &[spend("r2", 1, id)]).await;
    assert_eq!(late.json["outcomes"][0]["reason"], "lease_closed");
}

/// Pushes from three devices at once against the real `serve` process, SIGKILLed as soon as the
/// first push is acknowledged (so others are cut between commit and reply), five times. Then
/// every device replays all its batches: acknowledged outcomes come back identical (as
/// `already_applied`), the rest land once; each entry id is in the ledger at most once and the
/// balance row equals the sum of the entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_after_sigkill_between_commit_and_reply_count_each_entry_once() {
    let (ledger, url) = support::ledger().await;
    let who = Account {
        issuer: idp().issuer.clone(),
        subject: "sync-crash".into(),
    };
    let op = Operation::Grant {
        amount: 10_000,
        memo: None,
    };
    ledger.apply(&who, None, &op, Utc::now()).await.unwrap();
    let t = token("sync-crash").await;
    let http = latchkey_auth::http_client().unwrap();
    let devices = [
        "crash-device-0000",
        "crash-device-1111",
        "crash-device-2222",
    ];
    let mut leases = HashMap::new();
    {
        let server = Service::start(&url, &idp().issuer, "");
        for d in devices {
            let u = format!("{}/v1/devices/{d}", server.base);
            let r = call(&http, reqwest::Method::PUT, u, &t, Some(json!({"name": d}))).await;
            assert_eq!(r.status, 200, "{r:?}");
            let u = format!("{}/v1/devices/{d}/lease", server.base);
            let body = Some(json!({"credits": 1000}));
            let l = call(&http, reqwest::Method::POST, u, &t, body).await;
            leases.insert(d, l.json["lease_id"].as_i64().unwrap());
        }
    }
    // (device, batch, the acknowledged answer)
    let mut sent: Vec<(&str, Vec<Value>, Option<Value>)> = Vec::new();
    for round in 0..5 {
        let server = Service::start(&url, &idp().issuer, "");
        let (acks, mut acked) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        for (n, d) in devices.iter().enumerate() {
            for k in 0..2 {
                let batch: Vec<Value> = (0..20)
                    .map(|i| spend(&format!("{d}-r{round}-b{k}-{i}"), 1 + (i % 3), leases[d]))
                    .collect();
                let (http, base, t, acks, d) = (
                    http.clone(),
                    server.base.clone(),
                    t.clone(),
                    acks.clone(),
                    d.to_string(),
                );
                let b = batch.clone();
                tasks.push(tokio::spawn(async move {
                    let url = format!("{base}/v1/devices/{d}/entries");
                    let resp = http
                        .post(url)
                        .bearer_auth(&t)
                        .json(&json!({ "entries": b }))
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                            Ok(v) => {
                                let _ = acks.send(());
                                Some(v)
                            }
                            Err(_) => None,
                        },
                        Ok(r) => panic!("a push is answered 200 or cut off: {}", r.status()),
                        Err(_) => None,
                    }
                }));
                sent.push((devices[n], batch, None));
            }
        }
        drop(acks);
        acked
            .recv()
            .await
            .expect("one push of each round is acknowledged");
        drop(server); // SIGKILL
        let first = sent.len() - tasks.len();
        for (i, task) in tasks.into_iter().enumerate() {
            sent[first + i].2 = task.await.unwrap();
        }
    }

    let server = Service::start(&url, &idp().issuer, "");
    for (d, batch, ack) in &sent {
        let replay = push(&server.base, &http, &t, d, batch).await;
        assert_eq!(replay.status, 200, "{replay:?}");
        for (i, o) in replay.json["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            if ack.is_none() {
                // Cut off before or after its commit: it lands now or was already in.
                assert!(
                    o["outcome"] == "applied" || o["outcome"] == "already_applied",
                    "{o}"
                );
            }
            if let Some(ack) = ack {
                assert_eq!(o["outcome"], "already_applied", "{o}");
                assert_eq!(
                    o["server_seq"], ack["outcomes"][i]["server_seq"],
                    "a replay names the entry the acknowledged push applied"
                );
            }
        }
    }
    let db = pg::connect(&url).await;
    let total: i64 = sent.len() as i64 * 20;
    let once = pg::scalar(
        &db,
        "SELECT count(*) FROM entries e JOIN device_entries d ON d.entry_seq = e.server_seq \
         WHERE e.kind = 'spend'",
        &[],
    )
    .await;
    let spends = pg::scalar(
        &db,
        "SELECT count(*) FROM entries WHERE kind = 'spend'",
        &[],
    )
    .await;
    assert_eq!(
        (once, spends),
        (total, total),
        "every entry id applied exactly once"
    );
    let row = db
        .query_one("SELECT posted, held FROM balances", &[])
        .await
        .unwrap();
    let sum = pg::scalar(
        &db,
        "SELECT COALESCE(sum(CASE WHEN kind IN ('grant','purchase','voucher','refund') THEN amount \
         WHEN kind IN ('spend','capture') THEN -amount ELSE 0 END), 0)::bigint FROM entries",
        &[],
    )
    .await;
    assert_eq!(
        row.get::<_, i64>(0),
        sum,
        "the balance row equals the entries"
    );
}

#[tokio::test]
async fn a_replay_with_a_nanosecond_local_time_is_not_a_conflict() {
    let s = server().await;
    let t = token("sync-frank").await;
    grant(&s, "sync-frank", 10).await;
    register(&s, &t, A).await;
    let id = lease(&s, &t, A, Some(5)).await.json["lease_id"]
        .as_i64()
        .unwrap();
    let mut e = spend("nano", 1, id);
    e["local_time"] = json!("2026-01-01T00:00:00.123456789Z");
    let first = push(&s.base, &s.http, &t, A, std::slice::from_ref(&e)).await;
    assert_eq!(outcomes(&first), ["applied"]);
    let again = push(&s.base, &s.http, &t, A, std::slice::from_ref(&e)).await;
    assert_eq!(
        outcomes(&again),
        ["already_applied"],
        "the database keeps microseconds; the same entry must still match"
    );
    e["local_time"] = json!("2026-01-01T00:00:01Z");
    let moved = push(&s.base, &s.http, &t, A, &[e]).await;
    assert_eq!(
        outcomes(&moved),
        ["conflict"],
        "another time is other parameters"
    );
}

/// Issue 9: a lease closes only by its owner or a removal. `/v1/capture` and `/v1/release` of a
/// lease's hold are refused (409 `lease_hold`, nothing changed), and so is a capture or release
/// entry written straight into the database by any other path; the device's own give-back
/// still works.
#[tokio::test]
async fn capture_and_release_of_a_lease_hold_are_refused_everywhere_but_sync() {
    let s = server().await;
    let t = token("sync-hal").await;
    grant(&s, "sync-hal", 50).await;
    register(&s, &t, A).await;
    let l = lease(&s, &t, A, Some(20)).await;
    let lid = l.json["lease_id"].as_i64().unwrap();
    let db = pg::connect(&s.db_url).await;
    let hold: i64 = pg::scalar(
        &db,
        "SELECT hold_seq FROM leases WHERE lease_id = $1",
        &[&lid],
    )
    .await;
    let before = balance(&s, &t).await;
    assert_eq!(before, json!({"posted": 50, "held": 20, "available": 30}));
    let entries: i64 = pg::scalar(&db, "SELECT count(*) FROM entries", &[]).await;

    for (path, body) in [
        (
            "/v1/capture",
            json!({"hold": hold, "amount": 20, "idempotency_key": "steal-1"}),
        ),
        (
            "/v1/release",
            json!({"hold": hold, "idempotency_key": "steal-2"}),
        ),
    ] {
        let a = s.post(path, Some(&t), &body).await;
        assert_eq!((a.status, a.code()), (409, "lease_hold"), "{path}: {a:?}");
    }
    assert_eq!(
        balance(&s, &t).await,
        before,
        "a refused capture or release moves nothing"
    );
    let after: i64 = pg::scalar(&db, "SELECT count(*) FROM entries", &[]).await;
    assert_eq!(after, entries, "nothing was appended");
    let keys: i64 = pg::scalar(&db, "SELECT count(*) FROM idempotency_keys", &[]).await;
    assert_eq!(keys, 0, "a refused request keeps its idempotency key free");

    // The database itself refuses it to any path that is not the lease bookkeeping.
    let user: i64 = pg::scalar(
        &db,
        "SELECT user_id FROM leases WHERE lease_id = $1",
        &[&lid],
    )
    .await;
    let err = db
        .execute(
            "INSERT INTO entries (user_id, kind, amount, hold_seq, created_at) \
             VALUES ($1, 'release', 20, $2, now())",
            &[&user, &hold],
        )
        .await
        .expect_err("the guard refuses a direct release of a lease's hold");
    assert_eq!(err.code().map(|c| c.code()), Some("LK001"), "{err:?}");

    // The owner still gives it back, and a push still spends from it.
    let p = push(&s.base, &s.http, &t, A, &[spend("h1", 3, lid)]).await;
    assert_eq!(outcomes(&p), ["applied"], "{p:?}");
    let url = format!("{}/v1/devices/{A}/lease", s.base);
    let closed = call(&s.http, reqwest::Method::DELETE, url, &t, None).await;
    assert_eq!(closed.status, 200, "{closed:?}");
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 47, "held": 0, "available": 47})
    );
}

/// `[sync]` in the server's TOML sets the lease policy of the real `serve` process: the default
/// size, the maximum and the lease's days.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_section_of_the_config_sets_lease_size_maximum_and_days() {
    let (ledger, url) = support::ledger().await;
    let who = Account {
        issuer: idp().issuer.clone(),
        subject: "sync-ivy".into(),
    };
    let op = Operation::Grant {
        amount: 100,
        memo: None,
    };
    ledger.apply(&who, None, &op, Utc::now()).await.unwrap();
    let server = Service::start(
        &url,
        &idp().issuer,
        "[sync]\nlease_credits = 7\nmax_lease_credits = 9\nlease_days = 2\n",
    );
    let s = Server {
        base: server.base.clone(),
        ledger,
        db_url: url,
        http: latchkey_auth::http_client().unwrap(),
    };
    let t = token("sync-ivy").await;
    assert_eq!(register(&s, &t, A).await.status, 200);
    let before = Utc::now();
    let l = lease(&s, &t, A, None).await;
    assert_eq!(
        l.json["granted"], 7,
        "lease_credits is the default size: {l:?}"
    );
    let expires: chrono::DateTime<Utc> = l.json["expires_at"].as_str().unwrap().parse().unwrap();
    assert!(
        expires >= before + chrono::Duration::days(2)
            && expires < before + chrono::Duration::days(2) + chrono::Duration::hours(1),
        "lease_days = 2: expires {expires}, asked at {before}"
    );
    let l = lease(&s, &t, A, Some(50)).await;
    assert_eq!(
        l.json["remaining"], 9,
        "max_lease_credits caps a request: {l:?}"
    );
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 100, "held": 9, "available": 91})
    );
}

/// A lease that lapses without renewal: its hold stops counting, and spends pushed later are
/// applied only while free credits cover them, else stored rejected as `lease_expired` (the
/// lease's own limit still applies). Time is moved by taking the lease 15 days in the past.
#[tokio::test]
async fn an_expired_lease_spends_only_what_free_credits_cover() {
    let s = server().await;
    let t = token("sync-jay").await;
    grant(&s, "sync-jay", 30).await;
    register(&s, &t, A).await;
    let who = Account {
        issuer: idp().issuer.clone(),
        subject: "sync-jay".into(),
    };
    let devices = latchkey_server::sync::Devices::new(
        s.ledger.pool().clone(),
        latchkey_server::sync::LeasePolicy::default(),
    );
    let long_ago = Utc::now() - chrono::Duration::days(15);
    let l = devices.lease(&who, A, Some(20), long_ago).await.unwrap();
    assert_eq!(l.granted, 20);
    assert!(
        l.expires_at < Utc::now(),
        "14 days from 15 days ago: lapsed"
    );
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 30, "held": 0, "available": 30}),
        "a lapsed lease sets nothing aside"
    );

    // Another device (any writer) spends what is free; the lapsed hold is recorded as expired.
    let a = s
        .post(
            "/v1/spend",
            Some(&t),
            &json!({"amount": 24, "idempotency_key": "other-device"}),
        )
        .await;
    assert_eq!(a.status, 200, "the lapsed lease no longer blocks: {a:?}");
    let db = pg::connect(&s.db_url).await;
    let expired: i64 = pg::scalar(
        &db,
        "SELECT count(*) FROM entries e JOIN leases l ON l.hold_seq = e.hold_seq \
         WHERE e.kind = 'expire' AND l.lease_id = $1",
        &[&l.lease_id],
    )
    .await;
    assert_eq!(expired, 1, "the lease's hold lapsed into an expire entry");

    // The device comes back with offline spends under its old lease: 6 are free.
    let p = push(
        &s.base,
        &s.http,
        &t,
        A,
        &[
            spend("x1", 4, l.lease_id),
            spend("x2", 3, l.lease_id),
            spend("x3", 2, l.lease_id),
        ],
    )
    .await;
    assert_eq!(outcomes(&p), ["applied", "rejected", "applied"], "{p:?}");
    assert_eq!(p.json["outcomes"][1]["reason"], "lease_expired");
    assert_eq!(
        balance(&s, &t).await,
        json!({"posted": 0, "held": 0, "available": 0}),
        "never beyond what was free, never negative"
    );
    let again = push(&s.base, &s.http, &t, A, &[spend("x2", 3, l.lease_id)]).await;
    assert_eq!(
        again.json["outcomes"][0]["reason"], "lease_expired",
        "a replay of the rejected spend answers the same: {again:?}"
    );
    let pulled = pull(&s, &t, 0, 100).await;
    let rejected: Vec<_> = pulled.json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("rejected").is_some())
        .map(|e| {
            (
                e["entry_id"].as_str().unwrap(),
                e["rejected"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(rejected, [("x2", "lease_expired")], "the user is shown why");
}
