//! Any bytes as a file: the import either succeeds or returns an error, never panics; a
//! successful import can be profiled and previewed, and its row count matches the preview.
#![no_main]

use latchkey_analytics::parse::{parse_date, parse_number};
use latchkey_analytics::{DateOrder, DecimalMark, ImportOptions, Store};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_number(s, DecimalMark::Point);
        let _ = parse_number(s, DecimalMark::Comma);
        let _ = parse_date(s, DateOrder::MonthFirst);
    }
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("input.csv");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(mut store) = Store::open_in_memory() else {
        return;
    };
    if let Ok(imported) = store.import("fuzz", &path, &ImportOptions::default(), 0) {
        let id = imported.dataset.id;
        let profile = store
            .profile("fuzz", id)
            .expect("a stored dataset can be profiled");
        assert_eq!(profile.rows, imported.dataset.rows);
        let page = store.preview("fuzz", id, 0, 1_000).expect("and previewed");
        assert_eq!(page.rows.len() as u64, imported.dataset.rows.min(1_000));
    }
});
