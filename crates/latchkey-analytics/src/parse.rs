//! Reading one cell as a number or a date. Pure functions, no allocation on the date path.
//!
//! Numbers: an optional sign (`-`, `+`) or parentheses for a negative (`(12.50)`), optional
//! currency symbols (`$ € £ ¥`) before or after, digits with optional thousands separators in
//! groups of three (`,` `'` space or no-break space with a decimal point; `.` `'` space or
//! no-break space with a decimal comma), an optional fraction, and an optional exponent when
//! there are no separators (`1.5e3`). `inf`, `NaN` and `12%` are not numbers.
//!
//! Dates: ISO 8601 `YYYY-MM-DD` (also `/` or `.`), with an optional time `THH:MM[:SS[.fff]]`
//! (or a space instead of `T`) and an optional `Z` / `±HH:MM` / `±HHMM` offset; numeric
//! `DD/MM/YYYY` or `MM/DD/YYYY` (also `-` or `.`) with an optional ` HH:MM[:SS]`; and month
//! names: `Jan 1 2000`, `Jan 1, 2000`, `1 Jan 2000`, `1-Jan-2000`, `January 1, 2000`.

use chrono::NaiveDate;

use crate::types::{DateOrder, DecimalMark};

const CURRENCY: &[char] = &['$', '€', '£', '¥'];

/// Values read as missing in any column (after trimming spaces): the empty string, `NA`,
/// `N/A`, `NULL`, `null`, `NaN`, `-`.
pub fn is_missing(s: &str) -> bool {
    matches!(
        s.trim(),
        "" | "NA" | "N/A" | "n/a" | "NULL" | "null" | "NaN" | "nan" | "-"
    )
}

/// Reads `s` as a number written with `mark` as its decimal mark.
pub fn parse_number(s: &str, mark: DecimalMark) -> Option<f64> {
    let mut s = s.trim();
    if mark == DecimalMark::Point && is_plain(s) {
        // The common case (`-12.5`), without building a normalised copy.
        return s.parse::<f64>().ok().filter(|v| v.is_finite());
    }
    let mut negative = false;
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        negative = true;
        s = inner.trim();
    }
    let mut signed = false;
    // Leading sign and currency, in either order ("-$5", "$-5", "€ 5").
    loop {
        let t = s.trim_start();
        if let Some(r) = t.strip_prefix(CURRENCY) {
            s = r;
        } else if let Some(r) = t.strip_prefix('-').or_else(|| t.strip_prefix('−')) {
            if signed || negative {
                return None;
            }
            negative = true;
            signed = true;
            s = r;
        } else if let Some(r) = t.strip_prefix('+') {
            if signed || negative {
                return None;
            }
            signed = true;
            s = r;
        } else {
            s = t;
            break;
        }
    }
    let s = s.trim_end().trim_end_matches(CURRENCY).trim_end();
    let (s, exponent) = match s.find(['e', 'E']) {
        Some(e) => (&s[..e], Some(&s[e + 1..])),
        None => (s, None),
    };
    let (int_part, frac_part) = match mark {
        DecimalMark::Point => split_once_at_most(s, '.')?,
        DecimalMark::Comma => split_once_at_most(s, ',')?,
    };
    let groups_allowed: &[char] = match mark {
        DecimalMark::Point => &[',', '\'', ' ', '\u{a0}', '\u{202f}'],
        DecimalMark::Comma => &['.', '\'', ' ', '\u{a0}', '\u{202f}'],
    };
    let mut digits = String::with_capacity(s.len() + 2);
    if negative {
        digits.push('-');
    }
    let sep = int_part.chars().find(|c| groups_allowed.contains(c));
    match sep {
        Some(sep) => {
            let mut groups = int_part.split(sep);
            let first = groups.next()?;
            if first.is_empty() || first.len() > 3 || !all_digits(first) {
                return None;
            }
            digits.push_str(first);
            for g in groups {
                if g.len() != 3 || !all_digits(g) {
                    return None;
                }
                digits.push_str(g);
            }
        }
        None => {
            if !all_digits(int_part) {
                return None;
            }
            digits.push_str(int_part);
        }
    }
    let frac = frac_part.unwrap_or("");
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    if !all_digits(frac) {
        return None;
    }
    if !frac.is_empty() {
        digits.push('.');
        digits.push_str(frac);
    }
    if let Some(exponent) = exponent {
        if sep.is_some() {
            return None;
        }
        let body = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if body.is_empty() || !all_digits(body) {
            return None;
        }
        digits.push('e');
        digits.push_str(exponent);
    }
    let v: f64 = digits.parse().ok()?;
    v.is_finite().then_some(v)
}

fn split_once_at_most(s: &str, c: char) -> Option<(&str, Option<&str>)> {
    match s.split_once(c) {
        None => Some((s, None)),
        Some((_, b)) if b.contains(c) => None,
        Some((a, b)) => Some((a, Some(b))),
    }
}

/// `-?[0-9]*\.?[0-9]*` with at least one digit.
fn is_plain(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let mut dots = 0;
    let mut digits = 0;
    for &b in body {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => dots += 1,
            _ => return false,
        }
    }
    digits > 0 && dots <= 1
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// What a cell can be read as when it is a date: the instant under each day/month order
/// (equal for ISO and month-name forms), and whether it carried a time of day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateReading {
    /// Seconds since 1970-01-01 UTC reading `01/02` as day/month, if that is a real date.
    pub day_first: Option<i64>,
    /// Same, reading `01/02` as month/day.
    pub month_first: Option<i64>,
    /// Whether the text had a time of day.
    pub has_time: bool,
}

impl DateReading {
    /// The instant under `order`, if the value is a date that way.
    pub fn under(&self, order: DateOrder) -> Option<i64> {
        match order {
            DateOrder::DayFirst => self.day_first,
            DateOrder::MonthFirst => self.month_first,
        }
    }
}

/// Reads `s` as a date under `order` (which matters only for all-numeric day/month forms).
/// Returns seconds since 1970-01-01 UTC.
pub fn parse_date(s: &str, order: DateOrder) -> Option<i64> {
    read_date(s)?.under(order)
}

/// Reads `s` every way the formats above allow; `None` when it is no date at all.
pub fn read_date(s: &str) -> Option<DateReading> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 6 || b.len() > 40 {
        return None;
    }
    if b[0].is_ascii_digit() {
        if let Some(r) = iso(s) {
            return Some(r);
        }
        if let Some(r) = numeric(s) {
            return Some(r);
        }
    }
    month_name(s)
}

/// A small cursor over ASCII bytes.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.i;
        let mut v: u32 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            v = v * 10 + u32::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        (self.i - start >= min).then_some(v)
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// A date separator (`-` `/` `.`), consumed.
    fn separator(&mut self) -> Option<u8> {
        let sep = self.peek().filter(|b| matches!(b, b'-' | b'/' | b'.'))?;
        self.i += 1;
        Some(sep)
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

fn ymd_secs(y: u32, m: u32, d: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// `[T| ]HH:MM[:SS[.fff]][Z|±HH:MM|±HHMM]` to the end of the input; seconds to add to midnight
/// (the offset already subtracted).
fn time_of_day(c: &mut Cur<'_>, allow_offset: bool) -> Option<i64> {
    let h = c.digits(1, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let mi = c.digits(2, 2)?;
    let mut sec = 0;
    if c.eat(b':') {
        sec = c.digits(2, 2)?;
        if c.eat(b'.') || c.eat(b',') {
            c.digits(1, 9)?;
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut offset: i64 = 0;
    if allow_offset {
        match c.peek() {
            Some(b'Z') => {
                c.i += 1;
            }
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let oh = c.digits(2, 2)?;
                c.eat(b':');
                let om = c.digits(2, 2)?;
                if oh > 14 || om > 59 {
                    return None;
                }
                let o = i64::from(oh * 3600 + om * 60);
                offset = if sign == b'+' { o } else { -o };
            }
            _ => {}
        }
    }
    c.done()
        .then_some(i64::from(h * 3600 + mi * 60 + sec.min(59)) - offset)
}

/// The end of the input (midnight), or `T`/space and a time of day to the end: (seconds to
/// add, whether there was a time).
fn optional_time(c: &mut Cur<'_>, allow_offset: bool) -> Option<(i64, bool)> {
    if c.done() {
        Some((0, false))
    } else if c.eat(b'T') || c.eat(b' ') {
        Some((time_of_day(c, allow_offset)?, true))
    } else {
        None
    }
}

fn iso(s: &str) -> Option<DateReading> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let y = c.digits(4, 4)?;
    let sep = c.separator()?;
    let m = c.digits(1, 2)?;
    if !c.eat(sep) {
        return None;
    }
    let d = c.digits(1, 2)?;
    let day = ymd_secs(y, m, d)?;
    let (t, has_time) = optional_time(&mut c, true)?;
    let v = day + t;
    Some(DateReading {
        day_first: Some(v),
        month_first: Some(v),
        has_time,
    })
}

fn numeric(s: &str) -> Option<DateReading> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let a = c.digits(1, 2)?;
    let sep = c.separator()?;
    let b = c.digits(1, 2)?;
    if !c.eat(sep) {
        return None;
    }
    let y = c.digits(4, 4)?;
    let (t, has_time) = optional_time(&mut c, false)?;
    let day_first = ymd_secs(y, b, a).map(|v| v + t);
    let month_first = ymd_secs(y, a, b).map(|v| v + t);
    if day_first.is_none() && month_first.is_none() {
        return None;
    }
    Some(DateReading {
        day_first,
        month_first,
        has_time,
    })
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_number(tok: &str) -> Option<u32> {
    if tok.len() < 3 || !tok.is_ascii() {
        return None;
    }
    let lower = tok.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    if lower == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .position(|m| m.len() >= lower.len() && lower.len() >= 3 && m.starts_with(lower))
        .filter(|_| lower.len() == 3 || MONTHS.contains(&lower))
        .map(|p| p as u32 + 1)
}

/// `Jan 1 2000`, `Jan 1, 2000`, `1 Jan 2000`, `1-Jan-2000`, `January 1, 2000`, each with an
/// optional trailing ` HH:MM[:SS]`.
fn month_name(s: &str) -> Option<DateReading> {
    let mut toks = s
        .split([' ', ',', '-'])
        .filter(|t| !t.is_empty())
        .peekable();
    let (t1, t2, t3) = (toks.next()?, toks.next()?, toks.next()?);
    let time = toks.next();
    if toks.next().is_some() {
        return None;
    }
    let (m, d) = if let Some(m) = month_number(t1) {
        (m, t2)
    } else if let Some(m) = month_number(t2) {
        (m, t1)
    } else {
        return None;
    };
    if d.is_empty() || d.len() > 2 || !all_digits(d) || t3.len() != 4 || !all_digits(t3) {
        return None;
    }
    let day = ymd_secs(t3.parse().ok()?, m, d.parse().ok()?)?;
    let (t, has_time) = match time {
        None => (0, false),
        Some(t) => {
            let mut c = Cur {
                b: t.as_bytes(),
                i: 0,
            };
            (time_of_day(&mut c, false)?, true)
        }
    };
    let v = day + t;
    Some(DateReading {
        day_first: Some(v),
        month_first: Some(v),
        has_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn numbers_in_the_shapes_exports_use() {
        use DecimalMark::*;
        let cases: &[(&str, DecimalMark, Option<f64>)] = &[
            ("1,234.56", Point, Some(1234.56)),
            ("1.234,56", Comma, Some(1234.56)),
            ("(1.234,56)", Comma, Some(-1234.56)),
            ("(12.50)", Point, Some(-12.5)),
            ("-$5.00", Point, Some(-5.0)),
            ("$-5", Point, Some(-5.0)),
            ("€ 1 234,5", Comma, Some(1234.5)),
            ("12,5 €", Comma, Some(12.5)),
            ("£3", Point, Some(3.0)),
            ("1e3", Point, Some(1000.0)),
            (".5", Point, Some(0.5)),
            ("1,23", Point, None),
            ("1,2345", Point, None),
            ("12,5", Point, None),
            ("1.2.3", Point, None),
            ("--5", Point, None),
            ("(-5)", Point, None),
            ("12%", Point, None),
            ("inf", Point, None),
            ("NaN", Point, None),
            ("abc", Point, None),
            ("", Point, None),
            ("1,000e3", Point, None),
            ("1e", Point, None),
            ("-.5", Point, Some(-0.5)),
            ("5.", Point, Some(5.0)),
            (".", Point, None),
            ("-", Point, None),
            ("007", Point, Some(7.0)),
        ];
        for (s, mark, want) in cases {
            assert_eq!(parse_number(s, *mark), *want, "{s:?} with {mark:?}");
        }
    }

    #[test]
    fn dates_in_the_common_formats() {
        let o = DateOrder::DayFirst;
        assert_eq!(parse_date("2012-01-31", o), Some(day(2012, 1, 31)));
        assert_eq!(parse_date("2012/1/5", o), Some(day(2012, 1, 5)));
        assert_eq!(
            parse_date("2012-01-31T10:30:00Z", o),
            Some(day(2012, 1, 31) + 37800)
        );
        assert_eq!(
            parse_date("2012-01-31T10:30:00+02:00", o),
            Some(day(2012, 1, 31) + 37800 - 7200)
        );
        assert_eq!(parse_date("31/01/2012", o), Some(day(2012, 1, 31)));
        assert_eq!(parse_date("01/02/2012", o), Some(day(2012, 2, 1)));
        assert_eq!(
            parse_date("01/02/2012", DateOrder::MonthFirst),
            Some(day(2012, 1, 2))
        );
        assert_eq!(parse_date("31/01/2012", DateOrder::MonthFirst), None);
        assert_eq!(parse_date("Jan 1 2000", o), Some(day(2000, 1, 1)));
        assert_eq!(parse_date("Jan 1, 2000", o), Some(day(2000, 1, 1)));
        assert_eq!(parse_date("1 Jan 2000", o), Some(day(2000, 1, 1)));
        assert_eq!(parse_date("1-Jan-2000", o), Some(day(2000, 1, 1)));
        assert_eq!(parse_date("September 30, 2001", o), Some(day(2001, 9, 30)));
        assert_eq!(parse_date("2012-02-30", o), None, "no 30 February");
        assert_eq!(parse_date("Janx 1 2000", o), None);
        assert_eq!(parse_date("12345678", o), None);
        assert_eq!(parse_date("2000", o), None);
        assert_eq!(parse_date("2012-01-31 25:00", o), None);
    }

    #[test]
    fn missing_markers() {
        for s in ["", "  ", "NA", "N/A", "null", "-"] {
            assert!(is_missing(s), "{s:?}");
        }
        assert!(!is_missing("0"));
    }
}
