//! Bad input: each refusal names the line (and column), and leaves the store as it was.

use std::collections::BTreeMap;
use std::path::Path;

use latchkey_analytics::{ColumnKind, Error, ImportOptions, Overrides, ReadOptions, Store};

use crate::{file_store, import, stored_datasets, vega, write, ACCOUNT};

/// Imports `path` with `options` into a store that already holds one dataset, expects an error,
/// and checks that the dataset list and the row tables are unchanged.
fn refused(path: &Path, options: &ImportOptions) -> Error {
    let (dir, mut store, db) = file_store();
    let good = write(
        dir.path(),
        "good.csv",
        b"date,amount\n2024-01-01,1\n2024-01-02,2\n",
    );
    import(&mut store, &good);
    let before = store.datasets(ACCOUNT).expect("list");
    let stored = stored_datasets(&db);
    let err = store
        .import(ACCOUNT, path, options, 0)
        .expect_err("the import must be refused");
    assert_eq!(
        store.datasets(ACCOUNT).expect("list"),
        before,
        "a refused import must not change the dataset list ({err})"
    );
    assert_eq!(
        stored_datasets(&db),
        stored,
        "nothing half-imported ({err})"
    );
    err
}

#[test]
fn prose_is_not_a_table() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write(
        dir.path(),
        "letter.txt",
        b"Dear Sam,\nthanks for the figures; I will look at them, and at the rest, tomorrow.\nBest\n",
    );
    let err = refused(&path, &ImportOptions::default());
    assert!(matches!(err, Error::NotATable { line: 1, .. }), "{err:?}");
    assert!(err.to_string().starts_with("line 1: not a table"), "{err}");
}

#[test]
fn a_binary_file_is_not_a_table() {
    let err = refused(&vega("7zip.png"), &ImportOptions::default());
    assert!(matches!(err, Error::NotATable { .. }), "{err:?}");
    assert!(err.to_string().contains("binary"), "{err}");
}

#[test]
fn empty_files_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("blank.csv", b"\n  \n\n"),
        ("bom.csv", b"\xEF\xBB\xBF"),
    ] {
        let err = refused(&write(dir.path(), name, bytes), &ImportOptions::default());
        assert!(matches!(err, Error::Empty), "{name}: {err:?}");
        assert_eq!(err.to_string(), "the file is empty");
    }
    let err = refused(
        &write(dir.path(), "header.csv", b"date,amount\n"),
        &ImportOptions::default(),
    );
    assert!(
        err.to_string().contains("a header but no rows"),
        "header only: {err}"
    );
}

#[test]
fn ten_thousand_columns_are_refused_at_line_1() {
    let header: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    let text = format!("{}\n{}\n", header.join(","), row.join(","));
    let dir = tempfile::tempdir().expect("dir");
    let err = refused(
        &write(dir.path(), "wide.csv", text.as_bytes()),
        &ImportOptions::default(),
    );
    assert!(
        matches!(
            err,
            Error::TooManyColumns {
                line: 1,
                found: 10_000,
                cap: 1_000
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "line 1: 10000 columns, over the limit of 1000"
    );
}

#[test]
fn a_file_over_the_size_cap_is_refused_before_reading() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write(dir.path(), "big.csv", &b"a,b\n1,2\n".repeat(100));
    let err = refused(
        &path,
        &ImportOptions {
            read: ReadOptions {
                max_bytes: 500,
                ..ReadOptions::default()
            },
            ..ImportOptions::default()
        },
    );
    assert!(
        matches!(
            err,
            Error::TooLarge {
                bytes: 800,
                cap: 500
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_ragged_row_names_its_line() {
    let mut text = String::from("date,amount,who\n");
    for i in 1..=200 {
        text.push_str(&format!("2024-01-{:02},{i},ann\n", i % 28 + 1));
    }
    text.push_str("2024-02-01,5\n");
    let dir = tempfile::tempdir().expect("dir");
    let err = refused(
        &write(dir.path(), "ragged.csv", text.as_bytes()),
        &ImportOptions::default(),
    );
    assert!(
        matches!(
            err,
            Error::Ragged {
                line: 202,
                expected: 3,
                found: 2
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "line 202: 2 fields where the header has 3");
}

fn forcing(column: &str, kind: ColumnKind) -> ImportOptions {
    ImportOptions {
        overrides: Overrides {
            kinds: BTreeMap::from([(column.to_owned(), kind)]),
            ..Overrides::default()
        },
        ..ImportOptions::default()
    }
}

#[test]
fn an_override_the_values_cannot_be_names_line_and_column() {
    let path = vega("seattle-weather.csv");
    let err = refused(&path, &forcing("weather", ColumnKind::Number));
    assert_eq!(
        err.to_string(),
        "line 2, column 6 (weather): `drizzle` is not a number"
    );
    let err = refused(&path, &forcing("precipitation", ColumnKind::Date));
    assert_eq!(
        err.to_string(),
        "line 2, column 2 (precipitation): `0.0` is not a date"
    );
    let err = refused(&path, &forcing("no such column", ColumnKind::Text));
    assert!(matches!(err, Error::UnknownColumn(_)), "{err:?}");

    // A bad value far down the file, after many good ones.
    let mut text = String::from("date,amount\n");
    for i in 0..500 {
        text.push_str(&format!("2024-01-01,{i}\n"));
    }
    text.push_str("2024-01-02,n/k\n");
    let dir = tempfile::tempdir().expect("dir");
    let err = refused(
        &write(dir.path(), "late.csv", text.as_bytes()),
        &forcing("amount", ColumnKind::Number),
    );
    assert!(
        matches!(
            err,
            Error::BadValue {
                line: 502,
                column: 2,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn forcing_a_type_the_values_fit_is_kept() {
    let mut store = Store::open_in_memory().expect("store");
    let d = store
        .import(
            ACCOUNT,
            &vega("seattle-weather.csv"),
            &forcing("weather", ColumnKind::Text),
            0,
        )
        .expect("import")
        .dataset;
    assert_eq!(d.columns[5].kind, ColumnKind::Text);
}

#[test]
fn an_endless_line_is_refused_without_reading_it_whole() {
    let mut text = String::from("name,notes\nann,short\nbob,\"");
    text.push_str(&"x".repeat(17 << 20));
    text.push_str("\"\n");
    let dir = tempfile::tempdir().expect("dir");
    let err = refused(
        &write(dir.path(), "endless.csv", text.as_bytes()),
        &ImportOptions::default(),
    );
    assert!(matches!(err, Error::LineTooLong { line: 3, .. }), "{err:?}");
    assert!(err.to_string().starts_with("line 3: longer than"), "{err}");
}
