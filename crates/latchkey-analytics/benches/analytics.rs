//! `cargo bench -p latchkey-analytics`: generates a 1,000,000-row, 6-column CSV (~57 MB) in a
//! temp dir, imports it, then runs each analysis and a profile, printing wall times and the
//! process's peak memory (VmHWM) after the import. Targets (issue 13): import < 5 s with peak
//! < 200 MB; each analysis < 300 ms; profile < 1 s. Prints figures; asserts nothing about time.

use std::io::{BufWriter, Write};
use std::time::Instant;

use latchkey_analytics::read::{self, ReadOptions, Records};
use latchkey_analytics::{
    infer, Agg, Analysis, BreakdownParams, CompareParams, ComparePeriod, ImportOptions, Overrides,
    Period, Store, TimeSeriesParams, TrendMethod, TrendParams,
};

const ROWS: usize = 1_000_000;
const CATEGORIES: [&str; 8] = [
    "groceries",
    "rent",
    "transport",
    "eating out",
    "utilities",
    "health",
    "travel",
    "gifts",
];

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("generated.csv");
    let t = Instant::now();
    {
        let mut w = BufWriter::new(std::fs::File::create(&csv).expect("create csv"));
        writeln!(w, "date,category,amount,quantity,store,note").expect("write");
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            // xorshift64: deterministic, no dependency.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let start = chrono::NaiveDate::from_ymd_opt(2021, 1, 1).expect("date");
        for i in 0..ROWS {
            let r = next();
            let day = start + chrono::Days::new((i as u64 * 1096) / ROWS as u64);
            writeln!(
                w,
                "{},{},{}.{:02},{},store-{},order {:07}",
                day.format("%Y-%m-%d"),
                CATEGORIES[(r % 8) as usize],
                (r >> 8) % 5000,
                (r >> 24) % 100,
                (r >> 32) % 40,
                (r >> 40) % 40,
                i
            )
            .expect("write");
        }
        w.flush().expect("flush");
    }
    let bytes = std::fs::metadata(&csv).expect("metadata").len();
    println!(
        "generated {ROWS} rows, 6 columns, {:.1} MB in {:.2} s (VmHWM {} MiB)",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        vm_hwm_kib() / 1024
    );

    // The import's passes on their own, to see where its time goes.
    let t = Instant::now();
    let sniff = read::sniff(&csv, &ReadOptions::default()).expect("sniff");
    let sniff_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut records = Records::open(&csv, &sniff).expect("open");
    while records.next().expect("record").is_some() {}
    let parse_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut records = Records::open(&csv, &sniff).expect("open");
    infer::infer(&mut records, &sniff, &Overrides::default()).expect("infer");
    let infer_s = t.elapsed().as_secs_f64();
    println!(
        "passes alone: hash+sniff {:.0} ms, CSV parse {:.0} ms, type inference (parse included) {:.0} ms",
        sniff_s * 1000.0,
        parse_s * 1000.0,
        infer_s * 1000.0
    );

    let mut store = Store::open(&dir.path().join("analytics.sqlite")).expect("open store");
    let t = Instant::now();
    let imported = store
        .import("bench", &csv, &ImportOptions::default(), 0)
        .expect("import");
    let import_s = t.elapsed().as_secs_f64();
    let peak = vm_hwm_kib() / 1024;
    let id = imported.dataset.id;
    assert_eq!(imported.dataset.rows, ROWS as u64, "every row imported");
    let kinds: Vec<String> = imported
        .dataset
        .columns
        .iter()
        .map(|c| format!("{}={}", c.name, c.kind))
        .collect();
    println!(
        "import: {import_s:.2} s, peak memory (VmHWM) {peak} MiB   [target < 5 s, < 200 MB]   types: {}",
        kinds.join(" ")
    );

    let runs: Vec<(&str, Analysis)> = vec![
        (
            "time series, monthly sum split by category",
            Analysis::Timeseries(TimeSeriesParams {
                date: None,
                measure: Some("amount".into()),
                agg: Agg::Sum,
                by: Period::Month,
                split: Some("category".into()),
                top: 5,
                window: 3,
            }),
        ),
        (
            "breakdown, sum of amount by store (top 10 of 40)",
            Analysis::Breakdown(BreakdownParams {
                by: "store".into(),
                measure: Some("amount".into()),
                agg: Agg::Sum,
                top: 10,
            }),
        ),
        (
            "comparison, this month vs last by category",
            Analysis::Compare(CompareParams {
                date: None,
                measure: Some("amount".into()),
                agg: Agg::Sum,
                period: ComparePeriod::Month,
                anchor: None,
                by: Some("category".into()),
                top: 8,
            }),
        ),
        (
            "trend, weekly mean with Holt forecast",
            Analysis::Trend(TrendParams {
                date: None,
                measure: Some("amount".into()),
                agg: Agg::Mean,
                by: Period::Week,
                horizon: 4,
                method: TrendMethod::Holt {
                    alpha: 0.5,
                    beta: 0.3,
                },
            }),
        ),
    ];
    let t = Instant::now();
    let frame = store
        .frame("bench", id, &["date", "amount", "category"])
        .expect("frame");
    println!(
        "loading 3 columns of {} rows: {:.0} ms (included in each analysis below)",
        frame.rows,
        t.elapsed().as_secs_f64() * 1000.0
    );
    drop(frame);
    // Cold: a fresh store each time (columns read from SQLite); warm: the same store again
    // (columns kept from the previous analysis of this dataset).
    for (name, analysis) in &runs {
        let cold = Store::open(&dir.path().join("analytics.sqlite")).expect("open store");
        let t = Instant::now();
        let result = cold.run("bench", id, analysis).expect("analysis");
        let cold_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        cold.run("bench", id, analysis).expect("analysis");
        let warm_s = t.elapsed().as_secs_f64();
        let json = serde_json::to_string(&result).expect("json").len();
        println!(
            "{name}: cold {:.0} ms, warm {:.0} ms (result {json} bytes JSON)   [target < 300 ms]",
            cold_s * 1000.0,
            warm_s * 1000.0
        );
    }
    // A fresh store: nothing loaded yet.
    let fresh = Store::open(&dir.path().join("analytics.sqlite")).expect("open store");
    let t = Instant::now();
    let profile = fresh.profile("bench", id).expect("profile");
    println!(
        "profile of {} columns: {:.0} ms   [target < 1 s]",
        profile.columns.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
    println!(
        "final VmHWM {} MiB (analyses and profile hold the loaded columns)",
        vm_hwm_kib() / 1024
    );

    // The window's way in: the file arrives in 1 MiB pieces appended to a copy, is detected
    // (shown to the user), then imported, here again over the dataset (its rows replaced).
    let copy = dir.path().join("copy.csv");
    let t = Instant::now();
    {
        let mut from = std::fs::File::open(&csv).expect("open csv");
        let mut to = std::fs::File::create(&copy).expect("create copy");
        let mut piece = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut from, &mut piece).expect("read");
            if n == 0 {
                break;
            }
            to.write_all(&piece[..n]).expect("append");
        }
    }
    let copy_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let found = store
        .detect("bench", &copy, &ImportOptions::default(), 10)
        .expect("detect");
    let detect_s = t.elapsed().as_secs_f64();
    assert_eq!(
        found.existing.as_ref().map(|d| d.id),
        Some(id),
        "recognised"
    );
    let t = Instant::now();
    let again = store
        .import(
            "bench",
            &copy,
            &ImportOptions {
                replace: Some(id),
                ..ImportOptions::default()
            },
            0,
        )
        .expect("import again");
    let replace_s = t.elapsed().as_secs_f64();
    assert_eq!(again.dataset.rows, ROWS as u64);
    println!(
        "the window's way: copy in 1 MiB pieces {:.0} ms, detect {:.2} s, import again over the \
         dataset {:.2} s (VmHWM {} MiB)",
        copy_s * 1000.0,
        detect_s,
        replace_s,
        vm_hwm_kib() / 1024
    );
}
