//! Fresh random ids: idempotency keys for wallet operations and analytics runs.

use crate::error::{Code, Error, Result};

/// `<prefix>-<24 hex digits>`: 96 random bits from the OS, so two keys never collide in
/// practice and a retry can pass the same key again. Used by every face that makes one.
///
/// # Errors
/// [`Code::Internal`] when the OS has no randomness to give.
pub fn new_key(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::new(Code::Internal, format!("no randomness: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{prefix}-{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_prefix_and_differ() {
        let a = new_key("cli").unwrap();
        let b = new_key("cli").unwrap();
        assert!(a.starts_with("cli-") && a.len() == 4 + 24, "{a}");
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b, "96 random bits never repeat");
    }
}
