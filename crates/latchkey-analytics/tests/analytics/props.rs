//! Property tests: the number and date parsers against values formatted here, and the CSV
//! reader against tables written by the csv crate in every encoding and delimiter.

use chrono::NaiveDate;
use latchkey_analytics::parse::{parse_date, parse_number};
use latchkey_analytics::read::{self, Encoding, ReadOptions, Records};
use latchkey_analytics::{DateOrder, DecimalMark};
use proptest::prelude::*;

/// `1234567` -> `1,234,567` with `sep`.
fn group(mut n: u64, sep: &str) -> String {
    let mut parts = Vec::new();
    loop {
        if n < 1000 {
            parts.push(n.to_string());
            break;
        }
        parts.push(format!("{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join(sep)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn numbers_round_trip(
        cents in 0u64..100_000_000_000_000,
        negative in any::<bool>(),
        comma in any::<bool>(),
        grouped in any::<bool>(),
        parens in any::<bool>(),
        currency in prop::sample::select(vec!["", "$", "€", "£"]),
    ) {
        let (mark, sep, dec) = if comma {
            (DecimalMark::Comma, ".", ",")
        } else {
            (DecimalMark::Point, ",", ".")
        };
        let int = if grouped { group(cents / 100, sep) } else { (cents / 100).to_string() };
        let body = format!("{currency}{int}{dec}{:02}", cents % 100);
        let text = match (negative, parens) {
            (true, true) => format!("({body})"),
            (true, false) => format!("-{body}"),
            _ => body,
        };
        let want = (cents as f64 / 100.0) * if negative { -1.0 } else { 1.0 };
        let got = parse_number(&text, mark);
        prop_assert!(got.is_some(), "{text} did not parse");
        let got = got.unwrap_or_default();
        prop_assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{text}: {got} vs {want}");
    }

    #[test]
    fn number_parser_never_panics(s in "\\PC{0,24}") {
        let _ = parse_number(&s, DecimalMark::Point);
        let _ = parse_number(&s, DecimalMark::Comma);
        let _ = parse_date(&s, DateOrder::DayFirst);
    }

    #[test]
    fn dates_round_trip(y in 1900i32..2100, m in 1u32..=12, d in 1u32..=28, form in 0usize..6) {
        const NAMES: [&str; 12] =
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let date = NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
        let want = date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp();
        let name = NAMES[m as usize - 1];
        let (text, order) = match form {
            0 => (format!("{y:04}-{m:02}-{d:02}"), DateOrder::DayFirst),
            1 => (format!("{d:02}/{m:02}/{y:04}"), DateOrder::DayFirst),
            2 => (format!("{m}/{d}/{y:04}"), DateOrder::MonthFirst),
            3 => (format!("{name} {d} {y}"), DateOrder::DayFirst),
            4 => (format!("{d} {name} {y}"), DateOrder::MonthFirst),
            _ => (format!("{d:02}.{m:02}.{y}"), DateOrder::DayFirst),
        };
        prop_assert_eq!(parse_date(&text, order), Some(want), "{}", text);
    }

    #[test]
    fn tables_round_trip_through_the_reader(
        cols in 2usize..6,
        cells in prop::collection::vec("[a-zé0-9 \"\n,]{0,8}", 2..120),
        delimiter in prop::sample::select(vec![b',', b';', b'\t', b'|']),
        encoding in prop::sample::select(vec![
            Encoding::Utf8, Encoding::Utf8Bom, Encoding::Utf16Le, Encoding::Utf16Be, Encoding::Latin1,
        ]),
    ) {
        // Commas in cells become the delimiter, so no other candidate can split the rows.
        let d = char::from(delimiter).to_string();
        let cells: Vec<String> = cells.iter().map(|c| c.replace(',', &d)).collect();
        let rows: Vec<Vec<String>> = cells
            .chunks(cols)
            .filter(|r| r.len() == cols)
            .map(|r| r.to_vec())
            .collect();
        prop_assume!(!rows.is_empty());
        let header: Vec<String> = (0..cols).map(|i| format!("h{i}")).collect();
        let mut w = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
        w.write_record(&header).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for r in &rows {
            w.write_record(r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let text = String::from_utf8(w.into_inner().map_err(|e| TestCaseError::fail(e.to_string()))?)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes: Vec<u8> = match encoding {
            Encoding::Utf8 => text.into_bytes(),
            Encoding::Utf8Bom => [&b"\xEF\xBB\xBF"[..], text.as_bytes()].concat(),
            Encoding::Utf16Le => [0xFF, 0xFE].into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect(),
            Encoding::Utf16Be => [0xFE, 0xFF].into_iter()
                .chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect(),
            Encoding::Latin1 => text.chars().map(|c| c as u32 as u8).collect(),
        };
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("t.csv");
        std::fs::write(&path, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let sniff = read::sniff(&path, &ReadOptions::default())
            .map_err(|e| TestCaseError::fail(format!("sniff: {e}")))?;
        prop_assert_eq!(sniff.delimiter, delimiter);
        prop_assert_eq!(&sniff.columns, &header);
        if encoding != Encoding::Latin1 || bytes.iter().any(|&b| b >= 0x80) {
            prop_assert_eq!(sniff.encoding, encoding);
        }
        let mut records = Records::open(&path, &sniff)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut got: Vec<Vec<String>> = Vec::new();
        while let Some((_, rec)) = records.next().map_err(|e| TestCaseError::fail(e.to_string()))? {
            got.push(rec.iter().map(str::to_owned).collect());
        }
        // Rows whose every cell is empty are written as a bare line of delimiters: kept.
        prop_assert_eq!(got, rows);
    }
}
