//! Detecting before importing (what the window shows so the user can correct it) and importing
//! a dataset again over itself with corrections.

use std::collections::BTreeMap;

use latchkey_analytics::{
    Agg, Analysis, ColumnKind, DateOrder, DecidedBy, Error, ImportOptions, Overrides, Period,
    TimeSeriesParams,
};

use crate::{file_store, stored_datasets, write, ACCOUNT};

/// Days 1..=12 of February 2026 written `DD/02/2026`: either order reads every one.
fn ambiguous() -> String {
    let mut text = String::from("day,code,amount\n");
    for d in 1..=12 {
        text.push_str(&format!("{d:02}/02/2026,{},{d}.5\n", 100 + d % 3));
    }
    text
}

#[test]
fn detection_shows_types_orders_and_rows_as_written_and_stores_nothing() {
    let (dir, store, db) = file_store();
    let path = write(dir.path(), "codes.csv", ambiguous().as_bytes());
    let found = store
        .detect(ACCOUNT, &path, &ImportOptions::default(), 3)
        .expect("detected");
    assert_eq!(found.source_name, "codes.csv");
    assert_eq!(
        (found.rows, found.delimiter, found.has_header),
        (12, ',', true)
    );
    let kinds: Vec<(&str, ColumnKind)> = found
        .columns
        .iter()
        .map(|c| (c.column.name.as_str(), c.column.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("day", ColumnKind::Date),
            ("code", ColumnKind::Number),
            ("amount", ColumnKind::Number)
        ]
    );
    let day = &found.columns[0];
    assert_eq!(
        day.column.date_order_decided_by,
        Some(DecidedBy::Default),
        "every value reads both ways: the user may flip it"
    );
    assert_eq!(day.sample.as_deref(), Some("01/02/2026"));
    assert_eq!(day.sample_day_first.as_deref(), Some("2026-02-01"));
    assert_eq!(day.sample_month_first.as_deref(), Some("2026-01-02"));
    assert_eq!(found.columns[2].sample.as_deref(), Some("1.5"));
    assert_eq!(found.columns[2].sample_day_first, None, "not a date column");
    assert_eq!(
        found.preview,
        [
            ["01/02/2026", "101", "1.5"],
            ["02/02/2026", "102", "2.5"],
            ["03/02/2026", "100", "3.5"]
        ],
        "the first rows, as written"
    );
    assert_eq!(found.existing, None);
    assert!(store.datasets(ACCOUNT).expect("list").is_empty());
    assert!(stored_datasets(&db).is_empty(), "nothing stored");

    let forced = ImportOptions {
        overrides: Overrides {
            kinds: BTreeMap::from([("code".to_owned(), ColumnKind::Category)]),
            date_order: Some(DateOrder::MonthFirst),
            ..Overrides::default()
        },
        ..ImportOptions::default()
    };
    let corrected = store.detect(ACCOUNT, &path, &forced, 0).expect("detected");
    assert_eq!(corrected.columns[1].column.kind, ColumnKind::Category);
    assert_eq!(
        corrected.columns[0].column.date_order,
        Some(DateOrder::MonthFirst)
    );
    assert_eq!(
        corrected.columns[0].column.date_order_decided_by,
        Some(DecidedBy::User)
    );
    assert!(corrected.preview.is_empty());

    let wrong = ImportOptions {
        overrides: Overrides {
            kinds: BTreeMap::from([("day".to_owned(), ColumnKind::Number)]),
            ..Overrides::default()
        },
        ..ImportOptions::default()
    };
    let e = store.detect(ACCOUNT, &path, &wrong, 3).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2, column 1 (day): `01/02/2026` is not a number",
        "a correction that does not fit is refused before any import"
    );
}

#[test]
fn importing_again_over_a_dataset_applies_corrections_and_keeps_name_and_results() {
    let (dir, mut store, db) = file_store();
    let path = write(dir.path(), "codes.csv", ambiguous().as_bytes());
    let first = store
        .import(ACCOUNT, &path, &ImportOptions::default(), 10)
        .expect("imported")
        .dataset;
    store.rename(ACCOUNT, first.id, "Codes").expect("renamed");
    let monthly = Analysis::Timeseries(TimeSeriesParams {
        date: None,
        measure: Some("amount".into()),
        agg: Agg::Sum,
        by: Period::Month,
        split: None,
        top: 5,
        window: 3,
    });
    let result = store.run(ACCOUNT, first.id, &monthly).expect("ran");
    let saved = store
        .save_result(ACCOUNT, first.id, &result, 2, 20)
        .expect("saved");
    // Day first, every row is in February.
    let found = store
        .detect(ACCOUNT, &path, &ImportOptions::default(), 1)
        .expect("detected");
    assert_eq!(found.existing.as_ref().map(|d| d.id), Some(first.id));

    let month_first = ImportOptions {
        overrides: Overrides {
            date_order: Some(DateOrder::MonthFirst),
            kinds: BTreeMap::from([("code".to_owned(), ColumnKind::Category)]),
            ..Overrides::default()
        },
        replace: Some(first.id),
        ..ImportOptions::default()
    };
    let again = store
        .import(ACCOUNT, &path, &month_first, 30)
        .expect("imported again");
    assert!(!again.existing);
    let d = again.dataset;
    assert_ne!(d.id, first.id, "a new id: rows never change under an id");
    assert_eq!((d.name.as_str(), d.rows), ("Codes", 12), "its name is kept");
    assert_eq!(d.columns[1].kind, ColumnKind::Category);
    let page = store.preview(ACCOUNT, d.id, 0, 12).expect("rows");
    let days: Vec<String> = page
        .rows
        .iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=12).map(|m| format!("2026-{m:02}-02")).collect();
    assert_eq!(
        days, expected,
        "DD/02/2026 read month first: the 2nd of months 1 to 12"
    );
    assert_eq!(
        store.datasets(ACCOUNT).expect("list").len(),
        1,
        "replaced, not added"
    );
    assert_eq!(stored_datasets(&db), [d.id], "the old rows are gone");
    let results = store.results(ACCOUNT, None).expect("results");
    assert_eq!(results.len(), 1, "the saved result is kept");
    assert_eq!((results[0].id, results[0].dataset_id), (saved.id, d.id));
    assert_eq!(
        store.open_result(ACCOUNT, saved.id).expect("open").result,
        saved.result,
        "whole"
    );
    let monthly_now = store.run(ACCOUNT, d.id, &monthly).expect("ran");
    assert_ne!(
        serde_json::to_value(&monthly_now).unwrap(),
        serde_json::to_value(&result).unwrap(),
        "the analysis now sees twelve months"
    );

    // Only the file it came from can replace a dataset; a failed replacement changes nothing.
    let other = write(dir.path(), "other.csv", b"day,amount\n2026-01-01,1\n");
    let e = store
        .import(
            ACCOUNT,
            &other,
            &ImportOptions {
                replace: Some(d.id),
                ..ImportOptions::default()
            },
            40,
        )
        .unwrap_err();
    assert!(matches!(e, Error::BadParameter(_)), "{e}");
    let bad = ImportOptions {
        overrides: Overrides {
            kinds: BTreeMap::from([("day".to_owned(), ColumnKind::Number)]),
            ..Overrides::default()
        },
        replace: Some(d.id),
        ..ImportOptions::default()
    };
    let e = store.import(ACCOUNT, &path, &bad, 50).unwrap_err();
    assert!(
        matches!(
            e,
            Error::BadValue {
                line: 2,
                column: 1,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(store.dataset(ACCOUNT, d.id).expect("still there").rows, 12);
    assert_eq!(store.results(ACCOUNT, None).expect("results").len(), 1);
}
