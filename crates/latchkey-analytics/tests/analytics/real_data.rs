//! seattle-weather.csv and stocks.csv, checked against figures computed here from the raw text.

use std::collections::BTreeMap;

use latchkey_analytics::analysis;
use latchkey_analytics::{
    Agg, BreakdownParams, ColumnKind, CompareParams, ComparePeriod, Period, Store,
    TimeSeriesParams, TrendMethod, TrendParams,
};

use crate::{breakdown, close, compare, import, timeseries, trend, vega, ACCOUNT};

/// (date, precipitation, temp_max, temp_min, wind, weather) of every row, parsed by hand.
fn seattle_rows() -> Vec<(String, [f64; 4], String)> {
    let text = std::fs::read_to_string(vega("seattle-weather.csv")).expect("read");
    text.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().expect("number");
            (f[0].to_owned(), [n(1), n(2), n(3), n(4)], f[5].to_owned())
        })
        .collect()
}

fn seattle() -> (Store, i64) {
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &vega("seattle-weather.csv"));
    (store, d.id)
}

#[test]
fn seattle_weather_columns_are_typed_from_the_data() {
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &vega("seattle-weather.csv"));
    let kinds: Vec<(&str, ColumnKind)> = d
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("date", ColumnKind::Date),
            ("precipitation", ColumnKind::Number),
            ("temp_max", ColumnKind::Number),
            ("temp_min", ColumnKind::Number),
            ("wind", ColumnKind::Number),
            ("weather", ColumnKind::Category),
        ]
    );
    assert_eq!(
        d.rows,
        seattle_rows().len() as u64,
        "every data line is a row"
    );
    assert_eq!(d.delimiter, ',');
    assert!(d.has_header);
}

#[test]
fn monthly_precipitation_sums_match_a_hand_count() {
    let (store, id) = seattle();
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for (date, n, _) in seattle_rows() {
        *want.entry(date[..7].to_owned()).or_default() += n[0];
    }
    let ts = timeseries(
        &store,
        id,
        TimeSeriesParams {
            date: None,
            measure: Some("precipitation".into()),
            agg: Agg::Sum,
            by: Period::Month,
            split: None,
            top: 5,
            window: 3,
        },
    );
    assert_eq!(ts.periods.len(), 48, "2012-01 to 2015-12");
    assert_eq!(ts.series.len(), 1);
    for (i, p) in ts.periods.iter().enumerate() {
        let got = ts.series[0].values[i].expect("a sum");
        assert!(
            close(got, want[&p.label]),
            "{}: {got} vs hand-summed {}",
            p.label,
            want[&p.label]
        );
    }
    // The rolling average of month 3 is the mean of months 1..3.
    let labels: Vec<&String> = want.keys().collect();
    let mean3 = (want[labels[0]] + want[labels[1]] + want[labels[2]]) / 3.0;
    assert!(close(ts.series[0].rolling[2].expect("full window"), mean3));
    assert_eq!(
        ts.series[0].rolling[1], None,
        "no average before a full window"
    );
}

#[test]
fn monthly_series_split_by_weather_counts_each_kind() {
    let (store, id) = seattle();
    let mut want: BTreeMap<(String, String), (u64, f64)> = BTreeMap::new();
    let mut per_weather: BTreeMap<String, f64> = BTreeMap::new();
    for (date, n, w) in seattle_rows() {
        let e = want.entry((date[..7].to_owned(), w.clone())).or_default();
        e.0 += 1;
        e.1 += n[0];
        *per_weather.entry(w).or_default() += n[0];
    }
    let r = analysis::timeseries(
        &store
            .frame(ACCOUNT, id, &["date", "precipitation", "weather"])
            .expect("frame"),
        &TimeSeriesParams {
            date: Some("date".into()),
            measure: Some("precipitation".into()),
            agg: Agg::Sum,
            by: Period::Month,
            split: Some("weather".into()),
            top: 3,
            window: 0,
        },
    )
    .expect("run");
    // Top 3 by total precipitation, the rest pooled as "other".
    let mut ranked: Vec<(&String, &f64)> = per_weather.iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let names: Vec<&str> = r.series.iter().map(|s| s.name.as_str()).collect();
    let mut expected: Vec<&str> = ranked.iter().take(3).map(|(n, _)| n.as_str()).collect();
    expected.push("other");
    assert_eq!(names, expected);
    for s in &r.series[..3] {
        for (i, p) in r.periods.iter().enumerate() {
            let (count, sum) = want
                .get(&(p.label.clone(), s.name.clone()))
                .copied()
                .unwrap_or((0, 0.0));
            assert_eq!(s.counts[i], count, "{} {}", p.label, s.name);
            assert!(
                close(s.values[i].expect("sum"), sum),
                "{} {}",
                p.label,
                s.name
            );
        }
    }
    let total_rows: u64 = r.series.iter().flat_map(|s| s.counts.iter()).sum();
    assert_eq!(
        total_rows,
        seattle_rows().len() as u64,
        "no row lost or counted twice"
    );
}

#[test]
fn profile_matches_hand_statistics() {
    let (store, id) = seattle();
    let rows = seattle_rows();
    let p = store.profile(ACCOUNT, id).expect("profile");
    assert_eq!(p.rows, rows.len() as u64);
    let precip = &p.columns[1];
    let mut xs: Vec<f64> = rows.iter().map(|r| r.1[0]).collect();
    xs.sort_by(f64::total_cmp);
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    let mut distinct = xs.clone();
    distinct.dedup();
    assert_eq!(precip.missing, 0);
    assert_eq!(precip.min, Some(xs[0]));
    assert_eq!(precip.max, Some(xs[n - 1]));
    assert!(close(precip.mean.expect("mean"), mean));
    assert_eq!(precip.median, Some(median));
    assert_eq!(precip.distinct, distinct.len() as u64);
    let date = &p.columns[0];
    assert_eq!(date.first.as_deref(), Some(rows[0].0.as_str()));
    assert_eq!(date.last.as_deref(), Some(rows[n - 1].0.as_str()));
    assert_eq!(date.distinct, n as u64, "one row per day");
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        *counts.entry(r.2.as_str()).or_default() += 1;
    }
    let weather = &p.columns[5];
    assert_eq!(weather.distinct, counts.len() as u64);
    for (value, count) in &weather.top {
        assert_eq!(counts[value.as_str()], *count, "{value}");
    }
    assert_eq!(weather.top.len(), counts.len(), "all five weathers listed");
    assert!(
        weather.top.windows(2).all(|w| w[0].1 >= w[1].1),
        "top values are most frequent first"
    );
}

#[test]
fn preview_pages_through_the_rows_in_file_order() {
    let (store, id) = seattle();
    let rows = seattle_rows();
    let page = store.preview(ACCOUNT, id, 10, 3).expect("preview");
    assert_eq!(page.total_rows, rows.len() as u64);
    assert_eq!(page.rows.len(), 3);
    for (k, cells) in page.rows.iter().enumerate() {
        let (date, n, w) = &rows[10 + k];
        assert_eq!(cells[0], serde_json::json!(date));
        assert_eq!(cells[1], serde_json::json!(n[0]));
        assert_eq!(cells[5], serde_json::json!(w));
    }
}

#[test]
fn breakdown_shares_and_year_comparison_match_hand_counts() {
    let (store, id) = seattle();
    let rows = seattle_rows();
    let b = breakdown(
        &store,
        id,
        BreakdownParams {
            by: "weather".into(),
            measure: None,
            agg: Agg::Count,
            top: 10,
        },
    );
    for share in &b.rows {
        let n = rows.iter().filter(|r| r.2 == share.category).count() as f64;
        assert_eq!(share.value, Some(n), "{}", share.category);
        assert!(close(share.share.expect("share"), n / rows.len() as f64));
    }
    assert!(close(
        b.rows.iter().filter_map(|s| s.share).sum::<f64>(),
        1.0
    ));

    let year_sum = |y: &str| {
        rows.iter()
            .filter(|r| r.0.starts_with(y))
            .map(|r| r.1[0])
            .sum::<f64>()
    };
    let c = compare(
        &store,
        id,
        CompareParams {
            date: None,
            measure: Some("precipitation".into()),
            agg: Agg::Sum,
            period: ComparePeriod::Year,
            anchor: None,
            by: None,
            top: 5,
        },
    );
    assert_eq!(
        c.current.label, "2015",
        "the anchor defaults to the latest date"
    );
    assert_eq!(c.previous.label, "2014");
    let (cur, prev) = (year_sum("2015"), year_sum("2014"));
    assert!(close(c.total.current.expect("current"), cur));
    assert!(close(c.total.previous.expect("previous"), prev));
    assert!(close(c.total.change.expect("change"), cur - prev));
    assert!(close(
        c.total.change_pct.expect("pct"),
        100.0 * (cur - prev) / prev
    ));
}

#[test]
fn linear_trend_of_monthly_max_temperature_matches_least_squares_by_hand() {
    let (store, id) = seattle();
    let mut months: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (date, n, _) in seattle_rows() {
        let e = months.entry(date[..7].to_owned()).or_default();
        e.0 += n[1];
        e.1 += 1.0;
    }
    let ys: Vec<f64> = months.values().map(|(s, c)| s / c).collect();
    let k = ys.len() as f64;
    let mx = (k - 1.0) / 2.0;
    let my = ys.iter().sum::<f64>() / k;
    let sxy: f64 = ys
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64 - mx) * (y - my))
        .sum();
    let sxx: f64 = (0..ys.len()).map(|i| (i as f64 - mx).powi(2)).sum();
    let slope = sxy / sxx;
    let t = trend(
        &store,
        id,
        TrendParams {
            date: None,
            measure: Some("temp_max".into()),
            agg: Agg::Mean,
            by: Period::Month,
            horizon: 2,
            method: TrendMethod::Linear,
        },
    );
    assert_eq!(t.method, "linear least squares");
    assert!(close(t.slope.expect("slope"), slope));
    assert_eq!(t.forecast.len(), 2);
    assert_eq!(t.forecast[0].0.label, "2016-01");
    assert!(close(t.forecast[0].1, my + slope * (k - mx)));
    // Monthly means of temperature swing with the seasons but none is 3.5 MADs out.
    assert!(t.outliers.is_empty(), "{:?}", t.outliers);
}

#[test]
fn stocks_month_name_dates_and_symbols() {
    let mut store = Store::open_in_memory().expect("store");
    let d = import(&mut store, &vega("stocks.csv"));
    let kinds: Vec<ColumnKind> = d.columns.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![ColumnKind::Category, ColumnKind::Date, ColumnKind::Number]
    );
    let text = std::fs::read_to_string(vega("stocks.csv")).expect("read");
    let rows: Vec<(String, String, f64)> = text
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                f[1].to_owned(),
                f[2].parse().expect("price"),
            )
        })
        .collect();
    let p = store.profile(ACCOUNT, d.id).expect("profile");
    assert_eq!(
        p.columns[1].first.as_deref(),
        Some("2000-01-01"),
        "Jan 1 2000"
    );
    let last = &rows.last().expect("a row").1;
    assert_eq!(
        last, "Mar 1 2010",
        "the file's last date, for the assertion below"
    );
    assert_eq!(p.columns[1].last.as_deref(), Some("2010-03-01"));

    let b = breakdown(
        &store,
        d.id,
        BreakdownParams {
            by: "symbol".into(),
            measure: Some("price".into()),
            agg: Agg::Mean,
            top: 10,
        },
    );
    assert_eq!(b.rows.len(), 5, "five symbols");
    for s in &b.rows {
        let prices: Vec<f64> = rows
            .iter()
            .filter(|r| r.0 == s.category)
            .map(|r| r.2)
            .collect();
        let mean = prices.iter().sum::<f64>() / prices.len() as f64;
        assert!(close(s.value.expect("mean"), mean), "{}", s.category);
        assert_eq!(s.share, None, "a share of a mean means nothing");
    }

    // Yearly row counts per symbol, the year being the last word of `Jan 1 2000`.
    let ts = timeseries(
        &store,
        d.id,
        TimeSeriesParams {
            date: None,
            measure: None,
            agg: Agg::Count,
            by: Period::Year,
            split: Some("symbol".into()),
            top: 5,
            window: 0,
        },
    );
    for s in &ts.series {
        for (i, p) in ts.periods.iter().enumerate() {
            let n = rows
                .iter()
                .filter(|r| r.0 == s.name && r.1.ends_with(&p.label))
                .count();
            assert_eq!(s.values[i], Some(n as f64), "{} {}", s.name, p.label);
        }
    }
}
