//! The paid feature: offline personal analytics over a CSV of `date,value` rows. Each run
//! costs `[wallet] analytics_cost` credits: reserved before any work (refused at once when the
//! credits are not there), captured when the report is ready, released when the input is bad.
//!
//! `datasets.rs` puts the analytics engine (`latchkey-analytics`) behind the core: datasets
//! imported per account into `analytics.sqlite`, free profiles and previews, and the paid
//! analyses, paid through the same `Core::pay_for` as the run above.

use crate::core::Core;
use crate::error::{Code, Error, Result};
use latchkey_wallet::{Balance, Credits};
use serde::Serialize;
use std::collections::BTreeMap;

mod datasets;
pub(crate) use datasets::AnalyticsSlot;
pub use datasets::{PaidResult, ANALYSIS_KINDS};
/// The analytics engine, for the faces' types (datasets, profiles, analyses, results).
pub use latchkey_analytics as engine;

/// The largest input accepted, to keep a run bounded.
pub const MAX_ROWS: usize = 1_000_000;

/// One month's total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthTotal {
    /// `YYYY-MM`.
    pub month: String,
    /// How many rows fell in it.
    pub rows: usize,
    /// The sum of their values.
    pub total: f64,
}

/// The summary of one CSV.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// How many data rows.
    pub rows: usize,
    /// The sum of the values.
    pub sum: f64,
    /// Their mean.
    pub mean: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// Oldest month first.
    pub months: Vec<MonthTotal>,
}

/// A finished, paid run.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// What the run found.
    pub report: Report,
    /// What it cost, in credits.
    pub cost: i64,
    /// The wallet's balance after paying.
    pub balance: Balance,
}

fn bad(line: usize, what: String) -> Error {
    Error::new(Code::InvalidInput, format!("line {line}: {what}"))
}

/// Parses `date,value` rows (`YYYY-MM-DD`, a number) into a report. A first line that is not
/// data (`date,value`) is taken as a header; blank lines are skipped. The error names the line.
pub fn summarize(csv: &str) -> Result<Report> {
    let mut rows = 0usize;
    let (mut sum, mut min, mut max) = (0.0f64, f64::INFINITY, f64::NEG_INFINITY);
    let mut months: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    for (i, raw) in csv.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim().trim_start_matches('\u{feff}');
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',').map(str::trim);
        let (date, value) = match (fields.next(), fields.next(), fields.next()) {
            (Some(d), Some(v), None) => (d, v),
            _ => return Err(bad(n, "expected two fields, date,value".into())),
        };
        if rows == 0 && n == first_content_line(csv) && date.eq_ignore_ascii_case("date") {
            continue;
        }
        let month = month_of(date)
            .ok_or_else(|| bad(n, format!("`{date}` is not a date (expected YYYY-MM-DD)")))?;
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| bad(n, format!("`{value}` is not a number")))?;
        rows += 1;
        if rows > MAX_ROWS {
            return Err(bad(n, format!("more than {MAX_ROWS} rows; split the file")));
        }
        sum += value;
        min = min.min(value);
        max = max.max(value);
        let m = months.entry(month).or_insert((0, 0.0));
        m.0 += 1;
        m.1 += value;
    }
    if rows == 0 {
        return Err(Error::new(
            Code::InvalidInput,
            "the file has no date,value rows",
        ));
    }
    Ok(Report {
        rows,
        sum,
        mean: sum / rows as f64,
        min,
        max,
        months: months
            .into_iter()
            .map(|(month, (rows, total))| MonthTotal { month, rows, total })
            .collect(),
    })
}

fn first_content_line(csv: &str) -> usize {
    csv.lines()
        .position(|l| !l.trim().is_empty())
        .map_or(0, |p| p + 1)
}

/// `YYYY-MM` of a valid `YYYY-MM-DD` date.
fn month_of(date: &str) -> Option<String> {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(d.format("%Y-%m").to_string())
}

impl Core {
    /// Runs the analytics on `csv` for the active account, paying `[wallet] analytics_cost`:
    /// reserve first (refused before any work when the credits are not there), capture when
    /// the report is ready, release when the input is refused, so bad input costs nothing.
    /// `run_id` makes the charge idempotent (a retried run is charged once).
    pub fn run_analytics(&self, csv: &str, run_id: &str) -> Result<Run> {
        let cost = Credits(self.config.wallet.analytics_cost);
        let (report, balance) = self.pay_for(cost, run_id, || summarize(csv))?;
        Ok(Run {
            report,
            cost: cost.get(),
            balance,
        })
    }

    /// The one way an analysis is paid for: reserve `cost` (refused before any work when the
    /// credits are not there), do `work`, capture the hold when it succeeds, release it when it
    /// fails (the work's error is returned, nothing charged). `run_id` makes every step
    /// idempotent, so a retried run is charged once.
    pub(crate) fn pay_for<T>(
        &self,
        cost: Credits,
        run_id: &str,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<(T, Balance)> {
        // With a credit service the credits are held and spent there (service/pay.rs), and a
        // service that cannot be reached refuses the run; `offline_only` keeps this wallet.
        if self.wallet_uses_service() {
            return self.pay_at_service(cost, run_id, work);
        }
        let hold = self.with_wallet(None, |w, a| {
            w.reserve(
                a,
                &format!("{run_id}:reserve"),
                cost,
                600,
                Some("analytics run"),
            )
        })?;
        let hold_id = hold.entry.id;
        match work() {
            Ok(done) => {
                let receipt = self.with_wallet(None, |w, a| {
                    w.capture(
                        a,
                        &format!("{run_id}:capture"),
                        hold_id,
                        cost,
                        Some("analytics run"),
                    )
                })?;
                Ok((done, receipt.balance))
            }
            Err(e) => {
                self.with_wallet(None, |w, a| {
                    w.release(
                        a,
                        &format!("{run_id}:release"),
                        hold_id,
                        Some("analytics input refused"),
                    )
                })?;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{signed_in, Rig};
    use chrono::Utc;

    #[test]
    fn summary_and_months() {
        let r = summarize("date,value\n2026-01-03,2\n2026-01-20,4.5\n\n2026-02-01,-1\n").unwrap();
        assert_eq!((r.rows, r.sum, r.min, r.max), (3, 5.5, -1.0, 4.5));
        assert!((r.mean - 5.5 / 3.0).abs() < 1e-12);
        assert_eq!(
            r.months,
            vec![
                MonthTotal {
                    month: "2026-01".into(),
                    rows: 2,
                    total: 6.5
                },
                MonthTotal {
                    month: "2026-02".into(),
                    rows: 1,
                    total: -1.0
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = summarize("date,value\n2026-01-03,2\n2026-13-01,4\n").unwrap_err();
        assert_eq!(e.code, Code::InvalidInput);
        assert!(e.message.starts_with("line 3:"), "{}", e.message);
        let e = summarize("2026-01-03,abc\n").unwrap_err();
        assert!(
            e.message.starts_with("line 1:") && e.message.contains("abc"),
            "{}",
            e.message
        );
        let e = summarize("2026-01-03,1,2\n").unwrap_err();
        assert!(e.message.contains("two fields"), "{}", e.message);
        let e = summarize("2026-01-03,NaN\n").unwrap_err();
        assert!(
            e.message.contains("not a number"),
            "NaN is refused: {}",
            e.message
        );
        assert!(
            summarize("date,value\n").is_err(),
            "no rows is an error, not a zero report"
        );
    }

    #[test]
    fn analytics_is_paid_by_reserve_then_capture_and_bad_input_costs_nothing() {
        let rig = Rig::new();
        let mut app = rig.at(Utc::now());
        app.config.wallet.analytics_cost = 2;
        app.store_session("p", signed_in("ann")).unwrap();
        let balance = |app: &Core| {
            app.with_wallet(None, |w, a| w.balance(a))
                .unwrap()
                .available
                .get()
        };

        let broke = app.run_analytics("2026-01-01,1\n", "run-0").unwrap_err();
        assert_eq!(
            broke.code,
            Code::InsufficientCredits,
            "refused before any work"
        );

        app.with_wallet(None, |w, a| {
            w.grant(a, "g", latchkey_wallet::Credits(5), None)
        })
        .unwrap();
        let bad = app
            .run_analytics("2026-01-01,1\nnot,a,row\n", "run-1")
            .unwrap_err();
        assert!(bad.message.starts_with("line 2"), "{}", bad.message);
        assert_eq!(balance(&app), 5, "malformed input costs nothing");

        let run = app
            .run_analytics("date,value\n2026-01-01,1\n2026-02-01,3\n", "run-2")
            .unwrap();
        assert_eq!((run.report.rows, run.report.sum, run.cost), (2, 4.0, 2));
        assert_eq!(balance(&app), 3, "a run costs analytics_cost");
        let again = app
            .run_analytics("date,value\n2026-01-01,1\n2026-02-01,3\n", "run-2")
            .unwrap();
        assert_eq!(again.report, run.report);
        assert_eq!(balance(&app), 3, "a retried run id is charged once");
        let holds = app.with_wallet(None, |w, a| w.holds(a)).unwrap();
        assert!(holds.is_empty(), "no hold is left open");
    }
}
