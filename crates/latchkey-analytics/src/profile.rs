//! The free profile of a dataset: per column its type, missing and distinct counts, and the
//! statistics that fit its type.

use serde::{Deserialize, Serialize};

use crate::frame::{format_time, ColumnData, Frame, MISSING};
use crate::types::{Column, ColumnKind};

/// How many top values a category column lists.
pub const TOP_VALUES: usize = 10;

/// The profile of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub dataset_id: i64,
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

/// The profile of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub column: Column,
    pub missing: u64,
    /// Distinct non-missing values.
    pub distinct: u64,
    /// Numbers only.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// The middle value, or the mean of the two middle ones.
    pub median: Option<f64>,
    /// Dates only: the earliest and latest, `YYYY-MM-DD` (or with a time).
    pub first: Option<String>,
    pub last: Option<String>,
    /// Categories only: the most frequent values with their counts (ties by value).
    pub top: Vec<(String, u64)>,
}

/// Profiles every column of a loaded frame.
pub fn profile(dataset_id: i64, frame: &Frame) -> Profile {
    Profile {
        dataset_id,
        rows: frame.rows as u64,
        columns: frame
            .columns
            .iter()
            .map(|(c, d)| column_profile(c, d))
            .collect(),
    }
}

fn column_profile(column: &Column, data: &ColumnData) -> ColumnProfile {
    let mut p = ColumnProfile {
        column: column.clone(),
        missing: 0,
        distinct: 0,
        min: None,
        max: None,
        mean: None,
        median: None,
        first: None,
        last: None,
        top: Vec::new(),
    };
    match data {
        ColumnData::Numbers(v) => {
            let mut xs: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
            p.missing = (v.len() - xs.len()) as u64;
            xs.sort_by(f64::total_cmp);
            p.distinct = count_runs(&xs) as u64;
            if let (Some(&lo), Some(&hi)) = (xs.first(), xs.last()) {
                let n = xs.len();
                p.min = Some(lo);
                p.max = Some(hi);
                p.mean = Some(xs.iter().sum::<f64>() / n as f64);
                p.median = Some(if n % 2 == 1 {
                    xs[n / 2]
                } else {
                    (xs[n / 2 - 1] + xs[n / 2]) / 2.0
                });
            }
        }
        ColumnData::Times(v) => {
            let mut ts: Vec<i64> = v.iter().flatten().copied().collect();
            p.missing = (v.len() - ts.len()) as u64;
            ts.sort_unstable();
            ts.dedup();
            p.distinct = ts.len() as u64;
            p.first = ts.first().map(|&t| format_time(t, column.kind));
            p.last = ts.last().map(|&t| format_time(t, column.kind));
        }
        ColumnData::Texts { codes, values } => {
            let mut counts = vec![0u64; values.len()];
            for &c in codes {
                if c == MISSING {
                    p.missing += 1;
                } else {
                    counts[c as usize] += 1;
                }
            }
            p.distinct = counts.iter().filter(|&&n| n > 0).count() as u64;
            if column.kind == ColumnKind::Category {
                let mut order: Vec<usize> = (0..values.len()).filter(|&i| counts[i] > 0).collect();
                order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(values[a].cmp(&values[b])));
                p.top = order
                    .into_iter()
                    .take(TOP_VALUES)
                    .map(|i| (values[i].clone(), counts[i]))
                    .collect();
            }
        }
    }
    p
}

fn count_runs(sorted: &[f64]) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    1 + sorted.windows(2).filter(|w| w[0] != w[1]).count()
}
