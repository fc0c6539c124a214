//! Any query string as a redirect back from the provider: parsing never panics, a parsed
//! callback never carries an empty or oversized value, and a callback that parses also parses
//! the same way when it arrives as a deep link's query.
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
    let values: Vec<&str> = match &callback {
        Callback::Code { code, state, iss } => [Some(code.as_str()), state.as_deref(), iss.as_deref()]
            .into_iter()
            .flatten()
            .collect(),
        Callback::Error {
            error, state, iss, ..
        } => [Some(error.as_str()), state.as_deref(), iss.as_deref()]
            .into_iter()
            .flatten()
            .collect(),
    };
    for v in values {
        assert!(!v.is_empty() && v.len() <= 4096, "value out of bounds: {} bytes", v.len());
    }
    // The same parameters, re-encoded, parse to the same callback.
    let again: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(query.as_bytes()))
        .finish();
    assert_eq!(parse_callback(&again).as_ref(), Ok(&callback));
});
