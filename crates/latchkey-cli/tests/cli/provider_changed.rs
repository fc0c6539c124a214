//! Tokens go only to the issuer and client they were minted for (RFC 9700 §4.4): after
//! `[auth.<name>]` is edited to another client or server, the account is shown as "provider
//! changed — sign in again" and its tokens are neither printed nor sent.

use crate::harness::{assert_exit, text, Idp, Machine};

#[test]
fn an_edited_provider_gets_no_token_until_the_next_sign_in() {
    let idp = Idp::start(&[]);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    let config = m.dir.path().join("auth.toml");
    let before = std::fs::read_to_string(&config).unwrap();
    let edited = before.replace("desktop-public", "desktop-confidential")
        + "client_secret = \"throwaway-local-test-secret\"\n";
    std::fs::write(&config, edited).unwrap();

    let out = m.latchkey("-", &["token"]);
    assert_exit(&out, 14, "another client id: no token");
    assert!(out.stdout.is_empty(), "nothing printed on stdout");
    assert!(
        text(&out.stderr).contains("provider changed — sign in again"),
        "{}",
        text(&out.stderr)
    );
    let out = m.latchkey("-", &["status"]);
    assert_exit(&out, 0, "status still lists the account");
    assert!(
        text(&out.stdout).contains("[provider changed — sign in again]"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(m.status()["accounts"][0]["provider_changed"], true);

    std::fs::write(&config, &before).unwrap();
    assert_exit(
        &m.latchkey("-", &["token"]),
        0,
        "the settings put back, the token works",
    );
    assert_eq!(m.status()["accounts"][0]["provider_changed"], false);
}
