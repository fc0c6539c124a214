//! Periods (day, ISO week, month, year), how a period's rows are combined, and the
//! accumulator behind every aggregate.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::frame::date_of_day;

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

    pub(super) fn info(self, key: i64) -> PeriodInfo {
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

/// The running count, sum, min and max of a period's (or a category's) measure.
#[derive(Debug, Clone, Copy)]
pub(super) struct Acc {
    pub(super) count: u64,
    pub(super) sum: f64,
    pub(super) min: f64,
    pub(super) max: f64,
}

impl Acc {
    pub(super) const EMPTY: Acc = Acc {
        count: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };
    pub(super) fn add(&mut self, x: f64) {
        self.count += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }
    pub(super) fn value(&self, agg: Agg) -> Option<f64> {
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
}
