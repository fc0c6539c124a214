//! Lending credits to a device (a ledger hold), renewing and giving them back.

use super::devices::{device, live_device};
use super::{all, corrupt, exec, one, sql, Devices};
use crate::ledger::{Account, MAX_AMOUNT};
use crate::sync::{check_device_id, SyncError};
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use latchkey_wire::{Device, Lease, LeaseClosedBy};
use tokio_postgres::Row;

/// A lease row with what its hold still sets aside (0 once settled or when it has none).
pub(super) struct LeaseRow {
    pub(super) id: i64,
    pub(super) granted: i64,
    pub(super) spent: i64,
    pub(super) hold_seq: Option<i64>,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) closed: bool,
    pub(super) hold_open: i64,
}

impl LeaseRow {
    pub(super) fn from_row(r: &Row) -> LeaseRow {
        let closed_at: Option<DateTime<Utc>> = r.get(5);
        LeaseRow {
            id: r.get(0),
            granted: r.get(1),
            spent: r.get(2),
            hold_seq: r.get(3),
            expires_at: r.get(4),
            closed: closed_at.is_some(),
            hold_open: r.get(6),
        }
    }
}

impl Devices {
    /// Lends the device credits to spend offline, or renews its open lease: the lease then
    /// holds max(what it still has, min(asked or the default, the policy's maximum)), never
    /// more than is available, and lasts the policy's ttl from `now`.
    pub async fn lease(
        &self,
        who: &Account,
        device_id: &str,
        asked: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Lease, SyncError> {
        check_device_id(device_id)?;
        if asked.is_some_and(|a| !(0..=MAX_AMOUNT).contains(&a)) {
            return Err(SyncError::InvalidInput(format!(
                "credits must be 0 to {MAX_AMOUNT}"
            )));
        }
        let user_id = self.known_user(who).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        let mut free = row.get::<_, i64>(0) - row.get::<_, i64>(1);
        live_device(&tx, user_id, device_id).await?;
        let target = self.policy.target(asked);
        let expires_at = now + self.policy.ttl;
        let lease_id = match open_lease(&tx, user_id, device_id).await? {
            Some(l) => {
                if let Some(h) = l.hold_seq.filter(|_| l.hold_open > 0) {
                    release(&tx, user_id, h, l.hold_open, now).await?;
                    free += l.hold_open;
                }
                let remaining = l.granted - l.spent;
                let hold_amount = remaining.max(target).min(free);
                let hold = new_hold(&tx, user_id, hold_amount, expires_at, now).await?;
                let granted = l.spent + remaining.max(hold_amount);
                exec(
                    &tx,
                    sql::RENEW_LEASE,
                    &[&l.id, &granted, &hold, &expires_at],
                )
                .await?;
                l.id
            }
            None => {
                let hold_amount = target.min(free);
                let hold = new_hold(&tx, user_id, hold_amount, expires_at, now).await?;
                one(
                    &tx,
                    sql::INSERT_LEASE,
                    &[&user_id, &device_id, &hold_amount, &hold, &expires_at, &now],
                )
                .await?
                .get(0)
            }
        };
        exec(&tx, sql::TOUCH, &[&user_id, &device_id, &now]).await?;
        let dev = device(&tx, user_id, device_id).await?;
        tx.commit().await?;
        dev.lease
            .filter(|l| l.lease_id == lease_id)
            .ok_or_else(|| corrupt("lease", &lease_id.to_string()))
    }

    /// The owning device gives its open lease back (its hold is released). Nothing to give
    /// back is not an error.
    pub async fn close_lease(
        &self,
        who: &Account,
        device_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, SyncError> {
        check_device_id(device_id)?;
        let user_id = self.known_user(who).await?;
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        one(&tx, sql::LOCK_BALANCE, &[&user_id]).await?;
        live_device(&tx, user_id, device_id).await?;
        if let Some(lease) = open_lease(&tx, user_id, device_id).await? {
            close(&tx, user_id, &lease, LeaseClosedBy::Device, now).await?;
        }
        exec(&tx, sql::TOUCH, &[&user_id, &device_id, &now]).await?;
        let dev = device(&tx, user_id, device_id).await?;
        tx.commit().await?;
        Ok(dev)
    }
}

pub(super) async fn open_lease(
    tx: &Transaction<'_>,
    user_id: i64,
    device_id: &str,
) -> Result<Option<LeaseRow>, SyncError> {
    let none: Vec<i64> = vec![];
    Ok(all(tx, sql::LEASES, &[&user_id, &device_id, &none])
        .await?
        .iter()
        .map(LeaseRow::from_row)
        .find(|l| !l.closed))
}

/// Closes an open lease: releases what its hold still sets aside.
pub(super) async fn close(
    tx: &Transaction<'_>,
    user_id: i64,
    lease: &LeaseRow,
    by: LeaseClosedBy,
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    if let Some(h) = lease.hold_seq.filter(|_| lease.hold_open > 0) {
        release(tx, user_id, h, lease.hold_open, now).await?;
    }
    let by = match by {
        LeaseClosedBy::Device => "device",
        LeaseClosedBy::Removal => "removal",
    };
    exec(tx, sql::CLOSE_LEASE, &[&lease.id, &now, &by]).await?;
    Ok(())
}

/// Gives a whole open hold back (a `release` entry; the hold is settled).
pub(super) async fn release(
    tx: &Transaction<'_>,
    user_id: i64,
    hold: i64,
    amount: i64,
    now: DateTime<Utc>,
) -> Result<(), SyncError> {
    // Only the device's own sync and its removal come here (issue 9's rule; the database
    // refuses a lease's hold to every other transaction).
    one(tx, sql::LEASE_SETTLE, &[]).await?;
    let seq: i64 = one(
        tx,
        sql::INSERT_ENTRY,
        &[
            &user_id,
            &"release",
            &amount,
            &Some(hold),
            &None::<DateTime<Utc>>,
            &None::<&str>,
            &now,
        ],
    )
    .await?
    .get(0);
    exec(tx, sql::SETTLE_HOLD, &[&hold, &seq]).await?;
    Ok(())
}

/// Sets `amount` aside for a lease until `expires_at` (a `hold` entry); none for 0.
pub(super) async fn new_hold(
    tx: &Transaction<'_>,
    user_id: i64,
    amount: i64,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<i64>, SyncError> {
    if amount <= 0 {
        return Ok(None);
    }
    let seq: i64 = one(
        tx,
        sql::INSERT_ENTRY,
        &[
            &user_id,
            &"hold",
            &amount,
            &None::<i64>,
            &Some(expires_at),
            &Some("Offline lease"),
            &now,
        ],
    )
    .await?
    .get(0);
    exec(
        tx,
        sql::INSERT_HOLD,
        &[&seq, &user_id, &amount, &expires_at],
    )
    .await?;
    Ok(Some(seq))
}
