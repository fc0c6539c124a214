//! The analyses: pure functions over a [`Frame`], each returning a serialisable result that
//! carries its parameters. Definitions (also in the README):
//!
//! - **Periods.** Dates are bucketed in UTC. `day`; `week` = ISO 8601 week, Monday to Sunday,
//!   labelled `YYYY-Www` with the ISO week-year; `month` = calendar month `YYYY-MM`; `year`.
//!   Every period from the first to the last one with data is listed, empty ones included.
//! - **Aggregates** over the rows of a period whose measure is not missing: `sum` (0 when
//!   none), `count` (rows with a measure; all rows when no measure is given), `mean`, `min`,
//!   `max` (`null` when none). Rows with no date are skipped and counted in `skipped_rows`.
//! - **Split / breakdown / comparison categories.** The top N values by the absolute total of
//!   the measure over all rows (by row count when the aggregate is `count`, `mean`, `min` or
//!   `max`; ties by name); every other value is pooled into `other`; a missing category is the
//!   value `(missing)`.
//! - **Rolling average** over a window of W periods: the mean of the W aggregates ending at a
//!   period, `null` until W periods with a value are there.
//!
//! One module per kind (`timeseries`, `breakdown`, `compare`, `trend`: its parameters, its
//! result, its function), beside what they share: `period` (periods, aggregates) and `columns`
//! (reading and checking the columns, ranking categories). Everything public is re-exported
//! here, so the paths stay `analysis::TimeSeries` and so on.

mod breakdown;
mod columns;
mod compare;
mod period;
mod timeseries;
mod trend;

pub use breakdown::{breakdown, Breakdown, BreakdownParams, Share};
pub use compare::{compare, Change, CompareParams, ComparePeriod, Comparison};
pub use period::{Agg, Period, PeriodInfo};
pub use timeseries::{timeseries, Series, TimeSeries, TimeSeriesParams};
pub use trend::{trend, Outlier, Trend, TrendMethod, TrendParams};

use serde::{Deserialize, Serialize};

use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::types::Column;
use period::Acc;

/// The most periods one series may have.
pub const MAX_PERIODS: i64 = 20_000;
/// The name of the pooled categories.
pub const OTHER: &str = "other";
/// The name of a missing category.
pub const MISSING_CATEGORY: &str = "(missing)";

/// How many categories keep their own line unless asked otherwise.
fn default_top() -> usize {
    5
}

/// Any analysis, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Analysis {
    Timeseries(TimeSeriesParams),
    Breakdown(BreakdownParams),
    Compare(CompareParams),
    Trend(TrendParams),
}

/// Any result, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnalysisResult {
    Timeseries(TimeSeries),
    Breakdown(Breakdown),
    Compare(Comparison),
    Trend(Trend),
}

impl AnalysisResult {
    /// `timeseries`, `breakdown`, `compare` or `trend`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnalysisResult::Timeseries(_) => "timeseries",
            AnalysisResult::Breakdown(_) => "breakdown",
            AnalysisResult::Compare(_) => "compare",
            AnalysisResult::Trend(_) => "trend",
        }
    }

    /// The parameters it was run with.
    pub fn params(&self) -> Analysis {
        match self {
            AnalysisResult::Timeseries(r) => Analysis::Timeseries(r.params.clone()),
            AnalysisResult::Breakdown(r) => Analysis::Breakdown(r.params.clone()),
            AnalysisResult::Compare(r) => Analysis::Compare(r.params.clone()),
            AnalysisResult::Trend(r) => Analysis::Trend(r.params.clone()),
        }
    }
}

impl Analysis {
    /// The columns the analysis reads, checked against the dataset's (date columns resolved).
    pub fn columns(&self, all: &[Column]) -> Result<Vec<String>> {
        let first_date = || {
            all.iter()
                .find(|c| c.kind.is_temporal())
                .map(|c| c.name.clone())
                .ok_or_else(|| Error::BadParameter("the dataset has no date column".into()))
        };
        let mut out = Vec::new();
        let mut push = |n: &Option<String>| {
            if let Some(n) = n {
                out.push(n.clone());
            }
        };
        match self {
            Analysis::Timeseries(p) => {
                push(&Some(p.date.clone().map_or_else(first_date, Ok)?));
                push(&p.measure);
                push(&p.split);
            }
            Analysis::Breakdown(p) => {
                push(&Some(p.by.clone()));
                push(&p.measure);
            }
            Analysis::Compare(p) => {
                push(&Some(p.date.clone().map_or_else(first_date, Ok)?));
                push(&p.measure);
                push(&p.by);
            }
            Analysis::Trend(p) => {
                push(&Some(p.date.clone().map_or_else(first_date, Ok)?));
                push(&p.measure);
            }
        }
        out.dedup();
        Ok(out)
    }
}

/// Runs any analysis over a frame holding its columns.
pub fn run(frame: &Frame, analysis: &Analysis) -> Result<AnalysisResult> {
    run_cancellable(frame, analysis, &CancelFlag::new())
}

/// [`run`], stopping with [`Error::Cancelled`] once `cancel` is set (checked before the work
/// and every few thousand rows of every pass).
pub fn run_cancellable(
    frame: &Frame,
    analysis: &Analysis,
    cancel: &CancelFlag,
) -> Result<AnalysisResult> {
    cancel.check()?;
    Ok(match analysis {
        Analysis::Timeseries(p) => {
            AnalysisResult::Timeseries(timeseries::timeseries_in(frame, p, cancel)?)
        }
        Analysis::Breakdown(p) => {
            AnalysisResult::Breakdown(breakdown::breakdown_in(frame, p, cancel)?)
        }
        Analysis::Compare(p) => AnalysisResult::Compare(compare::compare_in(frame, p, cancel)?),
        Analysis::Trend(p) => AnalysisResult::Trend(trend::trend_in(frame, p, cancel)?),
    })
}

#[cfg(test)]
mod tests {
    use super::breakdown::breakdown_in;
    use super::compare::compare_in;
    use super::timeseries::timeseries_in;
    use super::trend::trend_in;
    use super::*;
    use crate::frame::ColumnData;

    #[test]
    fn every_pass_looks_at_the_cancel_flag() {
        use crate::types::{Column, ColumnKind};
        let col = |index, name: &str, kind| Column {
            index,
            name: name.into(),
            kind,
            date_order: None,
            date_order_decided_by: None,
            decimal_mark: None,
        };
        let rows = 3 * crate::cancel::CHECK_EVERY;
        let frame = Frame {
            rows,
            columns: vec![
                (
                    col(0, "d", ColumnKind::Date),
                    ColumnData::Times((0..rows as i64).map(|i| Some(i * 86_400)).collect()),
                ),
                (
                    col(1, "x", ColumnKind::Number),
                    ColumnData::Numbers(vec![1.0; rows]),
                ),
                (
                    col(2, "c", ColumnKind::Category),
                    ColumnData::Texts {
                        codes: (0..rows as u32).map(|i| i % 2).collect(),
                        values: vec!["a".into(), "b".into()],
                    },
                ),
            ],
        };
        let set = CancelFlag::new();
        set.cancel();
        let ts = TimeSeriesParams {
            date: None,
            measure: Some("x".into()),
            agg: Agg::Sum,
            by: Period::Year,
            split: Some("c".into()),
            top: 5,
            window: 0,
        };
        // The inner functions, past the entry check of `run_cancellable`: the loops look.
        assert!(matches!(
            timeseries_in(&frame, &ts, &set),
            Err(Error::Cancelled)
        ));
        let bd = BreakdownParams {
            by: "c".into(),
            measure: Some("x".into()),
            agg: Agg::Sum,
            top: 5,
        };
        assert!(matches!(
            breakdown_in(&frame, &bd, &set),
            Err(Error::Cancelled)
        ));
        let cp = CompareParams {
            date: None,
            measure: Some("x".into()),
            agg: Agg::Sum,
            period: ComparePeriod::Year,
            anchor: None,
            by: None,
            top: 5,
        };
        assert!(matches!(
            compare_in(&frame, &cp, &set),
            Err(Error::Cancelled)
        ));
        let tr = TrendParams {
            date: None,
            measure: Some("x".into()),
            agg: Agg::Sum,
            by: Period::Year,
            horizon: 1,
            method: TrendMethod::Linear,
        };
        assert!(matches!(trend_in(&frame, &tr, &set), Err(Error::Cancelled)));
        let free = CancelFlag::new();
        assert!(
            timeseries_in(&frame, &ts, &free).is_ok(),
            "an unset flag changes nothing"
        );
        assert!(compare_in(&frame, &cp, &free).is_ok());
    }
}
