//! The wallet and `credits` commands against the credit service: the real `latchkey-server`
//! process over a throwaway PostgreSQL cluster, the test OpenID Provider's real ID tokens, the
//! real keychain, and the DEMO payment page played by a scripted browser.

use crate::harness::{assert_exit, text, wait_for_file, Idp, Machine};
use latchkey_testkit::pg::{fresh_db_sync, psql};
use latchkey_testkit::server::Service;

/// Packs and the DEMO payment provider, in the server's TOML.
const SHOP: &str = r#"
[[packs]]
id = "small"
credits = 100
amount = 500
currency = "eur"
label = "100 credits"

[[packs]]
id = "large"
credits = 1000
amount = 4000
currency = "eur"
label = "1000 credits"

[payment]
provider = "demo"
"#;

/// The provider, the service over a fresh database, and alice signed in on a machine whose
/// `[service] url` names it. The local `welcome_credits` must not apply with a service.
fn rig() -> (Idp, Service, Machine) {
    let idp = Idp::start(&[]);
    let svc = Service::start(&fresh_db_sync(), &idp.issuer, SHOP);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    m.add_config(&format!(
        "\n[wallet]\nwelcome_credits = 50\n\n[service]\nurl = \"{}\"\n",
        svc.base
    ));
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    (idp, svc, m)
}

fn grant(svc: &Service, idp: &Idp, credits: &str) {
    let out = svc.operator(&[
        "grant",
        "--issuer",
        &idp.issuer,
        "--subject",
        "alice",
        "--credits",
        credits,
    ]);
    assert!(
        out.status.success(),
        "latchkey-server grant: {}",
        text(&out.stderr)
    );
}

fn balance(m: &Machine) -> serde_json::Value {
    m.json(&["wallet", "balance", "--json"])
}

/// alice's (posted, held) in the service's own database.
fn ledger_row(svc: &Service) -> String {
    psql(
        &svc.db_url,
        "SELECT b.posted || ',' || b.held FROM balances b JOIN users u ON u.id = b.user_id \
         WHERE u.subject = 'alice'",
    )
}

#[test]
fn the_wallet_commands_act_on_the_service_ledger() {
    let (idp, mut svc, m) = rig();
    let b = balance(&m);
    assert_eq!(
        (b["available"].as_i64(), b["stale"].as_bool()),
        (Some(0), Some(false)),
        "no local welcome credits with a service: {b}"
    );
    assert_eq!(b["subject"], "alice");
    grant(&svc, &idp, "100");
    assert_eq!(balance(&m)["available"], 100, "the operator's grant shows");

    let spend = [
        "wallet",
        "spend",
        "--credits",
        "30",
        "--key",
        "job-1",
        "--memo",
        "report",
        "--json",
    ];
    let r = m.json(&spend);
    assert_eq!(r["key"], "job-1");
    assert_eq!(r["entry"]["kind"], "spend");
    assert_eq!(r["entry"]["amount"], 30);
    assert_eq!(r["entry"]["available_after"], 70);
    assert_eq!(r["balance"]["available"], 70);
    let again = m.json(&spend);
    assert_eq!(
        again["entry"]["id"], r["entry"]["id"],
        "a retry with the same key answers the first spend"
    );
    assert_eq!(ledger_row(&svc), "70,0", "the retry spent nothing more");
    assert_exit(
        &m.latchkey(
            "-",
            &[
                "wallet",
                "spend",
                "--credits",
                "31",
                "--key",
                "job-1",
                "--memo",
                "report",
            ],
        ),
        21,
        "same key, other amount",
    );
    let broke = m.latchkey("-", &["wallet", "spend", "--credits", "71"]);
    assert_exit(&broke, 20, "more than available");
    assert_exit(
        &m.latchkey("-", &["wallet", "spend", "--credits", "0"]),
        24,
        "zero is not an amount",
    );
    assert_eq!(
        ledger_row(&svc),
        "70,0",
        "refused spends change nothing in the service's ledger"
    );

    let hold = m.json(&["wallet", "reserve", "--credits", "40", "--json"]);
    assert_eq!(
        hold["entry"]["kind"], "reserve",
        "the service's hold, in local words"
    );
    let hold_id = hold["entry"]["id"].as_i64().expect("hold id").to_string();
    assert_eq!(ledger_row(&svc), "70,40");
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
        cap["balance"]["available"], 45,
        "capture spends 25 and releases 15"
    );
    assert_eq!(ledger_row(&svc), "45,0");
    assert_exit(
        &m.latchkey("-", &["wallet", "release", "--hold", &hold_id]),
        22,
        "a hold settles once",
    );
    let hold2 = m.json(&["wallet", "reserve", "--credits", "5", "--json"]);
    let hold2_id = hold2["entry"]["id"].as_i64().unwrap().to_string();
    let rel = m.json(&["wallet", "release", "--hold", &hold2_id, "--json"]);
    assert_eq!(rel["balance"]["available"], 45);
    assert_eq!(rel["entry"]["kind"], "release");

    let page1 = m.json(&["wallet", "history", "--limit", "2", "--json"]);
    let entries = page1["entries"].as_array().expect("entries");
    assert_eq!(page1["stale"], false);
    assert_eq!(
        (entries[0]["kind"].as_str(), entries[1]["kind"].as_str()),
        (Some("release"), Some("reserve")),
        "newest first: {page1}"
    );
    assert_eq!(entries[0]["available_after"], 45);
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_string();
    let page2 = m.json(&[
        "wallet", "history", "--limit", "10", "--cursor", &cursor, "--json",
    ]);
    let kinds: Vec<&str> = page2["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["release", "capture", "reserve", "spend", "grant"],
        "the rest, newest first"
    );
    assert_eq!(page2["next_cursor"], serde_json::Value::Null);

    let g = m.latchkey("-", &["wallet", "grant", "--credits", "5"]);
    assert_exit(&g, 24, "grant is the operator's with a service");
    assert!(
        text(&g.stderr).contains("latchkey-server grant"),
        "{}",
        text(&g.stderr)
    );
    assert_eq!(ledger_row(&svc), "45,0", "and changed nothing");
    assert!(
        !m.data_dir().join("wallet.sqlite").exists(),
        "the local wallet is not used with a service"
    );

    svc.stop();
    let b = balance(&m);
    assert_eq!(
        (b["available"].as_i64(), b["stale"].as_bool()),
        (Some(45), Some(true)),
        "the last known balance, marked stale: {b}"
    );
    assert!(b["as_of"].is_string(), "with when it was read: {b}");
    let h = m.json(&["wallet", "history", "--json"]);
    assert_eq!(h["stale"], true);
    assert_eq!(h["entries"].as_array().map(Vec::len), Some(7));
    let down = m.latchkey("-", &["wallet", "spend", "--credits", "1"]);
    assert_exit(&down, 27, "no spending while the service is unreachable");
    assert!(
        text(&down.stderr).contains("cannot be reached"),
        "{}",
        text(&down.stderr)
    );
    assert_exit(
        &m.latchkey("-", &["wallet", "reserve", "--credits", "1"]),
        27,
        "nor holds",
    );
}

#[test]
fn credits_packs_and_buying_through_the_demo_page() {
    let (_idp, svc, m) = rig();
    let packs = m.json(&["credits", "packs", "--json"]);
    let ids: Vec<&str> = packs["packs"]
        .as_array()
        .expect("packs")
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["small", "large"], "{packs}");
    assert_eq!(packs["packs"][0]["credits"], 100);

    let pay = crate::harness::repo().join("crates/latchkey-cli/tests/cli/pay-demo.mjs");
    let browser = format!("node {}", pay.display());
    let buy = m.command(
        "-",
        "browser-http.mjs",
        &[("LATCHKEY_BROWSER", &browser)],
        &["credits", "buy", "--pack", "small", "--timeout", "60"],
    );
    assert_exit(&buy, 0, "bought once the DEMO page is paid");
    assert!(
        text(&buy.stdout).contains("Bought 100 credits"),
        "{}",
        text(&buy.stdout)
    );
    let log = wait_for_file(&m.browser_log()).expect("the scripted browser ran");
    assert!(log.contains("POST "), "it paid on the page: {log}");
    assert_eq!(balance(&m)["available"], 100, "the pack's credits are in");
    assert_eq!(
        psql(
            &svc.db_url,
            "SELECT count(*) FROM entries WHERE kind = 'purchase'"
        ),
        "1",
        "one purchase in the service's ledger"
    );

    let several = m.latchkey("-", &["credits", "buy", "--no-browser"]);
    assert_exit(&several, 24, "two packs on sale: name one");
    assert!(text(&several.stderr).contains("small, large"));

    let _ = std::fs::remove_file(m.browser_log());
    let cancel = m.command(
        "-",
        "browser-http.mjs",
        &[
            ("LATCHKEY_BROWSER", &browser),
            ("LATCHKEY_TEST_DEMO", "cancel"),
        ],
        &["credits", "buy", "--pack", "large", "--timeout", "60"],
    );
    assert_exit(&cancel, 28, "cancelled on the payment page");

    let waited = m.latchkey(
        "-",
        &[
            "credits",
            "buy",
            "--pack",
            "small",
            "--no-browser",
            "--timeout",
            "1",
        ],
    );
    assert_exit(&waited, 29, "nobody paid in time");
    assert!(
        text(&waited.stderr).contains("/demo/checkout/"),
        "--no-browser prints the payment link: {}",
        text(&waited.stderr)
    );
    assert_eq!(
        balance(&m)["available"],
        100,
        "neither the cancelled nor the unpaid purchase added credits"
    );
}

#[test]
fn service_vouchers_count_once_for_the_account() {
    let (idp, svc, m) = rig();
    let issue = |extra: &[&str]| {
        let mut args = vec!["voucher", "issue", "--credits", "40"];
        args.extend_from_slice(extra);
        let out = svc.operator(&args);
        assert!(out.status.success(), "voucher issue: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let voucher = issue(&["--for", &idp.issuer, "alice"]);
    let r = m.json(&["wallet", "redeem", &voucher, "--key", "v-1", "--json"]);
    assert_eq!(r["entry"]["kind"], "voucher");
    assert_eq!(r["balance"]["available"], 40);
    let twice = m.latchkey("-", &["wallet", "redeem", &voucher]);
    assert_exit(&twice, 23, "a voucher counts once, whatever the key");
    let bobs = issue(&["--for", &idp.issuer, "bob"]);
    assert_exit(
        &m.latchkey("-", &["wallet", "redeem", &bobs]),
        23,
        "bound to another account",
    );
    assert_eq!(ledger_row(&svc), "40,0", "refused vouchers change nothing");
}

#[test]
fn paid_analytics_are_held_and_captured_at_the_service_and_refused_offline() {
    let (idp, mut svc, m) = rig();
    grant(&svc, &idp, "10");
    let csv = m.data_dir().join("spend.csv");
    std::fs::create_dir_all(m.data_dir()).unwrap();
    std::fs::write(
        &csv,
        "date,amount,category\n2026-01-03,5,food\n2026-01-09,7,rent\n2026-02-01,2,food\n",
    )
    .unwrap();
    let csv = csv.display().to_string();
    assert_exit(
        &m.latchkey("-", &["analytics", "import", &csv, "--name", "spend"]),
        0,
        "importing is free",
    );
    let run = |m: &Machine| {
        m.latchkey(
            "-",
            &[
                "analytics",
                "run",
                "spend",
                "--kind",
                "breakdown",
                "--measure",
                "amount",
                "--split",
                "category",
                "--json",
            ],
        )
    };
    assert_exit(&run(&m), 0, "a paid breakdown");
    assert_eq!(balance(&m)["available"], 9, "one credit, at the service");
    assert_eq!(
        psql(
            &svc.db_url,
            "SELECT string_agg(kind, ',' ORDER BY server_seq) FROM entries"
        ),
        "grant,hold,capture",
        "held, then captured, in the service's ledger"
    );
    let page = m.json(&["wallet", "history", "--json"]);
    let entries = page["entries"].as_array().expect("entries");
    assert_eq!(entries[1]["kind"], "reserve", "{page}");
    assert_eq!(
        entries[1]["captured_by"], entries[0]["id"],
        "the hold names its capture"
    );
    let shown = text(&m.latchkey("-", &["wallet", "history"]).stdout);
    assert!(
        shown.contains("Analytics run \u{2212}1, held then paid"),
        "{shown}"
    );

    svc.stop();
    let offline = run(&m);
    assert_exit(
        &offline,
        27,
        "no spending offline while a service is configured",
    );
    assert!(
        text(&offline.stderr).contains("nothing was charged"),
        "{}",
        text(&offline.stderr)
    );
}

#[test]
fn the_services_voucher_keys_are_pinned_and_a_signed_rotation_is_followed() {
    let (_idp, svc, m) = rig();
    let out = svc.operator(&["voucher", "issue", "--credits", "1"]);
    assert!(out.status.success(), "the first key: {}", text(&out.stderr));
    let pins = || -> Vec<String> {
        let dir = m.data_dir().join("service-keys");
        let Some(file) = std::fs::read_dir(&dir)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
        else {
            return Vec::new();
        };
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    };
    assert!(pins().is_empty(), "nothing pinned before the first contact");
    balance(&m);
    let first = pins();
    assert_eq!(first.len(), 1, "pinned on first contact");
    assert!(first[0].starts_with("LKVP1."));

    let out = svc.operator(&["keys", "rotate"]);
    assert!(out.status.success(), "keys rotate: {}", text(&out.stderr));
    balance(&m);
    let after = pins();
    assert_eq!(after.len(), 2, "the rotated key, signed by the pinned one");
    assert_eq!(after[0], first[0], "the old key stays (old vouchers)");
}
