//! The wallet's unit tests: the rules of every operation, one behaviour per test.

use super::*;
use crate::clock::FixedClock;
use crate::error::{Error, VoucherRejection};
use crate::types::{Kind, Settlement, Timestamp};
use crate::voucher::{self, PrivateKey, VoucherSpec};
use rstest::{fixture, rstest};
use std::time::Duration;

const START: Timestamp = Timestamp::from_unix_millis(1_767_225_600_000);

#[fixture]
fn fixed_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(START))
}

fn seller() -> PrivateKey {
    PrivateKey::from_seed([3; 32])
}

fn wallet_with(clock: Arc<FixedClock>) -> Wallet {
    let options = OpenOptions {
        voucher_keys: vec![seller().public_key()],
        ..OpenOptions::default()
    };
    Wallet::open_in_memory(options, clock).expect("in-memory wallet opens")
}

#[fixture]
fn empty_wallet(fixed_clock: Arc<FixedClock>) -> Wallet {
    wallet_with(fixed_clock)
}

fn alice() -> AccountKey {
    AccountKey::new("https://idp.example", "alice")
}

fn bob() -> AccountKey {
    AccountKey::new("https://idp.example", "bob")
}

fn entry_count(w: &Wallet) -> i64 {
    w.conn
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .expect("count")
}

fn assert_clean(w: &Wallet) {
    let report = w.verify().expect("verify runs");
    assert!(
        report.is_clean(),
        "every invariant must hold: {:?}",
        report.violations
    );
}

/// A wallet where alice has 100 credits (entry 1, a grant), spent 10 (entry 2) and holds
/// 20 (entry 3, for an hour).
fn funded(w: &Wallet) {
    w.grant(&alice(), "g", Credits(100), None).expect("grant");
    w.spend(&alice(), "s", Credits(10), None).expect("spend");
    w.reserve(&alice(), "r", Credits(20), 3600, None)
        .expect("reserve");
}

fn op(kind: &str, a: i64, target: i64) -> Operation {
    match kind {
        "grant" => Operation::Grant {
            amount: Credits(a),
            memo: None,
        },
        "spend" => Operation::Spend {
            amount: Credits(a),
            memo: None,
        },
        "refund" => Operation::Refund {
            spend: EntryId(target),
            amount: Credits(a),
            memo: None,
        },
        "reserve" => Operation::Reserve {
            amount: Credits(a),
            ttl_secs: target as u64,
            memo: None,
        },
        "capture" => Operation::Capture {
            hold: EntryId(target),
            amount: Credits(a),
            memo: None,
        },
        "release" => Operation::Release {
            hold: EntryId(target),
            memo: None,
        },
        other => unreachable!("no op {other}"),
    }
}

#[rstest]
#[case::spend_more_than_available("spend", 71, 0, "InsufficientCredits")]
#[case::held_credits_are_not_spendable("spend", 80, 0, "InsufficientCredits")]
#[case::zero_spend("spend", 0, 0, "InvalidAmount")]
#[case::negative_grant("grant", -5, 0, "InvalidAmount")]
#[case::grant_overflows("grant", i64::MAX, 0, "Overflow")]
#[case::reserve_more_than_available("reserve", 71, 60, "InsufficientCredits")]
#[case::reserve_without_ttl("reserve", 5, 0, "InvalidTtl")]
#[case::capture_unknown_hold("capture", 5, 999, "UnknownHold")]
#[case::capture_a_spend_as_hold("capture", 5, 2, "UnknownHold")]
#[case::capture_more_than_held("capture", 21, 3, "CaptureExceedsHold")]
#[case::release_unknown_hold("release", 0, 999, "UnknownHold")]
#[case::refund_unknown_spend("refund", 5, 999, "UnknownSpend")]
#[case::refund_a_grant("refund", 5, 1, "UnknownSpend")]
#[case::refund_more_than_spent("refund", 11, 2, "RefundExceedsSpend")]
fn refused_operations_change_nothing_and_say_why(
    empty_wallet: Wallet,
    #[case] kind: &str,
    #[case] amount: i64,
    #[case] target: i64,
    #[case] expected: &str,
) {
    let w = empty_wallet;
    funded(&w);
    let before = (w.balance(&alice()).expect("balance"), entry_count(&w));
    let err = w
        .apply(&alice(), "refused", &op(kind, amount, target))
        .expect_err("this operation must be refused");
    assert!(
        format!("{err:?}").starts_with(expected),
        "expected {expected}, got {err:?} ({err})"
    );
    assert!(!err.to_string().is_empty(), "a refusal says why");
    let after = (w.balance(&alice()).expect("balance"), entry_count(&w));
    assert_eq!(
        before, after,
        "a refused operation must not move the balance or the ledger"
    );
    assert!(
        w.entry_by_key(&alice(), "refused")
            .expect("lookup")
            .is_none(),
        "a refused operation does not burn its idempotency key"
    );
    assert_clean(&w);
}

#[rstest]
#[case::empty("", "empty")]
#[case::reserved("latchkey:welcome", "reserved")]
#[case::control("a\nb", "control")]
fn bad_idempotency_keys_are_refused(empty_wallet: Wallet, #[case] key: &str, #[case] why: &str) {
    let err = empty_wallet
        .grant(&alice(), key, Credits(1), None)
        .expect_err("key must be refused");
    assert!(
        matches!(err, Error::InvalidIdempotencyKey { reason } if reason.contains(why)),
        "{key:?} is not a usable key"
    );
}

#[rstest]
fn replays_return_the_first_result_and_change_nothing(fixed_clock: Arc<FixedClock>) {
    // The wallet must share the clock the test moves.
    let w = wallet_with(fixed_clock.clone());
    let first = w
        .grant(&alice(), "k1", Credits(50), Some("gift"))
        .expect("grant");
    assert!(!first.replayed, "a first call is not a replay");
    w.spend(&alice(), "k2", Credits(5), None).expect("spend");
    fixed_clock.advance(Duration::from_secs(3600));
    let again = w
        .grant(&alice(), "k1", Credits(50), Some("gift"))
        .expect("replay");
    assert!(again.replayed, "same key, same parameters: a replay");
    assert_eq!(again.entry, first.entry, "a replay returns the first entry");
    assert_eq!(
        again.balance, first.balance,
        "and the balance right after the first call"
    );
    assert_eq!(
        w.balance(&alice()).expect("balance").posted,
        Credits(45),
        "nothing changed"
    );
    assert_eq!(entry_count(&w), 2, "no entry was added by the replay");
}

#[rstest]
#[case::other_amount(Operation::Grant { amount: Credits(51), memo: Some("gift".into()) })]
#[case::other_memo(Operation::Grant { amount: Credits(50), memo: None })]
#[case::other_operation(Operation::Spend { amount: Credits(50), memo: Some("gift".into()) })]
fn same_key_with_other_parameters_is_a_conflict(empty_wallet: Wallet, #[case] other: Operation) {
    let w = empty_wallet;
    w.grant(&alice(), "k1", Credits(50), Some("gift"))
        .expect("grant");
    let err = w.apply(&alice(), "k1", &other).expect_err("must conflict");
    assert!(
        matches!(&err, Error::IdempotencyConflict { key } if key == "k1"),
        "a reused key with new parameters is its own error, got {err:?}"
    );
    assert_eq!(
        w.balance(&alice()).expect("balance").posted,
        Credits(50),
        "nothing changed"
    );
}

#[rstest]
fn keys_are_scoped_per_account(empty_wallet: Wallet) {
    let w = empty_wallet;
    w.grant(&alice(), "k", Credits(5), None).expect("alice");
    let bobs = w
        .grant(&bob(), "k", Credits(7), None)
        .expect("bob may use the same key");
    assert!(!bobs.replayed, "another account's key is not a replay");
    assert_eq!(w.balance(&bob()).expect("bob").posted, Credits(7));
    assert_eq!(
        w.balance(&alice()).expect("alice").posted,
        Credits(5),
        "wallets are separate"
    );
}

#[rstest]
fn refunds_are_limited_to_what_is_left_of_the_spend(empty_wallet: Wallet) {
    let w = empty_wallet;
    w.grant(&alice(), "g", Credits(100), None).expect("grant");
    let spend = w
        .spend(&alice(), "s", Credits(10), None)
        .expect("spend")
        .entry
        .id;
    w.refund(&alice(), "r1", spend, Credits(4), None)
        .expect("partial refund");
    let r = w
        .refund(&alice(), "r2", spend, Credits(6), None)
        .expect("rest of it");
    assert_eq!(
        r.balance.posted,
        Credits(100),
        "a full refund restores the balance"
    );
    assert_eq!(r.entry.related, Some(spend), "a refund names its spend");
    let err = w
        .refund(&alice(), "r3", spend, Credits(1), None)
        .expect_err("nothing left");
    assert!(
        matches!(
            err,
            Error::RefundExceedsSpend {
                remaining: Credits(0),
                ..
            }
        ),
        "a spend is refunded at most once in total, got {err:?}"
    );
    let other = w
        .refund(&bob(), "r4", spend, Credits(1), None)
        .expect_err("not bob's");
    assert!(
        matches!(other, Error::UnknownSpend { .. }),
        "bob cannot refund alice's spend"
    );
    assert_clean(&w);
}

#[rstest]
fn capture_spends_part_of_a_hold_and_releases_the_rest(empty_wallet: Wallet) {
    let w = empty_wallet;
    w.grant(&alice(), "g", Credits(100), None).expect("grant");
    let hold = w
        .reserve(&alice(), "r", Credits(30), 60, Some("render"))
        .expect("reserve");
    assert_eq!(
        hold.balance,
        Balance {
            posted: Credits(100),
            held: Credits(30),
            available: Credits(70)
        },
        "a hold moves credits from available to held"
    );
    assert_eq!(
        hold.entry.expires_at,
        Some(Timestamp::from_unix_millis(START.unix_millis() + 60_000))
    );
    let c = w
        .capture(&alice(), "c", hold.entry.id, Credits(20), None)
        .expect("capture");
    assert_eq!(
        c.balance,
        Balance {
            posted: Credits(80),
            held: Credits(0),
            available: Credits(80)
        },
        "capture spends 20 and gives the other 10 back"
    );
    for (key, result) in [
        (
            "c2",
            w.capture(&alice(), "c2", hold.entry.id, Credits(1), None),
        ),
        ("rel", w.release(&alice(), "rel", hold.entry.id, None)),
    ] {
        assert!(
            matches!(
                result,
                Err(Error::HoldSettled {
                    settlement: Settlement::Captured,
                    ..
                })
            ),
            "{key}: a hold is settled exactly once"
        );
    }
    assert!(
        w.holds(&alice()).expect("holds").is_empty(),
        "no open hold is left"
    );
    assert_clean(&w);
}

#[rstest]
fn release_gives_the_whole_hold_back(empty_wallet: Wallet) {
    let w = empty_wallet;
    w.grant(&alice(), "g", Credits(100), None).expect("grant");
    let hold = w
        .reserve(&alice(), "r", Credits(30), 60, None)
        .expect("reserve")
        .entry
        .id;
    assert!(
        matches!(
            w.release(&bob(), "x", hold, None),
            Err(Error::UnknownHold { .. })
        ),
        "bob cannot release alice's hold"
    );
    let r = w.release(&alice(), "rel", hold, None).expect("release");
    assert_eq!(
        r.entry.amount,
        Credits(30),
        "the release entry records what was held"
    );
    assert_eq!(
        r.balance.available,
        Credits(100),
        "all of it is available again"
    );
    let err = w
        .capture(&alice(), "c", hold, Credits(5), None)
        .expect_err("settled");
    assert!(matches!(
        err,
        Error::HoldSettled {
            settlement: Settlement::Released,
            ..
        }
    ));
    assert_clean(&w);
}

#[rstest]
fn expired_holds_release_themselves_exactly_once(fixed_clock: Arc<FixedClock>) {
    // The wallet must share the clock the test moves.
    let w = wallet_with(fixed_clock.clone());
    w.grant(&alice(), "g", Credits(100), None).expect("grant");
    let hold = w
        .reserve(&alice(), "r", Credits(30), 60, None)
        .expect("reserve")
        .entry
        .id;
    fixed_clock.advance(Duration::from_secs(59));
    assert_eq!(
        w.balance(&alice()).expect("b").held,
        Credits(30),
        "still held before expiry"
    );
    fixed_clock.advance(Duration::from_secs(1));
    assert_eq!(
        w.balance(&alice()).expect("b").held,
        Credits(0),
        "released at expiry"
    );
    assert_eq!(w.balance(&alice()).expect("b").available, Credits(100));
    let err = w
        .capture(&alice(), "c", hold, Credits(5), None)
        .expect_err("expired");
    assert!(
        matches!(
            err,
            Error::HoldSettled {
                settlement: Settlement::Expired,
                ..
            }
        ),
        "an expired hold cannot be captured, got {err:?}"
    );
    let query = HistoryQuery {
        kinds: vec![Kind::Expire],
        ..HistoryQuery::default()
    };
    let expiries = w.history(&alice(), &query).expect("history").entries;
    assert_eq!(
        expiries.len(),
        1,
        "one expiry entry, however often the wallet is read"
    );
    assert_eq!(expiries[0].related, Some(hold), "the expiry names its hold");
    assert_clean(&w);
}

#[rstest]
fn expired_holds_are_released_at_open(fixed_clock: Arc<FixedClock>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("wallet.db");
    let open = || Wallet::open(&path, OpenOptions::default(), fixed_clock.clone()).expect("opens");
    let w = open();
    w.grant(&alice(), "g", Credits(10), None).expect("grant");
    w.reserve(&alice(), "r", Credits(10), 5, None)
        .expect("reserve");
    drop(w);
    fixed_clock.advance(Duration::from_secs(5));
    let w = open();
    let held: i64 = w
        .conn
        .query_row("SELECT held FROM accounts", [], |r| r.get(0))
        .expect("held");
    assert_eq!(
        held, 0,
        "opening the wallet releases holds that expired while it was closed"
    );
}

#[rstest]
fn welcome_credits_are_granted_once_per_account(empty_wallet: Wallet) {
    let w = empty_wallet;
    assert!(
        w.grant_welcome(&alice(), Credits(0))
            .expect("zero")
            .is_none(),
        "0 grants nothing"
    );
    let first = w
        .grant_welcome(&alice(), Credits(50))
        .expect("welcome")
        .expect("granted");
    assert!(!first.replayed);
    let again = w
        .grant_welcome(&alice(), Credits(80))
        .expect("again")
        .expect("first");
    assert!(again.replayed, "a second sign-in does not grant again");
    assert_eq!(
        again.entry, first.entry,
        "even when the configured amount changed"
    );
    assert_eq!(w.balance(&alice()).expect("b").posted, Credits(50));
    w.grant_welcome(&bob(), Credits(50))
        .expect("bob")
        .expect("granted");
    assert_eq!(
        w.balance(&bob()).expect("b").posted,
        Credits(50),
        "each account gets its own"
    );
}

#[rstest]
fn vouchers_redeem_exactly_once_per_machine(empty_wallet: Wallet) {
    let w = empty_wallet;
    let token = voucher::issue(&seller(), &VoucherSpec::new(Credits(500))).expect("issue");
    let r = w.redeem_voucher(&alice(), "v1", &token).expect("redeems");
    assert_eq!(r.entry.kind, Kind::Voucher);
    assert_eq!(
        r.balance.posted,
        Credits(500),
        "the voucher's credits arrive"
    );
    assert!(
        w.redeem_voucher(&alice(), "v1", &token)
            .expect("replay")
            .replayed,
        "same key: replay"
    );
    for (who, key) in [(alice(), "v2"), (bob(), "v1")] {
        let err = w
            .redeem_voucher(&who, key, &token)
            .expect_err("already redeemed");
        assert!(
            matches!(
                err,
                Error::VoucherRejected {
                    reason: VoucherRejection::AlreadyRedeemed { .. }
                }
            ),
            "{}/{key}: a voucher is redeemed once on this machine, got {err:?}",
            who.subject
        );
    }
    assert_eq!(
        w.balance(&bob()).expect("b").posted,
        Credits(0),
        "bob got nothing"
    );
    assert_clean(&w);
}

#[rstest]
fn untrusted_vouchers_are_refused_without_effect(empty_wallet: Wallet) {
    let w = empty_wallet;
    let token = voucher::issue(
        &PrivateKey::from_seed([4; 32]),
        &VoucherSpec::new(Credits(5)),
    )
    .expect("issue");
    let err = w
        .redeem_voucher(&alice(), "v", &token)
        .expect_err("untrusted");
    assert!(
        matches!(
            err,
            Error::VoucherRejected {
                reason: VoucherRejection::UnknownKey { .. }
            }
        ),
        "only configured keys may mint credits, got {err:?}"
    );
    assert_eq!(entry_count(&w), 0, "a refused voucher leaves no trace");
}

#[rstest]
fn history_pages_are_stable_while_entries_arrive(fixed_clock: Arc<FixedClock>) {
    // The wallet must share the clock the test moves.
    let w = wallet_with(fixed_clock.clone());
    for i in 0..7 {
        fixed_clock.advance(Duration::from_secs(60));
        w.grant(&alice(), &format!("g{i}"), Credits(1), None)
            .expect("grant");
    }
    w.grant(&bob(), "b", Credits(1), None)
        .expect("bob's entry is not alice's history");
    let query = HistoryQuery {
        limit: 3,
        ..HistoryQuery::default()
    };
    let first = w.history(&alice(), &query).expect("page 1");
    let ids: Vec<i64> = first.entries.iter().map(|e| e.id.0).collect();
    assert_eq!(ids, vec![7, 6, 5], "newest first");
    // New entries arrive between pages: they must not shift or repeat the next page.
    w.grant(&alice(), "late", Credits(1), None)
        .expect("late grant");
    let mut seen = ids;
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = w
            .history(
                &alice(),
                &HistoryQuery {
                    cursor: Some(c),
                    ..query.clone()
                },
            )
            .expect("next page");
        seen.extend(page.entries.iter().map(|e| e.id.0));
        cursor = page.next_cursor;
    }
    assert_eq!(
        seen,
        vec![7, 6, 5, 4, 3, 2, 1],
        "every entry exactly once, in order"
    );

    let window = HistoryQuery {
        since: Some(Timestamp::from_unix_millis(START.unix_millis() + 120_000)),
        until: Some(Timestamp::from_unix_millis(START.unix_millis() + 240_000)),
        ..HistoryQuery::default()
    };
    let ids: Vec<i64> = w
        .history(&alice(), &window)
        .expect("window")
        .entries
        .iter()
        .map(|e| e.id.0)
        .collect();
    assert_eq!(ids, vec![3, 2], "since is inclusive, until exclusive");
    let bad = HistoryQuery {
        cursor: Some("garbage".into()),
        ..HistoryQuery::default()
    };
    assert!(matches!(
        w.history(&alice(), &bad),
        Err(Error::InvalidCursor)
    ));
}

#[rstest]
fn exports_contain_every_entry(empty_wallet: Wallet) {
    let w = empty_wallet;
    funded(&w);
    w.spend(&alice(), "memo", Credits(1), Some("comma, \"quote\""))
        .expect("spend");
    let mut json = Vec::new();
    w.export_json(&alice(), &mut json).expect("json export");
    let entries: Vec<Entry> =
        serde_json::from_slice(&json).expect("export is a JSON array of entries");
    assert_eq!(entries.len(), 4, "every entry is exported");
    assert_eq!(entries[0].kind, Kind::Grant, "oldest first");
    let mut csv = Vec::new();
    w.export_csv(&alice(), &mut csv).expect("csv export");
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .collect::<Result<_, _>>()
        .expect("valid CSV");
    assert_eq!(rows.len(), 4, "one row per entry");
    assert_eq!(&rows[3][7], "comma, \"quote\"", "memos survive CSV quoting");
    let mut empty = Vec::new();
    w.export_json(&bob(), &mut empty).expect("empty export");
    assert_eq!(
        empty, b"[]\n",
        "an account without history exports an empty array"
    );
}

#[rstest]
fn the_ledger_rejects_updates_and_deletes(empty_wallet: Wallet) {
    let w = empty_wallet;
    funded(&w);
    for sql in [
        "UPDATE entries SET amount = 1000 WHERE id = 1",
        "DELETE FROM entries WHERE id = 2",
    ] {
        let err = w
            .conn
            .execute(sql, [])
            .expect_err("the ledger is append-only");
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[rstest]
fn verify_reports_a_balance_that_disagrees_with_the_ledger(empty_wallet: Wallet) {
    let w = empty_wallet;
    funded(&w);
    assert_clean(&w);
    w.conn
        .execute("UPDATE accounts SET posted = posted + 1000", [])
        .expect("tamper");
    let report = w.verify().expect("verify");
    assert_eq!(
        report.violations.len(),
        1,
        "exactly the tampered balance: {:?}",
        report.violations
    );
    assert!(
        report.violations[0].problem.contains("entries sum to"),
        "{:?}",
        report.violations
    );
}

#[rstest]
fn verify_reports_a_forged_entry(empty_wallet: Wallet) {
    let w = empty_wallet;
    funded(&w);
    // An entry that overdraws, slipped in behind the wallet's back.
    w.conn
        .execute(
            "INSERT INTO entries (account_id, kind, amount, posted_after, held_after, created_at) \
             VALUES (1, 'spend', 500, 0, 0, 0)",
            [],
        )
        .expect("raw insert");
    let report = w.verify().expect("verify");
    let problems: Vec<&str> = report
        .violations
        .iter()
        .map(|v| v.problem.as_str())
        .collect();
    assert!(
        problems.iter().any(|p| p.contains("below zero")),
        "an overdraft anywhere in the ledger is reported: {problems:?}"
    );
}

#[rstest]
fn captures_of_names_the_capture_of_each_captured_hold_only(empty_wallet: Wallet) {
    let w = empty_wallet;
    w.grant(&alice(), "g", Credits(10), None).expect("grant"); // 1
    w.reserve(&alice(), "r1", Credits(2), 60, None)
        .expect("hold"); // 2
    w.reserve(&alice(), "r2", Credits(3), 60, None)
        .expect("hold"); // 3
    w.capture(&alice(), "c1", EntryId(2), Credits(2), None)
        .expect("capture"); // 4
    w.release(&alice(), "x2", EntryId(3), None)
        .expect("release"); // 5
    w.reserve(&alice(), "r3", Credits(1), 60, None)
        .expect("open hold"); // 6
    let found = w
        .captures_of(&alice(), &[EntryId(2), EntryId(3), EntryId(6), EntryId(1)])
        .expect("lookup");
    assert_eq!(
        found,
        vec![(EntryId(2), EntryId(4))],
        "only the captured hold: a released or open hold, or a grant, has no capture"
    );
    assert!(
        w.captures_of(&bob(), &[EntryId(2)])
            .expect("lookup")
            .is_empty(),
        "another account's holds are not found through this one"
    );
}
