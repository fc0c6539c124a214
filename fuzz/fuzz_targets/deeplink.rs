//! Any text as a `latchkey://` link handed over by the OS: routing never panics, and what it
//! routes is what the shell may act on — one voucher of the wallet's own format and bounded
//! length, one short checkout id of `[A-Za-z0-9_-]`, a bare "open" only for `latchkey://`
//! itself, a possible callback only for the app's scheme; and the logged form never carries
//! the link's query or fragment (they may hold a code or a voucher).
#![no_main]

use latchkey_core::links::{classify, shown, Link, SCHEME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match classify(text) {
        Link::Redeem(v) => {
            assert!(
                !v.is_empty() && v.len() <= 2048,
                "voucher length {}",
                v.len()
            );
            assert!(latchkey_wallet::voucher::decode(&v).is_ok());
        }
        Link::Purchase(id) => {
            assert!(!id.is_empty() && id.len() <= 128);
            assert!(id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        }
        Link::MaybeCallback(u) => assert_eq!(u.scheme(), SCHEME),
        Link::Open => {
            let u = url::Url::parse(text).expect("an Open link parses");
            assert!(
                u.scheme() == SCHEME && u.query().is_none(),
                "Open carries nothing"
            );
        }
        Link::Ignored => {}
    }
    if let Ok(u) = url::Url::parse(text) {
        let logged = shown(text);
        for secret in [u.query(), u.fragment()].into_iter().flatten() {
            if !secret.is_empty() {
                assert!(
                    !logged.contains(&format!("?{secret}"))
                        && !logged.contains(&format!("#{secret}")),
                    "the logged form kept the query or fragment"
                );
            }
        }
    }
});
