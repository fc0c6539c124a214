//! Registering, listing and removing devices.

use super::leases::{close, open_lease};
use super::{all, exec, one, opt, sql, Devices};
use crate::ledger::{Account, Ledger};
use crate::sync::{check_device_id, check_name, SyncError};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use latchkey_wire::{Device, DeviceList, Lease, LeaseClosedBy};
use tokio_postgres::Row;

impl Devices {
    /// Registers `device_id` for `who` (creating the account on first contact), or renames it
    /// and marks it seen. A removed device stays removed: [`SyncError::DeviceRemoved`].
    pub async fn register(
        &self,
        who: &Account,
        device_id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Device, SyncError> {
        check_device_id(device_id)?;
        check_name(name)?;
        let user_id = Ledger::new(self.pool.clone()).user_id(who, now).await?;
        let client = self.pool.get().await?;
        if opt(&client, sql::REGISTER, &[&user_id, &device_id, &name, &now])
            .await?
            .is_none()
        {
            return Err(SyncError::DeviceRemoved);
        }
        device(&client, user_id, device_id).await
    }

    /// The caller's devices, oldest first, with their open leases.
    pub async fn list(&self, who: &Account) -> Result<DeviceList, SyncError> {
        let Some(user_id) = self.user(who).await? else {
            return Ok(DeviceList { devices: vec![] });
        };
        let client = self.pool.get().await?;
        let rows = all(&client, sql::DEVICES, &[&user_id, &None::<String>]).await?;
        Ok(DeviceList {
            devices: rows.iter().map(device_from_row).collect(),
        })
    }

    /// Removes a lost device: it can never register again or hold a lease, its open lease is
    /// closed (its hold released) and whatever it pushes later is stored as rejected. Removing it again answers
    /// the same.
    pub async fn remove(
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
        let dev = device(&tx, user_id, device_id).await?;
        if dev.removed_at.is_some() {
            return Ok(dev);
        }
        exec(&tx, sql::REMOVE, &[&user_id, &device_id, &now]).await?;
        if let Some(lease) = open_lease(&tx, user_id, device_id).await? {
            close(&tx, user_id, &lease, LeaseClosedBy::Removal, now).await?;
        }
        let dev = device(&tx, user_id, device_id).await?;
        tx.commit().await?;
        Ok(dev)
    }
}

pub(super) async fn device<C: GenericClient>(
    c: &C,
    user_id: i64,
    device_id: &str,
) -> Result<Device, SyncError> {
    let row = opt(c, sql::DEVICES, &[&user_id, &Some(device_id)]).await?;
    row.as_ref()
        .map(device_from_row)
        .ok_or(SyncError::UnknownDevice)
}

/// The device, which must not be removed.
pub(super) async fn live_device(
    tx: &Transaction<'_>,
    user_id: i64,
    device_id: &str,
) -> Result<Device, SyncError> {
    let dev = device(tx, user_id, device_id).await?;
    if dev.removed_at.is_some() {
        return Err(SyncError::DeviceRemoved);
    }
    Ok(dev)
}

fn device_from_row(r: &Row) -> Device {
    let lease_id: Option<i64> = r.get(5);
    let device_id: String = r.get(0);
    Device {
        lease: lease_id.map(|lease_id| {
            let (granted, spent): (i64, i64) = (r.get(6), r.get(7));
            Lease {
                lease_id,
                device_id: device_id.clone(),
                granted,
                spent,
                remaining: granted - spent,
                expires_at: r.get(8),
                closed_at: None,
                closed_by: None,
            }
        }),
        device_id,
        name: r.get(1),
        created_at: r.get(2),
        last_seen_at: r.get(3),
        removed_at: r.get(4),
    }
}
