//! Sync across devices (issue 9) on the real stack: `latchkey` processes as devices (each its
//! own data dir, the same signed-in user), the real `latchkey-server` over a throwaway
//! PostgreSQL, the test OpenID Provider's real ID tokens. "Offline" is the service stopped, or
//! one device's `[service] url` pointing at a closed port; "back" is the service started again
//! over the same database (a new port, written into the devices' configuration).

use crate::harness::{assert_exit, text, Idp, Machine};
use latchkey_testkit::pg::{fresh_db_sync, psql};
use latchkey_testkit::server::Service;

/// What one analytics run costs in these tests.
const COST: i64 = 20;

/// A device of alice's: signed in, `[service] url` = `base`, runs costing [`COST`], one
/// dataset imported (importing is free and local).
fn device(idp: &Idp, base: &str) -> Machine {
    device_costing(idp, base, COST)
}

/// [`device`] with runs costing `cost`.
fn device_costing(idp: &Idp, base: &str, cost: i64) -> Machine {
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    m.add_config(&format!(
        "\n[wallet]\nanalytics_cost = {cost}\n\n[service]\nurl = \"{base}\"\n"
    ));
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    let csv = m.dir.path().join("spend.csv");
    std::fs::write(
        &csv,
        "date,amount,category\n2026-01-03,5,food\n2026-01-09,7,rent\n",
    )
    .unwrap();
    assert_exit(
        &m.latchkey(
            "-",
            &[
                "analytics",
                "import",
                csv.to_str().unwrap(),
                "--name",
                "spend",
            ],
        ),
        0,
        "import",
    );
    m
}

/// Points the device's configuration at another service address.
fn point_at(m: &Machine, base: &str) {
    let path = m.dir.path().join("auth.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("\nurl = \"").expect("a [service] url") + 8;
    let end = start + text[start..].find('"').unwrap();
    std::fs::write(&path, format!("{}{base}{}", &text[..start], &text[end..])).unwrap();
}

/// A port where nothing listens.
fn closed_base() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

fn run(m: &Machine) -> std::process::Output {
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
    assert!(out.status.success(), "grant: {}", text(&out.stderr));
}

/// alice's "posted,held" in the service's database.
fn ledger_row(svc: &Service) -> String {
    psql(
        &svc.db_url,
        "SELECT b.posted || ',' || b.held FROM balances b JOIN users u ON u.id = b.user_id \
         WHERE u.subject = 'alice'",
    )
}

/// Credits spent in the service's ledger (plain spends: what devices pushed).
fn spent(svc: &Service) -> String {
    psql(
        &svc.db_url,
        "SELECT COALESCE(SUM(amount), 0) FROM entries WHERE kind = 'spend'",
    )
}

fn device_id(m: &Machine) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(m.data_dir().join("device.json")).unwrap()).unwrap();
    v["device_id"].as_str().unwrap().to_string()
}

#[test]
fn offline_spends_come_from_the_lease_and_are_applied_once_when_back() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let mut svc = Service::start(&db, &idp.issuer, "");
    grant(&svc, &idp, "100");
    let m = device(&idp, &svc.base);

    let first = m.json(&["sync", "--lease", "40", "--json"]);
    assert_eq!(
        first["registered"], true,
        "first contact registers: {first}"
    );
    assert_eq!(first["offline_available"], 40, "{first}");
    assert_eq!(
        ledger_row(&svc),
        "100,40",
        "the lease is a hold at the service"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(m.data_dir().join("device.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the device identity is private");
    }
    let devices = m.json(&["devices", "--json"]);
    let list = devices["devices"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{devices}");
    assert_eq!(list[0]["this_device"], true);
    assert_eq!(list[0]["lease_remaining"], 40);

    svc.stop();
    assert_exit(&run(&m), 0, "an offline run paid from the lease");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(b["offline_available"], 20, "{b}");
    assert_eq!(b["stale"], true, "{b}");
    assert!(b["last_synced_at"].is_string(), "{b}");
    assert_exit(
        &m.latchkey("-", &["sync"]),
        27,
        "sync while the service is down",
    );

    let svc = Service::start(&db, &idp.issuer, "");
    point_at(&m, &svc.base);
    let back = m.json(&["sync", "--json"]);
    assert_eq!(
        (back["pushed"].as_i64(), back["applied"].as_i64()),
        (Some(1), Some(1)),
        "{back}"
    );
    assert_eq!(
        spent(&svc),
        "20",
        "the offline spend is in the service's ledger"
    );
    let again = m.json(&["sync", "--json"]);
    assert_eq!(again["pushed"], 0, "nothing is pushed twice: {again}");
    assert_eq!(spent(&svc), "20", "applied once");
    let service = m.json(&["wallet", "balance", "--json"]);
    let posted_held = ledger_row(&svc);
    assert_eq!(
        format!("{},{}", service["posted"], service["held"]),
        posted_held,
        "the device shows the service's balance after sync"
    );
    assert_eq!(service["stale"], false);
}

#[test]
fn two_devices_with_leases_of_60_and_40_spend_100_at_most() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let mut svc = Service::start(&db, &idp.issuer, "");
    grant(&svc, &idp, "100");
    let a = device(&idp, &svc.base);
    let b = device(&idp, &svc.base);
    assert_eq!(
        a.json(&["sync", "--lease", "60", "--json"])["offline_available"],
        60
    );
    assert_eq!(
        b.json(&["sync", "--lease", "60", "--json"])["offline_available"],
        40,
        "only 40 are left to lend"
    );

    svc.stop();
    // Each tries to spend 80 offline (4 runs of 20).
    let mut ok = [0, 0];
    for (i, m) in [&a, &b].into_iter().enumerate() {
        for _ in 0..4 {
            let out = run(m);
            match out.status.code() {
                Some(0) => ok[i] += 1,
                Some(20) => assert!(
                    text(&out.stderr).contains("available offline: 0"),
                    "the refusal says what is left offline: {}",
                    text(&out.stderr)
                ),
                other => panic!("run exited {other:?}: {}", text(&out.stderr)),
            }
        }
    }
    assert_eq!(ok, [3, 2], "each device stops at its own lease");

    let svc = Service::start(&db, &idp.issuer, "");
    for m in [&a, &b] {
        point_at(m, &svc.base);
        let r = m.json(&["sync", "--json"]);
        assert!(r["refused"].as_array().unwrap().is_empty(), "{r}");
    }
    assert_eq!(spent(&svc), "100", "exactly 100 spent, never 160");
    assert_eq!(ledger_row(&svc), "0,0", "nothing is left, nothing negative");
}

#[test]
fn a_removed_devices_later_push_is_rejected_and_shown() {
    let idp = Idp::start(&[]);
    let svc = Service::start(&fresh_db_sync(), &idp.issuer, "");
    grant(&svc, &idp, "100");
    let home = device(&idp, &svc.base);
    let lost = device(&idp, &svc.base);
    home.json(&["sync", "--json"]);
    lost.json(&["sync", "--lease", "40", "--json"]);
    let lost_id = device_id(&lost);

    // The lost device spends offline; meanwhile the user removes it from the other one.
    point_at(&lost, &closed_base());
    assert_exit(&run(&lost), 0, "spent offline from its lease");
    let removed = home.json(&["devices", "remove", &lost_id, "--json"]);
    assert!(removed["removed_at"].is_string(), "{removed}");
    assert_eq!(
        ledger_row(&svc),
        "100,20",
        "its lease's 40 are released; only home's default lease of 20 is still held"
    );

    point_at(&lost, &svc.base);
    let r = lost.json(&["sync", "--json"]);
    let refused = r["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{r}");
    assert_eq!(refused[0]["reason"], "device_removed");
    assert_eq!(
        r["offline_available"], 0,
        "a removed device gets no new lease: {r}"
    );
    let shown = text(&lost.latchkey("-", &["sync"]).stdout);
    assert!(shown.contains("removed as lost"), "{shown}");
    // The device that removed it lists the refused spend too, after its next sync.
    let home_sync = text(&home.latchkey("-", &["sync"]).stdout);
    assert!(
        home_sync.contains("Refused by the service, from \u{201c}")
            && home_sync.contains("that device had been removed as lost")
            && home_sync.contains("nothing was charged"),
        "{home_sync}"
    );
    let history = text(&home.latchkey("-", &["wallet", "history"]).stdout);
    assert!(
        history.contains("Not accepted by the credit service")
            && history.contains(&format!("-{COST}"))
            && history.contains("that device had been removed as lost"),
        "{history}"
    );
    assert_eq!(
        home.json(&["wallet", "history", "--json"])["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "spend")
            .count(),
        0,
        "--json keeps the service's entries only"
    );
    assert_eq!(spent(&svc), "0", "the rejected spend moved no credits");
    let stored = psql(
        &svc.db_url,
        "SELECT count(*) FROM device_entries WHERE reason = 'device_removed'",
    );
    assert_eq!(stored, "1", "stored at the service as rejected");
    let list = home.json(&["devices", "--json"]);
    assert!(
        list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["device_id"] == lost_id.as_str() && d["removed_at"].is_string()),
        "{list}"
    );
}

#[test]
fn a_sync_killed_between_the_services_commit_and_its_reply_applies_once() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let svc = Service::start(&db, &idp.issuer, "");
    grant(&svc, &idp, "100");
    let m = device(&idp, &svc.base);
    m.json(&["sync", "--lease", "40", "--json"]);
    point_at(&m, &closed_base());
    assert_exit(&run(&m), 0, "committed locally, offline");
    point_at(&m, &svc.base);

    let marker = m.dir.path().join("pushed");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey"));
    cmd.args(["sync"])
        .env("LATCHKEY_CONFIG", m.dir.path().join("auth.toml"))
        .env("LATCHKEY_DATA_DIR", m.data_dir())
        .env("LATCHKEY_KEYRING_SERVICE", &m.service)
        .env("LATCHKEY_TEST_PAUSE_AFTER_PUSH", &marker)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let t0 = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(60),
            "the sync reached its push"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sync ended before its push: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(spent(&svc), "20", "the service committed the push");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(b["offline_available"], 20, "unanswered, still counted: {b}");

    let r = m.json(&["sync", "--json"]);
    assert_eq!(r["pushed"], 1, "pushed again after the crash: {r}");
    assert_eq!(r["applied"], 1, "answered already_applied: {r}");
    assert_eq!(spent(&svc), "20", "applied exactly once");
    let again = m.json(&["sync", "--json"]);
    assert_eq!(again["pushed"], 0, "{again}");
}

#[test]
fn wallet_spend_and_reserve_offline_come_from_the_lease_and_are_pushed_once() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let mut svc = Service::start(&db, &idp.issuer, "");
    grant(&svc, &idp, "100");
    let m = device(&idp, &svc.base);
    assert_eq!(
        m.json(&["sync", "--lease", "30", "--json"])["offline_available"],
        30
    );
    assert_exit(&m.latchkey("-", &["wallet", "history"]), 0, "read online");
    svc.stop();

    let spend = m.json(&[
        "wallet",
        "spend",
        "--credits",
        "8",
        "--key",
        "s-1",
        "--memo",
        "export",
        "--json",
    ]);
    let spend_id = spend["entry"]["id"].as_i64().unwrap();
    assert!(spend_id < 0, "an offline entry has a local id: {spend}");
    assert_eq!(spend["replayed"], false);
    assert_eq!(
        (
            spend["balance"]["posted"].as_i64(),
            spend["balance"]["available"].as_i64()
        ),
        (Some(92), Some(70)),
        "spent from the lease's hold, so available (what other devices see) stays: {spend}"
    );
    let again = m.json(&[
        "wallet",
        "spend",
        "--credits",
        "8",
        "--key",
        "s-1",
        "--memo",
        "export",
        "--json",
    ]);
    assert_eq!(again["replayed"], true, "the same key spends once: {again}");
    assert_eq!(again["entry"]["id"], spend_id);
    assert_exit(
        &m.latchkey("-", &["wallet", "spend", "--credits", "9", "--key", "s-1"]),
        21,
        "the same key with another amount",
    );

    let hold = m.json(&[
        "wallet",
        "reserve",
        "--credits",
        "10",
        "--key",
        "r-1",
        "--json",
    ]);
    let hold_id = hold["entry"]["id"].as_i64().unwrap();
    assert!(hold_id < 0, "{hold}");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(b["offline_available"], 12, "30 - 8 spent - 10 held: {b}");
    assert_eq!(b["posted"], 92, "{b}");

    let history = text(&m.latchkey("-", &["wallet", "history"]).stdout);
    assert!(
        history.contains("Not synced yet")
            && history.contains(&format!("{spend_id} "))
            && history.contains(&format!("{hold_id} ")),
        "history shows what waits for the sync: {history}"
    );
    let too_much = m.latchkey("-", &["wallet", "spend", "--credits", "13"]);
    assert_exit(&too_much, 20, "beyond the lease");
    assert!(
        text(&too_much.stderr).contains("available offline: 12"),
        "{}",
        text(&too_much.stderr)
    );
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["offline_available"],
        12,
        "a refusal changes nothing"
    );

    let hold_arg = hold_id.to_string();
    let cap = m.json(&[
        "wallet",
        "capture",
        "--hold",
        &hold_arg,
        "--credits",
        "6",
        "--key",
        "c-1",
        "--json",
    ]);
    assert_eq!(cap["entry"]["kind"], "capture", "{cap}");
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["offline_available"],
        16,
        "the uncaptured 4 went back to the lease"
    );
    assert_exit(
        &m.latchkey(
            "-",
            &["wallet", "release", "--hold", &hold_arg, "--key", "x-1"],
        ),
        22,
        "a settled offline hold",
    );
    let h2 = m.json(&[
        "wallet",
        "reserve",
        "--credits",
        "5",
        "--key",
        "r-2",
        "--json",
    ]);
    let h2_arg = h2["entry"]["id"].as_i64().unwrap().to_string();
    assert_exit(
        &m.latchkey(
            "-",
            &["wallet", "release", "--hold", &h2_arg, "--key", "x-2"],
        ),
        0,
        "release an offline hold",
    );
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["offline_available"],
        16,
        "a released hold costs nothing"
    );

    let svc = Service::start(&db, &idp.issuer, "");
    point_at(&m, &svc.base);
    let back = m.json(&["sync", "--json"]);
    assert_eq!(
        (back["pushed"].as_i64(), back["applied"].as_i64()),
        (Some(2), Some(2)),
        "the spend and the capture: {back}"
    );
    assert_eq!(spent(&svc), "14", "8 + 6, each once");
    assert_eq!(m.json(&["sync", "--json"])["pushed"], 0);
    assert!(
        !text(&m.latchkey("-", &["wallet", "history"]).stdout).contains("Not synced yet"),
        "once pushed, they are the service's entries"
    );
    let after = m.json(&[
        "wallet",
        "spend",
        "--credits",
        "8",
        "--key",
        "s-1",
        "--memo",
        "export",
        "--json",
    ]);
    assert_eq!(
        after["replayed"], true,
        "online, a key spent offline is not spent again: {after}"
    );
    assert_eq!(spent(&svc), "14");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(
        format!("{},{}", b["posted"], b["held"]),
        ledger_row(&svc),
        "after sync the device shows the service's balance: {b}"
    );
    assert_eq!(b["posted"], 86);

    // The lease itself is closed only by this device's sync or by removing the device.
    let lease_hold = psql(
        &svc.db_url,
        "SELECT hold_seq FROM leases WHERE closed_at IS NULL",
    );
    let out = m.latchkey("-", &["wallet", "release", "--hold", &lease_hold]);
    assert_exit(&out, 31, "a device's lease is not released by hand");
    assert!(
        text(&out.stderr).contains("latchkey devices remove"),
        "the hint says what does close it: {}",
        text(&out.stderr)
    );
    assert_eq!(
        ledger_row(&svc),
        format!("86,{}", 30 - 14),
        "nothing changed"
    );
}

#[test]
fn a_single_machine_wallet_is_imported_once_on_the_first_sync() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let svc = Service::start(&db, &idp.issuer, "");
    let issue = |credits: &str| {
        let out = svc.operator(&["voucher", "issue", "--credits", credits]);
        assert!(out.status.success(), "voucher issue: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    let (v50, v7) = (issue("50"), issue("7"));
    let key = psql(
        &svc.db_url,
        "SELECT public_key FROM voucher_keys WHERE active",
    );

    // A wallet kept on this computer alone: two service vouchers redeemed, a local grant, a
    // spend.
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    m.add_config(&format!(
        "\n[wallet]\noffline_only = true\nvoucher_keys = [\"{key}\"]\n"
    ));
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    for (v, k) in [(&v50, "v-50"), (&v7, "v-7")] {
        assert_exit(
            &m.latchkey("-", &["wallet", "redeem", v, "--key", k]),
            0,
            "redeemed locally",
        );
    }
    assert_exit(
        &m.latchkey("-", &["wallet", "grant", "--credits", "10", "--key", "g-1"]),
        0,
        "a local grant",
    );
    assert_exit(
        &m.latchkey("-", &["wallet", "spend", "--credits", "12", "--key", "s-1"]),
        0,
        "a local spend",
    );
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["available"],
        55,
        "50 + 7 + 10 - 12 on this computer"
    );

    // Meanwhile the 7 was redeemed at the service from another device of alice's.
    let other = device(&idp, &svc.base);
    assert_exit(
        &other.latchkey("-", &["wallet", "redeem", &v7, "--key", "o-7"]),
        0,
        "redeemed at the service",
    );

    // The service is configured: the first sync imports the wallet.
    let path = m.dir.path().join("auth.toml");
    let conf = std::fs::read_to_string(&path)
        .unwrap()
        .replace("offline_only = true\n", "");
    std::fs::write(
        &path,
        format!("{conf}\n[service]\nurl = \"{}\"\n", svc.base),
    )
    .unwrap();
    let first = m.json(&["sync", "--json"]);
    let import = &first["import"];
    assert_eq!(import["sent"], 4, "{first}");
    assert_eq!(
        import["credited"], 50,
        "only the voucher the service verified: {first}"
    );
    assert_eq!(
        import["spent"], 2,
        "the spend's first 10 were the local grant's: {first}"
    );
    let reasons: Vec<(&str, &str)> = import["refused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        vec![("voucher", "already_redeemed"), ("grant", "local_grant")],
        "the user is told what did not count: {first}"
    );
    let shown = m.latchkey("-", &["sync"]);
    assert_exit(&shown, 0, "a second sync");
    assert!(
        !text(&shown.stdout).contains("Imported"),
        "nothing is imported twice: {}",
        text(&shown.stdout)
    );
    assert_eq!(
        ledger_row(&svc),
        format!("{},{}", 7 + 48, 20),
        "7 redeemed at the service + 50 - 2 imported; the lease holds 20"
    );
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["posted"],
        55,
        "the device shows the service's ledger"
    );
    assert_eq!(
        m.json(&["sync", "--json"])["import"],
        serde_json::Value::Null
    );

    // A copy of that data directory on a second computer imports nothing twice either.
    let copy = m.data_dir().join("sync.sqlite");
    std::fs::remove_file(&copy).unwrap();
    let again = m.json(&["sync", "--json"]);
    assert_eq!(again["import"]["credited"], 0, "{again}");
    assert_eq!(again["import"]["spent"], 0, "{again}");
    assert_eq!(
        ledger_row(&svc),
        "55,20",
        "the service applied nothing twice"
    );
}

/// This device's lease remaining, as the service lists it.
fn lease_remaining(m: &Machine) -> serde_json::Value {
    let devices = m.json(&["devices", "--json"]);
    devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["this_device"] == true)
        .map(|d| d["lease_remaining"].clone())
        .unwrap_or_default()
}

#[test]
fn online_spends_beyond_what_is_available_come_from_this_devices_lease() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let svc = Service::start(&db, &idp.issuer, "");
    grant(&svc, &idp, "10");
    let m = device_costing(&idp, &svc.base, 2);
    // The first sync lends all 10 to the device: 0 available at the service.
    assert_eq!(m.json(&["sync", "--json"])["offline_available"], 10);
    assert_eq!(ledger_row(&svc), "10,10", "the lease holds everything");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(
        (b["available"].as_i64(), b["spendable"].as_i64()),
        (Some(0), Some(10)),
        "the device can spend its lease: {b}"
    );
    let says = text(&m.latchkey("-", &["wallet", "balance"]).stdout);
    assert!(says.contains("This device can spend: 10"), "{says}");

    let spend = |credits: &str, key: &str| {
        m.latchkey(
            "-",
            &[
                "wallet",
                "spend",
                "--credits",
                credits,
                "--key",
                key,
                "--json",
            ],
        )
    };
    let out = spend("2", "s-1");
    assert_exit(&out, 0, "an online spend paid from the lease");
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["replayed"], false, "{first}");
    assert_eq!(
        ledger_row(&svc),
        "8,8",
        "pushed at once: the service captured it from the lease"
    );
    assert_eq!(spent(&svc), "2");
    assert_eq!(m.json(&["sync", "--json"])["pushed"], 0, "already pushed");
    assert_eq!(ledger_row(&svc), "8,8");
    assert_eq!(lease_remaining(&m), 8, "the lease is what is left of it");
    let again: serde_json::Value = serde_json::from_slice(&spend("2", "s-1").stdout).unwrap();
    assert_eq!(again["replayed"], true, "a replay: {again}");
    assert_eq!(again["entry"]["id"], first["entry"]["id"]);
    assert_exit(&spend("3", "s-1"), 21, "the same key, another amount");
    assert_eq!(spent(&svc), "2", "spent once");

    // A paid run online in the same state.
    assert_exit(&run(&m), 0, "a paid run online paid from the lease");
    assert_eq!(ledger_row(&svc), "6,6");
    assert_eq!(spent(&svc), "4");

    // More than available + lease: refused, nothing changed.
    let before = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(before["spendable"], 6, "{before}");
    let refused = spend("7", "s-2");
    assert_exit(&refused, 20, "beyond available + the lease");
    let words = text(&refused.stderr);
    assert!(
        words.contains("0 available at the credit service and 6 available offline"),
        "{words}"
    );
    assert_eq!(ledger_row(&svc), "6,6", "a refusal changes nothing");
    assert_eq!(spent(&svc), "4");
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["offline_available"],
        6
    );

    // Available and lease together: 5 granted, 9 spent (the lease grows to cover it).
    grant(&svc, &idp, "5");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(
        (b["available"].as_i64(), b["spendable"].as_i64()),
        (Some(5), Some(11)),
        "{b}"
    );
    assert_exit(&spend("9", "s-3"), 0, "available + lease cover it");
    assert_eq!(spent(&svc), "13");
    assert_eq!(ledger_row(&svc), "2,2", "11 - 9, lent again to the device");
    assert_exit(&spend("3", "s-4"), 20, "beyond available + lease");
    assert_eq!(ledger_row(&svc), "2,2", "a refusal changes nothing");

    // A hold made this way: released, then another captured.
    let reserve = |key: &str| {
        m.json(&[
            "wallet",
            "reserve",
            "--credits",
            "2",
            "--key",
            key,
            "--json",
        ])
    };
    let h1 = reserve("r-1");
    let h1_id = h1["entry"]["id"].as_i64().unwrap();
    assert!(h1_id < 0, "a hold on the lease: {h1}");
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["offline_available"],
        0
    );
    assert_exit(
        &m.latchkey(
            "-",
            &[
                "wallet",
                "release",
                "--hold",
                &h1_id.to_string(),
                "--key",
                "x-1",
            ],
        ),
        0,
        "released",
    );
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["offline_available"],
        2,
        "back to the lease"
    );
    let h2_id = reserve("r-2")["entry"]["id"].as_i64().unwrap();
    assert_exit(
        &m.latchkey(
            "-",
            &[
                "wallet",
                "capture",
                "--hold",
                &h2_id.to_string(),
                "--credits",
                "1",
                "--key",
                "c-2",
            ],
        ),
        0,
        "captured",
    );
    let synced = m.json(&["sync", "--json"]);
    assert_eq!(synced["applied"], 1, "{synced}");
    assert_eq!(spent(&svc), "14", "the capture reached the service once");
    assert_eq!(ledger_row(&svc), "1,1");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(
        (b["posted"].as_i64(), b["offline_available"].as_i64()),
        (Some(1), Some(1)),
        "the device shows the service's ledger: {b}"
    );

    // A lease that need not be renewed grows by the shortfall, from what is available.
    grant(&svc, &idp, "20");
    assert_eq!(
        m.json(&["sync", "--lease", "12", "--json"])["offline_available"],
        12
    );
    assert_eq!(ledger_row(&svc), "21,12", "9 available");
    assert_exit(&spend("15", "s-5"), 0, "9 available + 12 in the lease");
    assert_eq!(spent(&svc), "29");
    assert_eq!(ledger_row(&svc), "6,6", "21 - 15, lent again to the device");
}
