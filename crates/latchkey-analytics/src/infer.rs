//! Column type inference. Every non-missing value of every row is looked at (the first rows
//! propose, the rest confirm): a column is
//! 1. a **date** (or **date-time** when any value has a time of day) when every value reads as a
//!    date in one of the formats of [`crate::parse`]. For `01/02/2000` forms, a value whose first
//!    number is over 12 decides day-first, one whose second is over 12 decides month-first;
//!    when every value reads both ways the default order ([`DateOrder::DayFirst`]) is kept and
//!    marked [`DecidedBy::Default`] so the user can flip it;
//! 2. else a **number** when every value reads as one with the same decimal mark; when both
//!    marks read every value (`1,234` or `12`), the point wins unless the file is
//!    semicolon-delimited (a European export);
//! 3. else a **category** when it has at most 50 distinct values and at most half as many
//!    distinct values as non-missing ones;
//! 4. else **text**. A column with no value at all is text.
//!
//! A type or date order the user chose is checked instead: the first value that cannot be it
//! is an error naming its line and column.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Error, Result};
use crate::parse::{self, read_date};
use crate::read::{Records, Sniff};
use crate::types::{Column, ColumnKind, DateOrder, DecidedBy, DecimalMark};

/// The most distinct values a category may have.
pub const CATEGORY_MAX_DISTINCT: usize = 50;

/// What the user can force on an import. As JSON (the window sends it):
/// `{"kinds": {"zip": "category"}, "date_order": "month_first", "decimal_mark": "comma"}`,
/// every field optional.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overrides {
    /// Column name -> type.
    pub kinds: BTreeMap<String, ColumnKind>,
    /// The day/month order of every numeric date column.
    pub date_order: Option<DateOrder>,
    /// The decimal mark of every number column.
    pub decimal_mark: Option<DecimalMark>,
}

struct State {
    non_missing: u64,
    date_ok: bool,
    day_first_ok: bool,
    month_first_ok: bool,
    needs_order: bool,
    any_time: bool,
    point_ok: bool,
    comma_ok: bool,
    distinct: HashSet<String>,
    distinct_overflow: bool,
}

impl State {
    fn new() -> Self {
        State {
            non_missing: 0,
            date_ok: true,
            day_first_ok: true,
            month_first_ok: true,
            needs_order: false,
            any_time: false,
            point_ok: true,
            comma_ok: true,
            distinct: HashSet::new(),
            distinct_overflow: false,
        }
    }
}

/// Reads every record once and decides each column's type. Also counts the rows.
pub fn infer(
    records: &mut Records,
    sniff: &Sniff,
    overrides: &Overrides,
) -> Result<(Vec<Column>, u64)> {
    for name in overrides.kinds.keys() {
        if !sniff.columns.contains(name) {
            return Err(Error::UnknownColumn(name.clone()));
        }
    }
    let forced: Vec<Option<ColumnKind>> = sniff
        .columns
        .iter()
        .map(|n| overrides.kinds.get(n).copied())
        .collect();
    let mut states: Vec<State> = sniff.columns.iter().map(|_| State::new()).collect();
    let mut rows = 0u64;
    while let Some((line, rec)) = records.next()? {
        rows += 1;
        for (i, raw) in rec.iter().enumerate() {
            if parse::is_missing(raw) {
                continue;
            }
            let v = raw.trim();
            let st = &mut states[i];
            st.non_missing += 1;
            let bad = |expected| Error::BadValue {
                line,
                column: i + 1,
                name: sniff.columns[i].clone(),
                value: v.to_owned(),
                expected,
            };
            if st.date_ok {
                match read_date(v) {
                    Some(r) => {
                        st.any_time |= r.has_time;
                        if r.day_first != r.month_first {
                            st.needs_order = true;
                        }
                        st.day_first_ok &= r.day_first.is_some();
                        st.month_first_ok &= r.month_first.is_some();
                        if !st.day_first_ok && !st.month_first_ok {
                            st.date_ok = false;
                        }
                    }
                    None => st.date_ok = false,
                }
            }
            if let Some(kind @ (ColumnKind::Date | ColumnKind::DateTime)) = forced[i] {
                let ok = match overrides.date_order {
                    Some(DateOrder::DayFirst) => st.date_ok && st.day_first_ok,
                    Some(DateOrder::MonthFirst) => st.date_ok && st.month_first_ok,
                    None => st.date_ok,
                };
                if !ok {
                    return Err(bad(kind));
                }
            }
            if st.point_ok {
                st.point_ok = parse::parse_number(v, DecimalMark::Point).is_some();
            }
            if st.comma_ok {
                st.comma_ok = parse::parse_number(v, DecimalMark::Comma).is_some();
            }
            if forced[i] == Some(ColumnKind::Number) {
                let ok = match overrides.decimal_mark {
                    Some(DecimalMark::Point) => st.point_ok,
                    Some(DecimalMark::Comma) => st.comma_ok,
                    None => st.point_ok || st.comma_ok,
                };
                if !ok {
                    return Err(bad(ColumnKind::Number));
                }
            }
            if !st.distinct_overflow && !st.distinct.contains(v) {
                if st.distinct.len() >= CATEGORY_MAX_DISTINCT {
                    st.distinct_overflow = true;
                    st.distinct = HashSet::new();
                } else {
                    st.distinct.insert(v.to_owned());
                }
            }
        }
    }
    let columns = states
        .into_iter()
        .enumerate()
        .map(|(i, st)| decide(i, &sniff.columns[i], &st, forced[i], overrides, sniff))
        .collect();
    Ok((columns, rows))
}

fn decide(
    index: usize,
    name: &str,
    st: &State,
    forced: Option<ColumnKind>,
    overrides: &Overrides,
    sniff: &Sniff,
) -> Column {
    let has_values = st.non_missing > 0;
    let is_date = has_values && st.date_ok;
    let is_number = has_values && (st.point_ok || st.comma_ok);
    let is_category =
        has_values && !st.distinct_overflow && (st.distinct.len() as u64) * 2 <= st.non_missing;
    let kind = forced.unwrap_or(if is_date {
        if st.any_time {
            ColumnKind::DateTime
        } else {
            ColumnKind::Date
        }
    } else if is_number {
        ColumnKind::Number
    } else if is_category {
        ColumnKind::Category
    } else {
        ColumnKind::Text
    });
    let (date_order, date_order_decided_by) = if kind.is_temporal() {
        match overrides.date_order {
            Some(o) => (Some(o), Some(DecidedBy::User)),
            None if !st.needs_order => (Some(DateOrder::default()), Some(DecidedBy::Data)),
            None => match (st.day_first_ok, st.month_first_ok) {
                (true, false) => (Some(DateOrder::DayFirst), Some(DecidedBy::Data)),
                (false, true) => (Some(DateOrder::MonthFirst), Some(DecidedBy::Data)),
                _ => (Some(DateOrder::default()), Some(DecidedBy::Default)),
            },
        }
    } else {
        (None, None)
    };
    let decimal_mark = (kind == ColumnKind::Number).then(|| {
        overrides
            .decimal_mark
            .unwrap_or(match (st.point_ok, st.comma_ok) {
                (true, false) => DecimalMark::Point,
                (false, true) => DecimalMark::Comma,
                _ if sniff.delimiter == b';' => DecimalMark::Comma,
                _ => DecimalMark::Point,
            })
    });
    Column {
        index,
        name: name.to_owned(),
        kind,
        date_order,
        date_order_decided_by,
        decimal_mark,
    }
}
