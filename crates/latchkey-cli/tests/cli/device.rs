//! `latchkey login --device`: signing in where no browser can reach the loopback port, against
//! the real test provider. With `--device-flow` it offers RFC 8628 and `tests/idp/device-user.mjs`
//! plays the user's other device (opens the verification URL with the code, confirms or
//! aborts); without it, the CLI falls back to the paste-back sign-in, and device-user.mjs plays
//! a browser elsewhere that stops at the redirect it cannot load. The poll loop's `slow_down`
//! (+5 s) is tested at the auth crate's level with a protocol-speaking stand-in
//! (crates/latchkey-auth/src/device.rs), where the waits can be recorded instead of slept.

use crate::harness::{assert_exit, repo, text, Idp, Machine};
use crate::{accounts, keychain_has, one_provider};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The provider with the device flow, polled every second.
fn device_idp(extra: &[&str]) -> Idp {
    let mut args = vec!["--device-flow", "--device-interval", "1"];
    args.extend_from_slice(extra);
    Idp::start(&args)
}

/// A running `latchkey` whose stderr is read line by line as it comes.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: String,
}

impl Running {
    /// `latchkey ARGS` on this machine. No browser can help it: the one named fails at once.
    fn start(m: &Machine, args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(args)
            .env("LATCHKEY_CONFIG", m.dir.path().join("auth.toml"))
            .env("LATCHKEY_DATA_DIR", m.data_dir())
            .env("LATCHKEY_KEYRING_SERVICE", &m.service)
            .env("LATCHKEY_BROWSER", "false")
            .env_remove("BROWSER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("latchkey runs");
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            stdin,
            lines,
            seen: String::new(),
        }
    }

    /// The first stderr line (trimmed) that satisfies `wanted`; panics if latchkey ends first.
    fn line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if wanted(line.trim()) {
                        return line.trim().to_string();
                    }
                }
                Err(_) => panic!("latchkey said no such line: {}", self.seen),
            }
        }
    }

    fn paste(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("latchkey reads stdin");
        stdin.flush().unwrap();
    }

    /// Waits for the end; stderr is everything it said.
    fn finish(mut self) -> Output {
        let mut stdout = Vec::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut stdout)
            .unwrap();
        let status = self.child.wait().expect("latchkey ends");
        let mut stderr = self.seen;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            stderr.push_str(&line);
            stderr.push('\n');
        }
        drop(self.stdin);
        Output {
            status,
            stdout,
            stderr: stderr.into_bytes(),
        }
    }
}

/// Runs tests/idp/device-user.mjs; its JSON record.
fn device_user(args: &[&str]) -> serde_json::Value {
    let out = Command::new("node")
        .arg(repo().join("tests/idp/device-user.mjs"))
        .args(args)
        .output()
        .expect("node runs tests/idp/device-user.mjs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "device-user prints JSON ({e}): {} {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// The verification URL with the code filled in, as latchkey printed it.
fn complete_url(run: &mut Running, idp: &Idp) -> String {
    let prefix = format!("{}/device?user_code=", idp.issuer);
    run.line(|l| l.starts_with(&prefix))
}

#[test]
fn a_device_sign_in_ends_like_any_sign_in() {
    let idp = device_idp(&[]);
    let m = one_provider(&idp);
    let mut run = Running::start(&m, &["login", "--device", "--timeout", "60"]);
    let page = run.line(|l| l == format!("{}/device", idp.issuer));
    let code_line = run.line(|l| l.starts_with("and enter the code:"));
    let code = code_line.rsplit(' ').next().unwrap().to_string();
    let complete = complete_url(&mut run, &idp);
    assert_eq!(
        complete,
        format!("{page}?user_code={code}"),
        "the link with the code is the page plus the code shown"
    );
    run.line(|l| l.contains('█'));
    // The other device: the page and the typed code, not the prepared link.
    let user = device_user(&["--login", "dave", "--code", &code, &page]);
    assert_eq!(user["error"], serde_json::Value::Null, "{user}");
    assert!(
        user["body_text"]
            .as_str()
            .unwrap_or("")
            .contains("Sign-in Success"),
        "the other device was told it worked: {user}"
    );
    let out = run.finish();
    assert_exit(&out, 0, "the device sign-in succeeds");
    assert!(
        text(&out.stdout).contains("Signed in as Test dave <dave@example.test> (local)."),
        "the same last line as a browser sign-in: {}",
        text(&out.stdout)
    );
    let all = accounts(&m);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["subject"], "dave");
    assert_eq!(all[0]["issuer"], idp.issuer.as_str());
    assert_eq!(all[0]["active"], true);
    assert!(keychain_has(&m), "the token key is in the real keychain");
    assert_exit(
        &m.latchkey("-", &["token"]),
        0,
        "the stored session gives an access token",
    );
}

#[test]
fn a_denied_device_sign_in_exits_5_and_keeps_the_previous_session() {
    let idp = device_idp(&[]);
    let m = one_provider(&idp);
    assert_exit(
        &m.latchkey("alice", &["login", "--timeout", "60"]),
        0,
        "alice signs in with the browser first",
    );
    let before = m.status();
    let mut run = Running::start(&m, &["login", "--device", "--timeout", "60"]);
    let complete = complete_url(&mut run, &idp);
    let user = device_user(&["--deny", "--login", "mallory", &complete]);
    assert_eq!(user["error"], serde_json::Value::Null, "{user}");
    let out = run.finish();
    assert_exit(&out, 5, "aborting on the other device denies the sign-in");
    assert!(
        text(&out.stderr).contains("access_denied"),
        "says the provider refused: {}",
        text(&out.stderr)
    );
    assert_eq!(
        m.status()["accounts"],
        before["accounts"],
        "alice's session is untouched"
    );
    assert_exit(&m.latchkey("-", &["token"]), 0, "alice's token still works");
}

#[test]
fn an_expired_device_code_exits_6_and_stores_nothing() {
    let idp = device_idp(&["--device-code-ttl", "2"]);
    let m = one_provider(&idp);
    let run = Running::start(&m, &["login", "--device", "--timeout", "60"]);
    let out = run.finish();
    assert_exit(&out, 6, "nobody approved before the code expired");
    assert!(accounts(&m).is_empty(), "nothing stored");
}

#[test]
fn ctrl_c_during_a_device_sign_in_exits_7() {
    let idp = device_idp(&[]);
    let m = one_provider(&idp);
    let mut run = Running::start(&m, &["login", "--device", "--timeout", "60"]);
    complete_url(&mut run, &idp);
    run.line(|l| l.starts_with("Waiting for you to approve"));
    let pid = run.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = run.finish();
    assert_exit(&out, 7, "Ctrl-C cancels the polling");
    assert!(accounts(&m).is_empty(), "nothing stored");
}

/// `login --device` at a provider without the device flow: the paste-back sign-in. Returns
/// the running latchkey and the address the browser elsewhere ended on.
fn paste_back_until_the_address(idp: &Idp, m: &Machine, login: &str) -> (Running, String) {
    let mut run = Running::start(m, &["login", "--device", "--timeout", "60"]);
    let auth = format!("{}/auth?", idp.issuer);
    let url = run.line(|l| l.starts_with(&auth));
    let browser = device_user(&["--stop-at-redirect", "--login", login, &url]);
    let address = browser["address"]
        .as_str()
        .unwrap_or_else(|| panic!("the browser ended on the redirect: {browser}"))
        .to_string();
    assert!(
        address.starts_with("http://127.0.0.1:")
            && address.contains("/callback?")
            && address.contains("code=")
            && address.contains("state="),
        "the address carries code and state: {address}"
    );
    (run, address)
}

#[test]
fn without_a_device_endpoint_the_pasted_address_signs_in() {
    let idp = Idp::start(&[]);
    let m = one_provider(&idp);
    let (mut run, address) = paste_back_until_the_address(&idp, &m, "erin");
    run.paste("this is not it");
    run.line(|l| l.starts_with("Paste the address again"));
    run.paste(&address);
    let out = run.finish();
    assert_exit(&out, 0, "the pasted address completes the sign-in");
    assert!(
        text(&out.stdout).contains("Signed in as Test erin <erin@example.test> (local)."),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("offers no sign-in on another device"),
        "says why it asks for the address: {}",
        text(&out.stderr)
    );
    assert_eq!(accounts(&m)[0]["subject"], "erin");
}

#[test]
fn a_pasted_address_with_another_state_exits_8_and_stores_nothing() {
    let idp = Idp::start(&[]);
    let m = one_provider(&idp);
    let (mut run, address) = paste_back_until_the_address(&idp, &m, "erin");
    let mut url = url_parts(&address);
    let state = url.iter_mut().find(|(k, _)| k == "state").unwrap();
    // Another sign-in's state: same length, one character changed.
    let flipped = if state.1.starts_with('A') { "B" } else { "A" };
    state.1 = format!("{flipped}{}", &state.1[1..]);
    let tampered = format!(
        "{}?{}",
        address.split('?').next().unwrap(),
        url.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    run.paste(&tampered);
    let out = run.finish();
    assert_exit(&out, 8, "a callback of another sign-in is rejected");
    assert!(
        text(&out.stderr).contains("state does not match"),
        "{}",
        text(&out.stderr)
    );
    assert!(accounts(&m).is_empty(), "nothing stored");
}

/// The query's `(key, value)` pairs, still encoded.
fn url_parts(address: &str) -> Vec<(String, String)> {
    address
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn with_no_display_and_no_browser_login_says_to_use_device() {
    let idp = Idp::start(&[]);
    let m = one_provider(&idp);
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["login", "--timeout", "1"])
        .env("LATCHKEY_CONFIG", m.dir.path().join("auth.toml"))
        .env("LATCHKEY_DATA_DIR", m.data_dir())
        .env("LATCHKEY_KEYRING_SERVICE", &m.service)
        .env("PATH", "/nonexistent")
        .env_remove("LATCHKEY_BROWSER")
        .env_remove("BROWSER")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .output()
        .expect("latchkey runs");
    assert!(
        text(&out.stderr).contains("`latchkey login --device`"),
        "with nobody at a terminal to ask, it says how: {}",
        text(&out.stderr)
    );
    assert_exit(
        &out,
        6,
        "then waits as before, for the browser that never comes",
    );
}
