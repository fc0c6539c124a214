//! Migration 0010: the balance row moves once per INSERT statement (a statement-level trigger
//! over the new rows), by the same per-kind sums 0001/0009's per-row trigger applied, and the
//! row's CHECKs and the missing-row refusal still stop a statement that breaks them.

use crate::support::pg;
use latchkey_server::db;
use tokio_postgres::error::SqlState;

/// A migrated database with users 1 and 2, each with a balance row, and user 3 without one.
async fn ledger_db() -> tokio_postgres::Client {
    let url = pg::fresh_db().await;
    let mut client = pg::connect(&url).await;
    db::migrate(&mut client).await.expect("migrations apply");
    client
        .batch_execute(
            "INSERT INTO users (issuer, subject, created_at) VALUES
                 ('https://issuer.test', 'one', now()),
                 ('https://issuer.test', 'two', now()),
                 ('https://issuer.test', 'three', now());
             INSERT INTO balances (user_id) VALUES (1), (2);",
        )
        .await
        .unwrap();
    client
}

async fn balance(c: &impl tokio_postgres::GenericClient, user: i64) -> (i64, i64) {
    let r = c
        .query_one(
            "SELECT posted, held FROM balances WHERE user_id = $1",
            &[&user],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test]
async fn a_statement_of_many_entries_moves_each_users_row_once_by_their_sum() {
    let mut client = ledger_db().await;
    client
        .batch_execute(
            "INSERT INTO entries (user_id, kind, amount, created_at) VALUES (1, 'grant', 1000, now());
             INSERT INTO entries (user_id, kind, amount, created_at) VALUES (2, 'grant', 10, now());",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    // This backend's counter may still hold the grants' updates (flushed lazily): count from here.
    let updates = || async {
        tx.query_one(
            "SELECT pg_stat_get_xact_tuples_updated('balances'::regclass)",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
    };
    let before = updates().await;
    // 250 spends of user 1 and three credits of user 2, in ONE statement (as a push inserts).
    tx.execute(
        "INSERT INTO entries (user_id, kind, amount, created_at)
         SELECT CASE WHEN g <= 250 THEN 1 ELSE 2 END,
                CASE WHEN g <= 250 THEN 'spend' ELSE 'purchase' END, g % 3 + 1, now()
         FROM generate_series(1, 253) AS g",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        updates().await - before,
        2,
        "one update of each user's balance row, not one per entry"
    );
    let spent: i64 = (1..=250).map(|g| g % 3 + 1).sum();
    let bought: i64 = (251..=253).map(|g| g % 3 + 1).sum();
    assert_eq!(balance(&tx, 1).await, (1000 - spent, 0));
    assert_eq!(balance(&tx, 2).await, (10 + bought, 0));
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn every_kind_moves_posted_and_held_as_the_per_row_trigger_did() {
    let client = ledger_db().await;
    client
        .batch_execute(
            "INSERT INTO entries (user_id, kind, amount, created_at) VALUES (1, 'grant', 1000, now());
             INSERT INTO entries (user_id, kind, amount, expires_at, created_at)
                 VALUES (1, 'hold', 300, now() + interval '1 hour', now());",
        )
        .await
        .unwrap();
    assert_eq!(balance(&client, 1).await, (1000, 300));
    let hold: i64 = client
        .query_one("SELECT server_seq FROM entries WHERE kind = 'hold'", &[])
        .await
        .unwrap()
        .get(0);
    // Every other kind in one statement: posted + (purchase 1 + voucher 2 + refund 4)
    // − (spend 8 + reversal 16 + capture 32); held − (capture 32 + release 64 + expire 128).
    client
        .execute(
            "INSERT INTO entries (user_id, kind, amount, hold_seq, created_at)
             SELECT 1, k, a, CASE WHEN k IN ('capture', 'release', 'expire') THEN $1::bigint END,
                    now()
             FROM (VALUES ('purchase', 1), ('voucher', 2), ('refund', 4), ('spend', 8),
                          ('reversal', 16), ('capture', 32), ('release', 64), ('expire', 128))
                  AS v(k, a)",
            &[&hold],
        )
        .await
        .unwrap();
    assert_eq!(
        balance(&client, 1).await,
        (1000 + 1 + 2 + 4 - 8 - 16 - 32, 300 - 32 - 64 - 128)
    );
    // Each statement's rows add up to the row; the ledger's entries, summed per kind as the
    // old per-row trigger applied them, add up to it too.
    let summed = client
        .query_one(
            "SELECT sum(CASE WHEN kind IN ('grant', 'purchase', 'voucher', 'refund') THEN amount
                             WHEN kind IN ('spend', 'reversal', 'capture') THEN -amount
                             ELSE 0 END)::bigint,
                    sum(CASE WHEN kind = 'hold' THEN amount
                             WHEN kind IN ('capture', 'release', 'expire') THEN -amount
                             ELSE 0 END)::bigint
             FROM entries WHERE user_id = 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(balance(&client, 1).await, (summed.get(0), summed.get(1)));
}

#[tokio::test]
async fn a_statement_that_would_overdraw_or_has_no_balance_row_records_nothing() {
    let client = ledger_db().await;
    client
        .batch_execute(
            "INSERT INTO entries (user_id, kind, amount, created_at) VALUES (1, 'grant', 100, now());",
        )
        .await
        .unwrap();
    let entries = || async {
        client
            .query_one("SELECT count(*) FROM entries", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let before = entries().await;

    // 101 spends of 1 against 100 available: the CHECK refuses the statement as a whole.
    let err = client
        .execute(
            "INSERT INTO entries (user_id, kind, amount, created_at)
             SELECT 1, 'spend', 1, now() FROM generate_series(1, 101)",
            &[],
        )
        .await
        .expect_err("available would be -1");
    assert_eq!(err.code(), Some(&SqlState::CHECK_VIOLATION), "{err:?}");
    // A hold beyond what is available: refused by the same CHECK.
    let err = client
        .execute(
            "INSERT INTO entries (user_id, kind, amount, expires_at, created_at)
             VALUES (1, 'hold', 101, now() + interval '1 hour', now())",
            &[],
        )
        .await
        .expect_err("held would exceed posted");
    assert_eq!(err.code(), Some(&SqlState::CHECK_VIOLATION), "{err:?}");
    // User 3 has no balance row: refused alone, and with user 1's entry in the same statement.
    for values in [
        "(3, 'grant', 5, now())",
        "(1, 'grant', 5, now()), (3, 'grant', 5, now())",
    ] {
        let err = client
            .execute(
                &format!("INSERT INTO entries (user_id, kind, amount, created_at) VALUES {values}"),
                &[],
            )
            .await
            .expect_err("no balance row for user 3");
        assert_eq!(
            err.code(),
            Some(&SqlState::FOREIGN_KEY_VIOLATION),
            "{err:?}"
        );
        assert!(
            err.as_db_error()
                .is_some_and(|e| e.message().contains("no balance row for user 3")),
            "{err:?}"
        );
    }

    assert_eq!(entries().await, before, "nothing was recorded");
    assert_eq!(balance(&client, 1).await, (100, 0));
    // 100 spends of 1 are exactly what is available.
    client
        .execute(
            "INSERT INTO entries (user_id, kind, amount, created_at)
             SELECT 1, 'spend', 1, now() FROM generate_series(1, 100)",
            &[],
        )
        .await
        .expect("spending all that is available is allowed");
    assert_eq!(balance(&client, 1).await, (0, 0));
}
