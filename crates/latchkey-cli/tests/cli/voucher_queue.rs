//! Vouchers redeemed while the credit service cannot be reached (issue 9: "queued offline, not
//! counted until confirmed"), on the real stack: `latchkey` devices of alice's, the real
//! `latchkey-server` over a throwaway PostgreSQL. "Offline" is the devices' link to the
//! service cut ([`Link`]); "back" is the link restored.

use crate::harness::{assert_exit, text, Idp, Machine};
use latchkey_testkit::pg::{fresh_db_sync, psql};
use latchkey_testkit::server::Service;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A device of alice's, signed in, with `[service] url` = `base`.
fn device(idp: &Idp, base: &str) -> Machine {
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    m.add_config(&format!("\n[service]\nurl = \"{base}\"\n"));
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    m
}

/// The devices' way to the service: a forwarder on a port of its own that can be cut (each
/// connection is then closed at once, as an unreachable service's would fail) and restored.
/// The devices keep one `[service] url` throughout, so the service's keys pinned for that
/// address stay theirs, as on a real machine that goes offline.
struct Link {
    base: String,
    up: Arc<AtomicBool>,
}

impl Link {
    fn to(svc: &Service) -> Link {
        let target = svc.base.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let open = up.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !open.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                std::thread::spawn(move || {
                    let Ok(server) = TcpStream::connect(&target) else {
                        return;
                    };
                    let (Ok(mut c_in), Ok(mut s_out)) = (client.try_clone(), server.try_clone())
                    else {
                        return;
                    };
                    let up_stream = std::thread::spawn(move || {
                        let _ = std::io::copy(&mut c_in, &mut s_out);
                        let _ = s_out.shutdown(Shutdown::Write);
                    });
                    let (mut s_in, mut c_out) = (server, client);
                    let _ = std::io::copy(&mut s_in, &mut c_out);
                    let _ = c_out.shutdown(Shutdown::Write);
                    let _ = up_stream.join();
                });
            }
        });
        Link { base, up }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// A service voucher of `credits` for alice.
fn voucher(svc: &Service, idp: &Idp, credits: &str) -> String {
    let out = svc.operator(&[
        "voucher",
        "issue",
        "--credits",
        credits,
        "--for",
        &idp.issuer,
        "alice",
    ]);
    assert!(out.status.success(), "voucher issue: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// Credits vouchers brought to alice at the service, and how many voucher entries.
fn vouchers_at_service(svc: &Service) -> String {
    psql(
        &svc.db_url,
        "SELECT COUNT(*) || ',' || COALESCE(SUM(e.amount), 0) FROM entries e \
         JOIN users u ON u.id = e.user_id WHERE u.subject = 'alice' AND e.kind = 'voucher'",
    )
}

fn queued(m: &Machine) -> serde_json::Value {
    m.json(&["wallet", "balance", "--json"])["queued_vouchers"].clone()
}

#[test]
fn an_offline_redeem_is_queued_then_credited_once_by_the_next_sync() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let svc = Service::start(&db, &idp.issuer, "");
    let link = Link::to(&svc);
    let m = device(&idp, &link.base);
    let v = voucher(&svc, &idp, "40");
    // First contact: the service's voucher keys are pinned here.
    let online = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(online["available"], 0, "{online}");
    assert_eq!(online["queued_vouchers"], 0, "{online}");

    link.cut();
    let r = m.json(&["wallet", "redeem", &v, "--key", "q-1", "--json"]);
    assert_eq!(r["queued"], true, "the service is unreachable: queued, {r}");
    assert_eq!(r["key"], "q-1", "{r}");
    assert_eq!(r["replayed"], false, "{r}");
    assert_eq!(
        r["entry"],
        serde_json::Value::Null,
        "no entry was written: {r}"
    );
    assert_eq!(r["voucher"]["credits"], 40, "{r}");
    assert_eq!(r["balance"]["available"], 0, "not counted yet: {r}");
    let text_out = m.latchkey("-", &["wallet", "redeem", &v]);
    assert_exit(&text_out, 0, "the same voucher again, under a fresh key");
    assert!(
        text(&text_out.stdout).contains("not counted"),
        "said plainly: {}",
        text(&text_out.stdout)
    );
    let again = m.json(&["wallet", "redeem", &v, "--json"]);
    assert_eq!(
        (again["queued"].clone(), again["replayed"].clone()),
        (true.into(), true.into()),
        "queued twice is one entry: {again}"
    );
    assert_eq!(again["key"], "q-1", "sent with the first key: {again}");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(b["stale"], true, "{b}");
    assert_eq!(b["available"], 0, "a queued voucher is not counted: {b}");
    assert_eq!(b["queued_vouchers"], 1, "one entry: {b}");

    // A forged voucher (a key that is not the service's) is refused at once, not queued.
    let key_file = m.dir.path().join("forger.key");
    let path = key_file.to_str().unwrap();
    assert_exit(
        &m.latchkey("-", &["wallet", "voucher", "keygen", "--out", path]),
        0,
        "keygen",
    );
    let forged = m.latchkey(
        "-",
        &[
            "wallet",
            "voucher",
            "issue",
            "--key",
            path,
            "--credits",
            "900",
        ],
    );
    assert_exit(&forged, 0, "issue");
    let forged = text(&forged.stdout).trim().to_string();
    assert_exit(
        &m.latchkey("-", &["wallet", "redeem", &forged]),
        23,
        "a forged voucher offline is refused at once",
    );
    assert_eq!(queued(&m), 1, "the forged voucher was not queued");
    assert_eq!(
        vouchers_at_service(&svc),
        "0,0",
        "nothing reached the service"
    );

    link.restore();
    let s = m.json(&["sync", "--json"]);
    assert_eq!(s["vouchers"]["sent"], 1, "{s}");
    assert_eq!(s["vouchers"]["credited"], 40, "{s}");
    assert_eq!(s["vouchers"]["outcomes"][0]["outcome"], "credited", "{s}");
    assert_eq!(s["vouchers"]["outcomes"][0]["key"], "q-1", "{s}");
    assert_eq!(s["vouchers"]["still_queued"], 0, "{s}");
    assert_eq!(vouchers_at_service(&svc), "1,40", "credited once");
    let s = m.json(&["sync", "--json"]);
    assert_eq!(s["vouchers"]["sent"], 0, "a second sync sends nothing: {s}");
    assert_eq!(vouchers_at_service(&svc), "1,40", "still once");
    assert_eq!(queued(&m), 0, "the queue is empty");
    let b = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(b["posted"], 40, "counted once confirmed: {b}");
    // The key again, offline: the service's first answer, nothing queued.
    link.cut();
    let replay = m.json(&["wallet", "redeem", &v, "--key", "q-1", "--json"]);
    assert_eq!(replay["replayed"], true, "{replay}");
    assert_eq!(replay["entry"]["kind"], "voucher", "{replay}");
    assert_eq!(queued(&m), 0, "a credited key is not queued again");
}

#[test]
fn a_queued_voucher_redeemed_meanwhile_elsewhere_or_through_a_lost_answer_counts_once() {
    let idp = Idp::start(&[]);
    let db = fresh_db_sync();
    let svc = Service::start(&db, &idp.issuer, "");
    let link = Link::to(&svc);
    let m = device(&idp, &link.base);
    // Another device of alice's, whose way to the service is never cut.
    let other = device(&idp, &svc.base);
    let taken = voucher(&svc, &idp, "30");
    let lost = voucher(&svc, &idp, "7");
    // First contact: the service's voucher keys are pinned here.
    m.json(&["wallet", "balance", "--json"]);
    link.cut();
    let q = m.json(&["wallet", "redeem", &taken, "--json"]);
    assert_eq!(q["queued"], true, "{q}");
    let q = m.json(&["wallet", "redeem", &lost, "--key", "lost-1", "--json"]);
    assert_eq!(q["queued"], true, "{q}");
    assert_eq!(queued(&m), 2);

    // Meanwhile another device redeems the first voucher at the service...
    let r = other.json(&["wallet", "redeem", &taken, "--json"]);
    assert_eq!(r["entry"]["amount"], 30, "{r}");
    // ...and the service commits the second one under the queued key while its answer is
    // lost (the same request a sync cut off after the service's commit would have sent).
    let r = other.json(&["wallet", "redeem", &lost, "--key", "lost-1", "--json"]);
    assert_eq!(r["entry"]["amount"], 7, "{r}");
    assert_eq!(vouchers_at_service(&svc), "2,37");

    link.restore();
    let s = m.json(&["sync", "--json"]);
    let outcomes = s["vouchers"]["outcomes"]
        .as_array()
        .expect("outcomes")
        .clone();
    let of = |credits: i64| {
        outcomes
            .iter()
            .find(|o| o["credits"] == credits)
            .unwrap_or_else(|| panic!("an outcome for {credits}: {s}"))["outcome"]
            .clone()
    };
    assert_eq!(of(30), "already_redeemed", "{s}");
    assert_eq!(of(7), "credited", "the retry gets the first answer: {s}");
    assert_eq!(
        vouchers_at_service(&svc),
        "2,37",
        "nothing credited twice: {s}"
    );
    assert_eq!(queued(&m), 0, "both left the queue");
    let again = m.latchkey("-", &["wallet", "redeem", &taken]);
    assert_exit(&again, 23, "the voucher redeemed elsewhere is refused");
}
