//! The commands the UI calls, named `noun_verb` after the CLI's. Each parses, delegates to
//! `latchkey-core`, and converts; errors reach the UI as `{code, message}`.

pub mod auth;
pub mod startup;
pub mod wallet;

use latchkey_core::{Code, Error};

/// A random id for idempotency keys and analytics runs.
pub(crate) fn random_id(prefix: &str) -> Result<String, Error> {
    let mut bytes = [0u8; 12];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::new(Code::Internal, format!("no randomness: {e}")))?;
    Ok(format!(
        "{prefix}-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}
