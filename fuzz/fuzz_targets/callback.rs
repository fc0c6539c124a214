//! Any query string as a redirect back from the provider: parsing never panics, a parsed
//! callback never carries an empty code or error nor an oversized value (an empty `state` or
//! `iss` parses, and is then refused as not matching the sign-in's), and the same parameters
//! re-encoded parse to the same callback.
#![no_main]

use latchkey_auth::{parse_callback, Callback};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(callback) = parse_callback(query) else {
        return;
    };
    let (first, state, iss) = match &callback {
        Callback::Code { code, state, iss } => (code, state, iss),
        Callback::Error {
            error, state, iss, ..
        } => (error, state, iss),
    };
    assert!(!first.is_empty(), "an empty code or error was accepted");
    for v in [Some(first), state.as_ref(), iss.as_ref()].into_iter().flatten() {
        assert!(v.len() <= 4096, "a {}-byte value was accepted", v.len());
    }
    // The same parameters, re-encoded, parse to the same callback.
    let again: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(query.as_bytes()))
        .finish();
    assert_eq!(parse_callback(&again).as_ref(), Ok(&callback));
});
