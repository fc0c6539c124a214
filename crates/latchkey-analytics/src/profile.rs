//! The free profile of a dataset: per column its type, missing and distinct counts, and the
//! statistics that fit its type.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use rusqlite::types::ValueRef;
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

/// Profiles text columns in one scan of `rows_<dataset_id>` (reading only those columns).
/// Memory: 8 bytes per non-missing value: a text is counted by a 64-bit hash, so two distinct
/// texts count as one only on a hash collision, about 1 in 10^7 for a million values.
pub(crate) fn scan_texts(
    conn: &rusqlite::Connection,
    dataset_id: i64,
    columns: &[Column],
) -> rusqlite::Result<Vec<ColumnProfile>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let mut accs: Vec<Acc> = columns.iter().map(|c| Acc::new(c.kind)).collect();
    let list: Vec<String> = columns.iter().map(|c| format!("c{}", c.index)).collect();
    let mut stmt = conn.prepare(&format!(
        "SELECT {} FROM rows_{dataset_id}",
        list.join(", ")
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        for (i, acc) in accs.iter_mut().enumerate() {
            acc.push(row.get_ref(i)?);
        }
    }
    Ok(columns
        .iter()
        .zip(accs)
        .map(|(c, acc)| acc.finish(c))
        .collect())
}

/// Profiles a loaded number, date or category column.
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
    Texts(Vec<u64>, u64),
}

impl Acc {
    fn new(kind: ColumnKind) -> Acc {
        match kind {
            ColumnKind::Number => Acc::Numbers(Vec::new(), 0),
            ColumnKind::Date | ColumnKind::DateTime => Acc::Times(Vec::new(), 0),
            ColumnKind::Category => Acc::Categories(HashMap::new(), 0),
            ColumnKind::Text => Acc::Texts(Vec::new(), 0),
        }
    }

    fn push(&mut self, v: ValueRef<'_>) {
        match (self, v) {
            (Acc::Numbers(xs, _), ValueRef::Real(x)) => xs.push(x),
            (Acc::Numbers(xs, _), ValueRef::Integer(x)) => xs.push(x as f64),
            (Acc::Times(ts, _), ValueRef::Integer(t)) => ts.push(t),
            (Acc::Categories(counts, _), ValueRef::Text(t)) => {
                let s = String::from_utf8_lossy(t);
                match counts.get_mut(s.as_ref()) {
                    Some(n) => *n += 1,
                    None => {
                        counts.insert(s.into_owned(), 1);
                    }
                }
            }
            (Acc::Texts(hashes, _), ValueRef::Text(t)) => {
                // DefaultHasher::new() has fixed keys: the same text always hashes the same.
                let mut h = DefaultHasher::new();
                t.hash(&mut h);
                hashes.push(h.finish());
            }
            (
                Acc::Numbers(_, missing)
                | Acc::Times(_, missing)
                | Acc::Categories(_, missing)
                | Acc::Texts(_, missing),
                _,
            ) => *missing += 1,
        }
    }

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
            Acc::Texts(mut hashes, missing) => {
                p.missing = missing;
                hashes.sort_unstable();
                hashes.dedup();
                p.distinct = hashes.len() as u64;
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
