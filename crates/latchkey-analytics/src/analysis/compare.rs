//! The month (or year) holding an anchor day against the one before, in total and per
//! category, with the change and the change in %.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::columns::{category_column, date_column, measure_column, rank_categories};
use super::{default_top, Acc, Agg, Period, PeriodInfo};
use crate::cancel::CancelFlag;
use crate::error::{Error, Result};
use crate::frame::{day_of, Frame};

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

/// The period holding the anchor against the one before, in total and per category.
pub fn compare(frame: &Frame, p: &CompareParams) -> Result<Comparison> {
    compare_in(frame, p, &CancelFlag::new())
}

pub(super) fn compare_in(
    frame: &Frame,
    p: &CompareParams,
    cancel: &CancelFlag,
) -> Result<Comparison> {
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
