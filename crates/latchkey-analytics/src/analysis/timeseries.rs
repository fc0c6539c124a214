//! A measure per period (day, ISO week, month, year), optionally one series per top category
//! of a split, with a rolling average.

use serde::{Deserialize, Serialize};

use super::columns::{category_column, date_column, measure_column, rank_categories};
use super::{default_top, Acc, Agg, Period, PeriodInfo, MAX_PERIODS};
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::frame::{day_of, Frame};

/// A time series of a measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSeriesParams {
    /// The date column; default: the first date column.
    #[serde(default)]
    pub date: Option<String>,
    /// The number column; may be omitted for `count`.
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub agg: Agg,
    #[serde(default)]
    pub by: Period,
    /// A category (or text) column to split by.
    #[serde(default)]
    pub split: Option<String>,
    /// How many categories keep their own series (the rest is `other`).
    #[serde(default = "default_top")]
    pub top: usize,
    /// The rolling-average window in periods; 0 or 1 for none.
    #[serde(default = "default_window")]
    pub window: usize,
}

fn default_window() -> usize {
    3
}

/// One line of a time series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The category, or the measure's name (`count` without one) when not split.
    pub name: String,
    /// One per period.
    pub values: Vec<Option<f64>>,
    /// Rows per period that had a measure.
    pub counts: Vec<u64>,
    /// The rolling average (empty when no window).
    pub rolling: Vec<Option<f64>>,
}

/// The result of [`timeseries`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSeries {
    pub params: TimeSeriesParams,
    /// The date column used.
    pub date: String,
    pub periods: Vec<PeriodInfo>,
    pub series: Vec<Series>,
    /// Rows left out because their date was missing.
    pub skipped_rows: u64,
}

/// A measure aggregated per period, optionally one series per top category.
pub fn timeseries(frame: &Frame, p: &TimeSeriesParams) -> Result<TimeSeries> {
    timeseries_in(frame, p, &CancelFlag::new())
}

pub(super) fn timeseries_in(
    frame: &Frame,
    p: &TimeSeriesParams,
    cancel: &CancelFlag,
) -> Result<TimeSeries> {
    let (date_name, dates) = date_column(frame, &p.date)?;
    let measure = measure_column(frame, &p.measure, p.agg)?;
    let split = p
        .split
        .as_deref()
        .map(|s| category_column(frame, s))
        .transpose()?;
    let groups = split
        .map(|(codes, values)| {
            rank_categories(
                codes,
                values,
                measure,
                p.agg,
                p.top,
                |r| dates[r].is_some(),
                cancel,
            )
        })
        .transpose()?;
    let n_series = groups.as_ref().map_or(1, |g| g.names.len().max(1));
    let mut keys: Vec<i64> = Vec::with_capacity(dates.len());
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let mut skipped = 0u64;
    for (row, d) in dates.iter().enumerate() {
        cancel.check_row(row)?;
        match d {
            Some(t) => {
                let k = p.by.key(day_of(*t));
                lo = lo.min(k);
                hi = hi.max(k);
                keys.push(k);
            }
            None => {
                skipped += 1;
                keys.push(i64::MIN);
            }
        }
    }
    if lo > hi {
        return Err(Error::BadParameter(format!(
            "column `{date_name}` has no dates"
        )));
    }
    let n_periods = check_periods(lo, hi)?;
    let mut acc = vec![Acc::EMPTY; n_periods * n_series];
    for (row, &k) in keys.iter().enumerate() {
        cancel.check_row(row)?;
        if k == i64::MIN {
            continue;
        }
        let s = match (&groups, split) {
            (Some(g), Some((codes, _))) => g.of(codes[row]),
            _ => 0,
        };
        let slot = s * n_periods + (k - lo) as usize;
        match measure {
            Some(m) if m[row].is_nan() => {}
            Some(m) => acc[slot].add(m[row]),
            None => acc[slot].add(0.0),
        }
    }
    let names: Vec<String> = match &groups {
        Some(g) => g.names.clone(),
        None => vec![p.measure.clone().unwrap_or_else(|| "count".into())],
    };
    let series = names
        .into_iter()
        .enumerate()
        .map(|(s, name)| {
            let slice = &acc[s * n_periods..(s + 1) * n_periods];
            let values: Vec<Option<f64>> = slice.iter().map(|a| a.value(p.agg)).collect();
            Series {
                name,
                rolling: rolling(&values, p.window),
                counts: slice.iter().map(|a| a.count).collect(),
                values,
            }
        })
        .collect();
    Ok(TimeSeries {
        params: p.clone(),
        date: date_name,
        periods: (lo..=hi).map(|k| p.by.info(k)).collect(),
        series,
        skipped_rows: skipped,
    })
}

pub(super) fn check_periods(lo: i64, hi: i64) -> Result<usize> {
    let n = hi - lo + 1;
    if n > MAX_PERIODS {
        return Err(Error::BadParameter(format!(
            "the dates span {n} periods, over {MAX_PERIODS}: choose a longer period"
        )));
    }
    Ok(n as usize)
}

fn rolling(values: &[Option<f64>], window: usize) -> Vec<Option<f64>> {
    if window <= 1 {
        return Vec::new();
    }
    (0..values.len())
        .map(|i| {
            if i + 1 < window {
                return None;
            }
            let w = &values[i + 1 - window..=i];
            let sum: Option<f64> = w.iter().copied().sum();
            sum.map(|s| s / window as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_average_needs_a_full_window() {
        let r = rolling(&[Some(1.0), Some(2.0), Some(3.0), None, Some(5.0)], 2);
        assert_eq!(r, vec![None, Some(1.5), Some(2.5), None, None]);
    }
}
