//! The store: recognising a re-import, accounts kept apart, rename, delete, saved results.

use latchkey_analytics::analysis::AnalysisResult;
use latchkey_analytics::{
    Agg, Analysis, CancelFlag, Error, ImportOptions, Period, Store, TimeSeriesParams,
    SCHEMA_VERSION,
};

use crate::{breakdown, file_store, import, stored_datasets, timeseries, vega, write, ACCOUNT};

#[test]
fn re_importing_the_same_file_is_recognised() {
    let (dir, mut store, _db) = file_store();
    let first = import(&mut store, &vega("seattle-weather.csv"));
    let copy = write(
        dir.path(),
        "copy-of-seattle.csv",
        &std::fs::read(vega("seattle-weather.csv")).expect("read"),
    );
    let again = store
        .import(ACCOUNT, &copy, &ImportOptions::default(), 5)
        .expect("import again");
    assert!(again.existing, "same bytes, same dataset");
    assert_eq!(again.dataset, first);
    assert_eq!(store.datasets(ACCOUNT).expect("list").len(), 1);

    // Another account has its own datasets and cannot see this one.
    let theirs = store
        .import("acct-2", &copy, &ImportOptions::default(), 5)
        .expect("other account");
    assert!(!theirs.existing);
    assert_ne!(theirs.dataset.id, first.id);
    assert_eq!(store.datasets("acct-2").expect("list").len(), 1);
    assert!(matches!(
        store.dataset("acct-2", first.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.rename("acct-2", first.id, "mine now"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn rename_and_delete() {
    let (_dir, mut store, db) = file_store();
    let d = import(&mut store, &vega("stocks.csv"));
    assert_eq!(d.name, "stocks.csv", "named after the file by default");
    store
        .rename(ACCOUNT, d.id, "  Stocks 2000–2010 ")
        .expect("rename");
    assert_eq!(
        store.dataset(ACCOUNT, d.id).expect("get").name,
        "Stocks 2000–2010"
    );
    assert!(matches!(
        store.rename(ACCOUNT, d.id, "   "),
        Err(Error::BadParameter(_))
    ));
    let result = store.run(ACCOUNT, d.id, &monthly_count()).expect("run");
    store
        .save_result(ACCOUNT, d.id, &result, 3, 10)
        .expect("save");
    assert_eq!(stored_datasets(&db), vec![d.id]);
    store.delete(ACCOUNT, d.id).expect("delete");
    assert!(store.datasets(ACCOUNT).expect("list").is_empty());
    assert!(
        stored_datasets(&db).is_empty(),
        "the rows go with the dataset"
    );
    assert!(store.results(ACCOUNT, None).expect("results").is_empty());
    assert!(matches!(
        store.delete(ACCOUNT, d.id),
        Err(Error::NotFound { .. })
    ));

    // A new dataset never gets the deleted one's id, and its analyses see its own rows.
    let dir = tempfile::tempdir().expect("dir");
    let other = write(
        dir.path(),
        "few.csv",
        b"symbol,date,price\nXYZ,Jan 1 2001,1\nXYZ,Feb 1 2001,2\n",
    );
    let d2 = import(&mut store, &other);
    assert_ne!(d2.id, d.id, "dataset ids are never reused");
    let ts = timeseries(&store, d2.id, monthly_params());
    assert_eq!(
        ts.periods.len(),
        2,
        "the new file's two months, not the old rows"
    );
    assert_eq!(ts.series[0].name, "XYZ");
}

fn monthly_params() -> TimeSeriesParams {
    TimeSeriesParams {
        date: None,
        measure: None,
        agg: Agg::Count,
        by: Period::Month,
        split: Some("symbol".into()),
        top: 2,
        window: 3,
    }
}

fn monthly_count() -> Analysis {
    Analysis::Timeseries(monthly_params())
}

#[test]
fn saved_results_reopen_the_same_after_a_restart() {
    let (_dir, mut store, db) = file_store();
    let d = import(&mut store, &vega("stocks.csv"));
    let result = store.run(ACCOUNT, d.id, &monthly_count()).expect("run");
    let saved = store
        .save_result(ACCOUNT, d.id, &result, 7, 1_700_000_123)
        .expect("save");
    assert_eq!(saved.kind, "timeseries");
    assert_eq!(saved.cost, 7);
    assert_eq!(
        saved.params,
        serde_json::to_value(monthly_count()).expect("json"),
        "the parameters are saved as run"
    );
    drop(store);

    let store = Store::open(&db).expect("reopen");
    let conn = rusqlite::Connection::open(&db).expect("raw open");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let list = store.results(ACCOUNT, Some(d.id)).expect("list");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, saved.id);
    assert_eq!(
        list[0].result,
        serde_json::Value::Null,
        "listings are light"
    );
    let opened = store.open_result(ACCOUNT, saved.id).expect("open");
    let back: AnalysisResult = serde_json::from_value(opened.result).expect("a result");
    assert_eq!(back, result, "the saved result is the one computed");
    assert_eq!(opened.created_at, 1_700_000_123);
    assert!(matches!(
        store.open_result("acct-2", saved.id),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn analyses_refuse_columns_of_the_wrong_type() {
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &vega("stocks.csv"));
    let err = store
        .run(
            ACCOUNT,
            d.id,
            &Analysis::Timeseries(TimeSeriesParams {
                date: None,
                measure: Some("symbol".into()),
                agg: Agg::Sum,
                by: Period::Month,
                split: None,
                top: 5,
                window: 0,
            }),
        )
        .expect_err("symbol is no number");
    assert_eq!(
        err.to_string(),
        "column `symbol` is a category, the analysis needs a number"
    );
    let err = store
        .run(
            ACCOUNT,
            d.id,
            &Analysis::Timeseries(TimeSeriesParams {
                date: None,
                measure: None,
                agg: Agg::Sum,
                by: Period::Day,
                split: None,
                top: 5,
                window: 0,
            }),
        )
        .expect_err("sum of nothing");
    assert!(matches!(err, Error::BadParameter(_)), "{err:?}");
}

#[test]
fn large_files_cross_the_column_chunks_correctly() {
    // 140,000 rows: three chunks of 65,536 rows for the column-wise copies.
    let dir = tempfile::tempdir().expect("dir");
    let mut text = String::from("day,kind,amount\n");
    let mut sums = [0.0f64; 3];
    let mut missing = 0u64;
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    for i in 0..140_000u64 {
        let day = start + chrono::Days::new(i % 1000);
        let kind = ["a", "b", "c"][(i % 3) as usize];
        if i % 7 == 0 {
            missing += 1;
            text.push_str(&format!("{day},{kind},\n"));
        } else {
            sums[(i % 3) as usize] += i as f64;
            text.push_str(&format!("{day},{kind},{i}\n"));
        }
    }
    let path = write(dir.path(), "large.csv", text.as_bytes());
    let (_d, mut store, _db) = file_store();
    let d = import(&mut store, &path);
    assert_eq!(d.rows, 140_000);
    let b = breakdown(
        &store,
        d.id,
        latchkey_analytics::BreakdownParams {
            by: "kind".into(),
            measure: Some("amount".into()),
            agg: Agg::Sum,
            top: 5,
        },
    );
    for share in &b.rows {
        let k = ["a", "b", "c"]
            .iter()
            .position(|k| *k == share.category)
            .expect("a known kind");
        assert_eq!(share.value, Some(sums[k]), "kind {}", share.category);
        assert_eq!(
            share.count,
            (0..140_000u64)
                .filter(|i| i % 3 == k as u64 && i % 7 != 0)
                .count() as u64
        );
    }
    let p = store.profile(ACCOUNT, d.id).expect("profile");
    assert_eq!(p.columns[2].missing, missing);
    // A page across the first chunk boundary (row 65,536) and the end of the last chunk.
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).expect("date");
    for offset in [65_530u64, 139_998] {
        let page = store.preview(ACCOUNT, d.id, offset, 10).expect("preview");
        let expected = 10.min(140_000 - offset);
        assert_eq!(
            page.rows.len() as u64,
            expected,
            "a page stops at the last row"
        );
        for (k, row) in page.rows.iter().enumerate() {
            let i = offset + k as u64;
            let day = start + chrono::Days::new(i % 1000);
            assert_eq!(row[0], serde_json::json!(day.to_string()), "row {i}");
            assert_eq!(row[1], serde_json::json!(["a", "b", "c"][(i % 3) as usize]));
            let amount = if i.is_multiple_of(7) {
                serde_json::Value::Null
            } else {
                serde_json::json!(i as f64)
            };
            assert_eq!(row[2], amount, "row {i}");
        }
    }
    let frame = store.frame(ACCOUNT, d.id, &["amount"]).expect("frame");
    assert_eq!(frame.rows, 140_000);

    // Rows per year, from the day offsets: 2020 has days 0..366, 2021 366..731, 2022 the rest.
    let ts = timeseries(
        &store,
        d.id,
        TimeSeriesParams {
            date: None,
            measure: None,
            agg: Agg::Count,
            by: Period::Year,
            split: None,
            top: 5,
            window: 0,
        },
    );
    let count = |lo: u64, hi: u64| {
        (0..140_000u64)
            .filter(|i| (lo..hi).contains(&(i % 1000)))
            .count() as f64
    };
    assert_eq!(
        ts.series[0].values,
        vec![
            Some(count(0, 366)),
            Some(count(366, 731)),
            Some(count(731, 1000))
        ]
    );
}

#[test]
fn a_cancelled_run_stops_and_saves_nothing() {
    let (_dir, mut store, _db) = file_store();
    let d = import(&mut store, &vega("seattle-weather.csv"));
    let monthly = Analysis::Timeseries(TimeSeriesParams {
        date: None,
        measure: Some("precipitation".into()),
        agg: Agg::Sum,
        by: Period::Month,
        split: Some("weather".into()),
        top: 5,
        window: 3,
    });
    let flag = CancelFlag::new();
    let run = |flag: &CancelFlag| store.run_cancellable(ACCOUNT, d.id, &monthly, flag);
    assert!(run(&flag).is_ok(), "a flag nobody set changes nothing");
    let handle = flag.clone();
    handle.cancel();
    assert!(flag.is_cancelled(), "clones share the switch");
    assert!(
        matches!(run(&flag), Err(Error::Cancelled)),
        "a set flag stops the run"
    );
    assert!(
        store.results(ACCOUNT, None).expect("results").is_empty(),
        "running saves nothing by itself; a cancelled run is never saved"
    );
}

#[test]
fn a_result_as_csv() {
    let (dir, mut store, _db) = file_store();
    let f = write(
        dir.path(),
        "shop.csv",
        b"date,amount,shop\n2026-01-03,2.5,\"Corner, Ltd\"\n2026-01-20,4,b\n2026-03-01,-1,b\n",
    );
    let d = import(&mut store, &f);
    let monthly = store
        .run(
            ACCOUNT,
            d.id,
            &Analysis::Timeseries(TimeSeriesParams {
                date: None,
                measure: Some("amount".into()),
                agg: Agg::Sum,
                by: Period::Month,
                split: Some("shop".into()),
                top: 5,
                window: 2,
            }),
        )
        .expect("run");
    assert_eq!(
        monthly.to_csv().expect("csv"),
        "period,start,b,\"Corner, Ltd\",b (rolling 2),\"Corner, Ltd (rolling 2)\"\n\
         2026-01,2026-01-01,4,2.5,,\n\
         2026-02,2026-02-01,0,0,2,1.25\n\
         2026-03,2026-03-01,-1,0,-0.5,0\n",
        "a column per series, empty months as 0 for a sum, quoted names"
    );
}
