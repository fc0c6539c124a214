//! Columns of a stored dataset loaded into memory for the analyses: numbers as `f64` (NaN when
//! missing), dates as seconds, text dictionary-encoded.

use chrono::{DateTime, NaiveDate};

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
