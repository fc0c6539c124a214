//! The crate's one error type. Every error about the input names the line (1-based, counted in
//! the decoded text, the header being line 1) and, where one is at fault, the column.

use std::path::PathBuf;

use crate::types::ColumnKind;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while importing, storing or analysing a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is over the configured size cap.
    #[error("the file is {bytes} bytes, over the {cap}-byte limit; split it or raise the limit")]
    TooLarge { bytes: u64, cap: u64 },
    /// The file has no bytes, or only blank lines.
    #[error("the file is empty")]
    Empty,
    /// The file is not delimited text.
    #[error("line {line}: not a table: {reason}")]
    NotATable { line: u64, reason: String },
    /// A row has more columns than the cap.
    #[error("line {line}: {found} columns, over the limit of {cap}")]
    TooManyColumns { line: u64, found: usize, cap: usize },
    /// A physical line is longer than the cap (the reader keeps memory bounded).
    #[error("line {line}: longer than {cap} bytes; not a table of records")]
    LineTooLong { line: u64, cap: usize },
    /// A row does not have as many fields as the header.
    #[error("line {line}: {found} fields where the header has {expected}")]
    Ragged {
        line: u64,
        expected: usize,
        found: usize,
    },
    /// A value cannot be what the column's type (inferred or chosen) says.
    #[error("line {line}, column {column} ({name}): `{value}` is not a {expected}")]
    BadValue {
        line: u64,
        /// 1-based column number.
        column: usize,
        name: String,
        value: String,
        expected: ColumnKind,
    },
    /// The CSV parser refused the text (for example invalid UTF-8 after decoding).
    #[error("line {line}: {source}")]
    Csv {
        line: u64,
        #[source]
        source: csv::Error,
    },
    /// An override or analysis names a column the dataset does not have.
    #[error("no column named `{0}`")]
    UnknownColumn(String),
    /// An analysis needs a column of another type.
    #[error("column `{column}` is a {found}, the analysis needs a {needed}")]
    WrongKind {
        column: String,
        found: ColumnKind,
        needed: &'static str,
    },
    /// A parameter of an analysis is out of range.
    #[error("{0}")]
    BadParameter(String),
    /// No dataset (or saved result) with that id for this account.
    #[error("no {what} with id {id} for this account")]
    NotFound { what: &'static str, id: i64 },
    /// The analytics database file belongs to something else or is newer than this build.
    #[error("{}: {reason}", path.display())]
    NotAnAnalyticsFile { path: PathBuf, reason: String },
    /// SQLite failed.
    #[error("analytics database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored parameter or result could not be (de)serialised.
    #[error("stored JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The run's [`crate::CancelFlag`] was set: the analysis stopped and nothing was saved.
    #[error("the analysis was cancelled")]
    Cancelled,
}
