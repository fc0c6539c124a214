//! Sync across devices through real network partitions (issue 9): PostgreSQL, the real
//! `latchkey-server`, the test OpenID Provider, and `latchkey` device processes, each device in
//! a network namespace of its own whose link is cut and restored between and during its
//! spends (see `net.rs` for how). Every scenario ends by checking the invariants of issue 9
//! against the service's database and each device's own sync state ([`Rig::assert_settled`]).
//!
//! Namespaces need root. Without it each test fails with a message saying how to run it
//! (`make test-partitions`); it never passes silently. The keychain is gnome-keyring on
//! the session bus of scripts/with-keyring.sh, whose address is a filesystem socket
//! (`unix:path=/tmp/dbus-...`), which every network namespace reaches (an abstract socket
//! would not).

mod net;
mod scenarios;

use crate::harness::{assert_exit, repo, text, Idp, Machine};
use latchkey_testkit::pg::{fresh_db_sync, psql};
use latchkey_testkit::server::Service;
use net::{Gate, Namespace};
use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

/// What one analytics run costs in these tests.
pub const COST: i64 = 10;

/// A ledger entry that no wallet import wrote (imports write spends of their own).
const NOT_IMPORTED: &str =
    "server_seq NOT IN (SELECT entry_seq FROM wallet_imports WHERE entry_seq IS NOT NULL)";

/// The provider, the service over a fresh database, and alice's devices.
pub struct Rig {
    pub idp: Idp,
    pub svc: Service,
}

impl Rig {
    /// Checks for root first (a clear failure without it), then starts the stack.
    pub fn start(extra: &str) -> Rig {
        net::require_root();
        let idp = Idp::start(&[]);
        let svc = Service::start(&fresh_db_sync(), &idp.issuer, extra);
        Rig { idp, svc }
    }

    /// The operator grants alice `credits`.
    pub fn grant(&self, credits: i64) {
        let out = self.svc.operator(&[
            "grant",
            "--issuer",
            &self.idp.issuer,
            "--subject",
            "alice",
            "--credits",
            &credits.to_string(),
        ]);
        assert!(out.status.success(), "grant: {}", text(&out.stderr));
    }

    /// A new device of alice's in a namespace of its own, signed in from inside it.
    pub fn device(&self, label: &str) -> Device {
        Device::new(self, label)
    }

    pub fn sql(&self, query: &str) -> String {
        psql(&self.svc.db_url, query)
    }

    fn sql_i64(&self, query: &str) -> i64 {
        let v = self.sql(query);
        v.parse()
            .unwrap_or_else(|e| panic!("{query} gives a number ({e}): {v:?}"))
    }

    /// alice's (posted, held) at the service.
    pub fn ledger(&self) -> (i64, i64) {
        let row = self.sql("SELECT posted || ',' || held FROM balances");
        let (p, h) = row.split_once(',').expect("one balance row: alice's");
        (p.parse().unwrap(), h.parse().unwrap())
    }

    /// Credits the service took from devices' pushes (ledger `spend` entries, less those an
    /// import of a single-machine wallet wrote).
    pub fn spent(&self) -> i64 {
        self.sql_i64(&format!(
            "SELECT COALESCE(SUM(amount), 0) FROM entries WHERE kind = 'spend' AND {NOT_IMPORTED}"
        ))
    }

    /// The service's record of one device's pushed entries: entry id -> (amount, outcome).
    pub fn device_entries(&self, device_id: &str) -> BTreeMap<String, (i64, String)> {
        let rows = self.sql(&format!(
            "SELECT entry_id || '|' || amount || '|' || outcome FROM device_entries \
             WHERE device_id = '{device_id}'"
        ));
        rows.lines()
            .map(|l| {
                let mut f = l.split('|');
                let id = f.next().unwrap().to_string();
                let amount = f.next().unwrap().parse().unwrap();
                (id, (amount, f.next().unwrap().to_string()))
            })
            .collect()
    }

    /// Issue 9's invariants that hold at every moment, whatever is cut or killed:
    /// - the service's available >= 0;
    /// - a device's spends never exceed its lease (locally, and as applied at the service);
    /// - each entry id is applied at most once: the ledger's spends are exactly the applied
    ///   device entries, one ledger entry each.
    pub fn assert_safe(&self, devices: &[&Device]) {
        let (posted, held) = self.ledger();
        assert!(
            held >= 0 && posted - held >= 0,
            "the service's available must never be negative: posted {posted}, held {held}"
        );
        let over = self.sql(
            "SELECT l.lease_id || ':' || l.granted || '<' || SUM(d.amount) FROM leases l \
             JOIN device_entries d ON d.lease_id = l.lease_id AND d.outcome = 'applied' \
             GROUP BY l.lease_id, l.granted HAVING SUM(d.amount) > l.granted",
        );
        assert_eq!(over, "", "applied spends beyond a lease");
        let (count, sum) = (
            self.sql_i64(&format!(
                "SELECT count(*) FROM entries WHERE kind = 'spend' AND {NOT_IMPORTED}"
            )),
            self.spent(),
        );
        let applied = self.sql(
            "SELECT count(*) || ',' || COALESCE(SUM(d.amount), 0) || ',' || \
             count(DISTINCT e.server_seq) FROM device_entries d \
             JOIN entries e ON e.server_seq = d.entry_seq AND e.kind = 'spend' \
             AND e.amount = d.amount WHERE d.outcome = 'applied'",
        );
        assert_eq!(
            applied,
            format!("{count},{sum},{count}"),
            "every ledger spend is one applied device entry, and each applied entry one spend"
        );
        for d in devices {
            for (lease, total) in d.local_spends_per_lease() {
                let granted = self.sql(&format!(
                    "SELECT granted FROM leases WHERE lease_id = {lease}"
                ));
                let granted: i64 = granted.parse().unwrap_or(0);
                assert!(
                    total <= granted,
                    "{}: spent {total} offline from lease {lease}, which lent {granted}",
                    d.label
                );
            }
        }
    }

    /// After every device synced with every link up, after the last change (a sync pulls before
    /// it asks for its lease, so the hold of a lease it is lent shows with its next sync):
    /// [`Rig::assert_safe`], and
    /// - every local entry ended applied or rejected (never lost), as the service recorded it;
    /// - every device shows the service's ledger: the same balance, and every service entry
    ///   (and rejected device entry) pulled exactly once.
    pub fn assert_settled(&self, devices: &[&Device]) {
        self.assert_safe(devices);
        let (posted, held) = self.ledger();
        let all_seqs = self.sql(
            "SELECT server_seq FROM entries UNION SELECT server_seq FROM device_entries \
             WHERE outcome = 'rejected' ORDER BY 1",
        );
        for d in devices {
            let at_service = self.device_entries(&d.device_id());
            let local = d.local_entries();
            for e in &local {
                assert!(e.ready, "{}: a run left an unfinished entry {e:?}", d.label);
                let outcome = e
                    .outcome
                    .as_deref()
                    .unwrap_or_else(|| panic!("{}: entry {} never got an outcome", d.label, e.id));
                let (amount, theirs) = at_service
                    .get(&e.id)
                    .unwrap_or_else(|| panic!("{}: entry {} is not at the service", d.label, e.id));
                if outcome == "conflict" {
                    // A replay the service refused: the id's first outcome stands there.
                    continue;
                }
                assert_eq!(*amount, e.amount, "{}: entry {}", d.label, e.id);
                let same = match outcome {
                    "applied" | "already_applied" => theirs == "applied",
                    "rejected" => theirs == "rejected",
                    other => panic!("{}: unknown outcome {other}", d.label),
                };
                assert!(
                    same,
                    "{}: entry {} is {outcome} here, {theirs} at the service",
                    d.label, e.id
                );
            }
            let local_ids: std::collections::BTreeSet<&String> =
                local.iter().map(|e| &e.id).collect();
            assert_eq!(
                at_service.keys().collect::<std::collections::BTreeSet<_>>(),
                local_ids,
                "{}: the service and the device know the same entries of this device",
                d.label
            );
            let b = d.json(&["wallet", "balance", "--json"]);
            assert_eq!(
                (
                    b["posted"].as_i64(),
                    b["held"].as_i64(),
                    b["stale"].as_bool()
                ),
                (Some(posted), Some(held), Some(false)),
                "{}: the device shows the service's balance: {b}",
                d.label
            );
            assert_eq!(
                d.pulled_seqs(),
                all_seqs,
                "{}: every service entry pulled once, none missing",
                d.label
            );
        }
    }
}

/// One offline entry in a device's `sync.sqlite`.
#[derive(Debug, Clone)]
pub struct LocalEntry {
    pub id: String,
    pub amount: i64,
    pub lease_id: i64,
    pub ready: bool,
    pub outcome: Option<String>,
}

/// A device of alice's: its own data dir, keychain item and device identity, in a network
/// namespace whose only way out is its veth (to the service and the provider).
pub struct Device {
    pub label: String,
    pub machine: Machine,
    pub ns: Namespace,
    /// The gate of its link to the service.
    pub gate: Arc<Gate>,
}

impl Device {
    fn new(rig: &Rig, label: &str) -> Device {
        let machine = Machine::new(&[("local", "desktop-public", None, &rig.idp.issuer)]);
        machine.add_config(&format!(
            "\n[wallet]\nanalytics_cost = {COST}\n\n[service]\nurl = \"{}\"\n",
            rig.svc.base
        ));
        let mut ns = Namespace::new();
        let port = |base: &str| -> u16 {
            base.rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
                .expect("a loopback URL with a port")
        };
        let gate = ns.forward(port(&rig.svc.base));
        ns.forward(rig.idp.port());
        let d = Device {
            label: label.to_string(),
            machine,
            ns,
            gate,
        };
        assert_exit(
            &d.run_as("alice", &["login"]),
            0,
            "sign in inside the namespace",
        );
        let csv = d.machine.dir.path().join("spend.csv");
        std::fs::write(
            &csv,
            "date,amount,category\n2026-01-03,5,food\n2026-01-09,7,rent\n",
        )
        .unwrap();
        assert_exit(
            &d.run(&[
                "analytics",
                "import",
                csv.to_str().unwrap(),
                "--name",
                "spend",
            ]),
            0,
            "import (free, local)",
        );
        d
    }

    /// Rewrites the configuration's `[wallet]` table (`analytics_cost` plus `wallet`) and
    /// `[service]` (`url` when `service` is set); the `[auth]` tables stay.
    pub fn configure(&self, rig: &Rig, wallet: &str, service: bool) {
        let path = self.machine.dir.path().join("auth.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let auth = &text[..text.find("\n[wallet]").expect("a [wallet] table")];
        let mut conf = format!("{auth}\n[wallet]\nanalytics_cost = {COST}\n{wallet}\n");
        if service {
            conf.push_str(&format!("\n[service]\nurl = \"{}\"\n", rig.svc.base));
        }
        std::fs::write(path, conf).unwrap();
    }

    /// `latchkey ARGS` inside the namespace, not started yet.
    pub fn command(&self, login: &str, args: &[&str]) -> Command {
        let m = &self.machine;
        let browser = format!(
            "node {}",
            repo().join("tests/idp/browser-http.mjs").display()
        );
        let mut cmd = self.ns.command(env!("CARGO_BIN_EXE_latchkey"));
        cmd.args(args)
            .env("LATCHKEY_CONFIG", m.dir.path().join("auth.toml"))
            .env("LATCHKEY_DATA_DIR", m.data_dir())
            .env("LATCHKEY_KEYRING_SERVICE", &m.service)
            .env("LATCHKEY_BROWSER", browser)
            .env("LATCHKEY_TEST_LOGIN", login)
            .env("LATCHKEY_TEST_BROWSER_LOG", m.browser_log())
            .env_remove("BROWSER")
            .stdin(Stdio::null());
        cmd
    }

    fn run_as(&self, login: &str, args: &[&str]) -> Output {
        self.command(login, args).output().expect("latchkey runs")
    }

    /// `latchkey ARGS` inside the namespace.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_as("-", args)
    }

    /// Runs a command that must succeed and prints JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert_exit(&out, 0, &format!("{}: latchkey {args:?}", self.label));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?} prints JSON ({e}): {}", text(&out.stdout)))
    }

    /// `latchkey sync --json` (with `--lease N` when given), which must succeed.
    pub fn sync(&self, lease: Option<i64>) -> serde_json::Value {
        let n = lease.map(|n| n.to_string());
        let mut args = vec!["sync", "--json"];
        if let Some(n) = &n {
            args.extend(["--lease", n]);
        }
        self.json(&args)
    }

    /// One paid analytics run (costs [`COST`]).
    pub fn spend(&self) -> Output {
        self.run(&[
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
        ])
    }

    /// `n` runs in a row while the link is cut; how many were paid (from the lease). A refusal
    /// must be the lease's ("available offline: 0", exit 20) or having none (exit 27).
    pub fn offline_burst(&self, n: usize) -> usize {
        let mut paid = 0;
        for _ in 0..n {
            let out = self.spend();
            match out.status.code() {
                Some(0) => paid += 1,
                Some(20) => assert!(
                    text(&out.stderr).contains("available offline: 0"),
                    "{}: the refusal says what is left offline: {}",
                    self.label,
                    text(&out.stderr)
                ),
                Some(27) => assert!(
                    text(&out.stderr).contains("nothing was charged"),
                    "{}: {}",
                    self.label,
                    text(&out.stderr)
                ),
                other => panic!(
                    "{}: an offline run exited {other:?}: {}",
                    self.label,
                    text(&out.stderr)
                ),
            }
        }
        paid
    }

    pub fn device_id(&self) -> String {
        let path = self.machine.data_dir().join("device.json");
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).expect("device.json is JSON");
        v["device_id"].as_str().expect("device_id").to_string()
    }

    fn store(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.machine.data_dir().join("sync.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("sync.sqlite opens")
    }

    /// Every offline entry this device made, oldest first.
    pub fn local_entries(&self) -> Vec<LocalEntry> {
        let conn = self.store();
        let mut st = conn
            .prepare(
                "SELECT entry_id, amount, lease_id, ready, outcome FROM offline_entries \
                 ORDER BY seq",
            )
            .unwrap();
        st.query_map([], |r| {
            Ok(LocalEntry {
                id: r.get(0)?,
                amount: r.get(1)?,
                lease_id: r.get(2)?,
                ready: r.get::<_, i64>(3)? == 1,
                outcome: r.get(4)?,
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    }

    fn local_spends_per_lease(&self) -> BTreeMap<i64, i64> {
        let mut m = BTreeMap::new();
        for e in self.local_entries() {
            *m.entry(e.lease_id).or_insert(0) += e.amount;
        }
        m
    }

    /// The service entries this device pulled, one a line, in order.
    pub fn pulled_seqs(&self) -> String {
        let conn = self.store();
        let mut st = conn
            .prepare("SELECT server_seq FROM pulled ORDER BY server_seq")
            .unwrap();
        let seqs: Vec<String> = st
            .query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|s| s.unwrap().to_string())
            .collect();
        seqs.join("\n")
    }
}
