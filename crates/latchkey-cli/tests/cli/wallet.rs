//! `latchkey wallet ...` end to end: a real sign-in, the real SQLite file, real vouchers.

use crate::harness::{assert_exit, text, Idp, Machine};

fn signed_in(welcome: i64) -> (Idp, Machine) {
    let idp = Idp::start(&[]);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    m.add_config(&format!("\n[wallet]\nwelcome_credits = {welcome}\n"));
    let out = m.latchkey("alice", &["login"]);
    assert_exit(&out, 0, "sign in");
    (idp, m)
}

fn available(m: &Machine) -> i64 {
    m.json(&["wallet", "balance", "--json"])["available"]
        .as_i64()
        .expect("available")
}

#[test]
fn welcome_credits_once_spend_replay_and_refusals() {
    let (_idp, m) = signed_in(10);
    assert_eq!(available(&m), 10, "welcome credits at the first sign-in");
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in again");
    assert_eq!(
        available(&m),
        10,
        "welcome credits are granted once per account"
    );

    let r = m.json(&[
        "wallet",
        "spend",
        "--credits",
        "3",
        "--key",
        "job-1",
        "--memo",
        "report",
        "--json",
    ]);
    assert_eq!(r["replayed"], false);
    assert_eq!(r["balance"]["available"], 7);
    let again = m.json(&[
        "wallet",
        "spend",
        "--credits",
        "3",
        "--key",
        "job-1",
        "--memo",
        "report",
        "--json",
    ]);
    assert_eq!(
        again["replayed"], true,
        "the same key and parameters replay"
    );
    assert_eq!(
        again["entry"]["id"], r["entry"]["id"],
        "and return the first result"
    );
    assert_eq!(available(&m), 7, "a replay changes nothing");

    let conflict = m.latchkey(
        "-",
        &[
            "wallet",
            "spend",
            "--credits",
            "4",
            "--key",
            "job-1",
            "--memo",
            "report",
        ],
    );
    assert_exit(&conflict, 21, "same key, other parameters");
    let broke = m.latchkey("-", &["wallet", "spend", "--credits", "8"]);
    assert_exit(&broke, 20, "more than available");
    assert!(
        text(&broke.stderr).contains("enough credits"),
        "{}",
        text(&broke.stderr)
    );
    assert_exit(
        &m.latchkey("-", &["wallet", "spend", "--credits", "0"]),
        24,
        "zero is not an amount",
    );
    assert_eq!(available(&m), 7, "refused operations change nothing");

    let generated = m.latchkey("-", &["wallet", "grant", "--credits", "5"]);
    assert_exit(&generated, 0, "grant without --key");
    assert!(
        text(&generated.stderr).contains("idempotency key: cli-"),
        "a generated key is printed"
    );
}

#[test]
fn holds_refunds_history_export_and_verify() {
    let (_idp, m) = signed_in(100);
    let hold = m.json(&[
        "wallet",
        "reserve",
        "--credits",
        "40",
        "--ttl",
        "600",
        "--json",
    ]);
    let hold_id = hold["entry"]["id"].as_i64().unwrap().to_string();
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(
        (b["available"].as_i64(), b["held"].as_i64()),
        (Some(60), Some(40))
    );
    let cap = m.json(&[
        "wallet",
        "capture",
        "--hold",
        &hold_id,
        "--credits",
        "25",
        "--json",
    ]);
    assert_eq!(
        cap["balance"]["available"], 75,
        "capture spends 25 and releases 15"
    );
    assert_exit(
        &m.latchkey("-", &["wallet", "release", "--hold", &hold_id]),
        22,
        "a hold settles once",
    );

    let spend = m.json(&["wallet", "spend", "--credits", "10", "--json"]);
    let spend_id = spend["entry"]["id"].as_i64().unwrap().to_string();
    assert_exit(
        &m.latchkey(
            "-",
            &["wallet", "refund", "--spend", &spend_id, "--credits", "11"],
        ),
        22,
        "refund at most the spend",
    );
    let refund = m.json(&[
        "wallet",
        "refund",
        "--spend",
        &spend_id,
        "--credits",
        "4",
        "--json",
    ]);
    assert_eq!(refund["balance"]["available"], 69);

    let page1 = m.json(&["wallet", "history", "--limit", "2", "--json"]);
    let entries = page1["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["kind"], "refund", "newest first");
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    m.json(&["wallet", "spend", "--credits", "1", "--json"]);
    let page2 = m.json(&[
        "wallet", "history", "--limit", "2", "--cursor", &cursor, "--json",
    ]);
    assert_eq!(
        page2["entries"][0]["id"].as_i64(),
        Some(entries[1]["id"].as_i64().unwrap() - 1),
        "a new entry does not shift later pages"
    );
    let spends = m.json(&["wallet", "history", "--kind", "spend", "--json"]);
    assert!(spends["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["kind"] == "spend"));

    let csv = m.latchkey("-", &["wallet", "export", "--format", "csv"]);
    assert_exit(&csv, 0, "export csv");
    let lines = text(&csv.stdout).lines().count();
    assert_eq!(
        lines,
        1 + 6,
        "a header and every entry (grant, reserve, capture, spend, refund, spend)"
    );
    let json = m.json(&["wallet", "export", "--format", "json"]);
    assert_eq!(json.as_array().map(Vec::len), Some(6));

    let report = m.json(&["wallet", "verify", "--json"]);
    assert_eq!(
        report["violations"].as_array().map(Vec::len),
        Some(0),
        "a clean ledger"
    );
}

#[test]
fn vouchers_redeem_once_and_only_for_their_owner() {
    let (_idp, m) = signed_in(0);
    let key_file = m.dir.path().join("seller.key");
    let keygen = m.latchkey(
        "-",
        &[
            "wallet",
            "voucher",
            "keygen",
            "--out",
            key_file.to_str().unwrap(),
        ],
    );
    assert_exit(&keygen, 0, "keygen");
    let public = text(&keygen.stdout).trim().to_string();
    assert!(public.starts_with("LKVP1."), "{public}");
    m.add_config(&format!("voucher_keys = [\"{public}\"]\n"));

    let issue = |extra: &[&str]| {
        let mut args = vec![
            "wallet",
            "voucher",
            "issue",
            "--key",
            key_file.to_str().unwrap(),
            "--credits",
            "50",
        ];
        args.extend_from_slice(extra);
        let out = m.latchkey("-", &args);
        assert_exit(&out, 0, "issue");
        text(&out.stdout).trim().to_string()
    };
    let voucher = issue(&[]);
    let r = m.json(&["wallet", "redeem", &voucher, "--json"]);
    assert_eq!(r["balance"]["available"], 50);
    let twice = m.latchkey("-", &["wallet", "redeem", &voucher]);
    assert_exit(&twice, 23, "a voucher is redeemed once");
    assert!(
        text(&twice.stderr).contains("already"),
        "{}",
        text(&twice.stderr)
    );

    let bobs = issue(&["--for", "bob"]);
    let wrong = m.latchkey("-", &["wallet", "redeem", &bobs]);
    assert_exit(&wrong, 23, "bound to another account");
    let expired = issue(&["--expires", "2020-01-01T00:00:00Z"]);
    assert_exit(
        &m.latchkey("-", &["wallet", "redeem", &expired]),
        23,
        "expired",
    );
    assert!(
        text(&wrong.stderr).contains("another account"),
        "{}",
        text(&wrong.stderr)
    );
    // A fresh voucher (never redeemed, so only its signature can be wrong) with one character
    // in the middle of its signature changed: every byte there is significant.
    let fresh = issue(&[]);
    let cut = fresh.rfind('.').unwrap() + 20;
    let mut forged = fresh.clone();
    let swap = if &fresh[cut..cut + 1] == "A" {
        "B"
    } else {
        "A"
    };
    forged.replace_range(cut..cut + 1, swap);
    let refused = m.latchkey("-", &["wallet", "redeem", &forged]);
    assert_exit(&refused, 23, "bad signature");
    assert!(
        text(&refused.stderr).contains("signature does not match"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(available(&m), 50, "refused vouchers change nothing");
    let genuine = m.json(&["wallet", "redeem", &fresh, "--json"]);
    assert_eq!(
        genuine["balance"]["available"], 100,
        "the unaltered voucher is good: the refusal was its signature"
    );
}

#[test]
fn no_wallet_without_a_sign_in() {
    let m = Machine::new(&[]);
    assert_exit(
        &m.latchkey("-", &["wallet", "balance"]),
        4,
        "signed out: exit 4",
    );
}

#[test]
fn a_hold_and_its_capture_read_as_one_line_and_the_json_keeps_both_entries() {
    let (_idp, m) = signed_in(10);
    let hold = m.json(&[
        "wallet",
        "reserve",
        "--credits",
        "2",
        "--key",
        "h1",
        "--memo",
        "analytics run",
        "--json",
    ]);
    let hold_id = hold["entry"]["id"].as_i64().expect("hold id");
    let capture = m.json(&[
        "wallet",
        "capture",
        "--hold",
        &hold_id.to_string(),
        "--credits",
        "2",
        "--key",
        "c1",
        "--memo",
        "analytics run",
        "--json",
    ]);
    let capture_id = capture["entry"]["id"].as_i64().expect("capture id");
    // A hold given back stays two plain lines.
    let other = m.json(&[
        "wallet",
        "reserve",
        "--credits",
        "1",
        "--key",
        "h2",
        "--json",
    ]);
    let other_id = other["entry"]["id"].as_i64().expect("hold id");
    let out = m.latchkey(
        "-",
        &[
            "wallet",
            "release",
            "--hold",
            &other_id.to_string(),
            "--key",
            "x2",
        ],
    );
    assert_exit(&out, 0, "release");

    let page = m.json(&["wallet", "history", "--json"]);
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(
        entries.len(),
        5,
        "the JSON keeps every ledger entry: {page}"
    );
    let by_id = |id: i64| {
        entries
            .iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("entry {id} in {page}"))
    };
    assert_eq!(
        by_id(hold_id)["kind"],
        "reserve",
        "existing fields unchanged"
    );
    assert_eq!(by_id(hold_id)["captured_by"], capture_id, "the added field");
    assert!(by_id(capture_id)["captured_by"].is_null());
    assert!(
        by_id(other_id)["captured_by"].is_null(),
        "a released hold was not captured"
    );

    let shown = text(&m.latchkey("-", &["wallet", "history"]).stdout);
    assert!(
        shown.contains("Analytics run \u{2212}2, held then paid"),
        "one line for the hold and its capture: {shown}"
    );
    let lines = shown.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(
        lines, 4,
        "grant, held-then-paid, hold, release: the captured hold is not a second line: {shown}"
    );
    assert_eq!(available(&m), 8, "2 of 10 were spent, once");
}
