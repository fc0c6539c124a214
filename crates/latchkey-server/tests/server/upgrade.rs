//! Upgrading a frozen older database: a database made by a server that knew only migration
//! 0001 (then 0002), holding data written the way those servers wrote it, is migrated to the
//! current schema by today's `db::migrate`; the data, the idempotency keys' stored receipts and
//! the invariants all survive, and today's ledger carries on from them.

use crate::support::{account, pg, t0};
use chrono::Duration;
use latchkey_server::config::DatabaseUrl;
use latchkey_server::db;
use latchkey_server::ledger::{Balance, Ledger, LedgerError, Operation, Receipt};

/// What the 0001-era migrator did: its own `schema_migrations` table and one row per migration.
async fn apply_old(client: &tokio_postgres::Client, version: usize) {
    let (v, name, sql) = db::MIGRATIONS[version - 1];
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version bigint PRIMARY KEY,
                 name text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .unwrap();
    client.batch_execute(sql).await.unwrap();
    client
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&v, &name],
        )
        .await
        .unwrap();
}

/// The receipt of the frozen spend (entry 3), exactly as the 0001-era server stored it.
const OLD_RECEIPT: &str = r#"{"entries":[{"seq":3,"kind":"spend","amount":30,"memo":"Export","created_at":"2026-01-01T00:02:00Z"}],"balance":{"posted":70,"held":20,"available":50}}"#;

#[tokio::test]
async fn a_database_frozen_at_0001_and_0002_upgrades_with_its_data_and_invariants() {
    let url = pg::fresh_db().await;
    let mut client = pg::connect(&url).await;
    let who = account("frozen");

    // Version 1: alice has a grant, an open hold, a spend with its key, and a hold that lapsed.
    apply_old(&client, 1).await;
    client
        .batch_execute(&format!(
            "INSERT INTO users (issuer, subject, created_at)
                 VALUES ('{iss}', 'frozen', '2026-01-01T00:00:00Z');
             INSERT INTO balances (user_id) VALUES (1);
             INSERT INTO entries (user_id, kind, amount, memo, created_at)
                 VALUES (1, 'grant', 100, 'Welcome', '2026-01-01T00:00:00Z');
             INSERT INTO entries (user_id, kind, amount, expires_at, memo, created_at)
                 VALUES (1, 'hold', 20, '2030-01-01T00:00:00Z', 'Analytics run',
                         '2026-01-01T00:01:00Z');
             INSERT INTO holds (hold_seq, user_id, amount, expires_at)
                 VALUES (2, 1, 20, '2030-01-01T00:00:00Z');
             INSERT INTO entries (user_id, kind, amount, memo, created_at)
                 VALUES (1, 'spend', 30, 'Export', '2026-01-01T00:02:00Z');
             INSERT INTO idempotency_keys (user_id, key, operation, params, result, created_at)
                 VALUES (1, 'old-spend', 'spend',
                         '{{\"op\": \"spend\", \"amount\": 30, \"memo\": \"Export\"}}',
                         '{OLD_RECEIPT}', '2026-01-01T00:02:00Z');
             INSERT INTO entries (user_id, kind, amount, expires_at, created_at)
                 VALUES (1, 'hold', 5, '2026-01-01T00:10:00Z', '2026-01-01T00:03:00Z');
             INSERT INTO holds (hold_seq, user_id, amount, expires_at)
                 VALUES (4, 1, 5, '2026-01-01T00:10:00Z');",
            iss = who.issuer
        ))
        .await
        .expect("data as the 0001-era server wrote it");

    // Version 2: a paid checkout credited once.
    apply_old(&client, 2).await;
    client
        .batch_execute(
            "INSERT INTO checkouts (id, user_id, idempotency_key, pack, credits, amount, currency,
                                    provider, url, created_at)
                 VALUES ('co_frozenfrozenfrozen1', 1, 'buy-1', 'small', 100, 500, 'eur', 'demo',
                         'http://127.0.0.1/demo/checkout/co_frozenfrozenfrozen1',
                         '2026-01-01T00:04:00Z');
             INSERT INTO entries (user_id, kind, amount, memo, created_at)
                 VALUES (1, 'purchase', 100, 'Bought: 100 credits', '2026-01-01T00:05:00Z');
             INSERT INTO credit_sources (source, user_id, entry_seq, result, created_at)
                 VALUES ('checkout:co_frozenfrozenfrozen1', 1, 5, '{}', '2026-01-01T00:05:00Z');
             INSERT INTO stripe_events (id, type, received_at)
                 VALUES ('evt_frozen', 'checkout.session.completed', '2026-01-01T00:05:00Z');",
        )
        .await
        .expect("data as the 0002-era server wrote it");
    assert_eq!(db::schema_version(&client).await.unwrap(), 2);

    // Today's server migrates it.
    let v = db::migrate(&mut client).await.expect("the upgrade applies");
    assert_eq!(v, db::latest_version(), "brought to the current version");
    assert_eq!(
        pg::scalar(&client, "SELECT count(*) FROM entries", &[]).await,
        5,
        "no entry lost or added by the upgrade"
    );
    assert_eq!(
        pg::scalar(&client, "SELECT count(*) FROM credit_sources", &[]).await
            + pg::scalar(&client, "SELECT count(*) FROM stripe_events", &[]).await
            + pg::scalar(&client, "SELECT count(*) FROM checkouts", &[]).await,
        3,
        "payments survive"
    );

    let pool = db::pool(
        &DatabaseUrl::new(url.clone()),
        4,
        std::time::Duration::from_secs(10),
    )
    .expect("pool");
    let ledger = Ledger::new(pool);
    let now = t0() + Duration::days(1);
    assert_eq!(
        ledger.balance(&who, now).await.unwrap(),
        Balance::new(170, 20),
        "posted 100 - 30 + 100; the open hold still held, the lapsed one no longer"
    );

    // The old key replays the receipt stored before the upgrade, and still guards its params.
    let spend = Operation::Spend {
        amount: 30,
        memo: Some("Export".into()),
    };
    let replay = ledger
        .apply(&who, Some("old-spend"), &spend, now)
        .await
        .expect("the old key replays");
    let stored: Receipt = serde_json::from_str(OLD_RECEIPT).unwrap();
    assert_eq!(
        replay, stored,
        "the first receipt, as stored by the old server"
    );
    assert!(matches!(
        ledger
            .apply(
                &who,
                Some("old-spend"),
                &Operation::Spend {
                    amount: 31,
                    memo: Some("Export".into())
                },
                now
            )
            .await,
        Err(LedgerError::IdempotencyConflict)
    ));

    // The old open hold is captured by today's ledger; the lapsed one is expired on the way.
    let r = ledger
        .apply(
            &who,
            Some("capture-old"),
            &Operation::Capture {
                hold: 2,
                amount: 15,
            },
            now,
        )
        .await
        .expect("an open hold from before the upgrade can be captured");
    assert_eq!(r.balance, Balance::new(155, 0));
    let kinds: Vec<(String, i64, Option<i64>)> = client
        .query(
            "SELECT kind, amount, hold_seq FROM entries WHERE server_seq > 5 ORDER BY server_seq",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("expire".to_string(), 5, Some(4)),
            ("capture".to_string(), 15, Some(2)),
            ("release".to_string(), 5, Some(2)),
        ],
        "the lapsed hold expired, then the capture and the rest released"
    );

    // The invariants still hold after the upgrade, whoever writes.
    let over = client
        .execute(
            "INSERT INTO entries (user_id, kind, amount, created_at)
             VALUES (1, 'spend', 156, now())",
            &[],
        )
        .await;
    assert!(over.is_err(), "available cannot go negative");
    assert!(
        client
            .execute("UPDATE entries SET amount = 1 WHERE server_seq = 1", &[])
            .await
            .is_err(),
        "entries stay append-only"
    );
    assert!(
        client
            .execute(
                "INSERT INTO credit_sources (source, user_id, entry_seq, result, created_at)
                 VALUES ('checkout:co_frozenfrozenfrozen1', 1, 6, '{}', now())",
                &[],
            )
            .await
            .is_err(),
        "a paid checkout is still credited once"
    );
    let (posted, held): (i64, i64) = {
        let r = client
            .query_one("SELECT posted, held FROM balances WHERE user_id = 1", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    let sum = pg::scalar(
        &client,
        "SELECT sum(CASE WHEN kind IN ('grant','purchase','voucher','refund') THEN amount
                         WHEN kind IN ('spend','capture') THEN -amount ELSE 0 END)::bigint
         FROM entries",
        &[],
    )
    .await;
    assert_eq!(
        (posted, held),
        (sum, 0),
        "the balance row equals its entries"
    );
}
