//! Column types, stored values and the options a user can set on an import.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a column holds. Dates and date-times are stored as UTC seconds since 1970-01-01,
/// numbers as `f64`, categories and text as strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// A calendar date (midnight UTC of that day).
    Date,
    /// A date with a time of day; a time without an offset is read as UTC.
    DateTime,
    /// A number (`f64`).
    Number,
    /// Text with few distinct values (see [`crate::infer`]).
    Category,
    /// Any other text.
    Text,
}

impl ColumnKind {
    /// The name stored in the database and shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnKind::Date => "date",
            ColumnKind::DateTime => "datetime",
            ColumnKind::Number => "number",
            ColumnKind::Category => "category",
            ColumnKind::Text => "text",
        }
    }

    /// The inverse of [`ColumnKind::as_str`].
    pub fn parse(s: &str) -> Option<ColumnKind> {
        Some(match s {
            "date" => ColumnKind::Date,
            "datetime" => ColumnKind::DateTime,
            "number" => ColumnKind::Number,
            "category" => ColumnKind::Category,
            "text" => ColumnKind::Text,
            _ => return None,
        })
    }

    /// Dates and date-times.
    pub fn is_temporal(self) -> bool {
        matches!(self, ColumnKind::Date | ColumnKind::DateTime)
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How `01/02/2000` is read: 1 February (`DayFirst`) or 2 January (`MonthFirst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateOrder {
    #[default]
    DayFirst,
    MonthFirst,
}

/// Which character separates the integer part from the fraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalMark {
    /// `1,234.56`
    #[default]
    Point,
    /// `1.234,56`
    Comma,
}

/// Why a column has the date order it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// A value only one order can read (a day over 12), or no value needs an order.
    Data,
    /// Every value reads both ways: the default order was kept (the user can flip it).
    Default,
    /// The user chose it.
    User,
}

/// One column of a dataset as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Position, 0-based.
    pub index: usize,
    pub name: String,
    pub kind: ColumnKind,
    /// For dates written with numbers only (`01/02/2000`): the order used.
    pub date_order: Option<DateOrder>,
    /// Why that order (None when `date_order` is None).
    pub date_order_decided_by: Option<DecidedBy>,
    /// For numbers: the decimal mark used.
    pub decimal_mark: Option<DecimalMark>,
}

/// One stored value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Missing,
    Number(f64),
    /// Seconds since 1970-01-01 UTC.
    Time(i64),
    Text(String),
}
