//! Everything of a user after a cursor, in `server_seq` order.

use super::push::parse_reason;
use super::{all, corrupt, sql, Devices};
use crate::ledger::Account;
use crate::sync::SyncError;
use latchkey_wire::{EntryKind, PullPage, PulledEntry, DEFAULT_PULL_PAGE, MAX_PULL_PAGE};
use tokio_postgres::Row;

impl Devices {
    /// Everything of the caller's after `after`: every ledger entry (with the entry id and
    /// device of those a device pushed) and every rejected device entry, in `server_seq` order,
    /// at most `limit` (1 to 1000, default 200).
    pub async fn pull(
        &self,
        who: &Account,
        after: Option<i64>,
        limit: Option<i64>,
    ) -> Result<PullPage, SyncError> {
        let after = after.unwrap_or(0);
        let limit = limit.unwrap_or(DEFAULT_PULL_PAGE);
        if after < 0 || !(1..=MAX_PULL_PAGE).contains(&limit) {
            return Err(SyncError::InvalidInput(format!(
                "after must not be negative and limit must be 1 to {MAX_PULL_PAGE}"
            )));
        }
        let Some(user_id) = self.user(who).await? else {
            return Ok(PullPage {
                entries: vec![],
                cursor: after,
                more: false,
            });
        };
        let client = self.pool.get().await?;
        let rows = all(&client, sql::PULL, &[&user_id, &after, &(limit + 1)]).await?;
        let more = rows.len() as i64 > limit;
        let entries = rows
            .iter()
            .take(limit as usize)
            .map(pulled_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PullPage {
            cursor: entries.last().map_or(after, |e| e.server_seq),
            entries,
            more,
        })
    }
}

fn pulled_from_row(r: &Row) -> Result<PulledEntry, SyncError> {
    let kind: &str = r.get(1);
    let reason: Option<&str> = r.get(10);
    Ok(PulledEntry {
        server_seq: r.get(0),
        kind: EntryKind::parse(kind).ok_or_else(|| corrupt("kind", kind))?,
        amount: r.get(2),
        hold: r.get(3),
        expires_at: r.get(4),
        memo: r.get(5),
        created_at: r.get(6),
        entry_id: r.get(7),
        device_id: r.get(8),
        lease_id: r.get(9),
        rejected: reason.map(parse_reason).transpose()?,
    })
}
