//! End-to-end tests of the `latchkey` CLI against a real OpenID Provider (panva's
//! oidc-provider on loopback), a real keychain (gnome-keyring's Secret Service, via
//! scripts/with-keyring.sh) and scripted browsers.

mod analytics;
mod device;
mod entra;
mod exit_codes;
mod files;
mod harness;
mod partition;
mod provider_changed;
mod service;
mod sync;
mod terminal;
mod voucher_queue;
mod wallet;

use harness::{assert_exit, repo, text, Idp, Machine};

const SECRET: &str = "throwaway-local-test-secret";

fn one_provider(idp: &Idp) -> Machine {
    Machine::new(&[("local", "desktop-public", None, &idp.issuer)])
}

fn accounts(m: &Machine) -> Vec<serde_json::Value> {
    m.status()["accounts"]
        .as_array()
        .expect("accounts array")
        .clone()
}

/// Whether the real keychain holds an item of this machine's (unique) service.
fn keychain_has(m: &Machine) -> bool {
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", &m.service])
        .output()
        .expect("secret-tool runs");
    (text(&out.stdout) + &text(&out.stderr)).contains(&m.service)
}

fn jwt_claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has a payload");
    let mut s = payload.replace('-', "+").replace('_', "/");
    while !s.len().is_multiple_of(4) {
        s.push('=');
    }
    let out = std::process::Command::new("base64")
        .arg("-d")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .expect("base64 decodes");
    serde_json::from_slice(&out.stdout).expect("JWT payload is JSON")
}

#[test]
fn login_status_token_logout_with_the_real_keychain() {
    let idp = Idp::start(&[]);
    let m = one_provider(&idp);

    let out = m.latchkey("alice", &["login", "--timeout", "60"]);
    assert_exit(&out, 0, "login succeeds");
    assert!(
        text(&out.stdout).contains("Signed in as Test alice <alice@example.test>"),
        "login says who: {}",
        text(&out.stdout)
    );

    let all = accounts(&m);
    assert_eq!(all.len(), 1);
    let a = &all[0];
    assert_eq!(a["subject"], "alice");
    assert_eq!(a["issuer"], idp.issuer.as_str());
    assert_eq!(a["email"], "alice@example.test");
    assert_eq!(a["provider"], "local");
    assert_eq!(a["active"], true);
    assert_eq!(a["offline"], false);
    assert!(a["expires_at"].is_string() && a["session_expires_at"].is_string());
    assert!(keychain_has(&m), "the token key is in the real keychain");

    let token = m.latchkey("-", &["token"]);
    assert_exit(&token, 0, "token prints the access token");
    let access = text(&token.stdout).trim().to_string();
    assert!(access.len() > 20);
    let id = m.latchkey("-", &["token", "--id-token"]);
    assert_exit(&id, 0, "token --id-token");
    let id_token = text(&id.stdout).trim().to_string();
    let claims = jwt_claims(&id_token);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "desktop-public");

    let disk = m.data_dir_bytes();
    for secret in [&access, &id_token] {
        assert!(
            !disk.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a token is in the data dir in clear"
        );
    }
    let status_text = text(&m.latchkey("-", &["status"]).stdout)
        + &text(&m.latchkey("-", &["-v", "status", "--json"]).stderr);
    assert!(!status_text.contains(&access), "status never prints tokens");

    let out = m.latchkey("-", &["-v", "logout"]);
    assert_exit(&out, 0, "logout succeeds");
    assert!(text(&out.stdout).contains("Signed out Test alice"));
    assert!(
        text(&out.stderr).contains("1 refresh token(s) revoked"),
        "the refresh token was revoked: {}",
        text(&out.stderr)
    );
    assert!(accounts(&m).is_empty(), "no account after logout");
    assert!(!keychain_has(&m), "the keychain entry is gone after logout");
    assert_exit(
        &m.latchkey("-", &["token"]),
        4,
        "token when signed out exits 4",
    );
}

#[test]
fn confidential_client_and_chromium_browser() {
    let idp = Idp::start(&[]);
    let m = Machine::new(&[("corp", "desktop-confidential", Some(SECRET), &idp.issuer)]);
    let shots = m.dir.path().join("shots");
    let out = m.command(
        "carol",
        "browser-chromium.mjs",
        &[("LATCHKEY_TEST_SCREENSHOT_DIR", shots.to_str().unwrap())],
        &["login", "--timeout", "90"],
    );
    assert_exit(
        &out,
        0,
        "login through headless Chromium with a confidential client",
    );
    assert_eq!(accounts(&m)[0]["email"], "carol@example.test");
    let log = harness::wait_for_file(&m.browser_log()).expect("the browser logged its final page");
    assert!(
        log.contains("signed in to Latchkey"),
        "the browser's last page says signed in: {log}"
    );
    assert!(
        !log.contains(SECRET),
        "the client secret never reaches the browser"
    );
    // Keep the screenshots as artifacts.
    let artifacts = repo().join("tests/artifacts/cli-chromium");
    let _ = std::fs::create_dir_all(&artifacts);
    if let Ok(rd) = std::fs::read_dir(&shots) {
        for e in rd.flatten() {
            let _ = std::fs::copy(e.path(), artifacts.join(e.file_name()));
        }
    }
}

#[test]
fn several_accounts_switch_and_targeted_logout() {
    let idp = Idp::start(&[]);
    let m = one_provider(&idp);
    assert_exit(&m.latchkey("alice", &["login"]), 0, "alice signs in");
    assert_exit(
        &m.latchkey("bob", &["login", "--select-account"]),
        0,
        "bob signs in",
    );
    assert_exit(&m.latchkey("alice", &["login"]), 0, "alice signs in again");
    let all = accounts(&m);
    assert_eq!(
        all.len(),
        2,
        "signing in again replaces, never duplicates: {all:?}"
    );
    let active: Vec<_> = all
        .iter()
        .filter(|a| a["active"] == true)
        .map(|a| a["subject"].clone())
        .collect();
    assert_eq!(active, vec!["alice"], "the latest sign-in is active");

    assert_exit(&m.latchkey("-", &["switch", "bob"]), 0, "switch to bob");
    let id = text(&m.latchkey("-", &["token", "--id-token"]).stdout);
    assert_eq!(
        jwt_claims(id.trim())["sub"],
        "bob",
        "token follows the active account"
    );
    assert_exit(
        &m.latchkey("-", &["switch", "nobody"]),
        12,
        "unknown account",
    );

    assert_exit(
        &m.latchkey("-", &["logout", "--account", "bob"]),
        0,
        "targeted logout",
    );
    let left = accounts(&m);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["subject"], "alice");
    assert_eq!(
        left[0]["active"], true,
        "the remaining account becomes active"
    );
}

#[test]
fn failed_sign_ins_say_why_and_keep_the_earlier_session() {
    let idp = Idp::start(&[]);
    let m = one_provider(&idp);
    assert_exit(&m.latchkey("alice", &["login"]), 0, "alice signs in");
    let before = accounts(&m);

    let denied = m.command(
        "bob",
        "browser-http.mjs",
        &[("LATCHKEY_TEST_DENY", "1")],
        &["login", "--timeout", "60"],
    );
    assert_exit(&denied, 5, "a denied sign-in exits 5");
    assert!(
        text(&denied.stderr).contains("access_denied"),
        "says why: {}",
        text(&denied.stderr)
    );
    assert_eq!(accounts(&m), before, "a denied sign-in changes nothing");

    let timed_out = m.command(
        "bob",
        "browser-http.mjs",
        &[("LATCHKEY_TEST_BROWSER_NOOP", "1")],
        &["login", "--timeout", "2"],
    );
    assert_exit(&timed_out, 6, "a sign-in nobody finishes times out");
    assert!(text(&timed_out.stderr).contains("timed out"));
    assert_eq!(accounts(&m), before, "a timed-out sign-in changes nothing");

    let token = m.latchkey("-", &["token"]);
    assert_exit(&token, 0, "alice's session still works");
}

#[test]
fn refresh_rotates_and_is_written_back() {
    let idp = Idp::start(&["--access-token-ttl", "2"]);
    let m = one_provider(&idp);
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    // The access token lives 2 s, under the 60 s refresh margin: every `token` refreshes,
    // each time with the refresh token the previous refresh rotated in.
    let mut seen = std::collections::HashSet::new();
    for round in 0..3 {
        let out = m.latchkey("-", &["token"]);
        assert_exit(&out, 0, &format!("refresh round {round}"));
        assert!(
            seen.insert(text(&out.stdout)),
            "each refresh gives a new access token"
        );
    }
    assert_eq!(
        accounts(&m).len(),
        1,
        "still signed in after three rotations"
    );
}

#[test]
fn offline_restore_and_invalid_grant() {
    let mut idp = Idp::start(&[]);
    let m = one_provider(&idp);
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    idp.stop();

    let a = accounts(&m);
    assert_eq!(a.len(), 1, "offline, the account is still shown");
    assert_eq!(a[0]["offline"], true, "and marked offline");
    assert_eq!(a[0]["email"], "alice@example.test");
    assert_exit(
        &m.latchkey("-", &["token"]),
        0,
        "an unexpired token works offline",
    );

    // The provider comes back with no memory of the grant (its store is in memory): once the
    // access token expires, the refresh token is refused.
    let mut short = Idp::start(&["--access-token-ttl", "1"]);
    let m = one_provider(&short);
    assert_exit(
        &m.latchkey("alice", &["login"]),
        0,
        "sign in (short-lived tokens)",
    );
    short.restart();
    let out = m.latchkey("-", &["token"]);
    assert_exit(&out, 4, "invalid_grant ends the session");
    assert!(
        text(&out.stderr).contains("invalid_grant"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        accounts(&m).is_empty(),
        "and the account is signed out here"
    );
}

#[test]
fn no_keychain_is_a_clear_error_and_insecure_storage_is_explicit() {
    let idp = Idp::start(&[]);
    let m = one_provider(&idp);
    let no_bus = [("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")];
    let out = m.command("alice", "browser-http.mjs", &no_bus, &["login"]);
    assert_exit(&out, 9, "no keychain → exit 9");
    assert!(
        text(&out.stderr).contains("keychain"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains("hint: or sign in with `latchkey login --insecure-storage`"),
        "the CLI, not the library, names its own flag: {}",
        text(&out.stderr)
    );
    assert!(accounts(&m).is_empty(), "nothing stored without a keychain");

    let out = m.command(
        "alice",
        "browser-http.mjs",
        &no_bus,
        &["login", "--insecure-storage"],
    );
    assert_exit(&out, 0, "explicit opt-in works without a keychain");
    assert!(
        text(&out.stderr).contains("--insecure-storage"),
        "and says so"
    );
    let out = m.command("-", "browser-http.mjs", &no_bus, &["token"]);
    assert_exit(&out, 0, "the insecure session works");
}

#[test]
fn bad_configuration_names_file_line_and_key() {
    let m = Machine::new(&[]);
    let path = m.dir.path().join("auth.toml");
    std::fs::write(&path, "[auth]\n\n[auth.x]\nclient_id = 7\n").unwrap();
    let out = m.latchkey("-", &["status"]);
    assert_exit(&out, 3, "a bad config exits 3");
    let err = text(&out.stderr);
    assert!(
        err.contains("auth.toml:4: [auth.x] client_id: expected a string"),
        "{err}"
    );

    std::fs::write(&path, "[auth]\n").unwrap();
    let out = m.latchkey("-", &["login"]);
    assert_exit(&out, 3, "no provider configured exits 3");
    assert!(text(&out.stderr).contains("no sign-in provider is configured"));
}

#[test]
fn sign_out_works_offline_and_everywhere_opens_the_provider() {
    let mut idp = Idp::start(&[]);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    assert_exit(&m.latchkey("alice", &["login"]), 0, "alice signs in");
    assert_exit(&m.latchkey("bob", &["login"]), 0, "bob signs in");

    // --everywhere: the refresh token is revoked and the provider's end-session page opens in
    // the (scripted) browser, naming the client and no token.
    let _ = std::fs::remove_file(m.browser_log());
    let out = m.latchkey("-", &["-v", "logout", "--everywhere"]);
    assert_exit(&out, 0, "logout --everywhere");
    assert!(
        text(&out.stderr).contains("1 refresh token(s) revoked"),
        "{}",
        text(&out.stderr)
    );
    let log = harness::wait_for_file(&m.browser_log()).expect("the browser was opened");
    assert!(
        log.contains("/session/end"),
        "the provider's end-session endpoint: {log}"
    );
    assert!(log.contains("client_id=desktop-public"), "{log}");

    // Offline: the provider cannot revoke, but the local sign-out still happens, with a warning.
    idp.stop();
    let out = m.latchkey("-", &["logout", "--all"]);
    assert_exit(&out, 0, "offline logout still signs out here");
    assert!(
        text(&out.stderr).contains("signed out here only"),
        "{}",
        text(&out.stderr)
    );
    assert!(accounts(&m).is_empty(), "no account left");
    assert!(!keychain_has(&m), "no keychain entry left");
}
