//! The analytics database: datasets per account, their rows, saved results.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::analysis::{self, Analysis, AnalysisResult};
use crate::cancel::CancelFlag;
use crate::chunks::{self, ChunkWriter};
use crate::db;
use crate::detect::{self, Detection};
use crate::error::{Error, Result};
use crate::frame::{format_time, ColumnData, Frame};
use crate::infer::{self, Overrides};
use crate::parse;
use crate::read::{self, Encoding, ReadOptions, Records};
use crate::types::{Column, ColumnKind, DateOrder, DecidedBy, DecimalMark};

/// Everything an import can be told.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The dataset's name; default: the file name.
    pub name: Option<String>,
    pub read: ReadOptions,
    pub overrides: Overrides,
    /// Import the file again over this dataset of the account (with other corrections): the
    /// file must be the one it was imported from (same SHA-256). The dataset gets a new id;
    /// its name (unless `name` gives another) and its saved results are kept.
    pub replace: Option<i64>,
}

/// A stored dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dataset {
    pub id: i64,
    pub name: String,
    /// The file name it was imported from.
    pub source_name: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    pub bytes: u64,
    pub rows: u64,
    pub encoding: Encoding,
    pub delimiter: char,
    pub has_header: bool,
    /// Seconds since 1970-01-01 UTC.
    pub created_at: i64,
    pub columns: Vec<Column>,
}

/// What [`Store::import`] did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Imported {
    pub dataset: Dataset,
    /// True when the same file (same SHA-256) was already imported for this account: nothing
    /// was written and `dataset` is the earlier import.
    pub existing: bool,
}

/// A page of rows, values as JSON: numbers, dates as `YYYY-MM-DD` (date-times as
/// `YYYY-MM-DDTHH:MM:SSZ`), text, `null` when missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    pub dataset_id: i64,
    pub offset: u64,
    pub total_rows: u64,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// A saved analysis result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedResult {
    pub id: i64,
    pub dataset_id: i64,
    /// `timeseries`, `breakdown`, `compare` or `trend`.
    pub kind: String,
    pub params: serde_json::Value,
    /// The whole result; `null` in listings.
    pub result: serde_json::Value,
    /// Credits paid for it.
    pub cost: i64,
    pub created_at: i64,
}

/// The analytics database. One connection; not shared between threads.
pub struct Store {
    conn: Connection,
    /// The columns of the last dataset analysed, kept so the next analysis of it does not
    /// read SQLite again: (dataset id, column index -> data). Dropped when another dataset is
    /// analysed or the dataset is deleted. Safe across processes: rows never change once
    /// imported and dataset ids are never reused (AUTOINCREMENT).
    cache: RefCell<(i64, HashMap<usize, ColumnData>)>,
}

impl Store {
    /// Opens (creating and migrating as needed) the database at `path`.
    ///
    /// Errors: [`Error::NotAnAnalyticsFile`] for a file of another program or a newer schema.
    pub fn open(path: &Path) -> Result<Store> {
        Ok(Store {
            conn: db::open(path)?,
            cache: RefCell::default(),
        })
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        db::configure(&conn)?;
        db::migrate(&conn, Path::new(":memory:"))?;
        Ok(Store {
            conn,
            cache: RefCell::default(),
        })
    }

    /// Imports the file at `path` for `account` at time `now` (seconds since 1970-01-01 UTC).
    /// The file is read three times in chunks (hash and encoding, then types, then rows); the
    /// rows are written in one transaction, so a failed import leaves nothing behind. A file
    /// already imported for the account (same SHA-256) is recognised and not imported again.
    ///
    /// Errors: the input errors of [`crate::Error`] naming line and column; [`Error::Db`].
    pub fn import(
        &mut self,
        account: &str,
        path: &Path,
        options: &ImportOptions,
        now: i64,
    ) -> Result<Imported> {
        let sniff = read::sniff(path, &options.read)?;
        let replaced = match options.replace {
            Some(old) => {
                let d = self.dataset(account, old)?;
                if d.sha256 != sniff.sha256 {
                    return Err(Error::BadParameter(format!(
                        "dataset {old} `{}` was imported from another file ({}); pick that \
                         file to import it again",
                        d.name, d.source_name
                    )));
                }
                Some(d)
            }
            None => None,
        };
        let existing: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM datasets WHERE account = ?1 AND sha256 = ?2",
                params![account, sniff.sha256],
                |r| r.get(0),
            )
            .optional()?
            .filter(|&id| Some(id) != options.replace);
        if let Some(id) = existing {
            return Ok(Imported {
                dataset: self.dataset(account, id)?,
                existing: true,
            });
        }
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
        let source_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = options
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| replaced.as_ref().map(|d| d.name.clone()))
            .unwrap_or_else(|| source_name.clone());

        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Replacing: the saved results are kept aside, the old dataset deleted (its rows and
        // columns with it), and the results put back under the new id below. A new id, not
        // the old one refilled: rows never change under an id (the column cache relies on it).
        let mut kept: Vec<(i64, String, String, String, i64, i64)> = Vec::new();
        if let Some(old) = &replaced {
            let mut stmt = tx.prepare(
                "SELECT id, kind, params, result, cost, created_at FROM results
                 WHERE dataset_id = ?1 ORDER BY id",
            )?;
            kept = stmt
                .query_map([old.id], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            drop(stmt);
            tx.execute("DELETE FROM datasets WHERE id = ?1", [old.id])?;
        }
        tx.execute(
            "INSERT INTO datasets (account, name, source_name, sha256, bytes, row_count, encoding,
                                   delimiter, has_header, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                account,
                name,
                source_name,
                sniff.sha256,
                i64::try_from(sniff.bytes).unwrap_or(i64::MAX),
                i64::try_from(rows).unwrap_or(i64::MAX),
                sniff.encoding.as_str(),
                char::from(sniff.delimiter).to_string(),
                sniff.has_header,
                now
            ],
        )?;
        let id = tx.last_insert_rowid();
        for c in &columns {
            tx.execute(
                "INSERT INTO dataset_columns (dataset_id, position, name, kind, date_order,
                                              date_order_decided_by, decimal_mark)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    c.index as i64,
                    c.name,
                    c.kind.as_str(),
                    c.date_order.map(order_str),
                    c.date_order_decided_by.map(decided_str),
                    c.decimal_mark.map(mark_str)
                ],
            )?;
        }
        {
            let mut records = Records::open(path, &sniff)?;
            let mut chunks = ChunkWriter::new(id, &columns);
            let mut written = 0u64;
            while let Some((line, rec)) = records.next()? {
                for (c, raw) in columns.iter().zip(rec.iter()) {
                    if parse::is_missing(raw) {
                        match c.kind {
                            ColumnKind::Number => chunks.number(c.index, None),
                            ColumnKind::Date | ColumnKind::DateTime => chunks.time(c.index, None),
                            _ => chunks.text(c.index, None),
                        }
                        continue;
                    }
                    let v = raw.trim();
                    let bad = || Error::BadValue {
                        line,
                        column: c.index + 1,
                        name: c.name.clone(),
                        value: v.to_owned(),
                        expected: c.kind,
                    };
                    match c.kind {
                        ColumnKind::Number => {
                            let mark = c.decimal_mark.unwrap_or_default();
                            let x = parse::parse_number(v, mark).ok_or_else(bad)?;
                            chunks.number(c.index, Some(x));
                        }
                        ColumnKind::Date | ColumnKind::DateTime => {
                            let order = c.date_order.unwrap_or_default();
                            let t = parse::parse_date(v, order).ok_or_else(bad)?;
                            chunks.time(c.index, Some(t));
                        }
                        ColumnKind::Category | ColumnKind::Text => {
                            chunks.text(c.index, Some(v));
                        }
                    }
                }
                chunks.end_row(&tx)?;
                written += 1;
            }
            chunks.finish(&tx)?;
            // The file changed between the passes: refuse rather than store a mismatch.
            if written != rows {
                return Err(Error::NotATable {
                    line: 1,
                    reason: "the file changed while it was being imported".into(),
                });
            }
        }
        for (rid, kind, params_json, result_json, cost, created_at) in &kept {
            tx.execute(
                "INSERT INTO results (id, dataset_id, kind, params, result, cost, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![rid, id, kind, params_json, result_json, cost, created_at],
            )?;
        }
        tx.commit()?;
        if let Some(old) = &replaced {
            if self.cache.get_mut().0 == old.id {
                *self.cache.get_mut() = Default::default();
            }
        }
        Ok(Imported {
            dataset: self.dataset(account, id)?,
            existing: false,
        })
    }

    /// What importing the file at `path` with `options` would store, storing nothing: see
    /// [`crate::detect`]. The first `preview_rows` rows (at most 100) come as written.
    ///
    /// Errors: those of [`Store::import`] (a correction that does not fit names the line and
    /// the column).
    pub fn detect(
        &self,
        account: &str,
        path: &Path,
        options: &ImportOptions,
        preview_rows: usize,
    ) -> Result<Detection> {
        let mut found = detect::detect(path, options, preview_rows)?;
        let existing: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM datasets WHERE account = ?1 AND sha256 = ?2",
                params![account, found.sha256],
                |r| r.get(0),
            )
            .optional()?;
        found.existing = existing.map(|id| self.dataset(account, id)).transpose()?;
        Ok(found)
    }

    /// The account's datasets, oldest first.
    pub fn datasets(&self, account: &str) -> Result<Vec<Dataset>> {
        let ids: Vec<i64> = self
            .conn
            .prepare("SELECT id FROM datasets WHERE account = ?1 ORDER BY id")?
            .query_map([account], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        ids.into_iter()
            .map(|id| self.dataset(account, id))
            .collect()
    }

    /// One dataset of the account, with its columns.
    ///
    /// Errors: [`Error::NotFound`] when the account has no dataset `id`.
    pub fn dataset(&self, account: &str, id: i64) -> Result<Dataset> {
        let mut d = self
            .conn
            .query_row(
                "SELECT name, source_name, sha256, bytes, row_count, encoding, delimiter,
                        has_header, created_at
                 FROM datasets WHERE account = ?1 AND id = ?2",
                params![account, id],
                |r| {
                    Ok(Dataset {
                        id,
                        name: r.get(0)?,
                        source_name: r.get(1)?,
                        sha256: r.get(2)?,
                        bytes: r.get::<_, i64>(3)?.max(0) as u64,
                        rows: r.get::<_, i64>(4)?.max(0) as u64,
                        encoding: Encoding::parse(&r.get::<_, String>(5)?)
                            .unwrap_or(Encoding::Utf8),
                        delimiter: r.get::<_, String>(6)?.chars().next().unwrap_or(','),
                        has_header: r.get(7)?,
                        created_at: r.get(8)?,
                        columns: Vec::new(),
                    })
                },
            )
            .optional()?
            .ok_or(Error::NotFound {
                what: "dataset",
                id,
            })?;
        let mut stmt = self.conn.prepare(
            "SELECT position, name, kind, date_order, date_order_decided_by, decimal_mark
             FROM dataset_columns WHERE dataset_id = ?1 ORDER BY position",
        )?;
        d.columns = stmt
            .query_map([id], |r| {
                let kind: String = r.get(2)?;
                let order: Option<String> = r.get(3)?;
                let decided: Option<String> = r.get(4)?;
                let mark: Option<String> = r.get(5)?;
                Ok(Column {
                    index: r.get::<_, i64>(0)? as usize,
                    name: r.get(1)?,
                    kind: ColumnKind::parse(&kind).unwrap_or(ColumnKind::Text),
                    date_order: order.as_deref().map(|o| match o {
                        "month_first" => DateOrder::MonthFirst,
                        _ => DateOrder::DayFirst,
                    }),
                    date_order_decided_by: decided.as_deref().map(|o| match o {
                        "user" => DecidedBy::User,
                        "default" => DecidedBy::Default,
                        _ => DecidedBy::Data,
                    }),
                    decimal_mark: mark.as_deref().map(|m| match m {
                        "comma" => DecimalMark::Comma,
                        _ => DecimalMark::Point,
                    }),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(d)
    }

    /// Renames a dataset.
    ///
    /// Errors: [`Error::BadParameter`] for a blank name, [`Error::NotFound`].
    pub fn rename(&self, account: &str, id: i64, name: &str) -> Result<()> {
        if name.trim().is_empty() {
            return Err(Error::BadParameter(
                "a dataset's name cannot be blank".into(),
            ));
        }
        let n = self.conn.execute(
            "UPDATE datasets SET name = ?3 WHERE account = ?1 AND id = ?2",
            params![account, id, name.trim()],
        )?;
        if n == 0 {
            return Err(Error::NotFound {
                what: "dataset",
                id,
            });
        }
        Ok(())
    }

    /// Deletes a dataset, its rows and its saved results, in one transaction.
    pub fn delete(&mut self, account: &str, id: i64) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "DELETE FROM datasets WHERE account = ?1 AND id = ?2",
            params![account, id],
        )?;
        if n == 0 {
            return Err(Error::NotFound {
                what: "dataset",
                id,
            });
        }
        tx.commit()?;
        if self.cache.get_mut().0 == id {
            *self.cache.get_mut() = Default::default();
        }
        Ok(())
    }

    /// Rows `offset..offset + limit` (at most 1,000) in file order.
    pub fn preview(&self, account: &str, id: i64, offset: u64, limit: u64) -> Result<Preview> {
        let d = self.dataset(account, id)?;
        let end = offset.saturating_add(limit.min(1_000)).min(d.rows);
        let mut out: Vec<Vec<serde_json::Value>> = (offset..end)
            .map(|_| Vec::with_capacity(d.columns.len()))
            .collect();
        if offset < end {
            let per = chunks::CHUNK_ROWS as u64;
            let (first, last) = (offset / per, (end - 1) / per);
            let base = usize::try_from(first * per).unwrap_or(usize::MAX);
            for c in &d.columns {
                let data = chunks::load(
                    &self.conn,
                    id,
                    c,
                    first as i64..=last as i64,
                    chunks::CHUNK_ROWS,
                )?;
                for (k, cells) in out.iter_mut().enumerate() {
                    let row = usize::try_from(offset).unwrap_or(usize::MAX) + k - base;
                    cells.push(match &data {
                        ColumnData::Numbers(v) => match v.get(row) {
                            Some(x) if !x.is_nan() => (*x).into(),
                            _ => serde_json::Value::Null,
                        },
                        ColumnData::Times(v) => match v.get(row) {
                            Some(Some(t)) => format_time(*t, c.kind).into(),
                            _ => serde_json::Value::Null,
                        },
                        ColumnData::Texts { codes, values } => {
                            match codes.get(row).and_then(|&code| values.get(code as usize)) {
                                Some(v) => v.clone().into(),
                                None => serde_json::Value::Null,
                            }
                        }
                    });
                }
            }
        }
        Ok(Preview {
            dataset_id: id,
            offset,
            total_rows: d.rows,
            columns: d.columns.iter().map(|c| c.name.clone()).collect(),
            rows: out,
        })
    }

    /// Loads the named columns (all when `names` is empty) of a dataset.
    pub fn frame(&self, account: &str, id: i64, names: &[&str]) -> Result<Frame> {
        let d = self.dataset(account, id)?;
        let wanted: Vec<Column> = if names.is_empty() {
            d.columns.clone()
        } else {
            names
                .iter()
                .map(|n| {
                    d.columns
                        .iter()
                        .find(|c| c.name == *n)
                        .cloned()
                        .ok_or_else(|| Error::UnknownColumn((*n).to_owned()))
                })
                .collect::<Result<_>>()?
        };
        let mut cache = self.cache.borrow_mut();
        if cache.0 != id {
            *cache = (id, HashMap::new());
        }
        let rows = usize::try_from(d.rows).unwrap_or(usize::MAX);
        let mut columns = Vec::with_capacity(wanted.len());
        for c in wanted {
            let data = match cache.1.get(&c.index) {
                Some(data) => data.clone(),
                None => {
                    let data = chunks::load(&self.conn, id, &c, 0..=i64::MAX, rows)?;
                    // A text column can hold a distinct value per row: not kept.
                    if c.kind != ColumnKind::Text {
                        cache.1.insert(c.index, data.clone());
                    }
                    data
                }
            };
            columns.push((c, data));
        }
        Ok(Frame { rows, columns })
    }

    pub(crate) fn text_counts(&self, id: i64, column: &Column) -> Result<(u64, u64)> {
        chunks::text_counts(&self.conn, id, column)
    }

    /// Runs an analysis over a dataset (loading only the columns it needs). Saves nothing.
    pub fn run(&self, account: &str, id: i64, analysis: &Analysis) -> Result<AnalysisResult> {
        self.run_cancellable(account, id, analysis, &CancelFlag::new())
    }

    /// [`Store::run`], stopping with [`Error::Cancelled`] once `cancel` is set: checked before
    /// the columns are loaded, after, and every few thousand rows of the analysis.
    pub fn run_cancellable(
        &self,
        account: &str,
        id: i64,
        analysis: &Analysis,
        cancel: &CancelFlag,
    ) -> Result<AnalysisResult> {
        cancel.check()?;
        let d = self.dataset(account, id)?;
        let names = analysis.columns(&d.columns)?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let frame = self.frame(account, id, &refs)?;
        analysis::run_cancellable(&frame, analysis, cancel)
    }

    /// Saves a result with what it cost, at `now`.
    pub fn save_result(
        &self,
        account: &str,
        dataset_id: i64,
        result: &AnalysisResult,
        cost: i64,
        now: i64,
    ) -> Result<SavedResult> {
        self.dataset(account, dataset_id)?;
        if cost < 0 {
            return Err(Error::BadParameter("a cost cannot be negative".into()));
        }
        let params_json = serde_json::to_string(&result.params())?;
        let result_json = serde_json::to_string(result)?;
        self.conn.execute(
            "INSERT INTO results (dataset_id, kind, params, result, cost, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                dataset_id,
                result.kind(),
                params_json,
                result_json,
                cost,
                now
            ],
        )?;
        self.open_result(account, self.conn.last_insert_rowid())
    }

    /// The account's saved results (of one dataset, or all), newest first, without the result
    /// bodies.
    pub fn results(&self, account: &str, dataset_id: Option<i64>) -> Result<Vec<SavedResult>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.dataset_id, r.kind, r.params, r.cost, r.created_at
             FROM results r JOIN datasets d ON d.id = r.dataset_id
             WHERE d.account = ?1 AND (?2 IS NULL OR r.dataset_id = ?2)
             ORDER BY r.id DESC",
        )?;
        let rows = stmt.query_map(params![account, dataset_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, dataset_id, kind, params, cost, created_at) = row?;
            out.push(SavedResult {
                id,
                dataset_id,
                kind,
                params: serde_json::from_str(&params)?,
                result: serde_json::Value::Null,
                cost,
                created_at,
            });
        }
        Ok(out)
    }

    /// One saved result, whole. Free: reads only the local file.
    pub fn open_result(&self, account: &str, id: i64) -> Result<SavedResult> {
        let row = self
            .conn
            .query_row(
                "SELECT r.dataset_id, r.kind, r.params, r.result, r.cost, r.created_at
                 FROM results r JOIN datasets d ON d.id = r.dataset_id
                 WHERE d.account = ?1 AND r.id = ?2",
                params![account, id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()?
            .ok_or(Error::NotFound { what: "result", id })?;
        Ok(SavedResult {
            id,
            dataset_id: row.0,
            kind: row.1,
            params: serde_json::from_str(&row.2)?,
            result: serde_json::from_str(&row.3)?,
            cost: row.4,
            created_at: row.5,
        })
    }
}

fn order_str(o: DateOrder) -> &'static str {
    match o {
        DateOrder::DayFirst => "day_first",
        DateOrder::MonthFirst => "month_first",
    }
}

fn decided_str(d: DecidedBy) -> &'static str {
    match d {
        DecidedBy::Data => "data",
        DecidedBy::Default => "default",
        DecidedBy::User => "user",
    }
}

fn mark_str(m: DecimalMark) -> &'static str {
    match m {
        DecimalMark::Point => "point",
        DecimalMark::Comma => "comma",
    }
}
