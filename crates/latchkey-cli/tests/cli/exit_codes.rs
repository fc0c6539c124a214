//! The exit codes no other process test reaches, each provoked the way a user meets it: a
//! wrong flag, Ctrl-C during a sign-in, a provider that is down or answers wrongly, damaged
//! files, a wallet held by another process. (Exit 1, an internal error, has no honest way to be
//! provoked from outside; `Code`'s unit tests pin its number.)

use crate::harness::{assert_exit, text, Idp, Machine};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn signed_in(idp: &Idp) -> Machine {
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    m.add_config("\n[wallet]\nwelcome_credits = 10\n");
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    m
}

fn available(m: &Machine) -> i64 {
    m.json(&["wallet", "balance", "--json"])["available"]
        .as_i64()
        .expect("available")
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn wrong_usage_exits_2_and_says_what_is_wrong() {
    let m = Machine::new(&[("local", "desktop-public", None, "http://127.0.0.1:9")]);
    let out = m.latchkey("-", &["login", "--timeout", "0"]);
    assert_exit(&out, 2, "a timeout of 0 is wrong usage");
    assert!(
        text(&out.stderr).contains("--timeout"),
        "names the flag: {}",
        text(&out.stderr)
    );
    assert_exit(&m.latchkey("-", &["no-such-command"]), 2, "unknown command");
}

#[test]
fn ctrl_c_during_a_sign_in_exits_7_and_keeps_the_previous_session() {
    let idp = Idp::start(&[]);
    let m = signed_in(&idp);
    let before = m.status();

    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["login", "--no-browser", "--timeout", "120"])
        .env("LATCHKEY_CONFIG", m.dir.path().join("auth.toml"))
        .env("LATCHKEY_DATA_DIR", m.data_dir())
        .env("LATCHKEY_KEYRING_SERVICE", &m.service)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("latchkey runs");
    // Wait until it is listening (it has printed the link), then press Ctrl-C.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("/authorize") && !seen.contains("/auth?") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("latchkey ended before printing the link: {seen}");
        }
        seen.push_str(&line);
    }
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(7), "Ctrl-C cancels: {seen}{rest}");
    assert!(
        rest.to_lowercase().contains("cancel"),
        "says it was cancelled: {rest}"
    );
    assert_eq!(
        m.status()["accounts"],
        before["accounts"],
        "the earlier session is untouched"
    );
}

#[test]
fn a_provider_that_cannot_be_reached_exits_10() {
    let down = format!("http://127.0.0.1:{}", closed_port());
    let m = Machine::new(&[("local", "desktop-public", None, &down)]);
    let out = m.latchkey("alice", &["login", "--timeout", "30"]);
    assert_exit(&out, 10, "nothing listens at the provider's address");
    assert!(m.status()["accounts"].as_array().unwrap().is_empty());
}

#[test]
fn a_provider_that_answers_wrongly_exits_11() {
    let idp = Idp::start(&[]);
    // The real provider, asked for a discovery document at a path it does not serve (404).
    let wrong = format!("{}/no-such-tenant", idp.issuer);
    let m = Machine::new(&[("local", "desktop-public", None, &wrong)]);
    let out = m.latchkey("alice", &["login", "--timeout", "30"]);
    assert_exit(&out, 11, "the discovery document is not there");
    assert!(m.status()["accounts"].as_array().unwrap().is_empty());
}

#[test]
fn a_damaged_token_file_exits_13() {
    let idp = Idp::start(&[]);
    let m = signed_in(&idp);
    assert_exit(&m.latchkey("-", &["token"]), 0, "the token is there");
    let mut sealed = Vec::new();
    for entry in walk(&m.data_dir()) {
        if entry.extension().is_some_and(|e| e == "sealed") {
            sealed.push(entry);
        }
    }
    assert_eq!(sealed.len(), 1, "one sealed token file: {sealed:?}");
    std::fs::write(&sealed[0], b"not a sealed file").unwrap();
    let out = m.latchkey("-", &["token"]);
    assert_exit(&out, 13, "the sealed file cannot be read");
    assert!(
        text(&out.stderr).contains("damaged"),
        "says why: {}",
        text(&out.stderr)
    );
}

#[test]
fn a_wallet_file_that_is_not_a_wallet_exits_25_and_is_left_as_it_was() {
    let idp = Idp::start(&[]);
    let m = signed_in(&idp);
    assert_eq!(available(&m), 10);
    let wallet = m.data_dir().join("wallet.sqlite");
    let junk = b"this is somebody's notes, not a wallet".repeat(200);
    for extra in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(m.data_dir().join(format!("wallet.sqlite{extra}")));
    }
    std::fs::write(&wallet, &junk).unwrap();
    let out = m.latchkey("-", &["wallet", "balance"]);
    assert_exit(&out, 25, "not a wallet");
    assert_eq!(
        std::fs::read(&wallet).unwrap(),
        junk,
        "the file is kept exactly as it was"
    );
}

#[test]
fn a_wallet_held_by_another_process_exits_26_and_changes_nothing() {
    let idp = Idp::start(&[]);
    let m = signed_in(&idp);
    assert_eq!(available(&m), 10);
    let wallet = m.data_dir().join("wallet.sqlite");
    // Another process takes the write lock and keeps it until told to let go.
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN EXCLUSIVE')\n\
             print('locked', flush=True)\n\
             sys.stdin.readline()\n\
             c.execute('ROLLBACK')\n",
        ])
        .arg(&wallet)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");

    let out = m.latchkey(
        "-",
        &["wallet", "spend", "--credits", "1", "--key", "while-busy"],
    );
    drop(holder.stdin.take());
    assert!(holder.wait().unwrap().success());
    assert_exit(&out, 26, "the wallet is busy");
    assert_eq!(available(&m), 10, "nothing was spent");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
