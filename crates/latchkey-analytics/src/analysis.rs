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

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::frame::{date_of_day, day_of, ColumnData, Frame, MISSING};
use crate::types::{Column, ColumnKind};

/// The most periods one series may have.
pub const MAX_PERIODS: i64 = 20_000;
/// The name of the pooled categories.
pub const OTHER: &str = "other";
/// The name of a missing category.
pub const MISSING_CATEGORY: &str = "(missing)";

/// How the rows of a period are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    #[default]
    Sum,
    Mean,
    Count,
    Min,
    Max,
}

/// A calendar period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    #[default]
    Month,
    Year,
}

impl Period {
    /// The consecutive number of the period holding day number `day`.
    pub fn key(self, day: i64) -> i64 {
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: Monday-based weeks start 3 days earlier.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let d = date_of_day(day);
                i64::from(d.year()) * 12 + i64::from(d.month0())
            }
            Period::Year => i64::from(date_of_day(day).year()),
        }
    }

    /// The first day of period `key`.
    pub fn start(self, key: i64) -> NaiveDate {
        match self {
            Period::Day => date_of_day(key),
            Period::Week => date_of_day(key * 7 - 3),
            Period::Month => {
                NaiveDate::from_ymd_opt(key.div_euclid(12) as i32, key.rem_euclid(12) as u32 + 1, 1)
                    .unwrap_or_default()
            }
            Period::Year => NaiveDate::from_ymd_opt(key as i32, 1, 1).unwrap_or_default(),
        }
    }

    /// `2024-03-05`, `2024-W10`, `2024-03`, `2024`.
    pub fn label(self, key: i64) -> String {
        let s = self.start(key);
        match self {
            Period::Day => s.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = s.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => s.format("%Y-%m").to_string(),
            Period::Year => s.format("%Y").to_string(),
        }
    }

    fn info(self, key: i64) -> PeriodInfo {
        PeriodInfo {
            label: self.label(key),
            start: self.start(key).format("%Y-%m-%d").to_string(),
        }
    }
}

/// One period of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodInfo {
    pub label: String,
    /// Its first day, `YYYY-MM-DD`.
    pub start: String,
}

#[derive(Debug, Clone, Copy)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Acc {
    const EMPTY: Acc = Acc {
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };
    fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }
    fn value(&self, agg: Agg) -> Option<f64> {
        match agg {
            Agg::Sum => Some(self.sum),
            Agg::Count => Some(self.count as f64),
            _ if self.count == 0 => None,
            Agg::Mean => Some(self.sum / self.count as f64),
            Agg::Min => Some(self.min),
            Agg::Max => Some(self.max),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters and results

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

fn default_top() -> usize {
    5
}
fn default_window() -> usize {
    3
}
fn default_horizon() -> usize {
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

/// A measure broken down by a category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakdownParams {
    /// The category (or text) column.
    pub by: String,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub agg: Agg,
    #[serde(default = "default_top")]
    pub top: usize,
}

/// One category of a breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    pub category: String,
    pub value: Option<f64>,
    pub count: u64,
    /// `value / total` for `sum` and `count`; `null` for the others.
    pub share: Option<f64>,
}

/// The result of [`breakdown`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub params: BreakdownParams,
    /// Top categories by value (largest first), then `other` if any.
    pub rows: Vec<Share>,
    /// The aggregate over all rows.
    pub total: Option<f64>,
}

/// Which two periods a comparison takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ComparePeriod {
    /// The month holding the anchor and the month before.
    #[default]
    Month,
    /// The year holding the anchor and the year before.
    Year,
}

/// Two consecutive periods compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareParams {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub agg: Agg,
    #[serde(default)]
    pub period: ComparePeriod,
    /// A day (`YYYY-MM-DD`) inside the current period; default: the latest date in the data.
    #[serde(default)]
    pub anchor: Option<String>,
    /// A category column: one row per category.
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default = "default_top")]
    pub top: usize,
}

/// One line of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `null` for the total line.
    pub category: Option<String>,
    pub current: Option<f64>,
    pub previous: Option<f64>,
    /// `current - previous`.
    pub change: Option<f64>,
    /// `100 * change / |previous|`; `null` when previous is 0 or missing.
    pub change_pct: Option<f64>,
}

/// The result of [`compare`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub params: CompareParams,
    pub current: PeriodInfo,
    pub previous: PeriodInfo,
    pub total: Change,
    pub rows: Vec<Change>,
}

/// The forecasting method of a trend.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum TrendMethod {
    /// Ordinary least squares on the period number.
    #[default]
    Linear,
    /// Holt's linear exponential smoothing (level `alpha`, trend `beta`).
    Holt { alpha: f64, beta: f64 },
}

/// A trend with a forecast and outliers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendParams {
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub measure: Option<String>,
    #[serde(default)]
    pub agg: Agg,
    #[serde(default)]
    pub by: Period,
    /// Periods to forecast.
    #[serde(default = "default_horizon")]
    pub horizon: usize,
    #[serde(default)]
    pub method: TrendMethod,
}

/// A period whose value is far from the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    pub period: PeriodInfo,
    pub value: f64,
    /// `0.6745 * (value - median) / MAD`.
    pub z: f64,
}

/// The result of [`trend`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub params: TrendParams,
    /// `linear least squares` or `Holt's linear exponential smoothing`.
    pub method: String,
    pub periods: Vec<PeriodInfo>,
    pub values: Vec<Option<f64>>,
    /// The model's value per period (`null` where it has none).
    pub fitted: Vec<Option<f64>>,
    /// Change per period of the fitted line (linear) or the last trend (Holt).
    pub slope: Option<f64>,
    pub forecast: Vec<(PeriodInfo, f64)>,
    pub median: Option<f64>,
    /// Median absolute deviation of the values from their median.
    pub mad: Option<f64>,
    /// Values with a robust z-score over 3.5 in absolute value (none when MAD is 0).
    pub outliers: Vec<Outlier>,
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
        Analysis::Timeseries(p) => AnalysisResult::Timeseries(timeseries_in(frame, p, cancel)?),
        Analysis::Breakdown(p) => AnalysisResult::Breakdown(breakdown_in(frame, p, cancel)?),
        Analysis::Compare(p) => AnalysisResult::Compare(compare_in(frame, p, cancel)?),
        Analysis::Trend(p) => AnalysisResult::Trend(trend_in(frame, p, cancel)?),
    })
}

// ---------------------------------------------------------------------------------------------
// Column access

fn date_column<'a>(frame: &'a Frame, name: &Option<String>) -> Result<(String, &'a [Option<i64>])> {
    let col = match name {
        Some(n) => frame.get(n)?,
        None => frame
            .columns
            .iter()
            .find(|(c, _)| c.kind.is_temporal())
            .ok_or_else(|| Error::BadParameter("the dataset has no date column".into()))?,
    };
    match &col.1 {
        ColumnData::Times(v) => Ok((col.0.name.clone(), v)),
        _ => Err(Error::WrongKind {
            column: col.0.name.clone(),
            found: col.0.kind,
            needed: "date",
        }),
    }
}

/// The measure's values (NaN = missing), or `None` for a plain row count.
fn measure_column<'a>(
    frame: &'a Frame,
    name: &Option<String>,
    agg: Agg,
) -> Result<Option<&'a [f64]>> {
    let Some(n) = name else {
        return if agg == Agg::Count {
            Ok(None)
        } else {
            Err(Error::BadParameter(
                "a measure column is needed unless the aggregate is count".into(),
            ))
        };
    };
    let (c, d) = frame.get(n)?;
    match d {
        ColumnData::Numbers(v) => Ok(Some(v)),
        _ => Err(Error::WrongKind {
            column: c.name.clone(),
            found: c.kind,
            needed: "number",
        }),
    }
}

fn category_column<'a>(frame: &'a Frame, name: &str) -> Result<(&'a [u32], &'a [String])> {
    let (c, d) = frame.get(name)?;
    match d {
        ColumnData::Texts { codes, values }
            if matches!(c.kind, ColumnKind::Category | ColumnKind::Text) =>
        {
            Ok((codes, values))
        }
        _ => Err(Error::WrongKind {
            column: c.name.clone(),
            found: c.kind,
            needed: "category",
        }),
    }
}

/// Maps each category code to a group: 0..top by rank, then `other`. Returns (group of each
/// code, missing's group, group names).
struct Groups {
    of_code: Vec<usize>,
    of_missing: usize,
    names: Vec<String>,
}

fn rank_categories(
    codes: &[u32],
    values: &[String],
    measure: Option<&[f64]>,
    agg: Agg,
    top: usize,
    include: impl Fn(usize) -> bool,
    cancel: &CancelFlag,
) -> Result<Groups> {
    // Slot values.len() is the missing category.
    let mut weight = vec![0.0f64; values.len() + 1];
    let mut seen = vec![false; values.len() + 1];
    for (row, &code) in codes.iter().enumerate() {
        cancel.check_row(row)?;
        if !include(row) {
            continue;
        }
        let slot = if code == MISSING {
            values.len()
        } else {
            code as usize
        };
        seen[slot] = true;
        let w = match (agg, measure) {
            (Agg::Sum, Some(m)) if !m[row].is_nan() => m[row].abs(),
            (Agg::Sum, Some(_)) => 0.0,
            _ => 1.0,
        };
        weight[slot] += w;
    }
    let name = |slot: usize| -> &str {
        if slot == values.len() {
            MISSING_CATEGORY
        } else {
            &values[slot]
        }
    };
    let mut order: Vec<usize> = (0..weight.len()).filter(|&s| seen[s]).collect();
    order.sort_by(|&a, &b| {
        weight[b]
            .total_cmp(&weight[a])
            .then_with(|| name(a).cmp(name(b)))
    });
    let kept = order.len().min(top);
    let mut group = vec![kept; weight.len()];
    let mut names: Vec<String> = Vec::with_capacity(kept + 1);
    for (g, &slot) in order.iter().take(kept).enumerate() {
        group[slot] = g;
        names.push(name(slot).to_owned());
    }
    if order.len() > kept {
        names.push(OTHER.to_owned());
    }
    Ok(Groups {
        of_missing: group[values.len()],
        of_code: group[..values.len()].to_vec(),
        names,
    })
}

impl Groups {
    fn of(&self, code: u32) -> usize {
        if code == MISSING {
            self.of_missing
        } else {
            self.of_code[code as usize]
        }
    }
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

// ---------------------------------------------------------------------------------------------
// Time series

/// A measure aggregated per period, optionally one series per top category.
pub fn timeseries(frame: &Frame, p: &TimeSeriesParams) -> Result<TimeSeries> {
    timeseries_in(frame, p, &CancelFlag::new())
}

fn timeseries_in(frame: &Frame, p: &TimeSeriesParams, cancel: &CancelFlag) -> Result<TimeSeries> {
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

fn check_periods(lo: i64, hi: i64) -> Result<usize> {
    let n = hi - lo + 1;
    if n > MAX_PERIODS {
        return Err(Error::BadParameter(format!(
            "the dates span {n} periods, over {MAX_PERIODS}: choose a longer period"
        )));
    }
    Ok(n as usize)
}

// ---------------------------------------------------------------------------------------------
// Breakdown

/// A measure per category: top N by value and `other`, with shares of the total.
pub fn breakdown(frame: &Frame, p: &BreakdownParams) -> Result<Breakdown> {
    breakdown_in(frame, p, &CancelFlag::new())
}

fn breakdown_in(frame: &Frame, p: &BreakdownParams, cancel: &CancelFlag) -> Result<Breakdown> {
    let (codes, values) = category_column(frame, &p.by)?;
    let measure = measure_column(frame, &p.measure, p.agg)?;
    let mut per = vec![Acc::EMPTY; values.len() + 1];
    let mut total = Acc::EMPTY;
    for (row, &code) in codes.iter().enumerate() {
        cancel.check_row(row)?;
        let slot = if code == MISSING {
            values.len()
        } else {
            code as usize
        };
        let x = match measure {
            Some(m) if m[row].is_nan() => continue,
            Some(m) => m[row],
            None => 0.0,
        };
        per[slot].add(x);
        total.add(x);
    }
    let name = |slot: usize| -> String {
        if slot == values.len() {
            MISSING_CATEGORY.to_owned()
        } else {
            values[slot].clone()
        }
    };
    let mut order: Vec<usize> = (0..per.len()).filter(|&s| per[s].count > 0).collect();
    let key = |s: usize| per[s].value(p.agg).unwrap_or(f64::NEG_INFINITY);
    order.sort_by(|&a, &b| {
        key(b)
            .total_cmp(&key(a))
            .then_with(|| name(a).cmp(&name(b)))
    });
    let total_value = total.value(p.agg);
    let share_of = |v: Option<f64>| match (p.agg, v, total_value) {
        (Agg::Sum | Agg::Count, Some(v), Some(t)) if t != 0.0 => Some(v / t),
        _ => None,
    };
    let mut rows: Vec<Share> = order
        .iter()
        .take(p.top)
        .map(|&s| {
            let v = per[s].value(p.agg);
            Share {
                category: name(s),
                value: v,
                count: per[s].count,
                share: share_of(v),
            }
        })
        .collect();
    if order.len() > p.top {
        let mut other = Acc::EMPTY;
        for &s in &order[p.top..] {
            let a = per[s];
            other.count += a.count;
            other.sum += a.sum;
            other.min = other.min.min(a.min);
            other.max = other.max.max(a.max);
        }
        let v = other.value(p.agg);
        rows.push(Share {
            category: OTHER.to_owned(),
            value: v,
            count: other.count,
            share: share_of(v),
        });
    }
    Ok(Breakdown {
        params: p.clone(),
        rows,
        total: total_value,
    })
}

// ---------------------------------------------------------------------------------------------
// Comparison

/// The period holding the anchor against the one before, in total and per category.
pub fn compare(frame: &Frame, p: &CompareParams) -> Result<Comparison> {
    compare_in(frame, p, &CancelFlag::new())
}

fn compare_in(frame: &Frame, p: &CompareParams, cancel: &CancelFlag) -> Result<Comparison> {
    let (date_name, dates) = date_column(frame, &p.date)?;
    let measure = measure_column(frame, &p.measure, p.agg)?;
    let period = match p.period {
        ComparePeriod::Month => Period::Month,
        ComparePeriod::Year => Period::Year,
    };
    let anchor_day = match &p.anchor {
        Some(a) => {
            let d = NaiveDate::parse_from_str(a, "%Y-%m-%d").map_err(|_| {
                Error::BadParameter(format!("anchor `{a}` is not a YYYY-MM-DD date"))
            })?;
            d.signed_duration_since(NaiveDate::default()).num_days()
        }
        None => dates
            .iter()
            .flatten()
            .map(|&t| day_of(t))
            .max()
            .ok_or_else(|| Error::BadParameter(format!("column `{date_name}` has no dates")))?,
    };
    let current = period.key(anchor_day);
    let previous = current - 1;
    // 0: current period, 1: previous, 2: neither (or no date).
    let which: Vec<u8> = dates
        .iter()
        .map(|d| match d.map(|t| period.key(day_of(t))) {
            Some(k) if k == current => 0,
            Some(k) if k == previous => 1,
            _ => 2,
        })
        .collect();
    let split =
        p.by.as_deref()
            .map(|s| category_column(frame, s))
            .transpose()?;
    cancel.check()?;
    let groups = split
        .map(|(codes, values)| {
            rank_categories(
                codes,
                values,
                measure,
                p.agg,
                p.top,
                |r| which[r] < 2,
                cancel,
            )
        })
        .transpose()?;
    let n_groups = groups.as_ref().map_or(0, |g| g.names.len());
    // Slot 0..n_groups per category, n_groups for the total; [current, previous].
    let mut acc = vec![[Acc::EMPTY; 2]; n_groups + 1];
    for (row, &w) in which.iter().enumerate() {
        cancel.check_row(row)?;
        if w == 2 {
            continue;
        }
        let w = usize::from(w);
        let x = match measure {
            Some(m) if m[row].is_nan() => continue,
            Some(m) => m[row],
            None => 0.0,
        };
        acc[n_groups][w].add(x);
        if let (Some(g), Some((codes, _))) = (&groups, split) {
            acc[g.of(codes[row])][w].add(x);
        }
    }
    let change = |category: Option<String>, a: &[Acc; 2]| {
        let cur = a[0].value(p.agg);
        let prev = a[1].value(p.agg);
        let change = match (cur, prev) {
            (Some(c), Some(pr)) => Some(c - pr),
            _ => None,
        };
        Change {
            category,
            current: cur,
            previous: prev,
            change,
            change_pct: match (change, prev) {
                (Some(ch), Some(pr)) if pr != 0.0 => Some(100.0 * ch / pr.abs()),
                _ => None,
            },
        }
    };
    let rows = match &groups {
        Some(g) => g
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| change(Some(n.clone()), &acc[i]))
            .collect(),
        None => Vec::new(),
    };
    Ok(Comparison {
        params: p.clone(),
        current: period.info(current),
        previous: period.info(previous),
        total: change(None, &acc[n_groups]),
        rows,
    })
}

// ---------------------------------------------------------------------------------------------
// Trend

/// The median of a non-empty slice (sorts it).
fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The measure per period with a fitted trend, a forecast of the next periods and the periods
/// whose robust z-score is over 3.5.
pub fn trend(frame: &Frame, p: &TrendParams) -> Result<Trend> {
    trend_in(frame, p, &CancelFlag::new())
}

fn trend_in(frame: &Frame, p: &TrendParams, cancel: &CancelFlag) -> Result<Trend> {
    let ts = timeseries_in(
        frame,
        &TimeSeriesParams {
            date: p.date.clone(),
            measure: p.measure.clone(),
            agg: p.agg,
            by: p.by,
            split: None,
            top: 0,
            window: 0,
        },
        cancel,
    )?;
    let values = ts.series[0].values.clone();
    let n = values.len();
    let points: Vec<(f64, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i as f64, v)))
        .collect();
    let first_key = p.by.key(
        NaiveDate::parse_from_str(&ts.periods[0].start, "%Y-%m-%d")
            .unwrap_or_default()
            .signed_duration_since(NaiveDate::default())
            .num_days(),
    );
    let future = |h: usize| p.by.info(first_key + (n + h) as i64);
    let (method, fitted, slope, forecast) = match p.method {
        TrendMethod::Linear => {
            let m = points.len() as f64;
            let (mx, my) = points
                .iter()
                .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / m, b + y / m));
            let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
            let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
            if points.len() < 2 || sxx == 0.0 {
                ("linear least squares", vec![None; n], None, Vec::new())
            } else {
                let b = sxy / sxx;
                let a = my - b * mx;
                let fitted = (0..n).map(|i| Some(a + b * i as f64)).collect();
                let forecast = (0..p.horizon)
                    .map(|h| (future(h), a + b * (n + h) as f64))
                    .collect();
                ("linear least squares", fitted, Some(b), forecast)
            }
        }
        TrendMethod::Holt { alpha, beta } => {
            if !(0.0..=1.0).contains(&alpha) || !(0.0..=1.0).contains(&beta) {
                return Err(Error::BadParameter(
                    "Holt's alpha and beta must be between 0 and 1".into(),
                ));
            }
            let mut fitted = vec![None; n];
            if points.len() < 2 {
                (
                    "Holt's linear exponential smoothing",
                    fitted,
                    None,
                    Vec::new(),
                )
            } else {
                let mut level = points[0].1;
                let mut tr = points[1].1 - points[0].1;
                fitted[points[0].0 as usize] = Some(level);
                for &(x, y) in &points[1..] {
                    fitted[x as usize] = Some(level + tr);
                    let prev = level;
                    level = alpha * y + (1.0 - alpha) * (level + tr);
                    tr = beta * (level - prev) + (1.0 - beta) * tr;
                }
                let last = points[points.len() - 1].0 as usize;
                let forecast = (0..p.horizon)
                    .map(|h| (future(h), level + tr * (n + h - last) as f64))
                    .collect();
                (
                    "Holt's linear exponential smoothing",
                    fitted,
                    Some(tr),
                    forecast,
                )
            }
        }
    };
    let mut ys: Vec<f64> = points.iter().map(|(_, y)| *y).collect();
    let med = median(&mut ys);
    let mad = med.and_then(|m| {
        let mut dev: Vec<f64> = ys.iter().map(|y| (y - m).abs()).collect();
        median(&mut dev)
    });
    let outliers = match (med, mad) {
        (Some(m), Some(d)) if d > 0.0 => points
            .iter()
            .filter_map(|&(x, y)| {
                let z = 0.6745 * (y - m) / d;
                (z.abs() > 3.5).then(|| Outlier {
                    period: ts.periods[x as usize].clone(),
                    value: y,
                    z,
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Trend {
        params: p.clone(),
        method: method.to_owned(),
        periods: ts.periods,
        values,
        fitted,
        slope,
        forecast,
        median: med,
        mad,
        outliers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_have_iso_weeks_starting_monday() {
        // 2024-01-01 was a Monday; 2023-01-01 a Sunday (ISO week 2022-W52).
        let day = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .signed_duration_since(NaiveDate::default())
                .num_days()
        };
        let w = Period::Week;
        assert_eq!(w.label(w.key(day(2024, 1, 1))), "2024-W01");
        assert_eq!(
            w.key(day(2024, 1, 7)),
            w.key(day(2024, 1, 1)),
            "Sunday ends the week"
        );
        assert_ne!(
            w.key(day(2024, 1, 8)),
            w.key(day(2024, 1, 7)),
            "Monday starts one"
        );
        assert_eq!(w.label(w.key(day(2023, 1, 1))), "2022-W52");
        assert_eq!(w.start(w.key(day(2023, 1, 1))).to_string(), "2022-12-26");
        let m = Period::Month;
        assert_eq!(m.label(m.key(day(1969, 12, 31))), "1969-12");
        assert_eq!(m.key(day(2000, 1, 1)) - m.key(day(1999, 12, 31)), 1);
        assert_eq!(
            Period::Year.label(Period::Year.key(day(2012, 6, 1))),
            "2012"
        );
    }

    #[test]
    fn rolling_average_needs_a_full_window() {
        let r = rolling(&[Some(1.0), Some(2.0), Some(3.0), None, Some(5.0)], 2);
        assert_eq!(r, vec![None, Some(1.5), Some(2.5), None, None]);
    }

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

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
