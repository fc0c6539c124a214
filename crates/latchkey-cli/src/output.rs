//! Printing: results on stdout, steps (`--verbose`) and warnings on stderr.

use latchkey_core::latchkey_wallet::Credits;
use latchkey_core::AccountView;

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

/// "Test alice <alice@example.test>", or whatever parts exist.
pub fn who(a: &AccountView) -> String {
    match (&a.name, &a.email) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (None, Some(e)) => e.clone(),
        (Some(n), None) => n.clone(),
        (None, None) => a.subject.clone(),
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
