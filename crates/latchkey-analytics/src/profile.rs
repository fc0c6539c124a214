//! The free profile of a dataset: per column its type, missing and distinct counts, and the
//! statistics that fit its type.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::frame::{format_time, ColumnData, MISSING};
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

/// Profiles a text column from its distinct and missing counts.
pub(crate) fn of_text(column: &Column, distinct: u64, missing: u64) -> ColumnProfile {
    Acc::Texts(distinct, missing).finish(column)
}

/// Profiles a loaded column.
pub(crate) fn of_data(column: &Column, data: &ColumnData) -> ColumnProfile {
    let acc = match data {
        ColumnData::Numbers(v) => {
            let xs: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
            let missing = (v.len() - xs.len()) as u64;
            Acc::Numbers(xs, missing)
        }
        ColumnData::Times(v) => {
            let ts: Vec<i64> = v.iter().flatten().copied().collect();
            let missing = (v.len() - ts.len()) as u64;
            Acc::Times(ts, missing)
        }
        ColumnData::Texts { codes, values } if column.kind == ColumnKind::Text => {
            // The dictionary holds each distinct non-missing value once.
            let missing = codes.iter().filter(|&&c| c == MISSING).count() as u64;
            Acc::Texts(values.len() as u64, missing)
        }
        ColumnData::Texts { codes, values } => {
            let mut counts = vec![0u64; values.len()];
            let mut missing = 0;
            for &c in codes {
                match counts.get_mut(c as usize) {
                    Some(n) if c != MISSING => *n += 1,
                    _ => missing += 1,
                }
            }
            let map = values
                .iter()
                .zip(counts)
                .filter(|(_, n)| *n > 0)
                .map(|(v, n)| (v.clone(), n))
                .collect();
            Acc::Categories(map, missing)
        }
    };
    acc.finish(column)
}

enum Acc {
    Numbers(Vec<f64>, u64),
    Times(Vec<i64>, u64),
    Categories(HashMap<String, u64>, u64),
    /// Text: the number of distinct values, missing.
    Texts(u64, u64),
}

impl Acc {
    fn finish(self, column: &Column) -> ColumnProfile {
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
        match self {
            Acc::Numbers(mut xs, missing) => {
                p.missing = missing;
                xs.sort_unstable_by(f64::total_cmp);
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
            Acc::Times(mut ts, missing) => {
                p.missing = missing;
                ts.sort_unstable();
                ts.dedup();
                p.distinct = ts.len() as u64;
                p.first = ts.first().map(|&t| format_time(t, column.kind));
                p.last = ts.last().map(|&t| format_time(t, column.kind));
            }
            Acc::Categories(counts, missing) => {
                p.missing = missing;
                p.distinct = counts.len() as u64;
                let mut top: Vec<(String, u64)> = counts.into_iter().collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                top.truncate(TOP_VALUES);
                p.top = top;
            }
            Acc::Texts(distinct, missing) => {
                p.missing = missing;
                p.distinct = distinct;
            }
        }
        p
    }
}

fn count_runs(sorted: &[f64]) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    1 + sorted.windows(2).filter(|w| w[0] != w[1]).count()
}
