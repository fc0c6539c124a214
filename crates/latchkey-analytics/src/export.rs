//! A result as CSV, for a spreadsheet: one header row, then one row per period or category,
//! numbers as Rust prints them (shortest exact form, `.` as the decimal mark), empty when
//! missing.

use crate::analysis::{AnalysisResult, Change};
use crate::error::Result;

fn number(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

impl AnalysisResult {
    /// The result as CSV text (RFC 4180 quoting).
    ///
    /// - time series: `period,start`, a column per series, then one per rolling average;
    /// - breakdown: `category,value,count,share`;
    /// - comparison: `category,<current period>,<previous period>,change,change_pct`, the
    ///   total last;
    /// - trend: `period,start,value,fitted,forecast,outlier_z`, the forecast periods last.
    pub fn to_csv(&self) -> Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| crate::Error::Csv { line: 0, source: e };
        match self {
            AnalysisResult::Timeseries(t) => {
                let mut head = vec!["period".to_owned(), "start".to_owned()];
                head.extend(t.series.iter().map(|s| s.name.clone()));
                head.extend(
                    t.series
                        .iter()
                        .filter(|s| !s.rolling.is_empty())
                        .map(|s| format!("{} (rolling {})", s.name, t.params.window)),
                );
                w.write_record(&head).map_err(io)?;
                for (i, p) in t.periods.iter().enumerate() {
                    let mut row = vec![p.label.clone(), p.start.clone()];
                    row.extend(t.series.iter().map(|s| number(s.values[i])));
                    row.extend(
                        t.series
                            .iter()
                            .filter(|s| !s.rolling.is_empty())
                            .map(|s| number(s.rolling[i])),
                    );
                    w.write_record(&row).map_err(io)?;
                }
            }
            AnalysisResult::Breakdown(b) => {
                w.write_record(["category", "value", "count", "share"])
                    .map_err(io)?;
                for r in &b.rows {
                    w.write_record([
                        r.category.clone(),
                        number(r.value),
                        r.count.to_string(),
                        number(r.share),
                    ])
                    .map_err(io)?;
                }
            }
            AnalysisResult::Compare(c) => {
                w.write_record([
                    "category",
                    c.current.label.as_str(),
                    c.previous.label.as_str(),
                    "change",
                    "change_pct",
                ])
                .map_err(io)?;
                let line = |name: String, x: &Change| {
                    [
                        name,
                        number(x.current),
                        number(x.previous),
                        number(x.change),
                        number(x.change_pct),
                    ]
                };
                for r in &c.rows {
                    let name = r.category.clone().unwrap_or_default();
                    w.write_record(line(name, r)).map_err(io)?;
                }
                w.write_record(line("total".into(), &c.total)).map_err(io)?;
            }
            AnalysisResult::Trend(t) => {
                w.write_record([
                    "period",
                    "start",
                    "value",
                    "fitted",
                    "forecast",
                    "outlier_z",
                ])
                .map_err(io)?;
                for (i, p) in t.periods.iter().enumerate() {
                    let z = t
                        .outliers
                        .iter()
                        .find(|o| o.period.label == p.label)
                        .map(|o| o.z);
                    w.write_record([
                        p.label.clone(),
                        p.start.clone(),
                        number(t.values[i]),
                        number(t.fitted[i]),
                        String::new(),
                        number(z),
                    ])
                    .map_err(io)?;
                }
                for (p, v) in &t.forecast {
                    w.write_record([
                        p.label.clone(),
                        p.start.clone(),
                        String::new(),
                        String::new(),
                        number(Some(*v)),
                        String::new(),
                    ])
                    .map_err(io)?;
                }
            }
        }
        let bytes = w
            .into_inner()
            .map_err(|e| io(csv::Error::from(e.into_error())))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
