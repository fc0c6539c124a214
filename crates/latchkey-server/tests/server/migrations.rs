use crate::support::pg;
use latchkey_server::db;

#[tokio::test]
async fn migrations_bring_an_empty_database_to_the_latest_version() {
    let url = pg::fresh_db().await;
    let mut client = pg::connect(&url).await;
    assert_eq!(
        db::schema_version(&client).await.unwrap(),
        0,
        "a new database is unversioned"
    );
    let v = db::migrate(&mut client).await.expect("migrations apply");
    assert_eq!(v, db::latest_version());
    assert_eq!(
        db::schema_version(&client).await.unwrap(),
        db::latest_version()
    );
    let again = db::migrate(&mut client)
        .await
        .expect("migrating again is a no-op");
    assert_eq!(again, v);
    let rows: i64 = pg::scalar(&client, "SELECT count(*) FROM schema_migrations", &[]).await;
    assert_eq!(
        rows,
        db::MIGRATIONS.len() as i64,
        "each migration is recorded once"
    );
    for table in ["users", "balances", "entries", "holds", "idempotency_keys"] {
        let exists: bool = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .unwrap()
            .get(0);
        assert!(exists, "table {table} exists after migrating");
    }
}

/// Migration 0008: `ledger_entry_json` writes times in the session's time zone, so it is
/// STABLE, not IMMUTABLE (which would let PostgreSQL fold or index one session's text).
#[tokio::test]
async fn no_ledger_function_claims_immutability_it_does_not_have() {
    let url = pg::fresh_db().await;
    let mut client = pg::connect(&url).await;
    db::migrate(&mut client).await.expect("migrations apply");
    let volatility: String = client
        .query_one(
            "SELECT provolatile::text FROM pg_proc WHERE proname = 'ledger_entry_json'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(volatility, "s", "ledger_entry_json is STABLE");
    // Its text does depend on the session's time zone (the reason), while the instant does not.
    let text = |tz: &'static str| {
        let client = &client;
        async move {
            client
                .batch_execute(&format!("SET TIME ZONE '{tz}'"))
                .await
                .unwrap();
            let row = client
                .query_one(
                    "SELECT ledger_entry_json(ROW(1, 1, 'grant', 5, NULL, NULL, NULL, \
                     '2026-01-01T00:00:00Z'::timestamptz)::entries)->>'created_at'",
                    &[],
                )
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    let (utc, paris) = (text("UTC").await, text("Europe/Paris").await);
    assert_ne!(utc, paris, "the text follows the session's time zone");
    let instant = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    assert_eq!(instant(&utc), instant(&paris), "the instant does not");
}

#[tokio::test]
async fn servers_migrating_at_once_apply_each_migration_once() {
    let url = pg::fresh_db().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = pg::connect(&url).await;
            db::migrate(&mut client).await
        }));
    }
    for t in tasks {
        let v = t
            .await
            .unwrap()
            .expect("every concurrent migrator succeeds");
        assert_eq!(v, db::latest_version());
    }
    let client = pg::connect(&url).await;
    let rows: i64 = pg::scalar(&client, "SELECT count(*) FROM schema_migrations", &[]).await;
    assert_eq!(rows, db::MIGRATIONS.len() as i64);
}

#[tokio::test]
async fn a_database_newer_than_the_server_is_refused() {
    let url = pg::fresh_db().await;
    let mut client = pg::connect(&url).await;
    db::migrate(&mut client).await.unwrap();
    client
        .execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')",
            &[&(db::latest_version() + 1)],
        )
        .await
        .unwrap();
    let err = db::migrate(&mut client)
        .await
        .expect_err("a newer schema is refused");
    assert!(matches!(err, db::DbError::TooNew { .. }), "{err:?}");
}
