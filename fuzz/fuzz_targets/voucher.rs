//! Any text as a voucher: decoding and verifying never panic, and nothing verifies against a
//! key that did not sign it (the fuzzer cannot forge an Ed25519 signature; if it ever "does",
//! the parser accepted something it should not have).
#![no_main]

use latchkey_wallet::voucher::{decode, verify};
use latchkey_wallet::{AccountKey, PrivateKey, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode(token);
    let key = PrivateKey::from_seed([7; 32]).public_key();
    let account = AccountKey::new("https://issuer.example", "alice");
    let result = verify(token, &[key], &account, Timestamp::from_unix_millis(1_800_000_000_000));
    assert!(result.is_err(), "a fuzzed voucher verified: {token:?}");
});
