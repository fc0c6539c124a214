//! Importing the single-machine wallet into the credit service, at the sync (issue 9): a user
//! who kept credits in the local `wallet.sqlite` before configuring `[service]` keeps what the
//! service can verify, and nothing can be minted on the way. The service's rule is in its
//! `sync/import.rs`; this side sends every local entry that moved credits (grant, voucher with
//! its voucher text, spend, refund, capture), oldest first with its local id, in batches, and
//! keeps each outcome in `sync.sqlite`. Entries already sent are not read again (`through`);
//! the service records every outcome too, so a lost answer or a second device changes nothing.
//!
//! The local wallet's own schema is read directly (its forward-only migration 0001:
//! `entries.request` is the canonical JSON a voucher's text is kept in), read-only: the wallet
//! file is never written here.

use super::store::Store;
use crate::accounts::AccountRecord;
use crate::core::Core;
use crate::error::{Code, Error, Result};
use chrono::{DateTime, Utc};
use latchkey_wire::{EntryKind, ImportEntry, ImportOutcome};
use serde::Serialize;

/// Entries per import request (the service's 64 KiB body cap holds ~150 with voucher texts).
const IMPORT_BATCH: i64 = 100;

/// What one sync imported of this computer's single-machine wallet.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Local entries sent now.
    pub sent: usize,
    /// Credits the service counted (verified vouchers, and refunds of counted spends).
    pub credited: i64,
    /// Credits spent at the service for the wallet's spends (their counted part).
    pub spent: i64,
    /// Entries that moved nothing at the service, with why.
    pub refused: Vec<ImportRefused>,
}

/// A local wallet entry the import did not count.
#[derive(Debug, Clone, Serialize)]
pub struct ImportRefused {
    /// Its id in the local wallet.
    pub entry_id: i64,
    /// Its local kind.
    pub kind: String,
    /// Its credits.
    pub amount: i64,
    /// `local_grant`, `invalid_voucher`, `already_redeemed`, `uncounted`, `conflict`...
    pub reason: String,
}

impl ImportRefused {
    /// Why it did not count, in plain words that follow "not counted, because" (no final
    /// stop).
    pub fn words(&self) -> &'static str {
        import_reason_words(&self.reason)
    }
}

/// An import refusal's reason code in plain words (see [`ImportRefused::words`]).
pub fn import_reason_words(reason: &str) -> &'static str {
    match reason {
        "local_grant" => "it was granted on this computer only; the service grants its own",
        "invalid_voucher" => "the voucher is not the service's, has expired or is someone else's",
        "already_redeemed" => "the voucher was already redeemed at the service",
        "uncounted" => "it spent credits the service does not count",
        "not_importable" => "this kind of entry is not imported",
        "conflict" => "this entry was imported before with other details",
        _ => "the service did not accept it",
    }
}

fn wallet_error(e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Storage,
        format!("the local wallet (wallet.sqlite) could not be read for its import: {e}"),
    )
}

/// A local kind as the wire names it (`reserve`, `release`, `expire` are not sent).
fn wire_kind(kind: &str) -> Option<EntryKind> {
    match kind {
        "grant" => Some(EntryKind::Grant),
        "voucher" => Some(EntryKind::Voucher),
        "spend" => Some(EntryKind::Spend),
        "refund" => Some(EntryKind::Refund),
        "capture" => Some(EntryKind::Capture),
        _ => None,
    }
}

/// Up to `limit` entries of the account after local id `after`, oldest first: the entries to
/// send, and the last id read (`after` when there are none).
fn read_wallet(
    path: &std::path::Path,
    record: &AccountRecord,
    after: i64,
    limit: i64,
) -> Result<(Vec<ImportEntry>, i64)> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(wallet_error)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(wallet_error)?;
    let mut q = conn
        .prepare(
            "SELECT e.id, e.kind, e.amount, e.memo, e.created_at, e.request
             FROM entries e JOIN accounts a ON a.id = e.account_id
             WHERE a.issuer = ?1 AND a.subject = ?2 AND e.id > ?3 ORDER BY e.id LIMIT ?4",
        )
        .map_err(wallet_error)?;
    type Row = (i64, String, i64, Option<String>, i64, Option<String>);
    let rows: Vec<Row> = q
        .query_map(
            rusqlite::params![
                record.identity.issuer,
                record.identity.subject,
                after,
                limit
            ],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .map_err(wallet_error)?
        .collect::<std::result::Result<_, _>>()
        .map_err(wallet_error)?;
    let through = rows.last().map_or(after, |r| r.0);
    let entries = rows
        .into_iter()
        .filter_map(|(id, kind, amount, memo, millis, request)| {
            let kind = wire_kind(&kind)?;
            let voucher = (kind == EntryKind::Voucher)
                .then(|| {
                    let op: serde_json::Value = serde_json::from_str(request.as_deref()?).ok()?;
                    op.get("token")?.as_str().map(str::to_string)
                })
                .flatten();
            Some(ImportEntry {
                entry_id: id,
                kind,
                amount,
                local_time: DateTime::<Utc>::from_timestamp_millis(millis)
                    .unwrap_or(DateTime::UNIX_EPOCH),
                memo: memo.map(|m| m.chars().filter(|c| !c.is_control()).take(200).collect()),
                voucher,
            })
        })
        .collect();
    Ok((entries, through))
}

impl Core {
    /// Sends the account's local wallet entries not yet imported to the service
    /// (`device_path` is this device's `v1/devices/ID`). `None` when there was nothing to send.
    pub(super) async fn import_wallet(
        &self,
        record: &AccountRecord,
        store: &mut Store,
        device_path: &str,
    ) -> Result<Option<ImportReport>> {
        let path = self.wallet_path();
        if !path.exists() {
            return Ok(None);
        }
        let mut report = ImportReport::default();
        loop {
            let after = store.imported_through(&record.id)?;
            let (entries, through) = read_wallet(&path, record, after, IMPORT_BATCH)?;
            if through == after {
                break;
            }
            if !entries.is_empty() {
                let call = format!("{device_path}/import");
                let body = serde_json::to_value(latchkey_wire::ImportBatch {
                    entries: entries.clone(),
                })
                .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
                let (bytes, _) = self
                    .call(Some(record), reqwest::Method::POST, &call, Some(body))
                    .await?;
                let answer: latchkey_wire::ImportAnswer = serde_json::from_slice(&bytes)
                    .map_err(|e| crate::service::malformed(&call, e))?;
                if answer.outcomes.len() != entries.len() {
                    return Err(crate::service::malformed(&call, "an outcome per entry"));
                }
                store.record_import(&record.id, &entries, &answer, through)?;
                report.sent += entries.len();
                for (e, o) in entries.iter().zip(&answer.outcomes) {
                    match &o.outcome {
                        // Imported by an earlier sync (a lost answer, a copied data dir).
                        ImportOutcome::Imported { .. } if o.replayed => {}
                        ImportOutcome::Imported { amount, .. } => match e.kind {
                            EntryKind::Spend | EntryKind::Capture => report.spent += amount,
                            _ => report.credited += amount,
                        },
                        other => report.refused.push(ImportRefused {
                            entry_id: e.entry_id,
                            kind: e.kind.as_str().to_string(),
                            amount: e.amount,
                            reason: match other {
                                ImportOutcome::Rejected { reason } => serde_json::to_value(reason)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_string))
                                    .unwrap_or_default(),
                                _ => "conflict".into(),
                            },
                        }),
                    }
                }
            } else {
                store.record_import(
                    &record.id,
                    &[],
                    &latchkey_wire::ImportAnswer {
                        outcomes: vec![],
                        balance: latchkey_wire::Balance {
                            posted: 0,
                            held: 0,
                            available: 0,
                        },
                    },
                    through,
                )?;
            }
        }
        Ok((report.sent > 0).then_some(report))
    }
}
