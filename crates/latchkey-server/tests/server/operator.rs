//! The operator commands `voucher issue`, `keys rotate` and `report`, run as the real binary.

use crate::support::pg;
use latchkey_wallet::voucher;
use std::process::{Command, Output};

fn run(args: &[&str], cfg: &std::path::Path, db_url: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latchkey-server"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .env_remove("LATCHKEY_SERVER_CONFIG")
        .env("TEST_PG_URL", db_url)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn voucher_issue_keys_rotate_and_report_from_the_command_line() {
    let url = pg::fresh_db().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("server.toml");
    std::fs::write(&cfg, "database_url_env = \"TEST_PG_URL\"\n").unwrap();
    ok(run(&["migrate"], &cfg, &url));

    let token = ok(run(
        &[
            "voucher",
            "issue",
            "--credits",
            "25",
            "--for",
            "https://i.test",
            "alice",
        ],
        &cfg,
        &url,
    ));
    let v = voucher::decode(token.trim()).expect("a voucher token");
    assert_eq!(v.credits.0, 25);
    assert_eq!(
        (v.issuer.as_deref(), v.subject.as_deref()),
        (Some("https://i.test"), Some("alice")),
        "--for binds it"
    );
    let unbound = ok(run(&["voucher", "issue", "--credits", "3"], &cfg, &url));
    let u = voucher::decode(unbound.trim()).unwrap();
    assert_eq!((u.issuer, u.key_id.clone()), (None, v.key_id.clone()));
    let bad = run(&["voucher", "issue", "--credits", "0"], &cfg, &url);
    assert!(!bad.status.success(), "zero credits are refused");

    let rotated: serde_json::Value =
        serde_json::from_str(&ok(run(&["keys", "rotate"], &cfg, &url))).unwrap();
    assert_eq!(
        rotated["signed_by"],
        v.key_id.as_str(),
        "the old key signs the new one"
    );
    assert!(
        !rotated.to_string().contains("LKVS1"),
        "no private key is printed"
    );
    let after = ok(run(&["voucher", "issue", "--credits", "1"], &cfg, &url));
    assert_eq!(
        voucher::decode(after.trim()).unwrap().key_id,
        rotated["kid"].as_str().unwrap()
    );

    let grant = [
        "grant",
        "--issuer",
        "https://i.test",
        "--subject",
        "bob",
        "--credits",
        "9",
    ];
    ok(run(&grant, &cfg, &url));
    let report: serde_json::Value =
        serde_json::from_str(&ok(run(&["report", "--json"], &cfg, &url))).unwrap();
    let lines = report["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{report}");
    assert_eq!(lines[0]["subject"], "bob");
    assert_eq!(lines[0]["granted"], 9);
    let table = ok(run(&["report"], &cfg, &url));
    assert!(table.contains("https://i.test bob"), "{table}");
}
