//! Terminal safety: what a provider sends (names, emails, subjects, and error texts that quote
//! its claims) reaches the terminal with no control character, so a provider cannot write the
//! clipboard (OSC 52), move the cursor or fake lines.

use crate::harness::{assert_exit, text, Idp, Machine};

/// ESC ] 52 (an OSC 52 clipboard write), BEL, a one-character CSI (U+009B), a carriage return.
const HOSTILE: &str = "eve\u{1b}]52;c;ZXZpbA==\u{7}x\u{9b}2J\ry";

fn assert_clean(bytes: &[u8], what: &str) {
    let shown = text(bytes);
    let bad: Vec<char> = shown
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "{what} prints control characters {bad:?}: {shown:?}"
    );
}

#[test]
fn names_emails_and_subjects_are_printed_without_control_characters() {
    let idp = Idp::start(&[]);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    // The test provider names the account after its login: sub, name and email carry it.
    let out = m.latchkey(HOSTILE, &["login"]);
    assert_exit(&out, 0, "the sign-in itself succeeds");
    assert_clean(&out.stdout, "login");
    assert_clean(&out.stderr, "login (stderr)");
    assert!(
        text(&out.stdout).contains("Test eve\u{FFFD}]52"),
        "the name is shown, its control characters replaced: {}",
        text(&out.stdout)
    );
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["switch", HOSTILE],
        &["logout"],
    ] {
        let out = m.latchkey("-", args);
        assert_exit(&out, 0, &format!("{args:?}"));
        assert_clean(&out.stdout, &format!("{args:?}"));
        assert_clean(&out.stderr, &format!("{args:?} (stderr)"));
    }
}
