//! Integration tests of latchkey-analytics: real files from the `vega-datasets` npm package
//! (installed under tests/data/node_modules by `make npm`), small files in the shapes of real
//! exports, bad input, the store's operations and property tests. Expected figures are computed
//! here by hand-rolled parsing, never with the crate's own helpers.

mod bad_input;
mod detect;
mod exports;
mod props;
mod real_data;
mod store_ops;

use std::path::{Path, PathBuf};

use latchkey_analytics::analysis::{Breakdown, Comparison, TimeSeries, Trend};
use latchkey_analytics::{
    Analysis, AnalysisResult, BreakdownParams, CompareParams, Dataset, ImportOptions, Store,
    TimeSeriesParams, TrendParams,
};

pub const ACCOUNT: &str = "acct-1";

/// A CSV of the vega-datasets package; fails (never skips) when it is not installed.
pub fn vega(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/node_modules/vega-datasets/data")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: install the test data with \
         `cd crates/latchkey-analytics/tests/data && npm ci --no-audit --no-fund` (make npm)",
        path.display()
    );
    path
}

/// A file store in a temp dir (kept alive by the returned guard).
pub fn file_store() -> (tempfile::TempDir, Store, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("analytics.sqlite");
    let store = Store::open(&db).expect("open store");
    (dir, store, db)
}

/// Writes `bytes` to `dir/name`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// Imports with default options for [`ACCOUNT`].
pub fn import(store: &mut Store, path: &Path) -> Dataset {
    store
        .import(ACCOUNT, path, &ImportOptions::default(), 1_700_000_000)
        .unwrap_or_else(|e| panic!("import {}: {e}", path.display()))
        .dataset
}

/// The datasets whose rows are in the database file.
pub fn stored_datasets(db: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(db).expect("open db");
    let mut stmt = conn
        .prepare("SELECT DISTINCT dataset_id FROM column_chunks ORDER BY 1")
        .expect("prepare");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Runs an analysis for [`ACCOUNT`] and returns its result of the expected kind.
fn run(store: &Store, id: i64, analysis: Analysis) -> AnalysisResult {
    store
        .run(ACCOUNT, id, &analysis)
        .unwrap_or_else(|e| panic!("{analysis:?}: {e}"))
}

pub fn timeseries(store: &Store, id: i64, p: TimeSeriesParams) -> TimeSeries {
    match run(store, id, Analysis::Timeseries(p)) {
        AnalysisResult::Timeseries(r) => r,
        other => panic!("a time series, got {}", other.kind()),
    }
}

pub fn breakdown(store: &Store, id: i64, p: BreakdownParams) -> Breakdown {
    match run(store, id, Analysis::Breakdown(p)) {
        AnalysisResult::Breakdown(r) => r,
        other => panic!("a breakdown, got {}", other.kind()),
    }
}

pub fn compare(store: &Store, id: i64, p: CompareParams) -> Comparison {
    match run(store, id, Analysis::Compare(p)) {
        AnalysisResult::Compare(r) => r,
        other => panic!("a comparison, got {}", other.kind()),
    }
}

pub fn trend(store: &Store, id: i64, p: TrendParams) -> Trend {
    match run(store, id, Analysis::Trend(p)) {
        AnalysisResult::Trend(r) => r,
        other => panic!("a trend, got {}", other.kind()),
    }
}
