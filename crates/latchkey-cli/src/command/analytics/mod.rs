//! `latchkey analytics ...`: the active account's datasets (import, list, preview, profile,
//! rename, delete: free) and the paid analyses over them (run), with their saved results (free
//! to reopen, offline).

mod delete;
mod import;
mod list;
mod preview;
mod profile;
mod rename;
mod results;
mod run;

use crate::output::clean_text;
use latchkey_core::analytics::engine::{AnalysisResult, SavedResult};
use latchkey_core::{Code, Core, Error};

#[derive(clap::Subcommand, Debug)]
pub enum AnalyticsCommand {
    /// Import a CSV or TSV file as a dataset (free; the same file again is recognised).
    Import(import::Import),
    /// List your datasets.
    List(list::List),
    /// Per column: type, missing and distinct values, statistics (free).
    Profile(profile::Profile),
    /// A page of a dataset's rows (free).
    Preview(preview::Preview),
    /// Rename a dataset.
    Rename(rename::Rename),
    /// Delete a dataset with its rows and saved results (the imported file is not touched).
    Delete(delete::Delete),
    /// Run a paid analysis of a dataset and save its result.
    Run(run::Run),
    /// List the saved results, or show one again (free, offline).
    Results(results::Results),
}

impl AnalyticsCommand {
    pub fn run(&self, app: &Core, out: &crate::output::Output) -> Result<(), Error> {
        match self {
            AnalyticsCommand::Import(c) => c.run(app, out),
            AnalyticsCommand::List(c) => c.run(app, out),
            AnalyticsCommand::Profile(c) => c.run(app, out),
            AnalyticsCommand::Preview(c) => c.run(app, out),
            AnalyticsCommand::Rename(c) => c.run(app, out),
            AnalyticsCommand::Delete(c) => c.run(app, out),
            AnalyticsCommand::Run(c) => c.run(app, out),
            AnalyticsCommand::Results(c) => c.run(app, out),
        }
    }
}

/// Prints a plain table: a header line, then the rows, columns padded to their widest cell
/// (text left-aligned, numbers right-aligned).
fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = widths.get(i).copied().unwrap_or(0);
                if looks_numeric(c) {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        // Cells come from the user's files: no terminal control characters.
        println!("{}", clean_text(padded.join("  ").trim_end()));
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn looks_numeric(s: &str) -> bool {
    !s.is_empty() && s.parse::<f64>().is_ok()
        || s.ends_with('%') && s[..s.len() - 1].parse::<f64>().is_ok()
}

/// A number for people: at most 4 decimals, no trailing zeros; `-` when missing.
fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) => {
            let s = format!("{v:.4}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" {
                "0".into()
            } else {
                s.to_string()
            }
        }
    }
}

/// Seconds since 1970 as RFC 3339 UTC.
fn when(secs: i64) -> String {
    latchkey_core::latchkey_wallet::Timestamp::from_unix_millis(secs.saturating_mul(1000))
        .to_rfc3339()
}

/// Resolves DATASET (an id or a name) to its id.
fn dataset_id(app: &Core, id_or_name: &str) -> Result<i64, Error> {
    Ok(app.dataset_find(id_or_name)?.id)
}

/// Prints a saved result as plain tables.
fn show_result(saved: &SavedResult) -> Result<(), Error> {
    let result: AnalysisResult = serde_json::from_value(saved.result.clone()).map_err(|e| {
        Error::new(
            Code::Storage,
            format!("saved result {} cannot be read: {e}", saved.id),
        )
    })?;
    println!(
        "Result {} of dataset {} ({}, {} credits, saved {}).",
        saved.id,
        saved.dataset_id,
        saved.kind,
        saved.cost,
        when(saved.created_at)
    );
    match result {
        AnalysisResult::Timeseries(t) => {
            let names: Vec<String> = t.series.iter().map(|s| s.name.clone()).collect();
            let mut headers = vec!["period"];
            headers.extend(names.iter().map(String::as_str));
            let rows: Vec<Vec<String>> = t
                .periods
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut row = vec![p.label.clone()];
                    row.extend(
                        t.series
                            .iter()
                            .map(|s| num(s.values.get(i).copied().flatten())),
                    );
                    row
                })
                .collect();
            print_table(&headers, &rows);
            if t.skipped_rows > 0 {
                println!("{} rows without a date were skipped.", t.skipped_rows);
            }
        }
        AnalysisResult::Breakdown(b) => {
            let rows: Vec<Vec<String>> = b
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.category.clone(),
                        num(r.value),
                        r.count.to_string(),
                        r.share.map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
                    ]
                })
                .collect();
            print_table(&["category", "value", "rows", "share"], &rows);
            println!("Total: {}", num(b.total));
        }
        AnalysisResult::Compare(c) => {
            let line = |ch: &latchkey_core::analytics::engine::analysis::Change| {
                vec![
                    ch.category.clone().unwrap_or_else(|| "total".into()),
                    num(ch.previous),
                    num(ch.current),
                    num(ch.change),
                    ch.change_pct.map_or("-".into(), |p| format!("{p:.1}%")),
                ]
            };
            let mut rows: Vec<Vec<String>> = c.rows.iter().map(line).collect();
            rows.push(line(&c.total));
            let (prev, cur) = (c.previous.label.clone(), c.current.label.clone());
            print_table(&["category", &prev, &cur, "change", "change %"], &rows);
        }
        AnalysisResult::Trend(t) => {
            println!("Method: {}.", t.method);
            let mut rows: Vec<Vec<String>> = t
                .periods
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let outlier = t.outliers.iter().any(|o| o.period == *p);
                    vec![
                        p.label.clone(),
                        num(t.values.get(i).copied().flatten()),
                        num(t.fitted.get(i).copied().flatten()),
                        if outlier {
                            "outlier".into()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect();
            for (p, v) in &t.forecast {
                rows.push(vec![
                    p.label.clone(),
                    String::new(),
                    num(Some(*v)),
                    "forecast".into(),
                ]);
            }
            print_table(&["period", "value", "trend", "note"], &rows);
        }
    }
    Ok(())
}
