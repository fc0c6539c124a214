//! The ledger's rules against the real PostgreSQL, without HTTP; and the database's own
//! invariants, checked by writing to it directly as buggy code would.

use crate::support::{account, ledger, pg, t0};
use chrono::Duration;
use latchkey_server::ledger::{Balance, EntryKind, LedgerError, Operation};

fn grant(amount: i64) -> Operation {
    Operation::Grant { amount, memo: None }
}
fn spend(amount: i64) -> Operation {
    Operation::Spend { amount, memo: None }
}
fn reserve(amount: i64, ttl_secs: i64) -> Operation {
    Operation::Reserve {
        amount,
        ttl_secs,
        memo: Some("Analytics run".into()),
    }
}

#[tokio::test]
async fn grant_spend_and_history() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    assert_eq!(l.balance(&alice, t0()).await.unwrap(), Balance::new(0, 0));
    l.apply(&alice, None, &grant(10), t0()).await.unwrap();
    let r = l.apply(&alice, Some("s1"), &spend(4), t0()).await.unwrap();
    assert_eq!(r.balance, Balance::new(6, 0));
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.entries[0].kind, EntryKind::Spend);
    assert_eq!(l.balance(&alice, t0()).await.unwrap(), Balance::new(6, 0));
    let h = l.history(&alice, None, None).await.unwrap();
    let kinds: Vec<_> = h.entries.iter().map(|e| (e.kind, e.amount)).collect();
    assert_eq!(kinds, vec![(EntryKind::Grant, 10), (EntryKind::Spend, 4)]);
    assert_eq!(h.next_after, None);
}

#[tokio::test]
async fn a_refused_spend_changes_nothing_and_keeps_its_key_free() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    l.apply(&alice, None, &grant(5), t0()).await.unwrap();
    let err = l
        .apply(&alice, Some("k"), &spend(6), t0())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::InsufficientCredits {
                available: 5,
                requested: 6
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        l.balance(&alice, t0()).await.unwrap(),
        Balance::new(5, 0),
        "a refused spend must not move the balance"
    );
    assert_eq!(
        l.history(&alice, None, None).await.unwrap().entries.len(),
        1
    );
    // The refusal recorded nothing: the same key now works for a spend that fits.
    let r = l.apply(&alice, Some("k"), &spend(5), t0()).await.unwrap();
    assert_eq!(r.balance.available, 0);
}

#[tokio::test]
async fn idempotency_replays_the_first_result_and_refuses_other_parameters() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    let bob = account("bob");
    l.apply(&alice, None, &grant(10), t0()).await.unwrap();
    let first = l.apply(&alice, Some("k1"), &spend(3), t0()).await.unwrap();
    let later = t0() + Duration::seconds(30);
    let replay = l.apply(&alice, Some("k1"), &spend(3), later).await.unwrap();
    assert_eq!(
        replay, first,
        "the same key and parameters give the first receipt"
    );
    for other in [
        spend(4),
        reserve(3, 60),
        Operation::Spend {
            amount: 3,
            memo: Some("x".into()),
        },
    ] {
        let err = l
            .apply(&alice, Some("k1"), &other, later)
            .await
            .unwrap_err();
        assert!(
            matches!(err, LedgerError::IdempotencyConflict),
            "{other:?}: {err:?}"
        );
    }
    assert_eq!(
        l.balance(&alice, later).await.unwrap(),
        Balance::new(7, 0),
        "replays and conflicts must not move the balance"
    );
    assert_eq!(
        l.history(&alice, None, None).await.unwrap().entries.len(),
        2
    );
    // Keys belong to one user: bob's k1 is his own.
    l.apply(&bob, None, &grant(1), t0()).await.unwrap();
    let b = l.apply(&bob, Some("k1"), &spend(1), t0()).await.unwrap();
    assert_eq!(b.balance.available, 0);
}

#[tokio::test]
async fn reserve_then_capture_part_releases_the_rest() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    l.apply(&alice, None, &grant(10), t0()).await.unwrap();
    let hold = l
        .apply(&alice, Some("r"), &reserve(4, 60), t0())
        .await
        .unwrap();
    assert_eq!(hold.balance, Balance::new(10, 4));
    let hold_seq = hold.entries[0].seq;
    assert_eq!(
        hold.entries[0].expires_at,
        Some(t0() + Duration::seconds(60))
    );
    let err = l.apply(&alice, None, &spend(7), t0()).await.unwrap_err();
    assert!(
        matches!(err, LedgerError::InsufficientCredits { available: 6, .. }),
        "held credits are not available: {err:?}"
    );
    let err = l
        .apply(
            &alice,
            None,
            &Operation::Capture {
                hold: hold_seq,
                amount: 5,
            },
            t0(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::InvalidInput(_)),
        "cannot capture more than held"
    );
    let cap = l
        .apply(
            &alice,
            Some("c"),
            &Operation::Capture {
                hold: hold_seq,
                amount: 3,
            },
            t0(),
        )
        .await
        .unwrap();
    let kinds: Vec<_> = cap
        .entries
        .iter()
        .map(|e| (e.kind, e.amount, e.hold))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EntryKind::Capture, 3, Some(hold_seq)),
            (EntryKind::Release, 1, Some(hold_seq))
        ]
    );
    assert_eq!(cap.balance, Balance::new(7, 0));
    // Settled: a second capture or a release finds no open hold.
    for op in [
        Operation::Capture {
            hold: hold_seq,
            amount: 1,
        },
        Operation::Release { hold: hold_seq },
    ] {
        let err = l.apply(&alice, None, &op, t0()).await.unwrap_err();
        assert!(matches!(err, LedgerError::UnknownEntry), "{op:?}: {err:?}");
    }
}

#[tokio::test]
async fn release_gives_the_hold_back_and_nobody_else_can_touch_it() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    let bob = account("bob");
    l.apply(&alice, None, &grant(10), t0()).await.unwrap();
    l.apply(&bob, None, &grant(10), t0()).await.unwrap();
    let hold = l
        .apply(&alice, None, &reserve(10, 60), t0())
        .await
        .unwrap()
        .entries[0]
        .seq;
    let err = l
        .apply(&bob, None, &Operation::Release { hold }, t0())
        .await
        .unwrap_err();
    assert!(
        matches!(err, LedgerError::UnknownEntry),
        "another user's hold looks exactly like a missing one: {err:?}"
    );
    let r = l
        .apply(&alice, None, &Operation::Release { hold }, t0())
        .await
        .unwrap();
    assert_eq!(r.balance, Balance::new(10, 0));
    assert_eq!(r.entries[0].kind, EntryKind::Release);
    assert_eq!(r.entries[0].amount, 10);
}

#[tokio::test]
async fn a_lapsed_hold_stops_counting_and_cannot_be_captured() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    l.apply(&alice, None, &grant(10), t0()).await.unwrap();
    let hold = l
        .apply(&alice, None, &reserve(6, 60), t0())
        .await
        .unwrap()
        .entries[0]
        .seq;
    let before = t0() + Duration::seconds(59);
    let after = t0() + Duration::seconds(60);
    assert_eq!(
        l.balance(&alice, before).await.unwrap(),
        Balance::new(10, 6)
    );
    assert_eq!(
        l.balance(&alice, after).await.unwrap(),
        Balance::new(10, 0),
        "a lapsed hold no longer holds credits"
    );
    let err = l
        .apply(&alice, None, &Operation::Capture { hold, amount: 6 }, after)
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::UnknownEntry), "{err:?}");
    let kinds: Vec<_> = l
        .history(&alice, None, None)
        .await
        .unwrap()
        .entries
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![EntryKind::Grant, EntryKind::Hold, EntryKind::Expire]
    );
    assert_eq!(l.balance(&alice, after).await.unwrap(), Balance::new(10, 0));
}

#[tokio::test]
async fn history_pages_oldest_first_by_server_seq() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    let bob = account("bob");
    for i in 1..=7 {
        l.apply(&alice, None, &grant(i), t0()).await.unwrap();
        l.apply(&bob, None, &grant(100), t0()).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = l.history(&alice, after, Some(3)).await.unwrap();
        assert!(page.entries.len() <= 3);
        seen.extend(page.entries.iter().map(|e| (e.seq, e.amount)));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    let amounts: Vec<i64> = seen.iter().map(|s| s.1).collect();
    assert_eq!(
        amounts,
        (1..=7).collect::<Vec<_>>(),
        "only alice's entries, oldest first"
    );
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "seq increases");
    assert!(
        seen.windows(2).any(|w| w[1].0 - w[0].0 > 1),
        "seq is global: bob's entries sit between alice's"
    );
    for bad in [Some(0), Some(501), Some(-1)] {
        assert!(matches!(
            l.history(&alice, None, bad).await,
            Err(LedgerError::InvalidInput(_))
        ));
    }
}

#[tokio::test]
async fn bad_amounts_and_keys_are_refused_before_the_database() {
    let (l, _) = ledger().await;
    let alice = account("alice");
    for op in [grant(0), spend(-5), grant(1_000_000_000_001), reserve(1, 0)] {
        let err = l.apply(&alice, None, &op, t0()).await.unwrap_err();
        assert!(
            matches!(err, LedgerError::InvalidInput(_)),
            "{op:?}: {err:?}"
        );
    }
    let err = l
        .apply(&alice, Some("has space"), &grant(1), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::InvalidInput(_)));
    assert!(l
        .history(&alice, None, None)
        .await
        .unwrap()
        .entries
        .is_empty());
}

/// A user with `credits` posted, created through the ledger; returns (client, user id).
async fn poke(credits: i64) -> (tokio_postgres::Client, i64) {
    let (l, url) = ledger().await;
    l.apply(&account("alice"), None, &grant(credits), t0())
        .await
        .unwrap();
    let client = pg::connect(&url).await;
    let id: i64 = client
        .query_one("SELECT id FROM users WHERE subject = 'alice'", &[])
        .await
        .unwrap()
        .get(0);
    (client, id)
}

fn refused_by(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{} {}", d.code().code(), d.message()))
        .unwrap_or_else(|| e.to_string())
}

#[tokio::test]
async fn the_database_refuses_a_negative_balance_even_from_buggy_code() {
    let (client, id) = poke(5).await;
    // A spend larger than the balance, inserted directly (no Rust check in the way).
    let err = client
        .execute(
            "INSERT INTO entries (user_id, kind, amount, created_at) VALUES ($1, 'spend', 6, now())",
            &[&id],
        )
        .await
        .expect_err("the CHECK on balances must refuse going below zero");
    assert!(
        refused_by(&err).starts_with("23514"),
        "a check violation: {}",
        refused_by(&err)
    );
    // A hold larger than what is available.
    let err = client
        .execute(
            "INSERT INTO entries (user_id, kind, amount, expires_at, created_at)
             VALUES ($1, 'hold', 6, now() + interval '1 minute', now())",
            &[&id],
        )
        .await
        .expect_err("held may not exceed posted");
    assert!(
        refused_by(&err).starts_with("23514"),
        "{}",
        refused_by(&err)
    );
    // Editing the balance row itself.
    for sql in [
        "UPDATE balances SET posted = -1 WHERE user_id = $1",
        "UPDATE balances SET held = -1 WHERE user_id = $1",
        "UPDATE balances SET held = posted + 1 WHERE user_id = $1",
    ] {
        let err = client.execute(sql, &[&id]).await.expect_err(sql);
        assert!(
            refused_by(&err).starts_with("23514"),
            "{sql}: {}",
            refused_by(&err)
        );
    }
    // Amounts must be positive and bounded.
    for amount in [0i64, -1, 1_000_000_000_001] {
        let err = client
            .execute(
                "INSERT INTO entries (user_id, kind, amount, created_at) VALUES ($1, 'grant', $2, now())",
                &[&id, &amount],
            )
            .await
            .expect_err("out-of-range amount");
        assert!(
            refused_by(&err).starts_with("23514"),
            "{amount}: {}",
            refused_by(&err)
        );
    }
    let (posted, held): (i64, i64) = {
        let r = client
            .query_one(
                "SELECT posted, held FROM balances WHERE user_id = $1",
                &[&id],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!((posted, held), (5, 0), "nothing refused moved the balance");
}

#[tokio::test]
async fn entries_are_append_only() {
    let (client, id) = poke(5).await;
    for sql in [
        "UPDATE entries SET amount = 500 WHERE user_id = $1",
        "DELETE FROM entries WHERE user_id = $1",
    ] {
        let err = client.execute(sql, &[&id]).await.expect_err(sql);
        assert!(
            refused_by(&err).contains("append-only"),
            "{sql}: {}",
            refused_by(&err)
        );
    }
    let err = client
        .batch_execute("TRUNCATE entries CASCADE")
        .await
        .expect_err("TRUNCATE");
    assert!(
        refused_by(&err).contains("append-only"),
        "{}",
        refused_by(&err)
    );
    let n: i64 = pg::scalar(
        &client,
        "SELECT count(*) FROM entries WHERE user_id = $1 AND amount = 5",
        &[&id],
    )
    .await;
    assert_eq!(n, 1, "the grant is still there, unchanged");
}

#[tokio::test]
async fn a_hold_settles_once() {
    let (l, url) = ledger().await;
    let alice = account("alice");
    l.apply(&alice, None, &grant(5), t0()).await.unwrap();
    let hold = l
        .apply(&alice, None, &reserve(2, 60), t0())
        .await
        .unwrap()
        .entries[0]
        .seq;
    let r = l
        .apply(&alice, None, &Operation::Release { hold }, t0())
        .await
        .unwrap();
    let client = pg::connect(&url).await;
    let err = client
        .execute(
            "UPDATE holds SET settled_seq = NULL WHERE hold_seq = $1",
            &[&hold],
        )
        .await
        .expect_err("a settled hold cannot be reopened");
    assert!(
        refused_by(&err).contains("settles once"),
        "{}",
        refused_by(&err)
    );
    let err = client
        .execute("DELETE FROM holds WHERE hold_seq = $1", &[&hold])
        .await
        .expect_err("holds are never deleted");
    assert!(refused_by(&err).contains("settles once"));
    assert_eq!(r.balance, Balance::new(5, 0));
}

#[tokio::test]
async fn a_new_user_written_to_at_once_is_created_once() {
    let (l, url) = ledger().await;
    let newcomer = account("newcomer");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (l, who) = (l.clone(), newcomer.clone());
        tasks.push(tokio::spawn(async move {
            l.apply(&who, None, &grant(5), t0()).await
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("every first write succeeds");
    }
    assert_eq!(
        l.balance(&newcomer, t0()).await.unwrap(),
        Balance::new(40, 0)
    );
    let client = pg::connect(&url).await;
    let users: i64 = pg::scalar(&client, "SELECT count(*) FROM users", &[]).await;
    assert_eq!(users, 1, "one user row, however many first writes raced");
}
