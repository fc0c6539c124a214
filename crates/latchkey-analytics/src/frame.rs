//! Columns of a stored dataset loaded into memory for the analyses: numbers as `f64` (NaN when
//! missing), dates as seconds, text dictionary-encoded.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, NaiveDate};
use rusqlite::types::ValueRef;

use crate::error::{Error, Result};
use crate::types::{Column, ColumnKind};

/// The code of a missing text value.
pub const MISSING: u32 = u32::MAX;

/// One loaded column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// NaN for a missing value.
    Numbers(Vec<f64>),
    /// Seconds since 1970-01-01 UTC.
    Times(Vec<Option<i64>>),
    /// `codes[row]` indexes `values`; [`MISSING`] for a missing value. `values` are distinct.
    Texts {
        codes: Vec<u32>,
        values: Vec<String>,
    },
}

/// Some columns of a dataset, all of the same length.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub rows: usize,
    pub columns: Vec<(Column, ColumnData)>,
}

impl Frame {
    /// The column called `name`.
    pub fn get(&self, name: &str) -> Result<&(Column, ColumnData)> {
        self.columns
            .iter()
            .find(|(c, _)| c.name == name)
            .ok_or_else(|| Error::UnknownColumn(name.to_owned()))
    }

    /// Loads `wanted` (in that order) from `rows_<dataset>` in one scan.
    pub(crate) fn load(
        conn: &rusqlite::Connection,
        dataset: i64,
        wanted: &[Column],
        rows_hint: usize,
    ) -> Result<Frame> {
        let n = rows_hint.min(1 << 26);
        let mut data: Vec<ColumnData> = wanted
            .iter()
            .map(|c| match c.kind {
                ColumnKind::Number => ColumnData::Numbers(Vec::with_capacity(n)),
                ColumnKind::Date | ColumnKind::DateTime => ColumnData::Times(Vec::with_capacity(n)),
                ColumnKind::Category | ColumnKind::Text => ColumnData::Texts {
                    codes: Vec::with_capacity(n),
                    values: Vec::new(),
                },
            })
            .collect();
        if wanted.is_empty() {
            let rows: i64 =
                conn.query_row(&format!("SELECT count(*) FROM rows_{dataset}"), [], |r| {
                    r.get(0)
                })?;
            return Ok(Frame {
                rows: usize::try_from(rows).unwrap_or(0),
                columns: Vec::new(),
            });
        }
        let list: Vec<String> = wanted.iter().map(|c| format!("c{}", c.index)).collect();
        let sql = format!(
            "SELECT {} FROM rows_{dataset} ORDER BY rowid",
            list.join(", ")
        );
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        let mut dicts: Vec<HashMap<String, u32, BuildHasherDefault<Fnv>>> =
            wanted.iter().map(|_| HashMap::default()).collect();
        let mut n = 0usize;
        while let Some(row) = rows.next()? {
            n += 1;
            for (i, d) in data.iter_mut().enumerate() {
                let v = row.get_ref(i)?;
                match d {
                    ColumnData::Numbers(out) => out.push(match v {
                        ValueRef::Real(x) => x,
                        ValueRef::Integer(x) => x as f64,
                        _ => f64::NAN,
                    }),
                    ColumnData::Times(out) => out.push(match v {
                        ValueRef::Integer(x) => Some(x),
                        _ => None,
                    }),
                    ColumnData::Texts { codes, values } => codes.push(match v {
                        ValueRef::Text(t) => {
                            let s = std::str::from_utf8(t).unwrap_or("\u{fffd}");
                            match dicts[i].get(s) {
                                Some(&code) => code,
                                None => {
                                    let code = values.len() as u32;
                                    values.push(s.to_owned());
                                    dicts[i].insert(s.to_owned(), code);
                                    code
                                }
                            }
                        }
                        _ => MISSING,
                    }),
                }
            }
        }
        Ok(Frame {
            rows: n,
            columns: wanted.iter().cloned().zip(data).collect(),
        })
    }
}

/// FNV-1a: the dictionary of a text column is hashed once per row while loading, and SipHash's
/// protection against chosen collisions is not needed for the user's own file.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The day number (days since 1970-01-01) of an instant.
pub fn day_of(secs: i64) -> i64 {
    secs.div_euclid(86_400)
}

/// The calendar date of a day number.
pub fn date_of_day(day: i64) -> NaiveDate {
    DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

/// `YYYY-MM-DD` for a date column, `YYYY-MM-DDTHH:MM:SSZ` for a date-time one.
pub fn format_time(secs: i64, kind: ColumnKind) -> String {
    match DateTime::from_timestamp(secs, 0) {
        Some(t) if kind == ColumnKind::DateTime => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => secs.to_string(),
    }
}
