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
            eprintln!("· {}", line());
        }
    }

    pub fn warn(&self, line: &str) {
        eprintln!("warning: {line}");
    }

    /// Prints a JSON value on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    }
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
        _ => return None,
    })
}

/// The account's [`AccountView::display_name`], with the email (else the
/// `preferred_username`) after it when that is not already the name:
/// "Test alice <alice@example.test>".
pub fn who(a: &AccountView) -> String {
    let name = a.display_name();
    match a.contact() {
        Some(email) if email != name => format!("{name} <{email}>"),
        _ => name.to_string(),
    }
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
