//! Printing: results on stdout, steps (`--verbose`) and warnings on stderr.

use latchkey_core::latchkey_wallet::Credits;
use latchkey_core::{AccountView, Code};

pub struct Output {
    verbose: bool,
}

impl Output {
    pub fn new(verbose: bool) -> Self {
        Self { verbose }
    }

    /// A `--verbose` step. Built lazily; must never contain a secret.
    pub fn step(&self, line: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("· {}", clean_text(&line()));
        }
    }

    pub fn warn(&self, line: &str) {
        eprintln!("warning: {}", clean_text(line));
    }

    /// Prints a JSON value on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        println!("{}", json_text(value));
    }
}

/// A provider-supplied string (a name, an email, a subject, an issuer) fit for one line of a
/// terminal: every control character (C0, DEL, C1: escape sequences, OSC 52 clipboard writes,
/// cursor moves, line breaks) becomes `�`.
pub fn clean_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// A message that may echo provider-supplied text (error texts quote `iss`, `sub`, `hd`...):
/// as [`clean_line`], but line breaks and tabs stay.
pub fn clean_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// Pretty JSON with no raw control character: serde_json escapes C0 and DEL is harmless in
/// JSON, but C1 characters (U+0080..U+009F, e.g. U+009B, a one-character CSI) would reach the
/// terminal as they are; they only occur inside strings, so `\u00XX` is the same JSON.
pub fn json_text(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// What to do next, in this face's words, for a failure of this kind. The core's messages
/// say what happened and name no command or flag; this is the one place the CLI adds its own.
pub fn hint(code: Code) -> Option<&'static str> {
    Some(match code {
        Code::NotSignedIn | Code::SessionExpired => "sign in with `latchkey login`",
        Code::KeychainUnavailable => {
            "or sign in with `latchkey login --insecure-storage` to keep the tokens in a file \
             readable only by you (less safe)"
        }
        Code::UnknownAccount => "`latchkey status` lists the accounts signed in here",
        Code::ProviderChanged => {
            "sign in again with `latchkey login`, or put the provider's settings back"
        }
        Code::Config => {
            "`latchkey providers` lists the configured providers; `--provider NAME` picks one"
        }
        Code::WalletDamaged => "`latchkey wallet verify` reports what is wrong",
        Code::SignInTimedOut => "try again, or use `--no-browser` and open the link yourself",
        Code::ServiceUnavailable => {
            "`latchkey wallet balance` shows the last known balance meanwhile; try again later"
        }
        Code::PurchaseTimedOut => {
            "if you paid, `latchkey wallet balance` shows the credits once they arrive"
        }
        Code::Cancelled => "nothing was charged; start it again with `latchkey analytics run`",
        Code::LeaseHold => {
            "a device's offline lease closes only by `latchkey sync` on that device, or by \
             `latchkey devices remove ID` for a lost one"
        }
        _ => return None,
    })
}

/// The account's [`AccountView::display_name`], with the email (else the
/// `preferred_username`) after it when that is not already the name:
/// "Test alice <alice@example.test>".
/// Provider-supplied parts are cleaned ([`clean_line`]).
pub fn who(a: &AccountView) -> String {
    let name = a.display_name();
    let shown = match a.contact() {
        Some(email) if email != name => format!("{name} <{email}>"),
        _ => name.to_string(),
    };
    clean_line(&shown)
}

/// Credits with thousands separators: 1234567 -> "1,234,567".
pub fn credits(c: Credits) -> String {
    let n = c.get();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::hint;
    use latchkey_core::Code;

    #[test]
    fn hints_name_this_faces_commands() {
        let login = hint(Code::NotSignedIn).expect("not signed in has a next step");
        assert!(login.contains("`latchkey login`"), "{login}");
        for code in Code::ALL {
            if let Some(h) = hint(*code) {
                assert!(
                    h.contains("`latchkey") || h.contains("`--"),
                    "a hint names a command or flag of this CLI: {code:?}: {h}"
                );
            }
        }
        assert_eq!(
            hint(Code::InsufficientCredits),
            None,
            "the message says it all"
        );
    }

    #[test]
    fn provider_text_reaches_the_terminal_without_control_characters() {
        use super::{clean_line, clean_text, json_text};
        let hostile = "Ann\u{1b}]52;c;ZXZpbA==\u{7}\u{9b}31m\r\nhint: x\u{7f}";
        for shown in [clean_line(hostile), clean_text(hostile)] {
            assert!(
                !shown.chars().any(|c| c.is_control() && c != '\n'),
                "no escape, BEL, CSI, CR or DEL: {shown:?}"
            );
            assert!(shown.starts_with("Ann\u{FFFD}]52"), "{shown:?}");
        }
        assert!(
            !clean_line(hostile).contains('\n'),
            "one line stays one line"
        );
        assert_eq!(clean_text("a\n\tb"), "a\n\tb", "our own layout stays");
        let json = json_text(&serde_json::json!({ "name": hostile }));
        assert!(
            !json.chars().any(|c| c.is_control() && c != '\n'),
            "{json:?}"
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            back["name"], hostile,
            "the JSON still says exactly what came"
        );
    }

    #[test]
    fn thousands_separators() {
        use super::credits;
        use latchkey_core::latchkey_wallet::Credits;
        assert_eq!(credits(Credits(0)), "0");
        assert_eq!(credits(Credits(999)), "999");
        assert_eq!(credits(Credits(1000)), "1,000");
        assert_eq!(credits(Credits(1234567)), "1,234,567");
        assert_eq!(credits(Credits(-1000)), "-1,000");
    }
}
