//! Issue 9's real-partition scenarios. Each cuts and restores device links around (and in
//! the middle of) bursts of paid runs and syncs, then checks the invariants.

use super::net::Hold;
use super::{Device, Rig, COST};
use crate::harness::{assert_exit, text};
use std::process::Stdio;
use std::time::{Duration, Instant};

impl Device {
    /// Starts `latchkey sync --lease 50`, lets its traffic through until the request matching
    /// `pattern` (held before the service sees it, or after the service answered, per `hold`),
    /// then cuts the link and kills the process with SIGKILL, and restores the link.
    fn kill_sync_at(&self, pattern: &str, hold: Hold) {
        self.gate.arm(pattern, hold);
        let mut child = self
            .command("-", &["sync", "--lease", "50"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("latchkey sync starts");
        let t0 = Instant::now();
        let fired = loop {
            if self.gate.wait(Duration::from_millis(100)) {
                break true;
            }
            if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(60) {
                break false;
            }
        };
        self.gate.disarm();
        self.ns.cut();
        let _ = child.kill(); // SIGKILL (`ip netns exec` execs latchkey itself)
        let out = child.wait_with_output().unwrap();
        self.ns.restore();
        assert!(
            fired,
            "{}: the sync reached {pattern:?} ({hold:?}); it ended {:?}: {}",
            self.label,
            out.status,
            text(&out.stderr)
        );
    }
}

fn refused(r: &serde_json::Value) -> &Vec<serde_json::Value> {
    r["refused"].as_array().expect("refused is a list")
}

#[test]
fn leases_of_60_and_40_hold_two_partitioned_devices_to_100_in_all() {
    let rig = Rig::start("");
    rig.grant(100);
    let (a, b, c) = (rig.device("A"), rig.device("B"), rig.device("C"));
    assert_eq!(a.sync(Some(60))["offline_available"], 60);
    assert_eq!(
        b.sync(Some(60))["offline_available"],
        40,
        "only 40 are left to lend"
    );
    assert_eq!(
        c.sync(None)["offline_available"],
        0,
        "nothing is left to lend to a third device"
    );
    rig.assert_safe(&[&a, &b, &c]);

    for d in [&a, &b, &c] {
        d.ns.cut();
    }
    // All three spend at once, each trying 80 (8 runs of 10); B's link comes back for one
    // sync in the middle of its burst and is cut again.
    let paid = std::thread::scope(|s| {
        let pa = s.spawn(|| a.offline_burst(8));
        let pb = s.spawn(|| {
            let first = b.offline_burst(2);
            b.ns.restore();
            let mid = b.sync(None);
            assert_eq!(
                (mid["pushed"].as_i64(), mid["applied"].as_i64()),
                (Some(2), Some(2)),
                "B pushed what it spent so far: {mid}"
            );
            assert_eq!(mid["offline_available"], 20, "{mid}");
            b.ns.cut();
            first + b.offline_burst(6)
        });
        let pc = s.spawn(|| c.offline_burst(2));
        (pa.join().unwrap(), pb.join().unwrap(), pc.join().unwrap())
    });
    assert_eq!(
        paid,
        (6, 4, 0),
        "each device stops at its own lease (60, 40, none) of the 80 it tried"
    );
    rig.assert_safe(&[&a, &b, &c]);
    assert_exit(&a.run(&["sync"]), 27, "a sync while cut off");
    assert_eq!(
        rig.spent(),
        2 * COST,
        "only what B pushed in its window has reached the service"
    );

    for d in [&a, &b, &c] {
        d.ns.restore();
    }
    // Two rounds: the second pulls what the others pushed in the first.
    for _ in 0..2 {
        for d in [&a, &b, &c] {
            let r = d.sync(None);
            assert!(refused(&r).is_empty(), "{}: {r}", d.label);
        }
    }
    assert_eq!(rig.spent(), 100, "exactly 100 spent, never 160");
    assert_eq!(rig.ledger(), (0, 0), "nothing left, nothing negative");
    rig.assert_settled(&[&a, &b, &c]);
}

#[test]
fn one_voucher_on_two_partitioned_devices_counts_once() {
    let rig = Rig::start("");
    let (a, b) = (rig.device("A"), rig.device("B"));
    let out = rig.svc.operator(&[
        "voucher",
        "issue",
        "--credits",
        "40",
        "--for",
        &rig.idp.issuer,
        "alice",
    ]);
    assert!(out.status.success(), "voucher issue: {}", text(&out.stderr));
    let voucher = text(&out.stdout).trim().to_string();
    // Each sync pins the service's voucher keys, so the devices can check vouchers offline.
    a.sync(None);
    b.sync(None);

    a.ns.cut();
    b.ns.cut();
    for d in [&a, &b] {
        let key = format!("v-{}", d.label);
        let q = d.json(&["wallet", "redeem", &voucher, "--key", &key, "--json"]);
        assert_eq!(q["queued"], true, "{}: queued while cut off: {q}", d.label);
        assert_eq!(q["entry"], serde_json::Value::Null, "{}: {q}", d.label);
    }
    assert_eq!(rig.ledger(), (0, 0), "nothing counted offline");

    // A's link comes back; its sync sends the queued voucher, the service records it, but
    // the answer is lost to a cut and A is killed.
    a.ns.restore();
    a.gate.arm("POST /v1/redeem ", Hold::Reply);
    let mut child = a
        .command("-", &["sync", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        a.gate.wait(Duration::from_secs(60)),
        "A's queued voucher reached the service"
    );
    a.ns.cut();
    let _ = child.kill();
    let _ = child.wait();
    let vouchers = "SELECT count(*) || ',' || SUM(amount) FROM entries WHERE kind = 'voucher'";
    assert_eq!(rig.sql(vouchers), "1,40", "the service counted it once");

    // B comes back first and sends its queued copy: already redeemed, nothing credited.
    b.ns.restore();
    let s = b.sync(None);
    assert_eq!(
        s["vouchers"]["outcomes"][0]["outcome"], "already_redeemed",
        "the same voucher on a second device: {s}"
    );
    assert_eq!(s["vouchers"]["credited"], 0, "{s}");
    let twice = b.run(&["wallet", "redeem", &voucher, "--key", "v-B"]);
    assert_exit(&twice, 23, "the same voucher on a second device, online");
    // A comes back; its sync sends the voucher again with its key: the first answer.
    a.ns.restore();
    let s = a.sync(None);
    assert_eq!(
        s["vouchers"]["outcomes"][0]["outcome"], "credited",
        "A's retry after the lost answer: {s}"
    );
    let again = a.json(&["wallet", "redeem", &voucher, "--key", "v-A", "--json"]);
    assert_eq!(again["entry"]["kind"], "voucher", "{again}");
    assert_eq!(again["balance"]["posted"], 40, "{again}");
    assert_eq!(rig.sql(vouchers), "1,40", "one voucher entry of 40");
    for d in [&a, &b, &a, &b] {
        let s = d.sync(None);
        assert_eq!(
            s["vouchers"]["sent"], 0,
            "{}: the queue is empty: {s}",
            d.label
        );
    }
    rig.assert_settled(&[&a, &b]);
}

#[test]
fn a_lost_device_removed_during_its_partition_is_refused_when_it_reappears() {
    let rig = Rig::start("");
    rig.grant(100);
    let (home, lost, other) = (rig.device("home"), rig.device("lost"), rig.device("other"));
    home.sync(None);
    other.sync(None);
    assert_eq!(lost.sync(Some(40))["offline_available"], 40);
    let lost_id = lost.device_id();

    lost.ns.cut();
    assert_eq!(lost.offline_burst(3), 3, "spent 30 of its lease, cut off");
    let removed = home.json(&["devices", "remove", &lost_id, "--json"]);
    assert!(removed["removed_at"].is_string(), "{removed}");
    assert_eq!(
        rig.ledger(),
        (100, 40),
        "its lease's 40 came back; home's and other's default 20 are still held"
    );
    // Meanwhile another device is cut off too and spends from its own lease, and the lost one
    // goes on spending what its lease (as it last knew it) has left.
    other.ns.cut();
    assert_eq!(other.offline_burst(1), 1);
    assert_eq!(lost.offline_burst(2), 1, "10 were left of its 40");
    rig.assert_safe(&[&home, &lost, &other]);

    lost.ns.restore();
    other.ns.restore();
    let r = lost.sync(None);
    let refused = refused(&r);
    assert_eq!(refused.len(), 4, "all four of its spends: {r}");
    assert!(
        refused.iter().all(|e| e["reason"] == "device_removed"),
        "{r}"
    );
    assert_eq!(
        r["offline_available"], 0,
        "a removed device gets no lease: {r}"
    );
    let shown = text(&lost.run(&["sync"]).stdout);
    assert!(shown.contains("removed as lost"), "{shown}");
    lost.ns.cut();
    assert_eq!(
        lost.offline_burst(1),
        0,
        "nothing to spend offline any more"
    );
    lost.ns.restore();

    for d in [&other, &home, &lost] {
        d.sync(None);
    }
    assert_eq!(rig.spent(), COST, "only other's spend moved credits");
    assert_eq!(
        rig.sql("SELECT count(*) FROM device_entries WHERE reason = 'device_removed'"),
        "4",
        "stored at the service as rejected"
    );
    rig.assert_settled(&[&home, &lost, &other]);
}

#[test]
fn a_push_replayed_30_days_later_is_answered_from_its_first_outcome() {
    let rig = Rig::start("");
    rig.grant(100);
    let a = rig.device("A");
    a.sync(Some(40));
    a.ns.cut();
    assert_eq!(a.offline_burst(2), 2);
    // The device's sync state before its push, as an old backup of it would hold it.
    let data = a.machine.data_dir();
    let backup = a.machine.dir.path().join("backup");
    std::fs::create_dir_all(&backup).unwrap();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        for f in ["sync.sqlite", "sync.sqlite-wal", "sync.sqlite-shm"] {
            let _ = std::fs::remove_file(to.join(f));
            if from.join(f).exists() {
                std::fs::copy(from.join(f), to.join(f)).unwrap();
            }
        }
    };
    copy(&data, &backup);
    a.ns.restore();
    let r = a.sync(None);
    assert_eq!(
        (r["pushed"].as_i64(), r["applied"].as_i64()),
        (Some(2), Some(2)),
        "{r}"
    );
    assert_eq!(rig.spent(), 2 * COST);

    // 30 days go by at the service: its record of these entries is now that old (the server
    // has no clock to set, so the rows are aged; triggers are off for this one session).
    rig.sql(
        "SET session_replication_role = replica; \
         UPDATE device_entries SET created_at = created_at - interval '30 days'; \
         UPDATE entries SET created_at = created_at - interval '30 days' WHERE kind = 'spend'",
    );
    assert_eq!(
        rig.sql(
            "SELECT count(*) FROM device_entries WHERE created_at < now() - interval '29 days'"
        ),
        "2"
    );
    // The device is restored from that backup and pushes the same entries again.
    copy(&backup, &data);
    let replay = a.sync(None);
    assert_eq!(
        (replay["pushed"].as_i64(), replay["applied"].as_i64()),
        (Some(2), Some(2)),
        "answered already_applied from the 30-day-old record: {replay}"
    );
    assert!(refused(&replay).is_empty(), "{replay}");
    assert_eq!(rig.spent(), 2 * COST, "applied once, not again");
    assert!(
        a.local_entries()
            .iter()
            .all(|e| e.outcome.as_deref() == Some("already_applied")),
        "{:?}",
        a.local_entries()
    );
    rig.assert_settled(&[&a]);

    // A conflicting replay: the same entry id with another amount.
    copy(&backup, &data);
    let first = a.local_entries()[0].id.clone();
    {
        let conn = rusqlite::Connection::open(data.join("sync.sqlite")).unwrap();
        conn.execute_batch(&format!(
            "DROP TRIGGER offline_entries_outcome_once; \
             UPDATE offline_entries SET amount = amount + {COST} WHERE entry_id = '{first}';"
        ))
        .unwrap();
    }
    let conflict = a.sync(None);
    let refused = refused(&conflict);
    assert_eq!(refused.len(), 1, "{conflict}");
    assert_eq!(
        (
            refused[0]["entry_id"].as_str(),
            refused[0]["outcome"].as_str()
        ),
        (Some(first.as_str()), Some("conflict")),
        "{conflict}"
    );
    assert_eq!(rig.spent(), 2 * COST, "a conflicting replay moves nothing");
    rig.assert_settled(&[&a]);
}

#[test]
fn a_sync_killed_at_every_step_across_cuts_applies_each_spend_once() {
    let rig = Rig::start("");
    rig.grant(100);
    let a = rig.device("A");
    // First contact: killed while the registration is held, then after the service made it.
    let devices = || rig.sql("SELECT count(*) FROM devices");
    a.kill_sync_at("PUT /v1/devices/", Hold::Request);
    assert_eq!(
        devices(),
        "0",
        "the held registration never reached the service"
    );
    a.kill_sync_at("PUT /v1/devices/", Hold::Reply);
    assert_eq!(
        devices(),
        "1",
        "the service registered it; the device never heard"
    );
    rig.assert_safe(&[&a]);
    assert_eq!(a.sync(Some(50))["offline_available"], 50);
    let id = a.device_id();
    let steps = [
        format!("POST /v1/devices/{id}/entries "),
        "GET /v1/sync?".to_string(),
        "GET /v1/devices ".to_string(),
        format!("POST /v1/devices/{id}/lease "),
        "GET /v1/balance ".to_string(),
    ];
    let mut paid = 0;
    for step in &steps {
        for hold in [Hold::Request, Hold::Reply] {
            a.ns.cut();
            paid += a.offline_burst(1);
            a.ns.restore();
            let at_service = || rig.device_entries(&id).len();
            let before = at_service();
            a.kill_sync_at(step, hold);
            rig.assert_safe(&[&a]);
            if step.ends_with("/entries ") {
                let unanswered = a
                    .local_entries()
                    .iter()
                    .filter(|e| e.outcome.is_none())
                    .count();
                assert!(
                    unanswered > 0,
                    "the killed push's answer was never kept here"
                );
                assert_eq!(
                    at_service() > before,
                    hold == Hold::Reply,
                    "the push reached the service only when its answer (not it) was held"
                );
            }
        }
    }
    assert!(
        paid >= 5,
        "the lease of 50 paid at least five runs of 10 offline: {paid}"
    );
    // The same steps with the request's connection torn down and the link cut while the
    // process lives: the sync stops with exit 27, having kept what it finished.
    for step in &steps {
        a.ns.cut();
        paid += a.offline_burst(1);
        a.ns.restore();
        a.gate.arm(step, Hold::Request);
        let mut child = a
            .command("-", &["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        let fired = loop {
            if a.gate.wait(Duration::from_millis(100)) {
                break true;
            }
            if child.try_wait().unwrap().is_some() || t0.elapsed() > Duration::from_secs(60) {
                break false;
            }
        };
        a.gate.disarm();
        // Torn down before the cable goes (else the close could not reach the device either,
        // and it would wait for its request timeout).
        a.gate.reset();
        a.ns.cut();
        let out = child.wait_with_output().unwrap();
        a.ns.restore();
        assert!(
            fired,
            "the sync reached {step}: {:?} {}",
            out.status,
            text(&out.stderr)
        );
        assert_exit(&out, 27, &format!("a sync cut off at {step}"));
        rig.assert_safe(&[&a]);
    }
    let done = a.sync(None);
    assert!(refused(&done).is_empty(), "{done}");
    a.sync(None);
    assert_eq!(
        rig.spent(),
        paid as i64 * COST,
        "each spend applied exactly once"
    );
    rig.assert_settled(&[&a]);
}

#[test]
fn a_single_machine_wallet_imported_through_a_lost_answer_counts_once() {
    let rig = Rig::start("");
    let out = rig.svc.operator(&["voucher", "issue", "--credits", "50"]);
    assert!(out.status.success(), "voucher issue: {}", text(&out.stderr));
    let v50 = text(&out.stdout).trim().to_string();
    let key = rig.sql("SELECT public_key FROM voucher_keys WHERE active");
    let (a, b) = (rig.device("A"), rig.device("B"));

    // A kept its wallet on the computer alone, and used it with no network at all.
    a.configure(
        &rig,
        &format!("offline_only = true\nvoucher_keys = [\"{key}\"]"),
        false,
    );
    a.ns.cut();
    let local: [&[&str]; 2] = [
        &["wallet", "redeem", &v50, "--key", "l-50"],
        &["wallet", "spend", "--credits", "12", "--key", "s-12"],
    ];
    for args in local {
        assert_exit(&a.run(args), 0, "the single-machine wallet works offline");
    }
    assert_eq!(a.json(&["wallet", "balance", "--json"])["available"], 38);
    a.ns.restore();

    // A service is configured: the first sync imports the wallet. Killed once while the
    // import is held before the service sees it, once after the service applied it.
    a.configure(&rig, "", true);
    a.kill_sync_at("/import HTTP/1.1", Hold::Request);
    assert_eq!(rig.ledger(), (0, 0), "the held import reached nothing");
    a.kill_sync_at("/import HTTP/1.1", Hold::Reply);
    assert_eq!(
        rig.ledger(),
        (38, 0),
        "the service imported the voucher's 50 and the 12 spent; A never heard"
    );

    // B, cut off meanwhile, tries the same voucher once back: the import redeemed it.
    b.ns.cut();
    assert_exit(
        &b.run(&["wallet", "redeem", &v50, "--key", "b-50"]),
        27,
        "refused while cut off",
    );
    b.ns.restore();
    let late = b.run(&["wallet", "redeem", &v50, "--key", "b-50"]);
    // The import redeemed it: the service answers 409 already_redeemed (exit 23).
    assert_exit(&late, 23, "the voucher counted once, through A's import");
    assert_eq!(
        rig.ledger(),
        (38, 0),
        "the late redemption credited nothing"
    );

    let again = a.sync(None);
    let import = &again["import"];
    assert_eq!(
        (
            import["sent"].as_i64(),
            import["credited"].as_i64(),
            import["spent"].as_i64()
        ),
        (Some(2), Some(0), Some(0)),
        "sent again after the lost answer, answered from the service's record: {again}"
    );
    assert_eq!(rig.ledger().0, 38, "nothing imported twice");
    assert_eq!(a.sync(None)["import"], serde_json::Value::Null);
    // Two rounds: a sync pulls before it asks for its lease, so the hold of B's first lease
    // reaches B's ledger with its next sync.
    for d in [&b, &a, &b, &a] {
        d.sync(None);
    }
    assert_eq!(
        rig.sql(
            "SELECT count(*) || ',' || SUM(applied) FROM wallet_imports WHERE outcome = 'imported'"
        ),
        "2,62",
        "each local entry imported once: the voucher's 50 and the 12 spent"
    );
    rig.assert_settled(&[&a, &b]);
}
