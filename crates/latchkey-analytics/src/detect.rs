//! What an import would make of a file, without importing it: the encoding, delimiter and
//! header found, every column's type, date order and decimal mark as the data decides them (or
//! as the user corrected them), and the first rows as written. The page shows this so the user
//! can correct a type, the date order or the decimal mark before anything is stored.
//!
//! The file is read as an import reads it (every value of every column is checked), so a
//! correction that does not fit the data fails here already with the line and the column.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::frame::format_time;
use crate::infer;
use crate::parse;
use crate::read::{self, Encoding, Records};
use crate::store::{Dataset, ImportOptions};
use crate::types::{Column, DateOrder};

/// The most rows a detection shows.
pub const MAX_PREVIEW_ROWS: usize = 100;

/// One column as an import would store it, with an example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectedColumn {
    #[serde(flatten)]
    pub column: Column,
    /// An example value as written in the file (from the preview rows): for a date column
    /// one that reads differently day first and month first when there is one.
    pub sample: Option<String>,
    /// How `sample` reads day first (`YYYY-MM-DD`, with the time for a date-time column);
    /// only for date columns, `None` when it is no date that way.
    pub sample_day_first: Option<String>,
    /// How `sample` reads month first.
    pub sample_month_first: Option<String>,
}

/// What [`crate::Store::detect`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    /// The file name (its last path component).
    pub source_name: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    pub bytes: u64,
    pub encoding: Encoding,
    pub delimiter: char,
    pub has_header: bool,
    /// Data rows (the header not counted).
    pub rows: u64,
    pub columns: Vec<DetectedColumn>,
    /// The first rows, each value as written in the file.
    pub preview: Vec<Vec<String>>,
    /// The dataset this file (same bytes) was imported as before for the account, if any.
    pub existing: Option<Dataset>,
}

/// Reads the file at `path` as [`crate::Store::import`] would, stores nothing. `existing` is
/// filled in by the store.
pub(crate) fn detect(
    path: &std::path::Path,
    options: &ImportOptions,
    preview_rows: usize,
) -> Result<Detection> {
    let sniff = read::sniff(path, &options.read)?;
    let (columns, rows) = infer::infer(
        &mut Records::open(path, &sniff)?,
        &sniff,
        &options.overrides,
    )?;
    if rows == 0 {
        return Err(Error::NotATable {
            line: 2,
            reason: "it has a header but no rows".into(),
        });
    }
    let mut preview: Vec<Vec<String>> = Vec::new();
    {
        let mut records = Records::open(path, &sniff)?;
        while preview.len() < preview_rows.min(MAX_PREVIEW_ROWS) {
            match records.next()? {
                Some((_, rec)) => preview.push(rec.iter().map(str::to_owned).collect()),
                None => break,
            }
        }
    }
    let columns = columns
        .into_iter()
        .map(|column| {
            let values = preview
                .iter()
                .filter_map(|r| r.get(column.index))
                .map(|v| v.trim())
                .filter(|v| !parse::is_missing(v));
            let sample = if column.kind.is_temporal() {
                // The value that shows the order best: one the two orders read differently.
                let mut first = None;
                let mut telling = None;
                for v in values {
                    first.get_or_insert(v);
                    if let Some(r) = parse::read_date(v) {
                        if r.day_first != r.month_first && r.day_first.is_some() {
                            telling = Some(v);
                            break;
                        }
                    }
                }
                telling.or(first)
            } else {
                values.into_iter().next()
            };
            let reading = |order: DateOrder| {
                let kind = column.kind;
                sample
                    .filter(|_| kind.is_temporal())
                    .and_then(|s| parse::parse_date(s, order))
                    .map(|t| format_time(t, kind))
            };
            DetectedColumn {
                sample_day_first: reading(DateOrder::DayFirst),
                sample_month_first: reading(DateOrder::MonthFirst),
                sample: sample.map(str::to_owned),
                column,
            }
        })
        .collect();
    Ok(Detection {
        source_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha256: sniff.sha256,
        bytes: sniff.bytes,
        encoding: sniff.encoding,
        delimiter: char::from(sniff.delimiter),
        has_header: sniff.has_header,
        rows,
        columns,
        preview,
        existing: None,
    })
}
