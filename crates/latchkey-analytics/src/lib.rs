//! Latchkey's offline analytics engine. Import a CSV/TSV export into a local SQLite database
//! (encoding, delimiter, header and column types detected; streamed; one transaction), profile
//! it, and run time series, breakdowns, period comparisons and trends over it, saving results.
//!
//! No Tauri, no wallet, no auth: the caller (latchkey-core) prices and pays for analyses.
//! Time is passed in (`now`, seconds since 1970-01-01 UTC); nothing here reads the clock.
//!
//! ```no_run
//! use latchkey_analytics::{Analysis, ImportOptions, Period, Store, TimeSeriesParams, Agg};
//! # fn main() -> latchkey_analytics::Result<()> {
//! let mut store = Store::open("analytics.sqlite".as_ref())?;
//! let imported = store.import("acct", "seattle-weather.csv".as_ref(), &ImportOptions::default(), 0)?;
//! let id = imported.dataset.id;
//! let profile = store.profile("acct", id)?;
//! let result = store.run("acct", id, &Analysis::Timeseries(TimeSeriesParams {
//!     date: None, measure: Some("precipitation".into()), agg: Agg::Sum, by: Period::Month,
//!     split: Some("weather".into()), top: 5, window: 3,
//! }))?;
//! store.save_result("acct", id, &result, 10, 1_700_000_000)?;
//! # let _ = profile; Ok(()) }
//! ```

pub mod analysis;
mod cancel;
mod chunks;
mod db;
pub mod detect;
pub mod error;
mod export;
pub mod frame;
pub mod infer;
pub mod parse;
pub mod profile;
pub mod read;
mod store;
pub mod types;

pub use analysis::{
    Agg, Analysis, AnalysisResult, BreakdownParams, CompareParams, ComparePeriod, Period,
    TimeSeriesParams, TrendMethod, TrendParams,
};
pub use cancel::CancelFlag;
pub use db::{APPLICATION_ID, SCHEMA_VERSION};
pub use detect::{DetectedColumn, Detection};
pub use error::{Error, Result};
pub use infer::Overrides;
pub use profile::Profile;
pub use read::{Encoding, ReadOptions};
pub use store::{Dataset, ImportOptions, Imported, Preview, SavedResult, Store};
pub use types::{Column, ColumnKind, DateOrder, DecidedBy, DecimalMark};

impl Store {
    /// The free profile of a dataset, from its column-wise rows (the columns other than text
    /// are kept loaded for the analyses that follow).
    pub fn profile(&self, account: &str, id: i64) -> Result<Profile> {
        let d = self.dataset(account, id)?;
        let mut out: Vec<profile::ColumnProfile> = Vec::with_capacity(d.columns.len());
        for c in &d.columns {
            if c.kind == ColumnKind::Text {
                let (distinct, missing) = self.text_counts(id, c)?;
                out.push(profile::of_text(c, distinct, missing));
                continue;
            }
            let frame = self.frame(account, id, &[c.name.as_str()])?;
            let (column, data) = &frame.columns[0];
            out.push(profile::of_data(column, data));
        }
        Ok(Profile {
            dataset_id: id,
            rows: d.rows,
            columns: out,
        })
    }
}
