//! Small files in the shapes of real exports: a bank statement (semicolons, decimal commas,
//! negatives in parentheses, day-first dates), a UTF-16 export with a BOM, a Latin-1 file, a
//! UTF-8 BOM file, ambiguous and month-first dates, a file without a header.

use latchkey_analytics::{
    Agg, ColumnKind, CompareParams, ComparePeriod, DateOrder, DecidedBy, DecimalMark, Encoding,
    ImportOptions, Overrides, Period, Store, TimeSeriesParams, TrendMethod, TrendParams,
};

use crate::{close, compare, import, timeseries, trend, write, ACCOUNT};

const BANK: &str = "\
Buchungstag;Verwendungszweck;Kategorie;Betrag (EUR)
02.01.2024;Gehalt Januar;Einkommen;2.500,00
05.01.2024;Miete;Wohnen;(850,00)
15.01.2024;Supermarkt;Lebensmittel;-63,45
28.01.2024;Supermarkt;Lebensmittel;(41,20)
30.01.2024;Kino;Freizeit;(12,00)
01.02.2024;Gehalt Februar;Einkommen;2.500,00
05.02.2024;Miete;Wohnen;(850,00)
14.02.2024;Supermarkt;Lebensmittel;(104,35)
20.02.2024;Erstattung;Lebensmittel;1.003,10
25.02.2024;Kino;Freizeit;(9,50)
";

#[test]
fn bank_statement_with_decimal_commas_and_parentheses() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write(dir.path(), "umsaetze.csv", BANK.as_bytes());
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &path);
    assert_eq!(d.delimiter, ';');
    assert_eq!(d.rows, 10);
    let c = &d.columns;
    assert_eq!(c[0].kind, ColumnKind::Date);
    assert_eq!(c[0].date_order, Some(DateOrder::DayFirst));
    assert_eq!(
        c[0].date_order_decided_by,
        Some(DecidedBy::Data),
        "15.01 decides"
    );
    assert_eq!(c[2].kind, ColumnKind::Category);
    assert_eq!(c[3].kind, ColumnKind::Number);
    assert_eq!(c[3].decimal_mark, Some(DecimalMark::Comma));
    assert_eq!(
        c[1].kind,
        ColumnKind::Text,
        "6 distinct in 10 rows is no category"
    );
    let p = store.profile(ACCOUNT, d.id).expect("profile");
    assert_eq!(
        p.columns[1].distinct, 6,
        "Gehalt ×2, Miete, Supermarkt, Kino, Erstattung"
    );
    assert_eq!(p.columns[1].missing, 0);
    assert!(p.columns[1].top.is_empty(), "top values are for categories");
    assert_eq!(p.columns[3].min, Some(-850.0));
    assert_eq!(p.columns[3].max, Some(2500.0));
    assert_eq!(p.columns[3].distinct, 8, "-850 and 2500 twice each");

    let ts = timeseries(
        &store,
        d.id,
        TimeSeriesParams {
            date: None,
            measure: Some("Betrag (EUR)".into()),
            agg: Agg::Sum,
            by: Period::Month,
            split: None,
            top: 5,
            window: 0,
        },
    );
    let labels: Vec<&str> = ts.periods.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels, ["2024-01", "2024-02"]);
    // By hand: 2500 - 850 - 63.45 - 41.20 - 12 and 2500 - 850 - 104.35 + 1003.10 - 9.50.
    assert!(close(ts.series[0].values[0].expect("jan"), 1533.35));
    assert!(close(ts.series[0].values[1].expect("feb"), 2539.25));

    let cmp = compare(
        &store,
        d.id,
        CompareParams {
            date: None,
            measure: Some("Betrag (EUR)".into()),
            agg: Agg::Sum,
            period: ComparePeriod::Month,
            anchor: Some("2024-02-10".into()),
            by: Some("Kategorie".into()),
            top: 10,
        },
    );
    assert_eq!(cmp.current.label, "2024-02");
    assert_eq!(cmp.previous.label, "2024-01");
    let row = |name: &str| {
        cmp.rows
            .iter()
            .find(|r| r.category.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("row {name}"))
    };
    assert_eq!(row("Wohnen").change, Some(0.0));
    assert_eq!(row("Wohnen").change_pct, Some(0.0));
    let food = row("Lebensmittel");
    assert!(close(food.current.expect("cur"), 1003.10 - 104.35));
    assert!(close(food.previous.expect("prev"), -63.45 - 41.20));
    // Percent change against the absolute previous value: (898.75 + 104.65) / 104.65.
    assert!(close(
        food.change_pct.expect("pct"),
        100.0 * 1003.40 / 104.65
    ));
    let fun = row("Freizeit");
    assert!(close(fun.change.expect("change"), 2.5));
}

fn utf16(text: &str, little: bool) -> Vec<u8> {
    let mut out = if little {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for u in text.encode_utf16() {
        out.extend(if little {
            u.to_le_bytes()
        } else {
            u.to_be_bytes()
        });
    }
    out
}

const STUDIO: &str = "Date\tViews\tWatch time (hours)\tTraffic source\r\n\
2024-03-01\t1,204\t35.5\tYouTube search\r\n\
2024-03-02\t987\t28.25\tBrowse features\r\n\
2024-03-03\t2,310\t71.0\tYouTube search\r\n\
2024-03-04\t15\t0.5\tExternal — “blog”\r\n";

#[test]
fn utf16_exports_with_a_bom_are_decoded() {
    let dir = tempfile::tempdir().expect("dir");
    let mut store = Store::open_in_memory().expect("store");
    for (little, name, enc) in [
        (true, "studio-le.csv", Encoding::Utf16Le),
        (false, "studio-be.csv", Encoding::Utf16Be),
    ] {
        let path = write(dir.path(), name, &utf16(STUDIO, little));
        let d = import(&mut store, &path);
        assert_eq!(d.encoding, enc);
        assert_eq!(d.delimiter, '\t');
        assert_eq!(d.columns[0].name, "Date", "the BOM is not part of the name");
        assert_eq!(d.columns[1].kind, ColumnKind::Number, "1,204 is a number");
        let page = store.preview(ACCOUNT, d.id, 0, 10).expect("preview");
        assert_eq!(page.rows.len(), 4);
        assert_eq!(page.rows[0][1], serde_json::json!(1204.0));
        assert_eq!(page.rows[2][1], serde_json::json!(2310.0));
        assert_eq!(page.rows[3][3], serde_json::json!("External — “blog”"));
    }
}

#[test]
fn latin1_files_are_read_as_latin1() {
    let text = "Région|Montant|Date\nÎle-de-France|12,5|2024-01-03\nBretagne|7|2024-01-04\nÎle-de-France|3,25|2024-02-01\n";
    // Every char is below U+0100: its Latin-1 byte is its code point.
    let bytes: Vec<u8> = text.chars().map(|c| c as u32 as u8).collect();
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the file is not UTF-8"
    );
    let dir = tempfile::tempdir().expect("dir");
    let path = write(dir.path(), "regions.csv", &bytes);
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &path);
    assert_eq!(d.encoding, Encoding::Latin1);
    assert_eq!(d.delimiter, '|');
    assert_eq!(d.columns[0].name, "Région");
    assert_eq!(d.columns[1].decimal_mark, Some(DecimalMark::Comma));
    let page = store.preview(ACCOUNT, d.id, 0, 10).expect("preview");
    assert_eq!(page.rows[0][0], serde_json::json!("Île-de-France"));
    assert_eq!(page.rows[0][1], serde_json::json!(12.5));
    assert_eq!(page.rows[2][1], serde_json::json!(3.25));
}

#[test]
fn utf8_bom_currency_and_datetimes() {
    let text = "\u{feff}when,amount,who\n\
        2024-01-01T10:00:00Z,\"$1,234.50\",ann\n\
        2024-01-01T12:30:00+01:00,(£12.00),bob\n\
        2024-01-02 08:00,€-3,ann\n";
    let dir = tempfile::tempdir().expect("dir");
    let path = write(dir.path(), "bom.csv", text.as_bytes());
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &path);
    assert_eq!(d.encoding, Encoding::Utf8Bom);
    assert_eq!(d.columns[0].name, "when");
    assert_eq!(d.columns[0].kind, ColumnKind::DateTime);
    assert_eq!(d.columns[1].kind, ColumnKind::Number);
    let page = store.preview(ACCOUNT, d.id, 0, 10).expect("preview");
    assert_eq!(page.rows[0][0], serde_json::json!("2024-01-01T10:00:00Z"));
    assert_eq!(
        page.rows[1][0],
        serde_json::json!("2024-01-01T11:30:00Z"),
        "to UTC"
    );
    assert_eq!(page.rows[0][1], serde_json::json!(1234.5));
    assert_eq!(page.rows[1][1], serde_json::json!(-12.0));
    assert_eq!(page.rows[2][1], serde_json::json!(-3.0));
}

#[test]
fn ambiguous_dates_keep_a_default_the_user_can_flip() {
    let text = "date,amount\n01/02/2024,1\n03/04/2024,2\n05/06/2024,3\n";
    let dir = tempfile::tempdir().expect("dir");
    let path = write(dir.path(), "ambiguous.csv", text.as_bytes());
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &path);
    assert_eq!(d.columns[0].date_order, Some(DateOrder::DayFirst));
    assert_eq!(d.columns[0].date_order_decided_by, Some(DecidedBy::Default));
    let p = store.profile(ACCOUNT, d.id).expect("profile");
    assert_eq!(
        p.columns[0].first.as_deref(),
        Some("2024-02-01"),
        "1 February"
    );

    let mut other = Store::open_in_memory().expect("store");
    let flipped = other
        .import(
            ACCOUNT,
            &path,
            &ImportOptions {
                overrides: Overrides {
                    date_order: Some(DateOrder::MonthFirst),
                    ..Overrides::default()
                },
                ..ImportOptions::default()
            },
            0,
        )
        .expect("import month-first")
        .dataset;
    assert_eq!(
        flipped.columns[0].date_order_decided_by,
        Some(DecidedBy::User)
    );
    let p = other.profile(ACCOUNT, flipped.id).expect("profile");
    assert_eq!(
        p.columns[0].first.as_deref(),
        Some("2024-01-02"),
        "2 January"
    );
    assert_eq!(p.columns[0].last.as_deref(), Some("2024-05-06"));

    // A second number over 12 decides month-first.
    let path = write(
        dir.path(),
        "us.csv",
        b"date,amount\n01/02/2024,1\n12/25/2024,2\n",
    );
    let d = import(&mut store, &path);
    assert_eq!(d.columns[0].date_order, Some(DateOrder::MonthFirst));
    assert_eq!(d.columns[0].date_order_decided_by, Some(DecidedBy::Data));
}

#[test]
fn a_file_without_a_header_gets_numbered_columns() {
    let dir = tempfile::tempdir().expect("dir");
    let path = write(
        dir.path(),
        "noheader.csv",
        b"2024-01-01,5,x\n2024-01-02,6,y\n\n2024-01-03,7,x\n",
    );
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &path);
    assert!(!d.has_header);
    assert_eq!(d.rows, 3, "the blank line is skipped");
    let names: Vec<&str> = d.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["column_1", "column_2", "column_3"]);
    assert_eq!(d.columns[0].kind, ColumnKind::Date);
}

#[test]
fn trend_flags_a_spike_and_names_holt() {
    // 20 days around 10 and one day at 100.
    let mut text = String::from("day,value\n");
    let values: Vec<f64> = (0..21)
        .map(|i| {
            if i == 13 {
                100.0
            } else {
                10.0 + f64::from(i % 3)
            }
        })
        .collect();
    for (i, v) in values.iter().enumerate() {
        text.push_str(&format!("2024-03-{:02},{v}\n", i + 1));
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = write(dir.path(), "spike.csv", text.as_bytes());
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &path);
    let run = |method| {
        trend(
            &store,
            d.id,
            TrendParams {
                date: None,
                measure: Some("value".into()),
                agg: Agg::Sum,
                by: Period::Day,
                horizon: 2,
                method,
            },
        )
    };
    let t = run(TrendMethod::Linear);
    // By hand: sorted values have median 11; |v - 11| has median 1 (MAD).
    assert_eq!(t.median, Some(11.0));
    assert_eq!(t.mad, Some(1.0));
    assert_eq!(t.outliers.len(), 1, "{:?}", t.outliers);
    assert_eq!(t.outliers[0].period.label, "2024-03-14");
    assert!(close(t.outliers[0].z, 0.6745 * 89.0));
    assert_eq!(t.forecast[0].0.label, "2024-03-22");

    // A perfect line: Holt's method follows it exactly.
    let path = write(
        dir.path(),
        "line.csv",
        b"day,value\n2024-01-01,1\n2024-01-02,2\n2024-01-03,3\n2024-01-04,4\n2024-01-05,5\n",
    );
    let d2 = import(&mut store, &path);
    let h = trend(
        &store,
        d2.id,
        TrendParams {
            date: None,
            measure: Some("value".into()),
            agg: Agg::Sum,
            by: Period::Day,
            horizon: 2,
            method: TrendMethod::Holt {
                alpha: 0.5,
                beta: 0.3,
            },
        },
    );
    assert_eq!(h.method, "Holt's linear exponential smoothing");
    let f: Vec<f64> = h.forecast.iter().map(|(_, v)| *v).collect();
    assert_eq!(f, [6.0, 7.0]);
    assert!(h.outliers.is_empty());
}
