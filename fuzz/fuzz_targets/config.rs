//! Any text as a configuration file: it loads or is refused, never panics, and a refusal names
//! the file and a line that exists in the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = latchkey_core::config::parse(text, "auth.toml") {
        assert_eq!(e.file, "auth.toml");
        let lines = text.matches('\n').count() + 1;
        assert!(
            (1..=lines).contains(&e.line),
            "line {} of a {lines}-line file",
            e.line
        );
        assert!(!e.message.is_empty());
    }
});
