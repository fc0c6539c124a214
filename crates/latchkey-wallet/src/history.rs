//! History pages (newest first, keyset pagination) and full exports.

use std::io::Write;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rusqlite::types::Value;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ledger::{entry_from_row, ENTRY_COLUMNS};
use crate::types::{Entry, EntryId, Kind, Timestamp};

/// The largest page [`crate::Wallet::history`] returns; bigger limits are clamped.
pub const MAX_PAGE: usize = 1000;

/// Which entries to list. The default is the newest 50 of every kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// Entries per page, 1..=1000 (clamped).
    pub limit: usize,
    /// From a previous page's `next_cursor`; `None` for the newest page.
    pub cursor: Option<String>,
    /// Only these kinds; empty for all.
    pub kinds: Vec<Kind>,
    /// Only entries created at or after this instant.
    pub since: Option<Timestamp>,
    /// Only entries created strictly before this instant.
    pub until: Option<Timestamp>,
}

impl Default for HistoryQuery {
    fn default() -> Self {
        HistoryQuery {
            limit: 50,
            cursor: None,
            kinds: Vec::new(),
            since: None,
            until: None,
        }
    }
}

/// One page of history, newest first. Pass `next_cursor` back for the next (older) page; it
/// is `None` on the last page. Entries added meanwhile never shift or repeat later pages:
/// the cursor is a position in the ledger, not an offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// This page's entries, newest first.
    pub entries: Vec<Entry>,
    /// Pass it to get the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

const CURSOR_PREFIX: &str = "before:";

fn encode_cursor(id: EntryId) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{}", id.0))
}

fn decode_cursor(cursor: &str) -> Result<i64> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(CURSOR_PREFIX)?.parse().ok())
        .ok_or(Error::InvalidCursor)
}

pub(crate) fn page(
    conn: &Connection,
    account_id: i64,
    query: &HistoryQuery,
) -> Result<HistoryPage> {
    let limit = query.limit.clamp(1, MAX_PAGE);
    let before = match &query.cursor {
        Some(cursor) => decode_cursor(cursor)?,
        None => i64::MAX,
    };
    let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE account_id = ?1 AND id < ?2");
    let mut args = vec![Value::Integer(account_id), Value::Integer(before)];
    if !query.kinds.is_empty() {
        let marks = vec!["?"; query.kinds.len()].join(", ");
        sql.push_str(&format!(" AND kind IN ({marks})"));
        args.extend(
            query
                .kinds
                .iter()
                .map(|k| Value::Text(k.as_str().to_owned())),
        );
    }
    if let Some(since) = query.since {
        sql.push_str(" AND created_at >= ?");
        args.push(Value::Integer(since.unix_millis()));
    }
    if let Some(until) = query.until {
        sql.push_str(" AND created_at < ?");
        args.push(Value::Integer(until.unix_millis()));
    }
    // One extra row tells whether there is a next page.
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(i64::try_from(limit + 1).unwrap_or(i64::MAX)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut entries = stmt
        .query_map(rusqlite::params_from_iter(args), entry_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_cursor = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|e| encode_cursor(e.id))
    } else {
        None
    };
    Ok(HistoryPage {
        entries,
        next_cursor,
    })
}

/// The captures settling any of `holds` (`settlements_by_hold` makes it one lookup per hold).
pub(crate) fn captures_of(
    conn: &Connection,
    account_id: i64,
    holds: &[EntryId],
) -> Result<Vec<(EntryId, EntryId)>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM entries WHERE related = ?1 AND kind = 'capture' AND account_id = ?2",
    )?;
    for hold in holds {
        let mut rows = stmt.query(rusqlite::params![hold.0, account_id])?;
        if let Some(row) = rows.next()? {
            out.push((*hold, EntryId(row.get(0)?)));
        }
    }
    Ok(out)
}

/// Visits every entry of the account, oldest first, from one consistent snapshot (a single
/// statement).
fn each_entry(
    conn: &Connection,
    account_id: Option<i64>,
    mut visit: impl FnMut(Entry) -> Result<()>,
) -> Result<()> {
    let Some(account_id) = account_id else {
        return Ok(());
    };
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE account_id = ?1 ORDER BY id");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query([account_id])?;
    while let Some(row) = rows.next()? {
        visit(entry_from_row(row)?)?;
    }
    Ok(())
}

pub(crate) fn export_csv(
    conn: &Connection,
    account_id: Option<i64>,
    out: impl Write,
) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    let export = |e: csv::Error| Error::Export { source: e.into() };
    // The header is written even for an empty history, so the file is always valid CSV.
    writer
        .write_record([
            "id",
            "kind",
            "amount",
            "posted_after",
            "held_after",
            "available_after",
            "idempotency_key",
            "memo",
            "related",
            "expires_at",
            "created_at",
        ])
        .map_err(export)?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    each_entry(conn, account_id, |e| {
        writer
            .write_record([
                e.id.to_string(),
                e.kind.to_string(),
                e.amount.to_string(),
                e.posted_after.to_string(),
                e.held_after.to_string(),
                e.available_after.to_string(),
                opt(e.idempotency_key),
                opt(e.memo),
                opt(e.related.map(|r| r.to_string())),
                opt(e.expires_at.map(|t| t.to_rfc3339())),
                e.created_at.to_rfc3339(),
            ])
            .map_err(export)
    })?;
    writer.flush().map_err(|source| Error::Export { source })
}

pub(crate) fn export_json(
    conn: &Connection,
    account_id: Option<i64>,
    mut out: impl Write,
) -> Result<()> {
    let io = |source| Error::Export { source };
    let mut first = true;
    out.write_all(b"[").map_err(io)?;
    each_entry(conn, account_id, |e| {
        out.write_all(if first { b"\n  " } else { b",\n  " })
            .map_err(io)?;
        first = false;
        serde_json::to_writer(&mut out, &e).map_err(|e| io(e.into()))
    })?;
    out.write_all(if first { b"]\n" } else { b"\n]\n" })
        .map_err(io)?;
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = encode_cursor(EntryId(42));
        assert_eq!(
            decode_cursor(&cursor).ok(),
            Some(42),
            "a cursor names a ledger position"
        );
        assert!(
            matches!(decode_cursor("nonsense"), Err(Error::InvalidCursor)),
            "a hand-edited cursor is refused, not misread"
        );
    }
}
