//! Devices, leases, push and pull against PostgreSQL (`migrations/0005_devices.sql`).
//!
//! Every write is one transaction that first locks the user's balance row, as the ledger's
//! writes do, so a push, a lease and any other write of the same user are serialised, and
//! `server_seq` numbers are taken in commit order within a user.
//!
//! [`Devices`]' methods live beside what they need: `devices` (register, list, remove),
//! `leases` (lend, renew, give back, and the holds behind them), `push` (a batch in one
//! transaction), `pull` (by cursor); the statements are in `sql`.

mod devices;
mod leases;
mod pull;
mod push;
mod sql;

use super::{LeasePolicy, SyncError};
use crate::ledger::{Account, LedgerError};
use deadpool_postgres::{GenericClient, Pool};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// Devices, leases and sync over the ledger's pool. Cheap to clone; no state of its own.
#[derive(Clone)]
pub struct Devices {
    pool: Pool,
    policy: LeasePolicy,
}

impl Devices {
    /// Devices over `pool` (a migrated database), lending by `policy`.
    pub fn new(pool: Pool, policy: LeasePolicy) -> Devices {
        Devices { pool, policy }
    }

    async fn user(&self, who: &Account) -> Result<Option<i64>, SyncError> {
        let client = self.pool.get().await?;
        Ok(opt(&client, sql::FIND_USER, &[&who.issuer, &who.subject])
            .await?
            .map(|r| r.get(0)))
    }

    async fn known_user(&self, who: &Account) -> Result<i64, SyncError> {
        self.user(who).await?.ok_or(SyncError::UnknownDevice)
    }
}

pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub(super) async fn one<C: GenericClient>(c: &C, q: &str, p: Params<'_>) -> Result<Row, SyncError> {
    Ok(c.query_one(&c.prepare_cached(q).await?, p).await?)
}

pub(super) async fn opt<C: GenericClient>(
    c: &C,
    q: &str,
    p: Params<'_>,
) -> Result<Option<Row>, SyncError> {
    Ok(c.query_opt(&c.prepare_cached(q).await?, p).await?)
}

pub(super) async fn all<C: GenericClient>(
    c: &C,
    q: &str,
    p: Params<'_>,
) -> Result<Vec<Row>, SyncError> {
    Ok(c.query(&c.prepare_cached(q).await?, p).await?)
}

pub(super) async fn exec<C: GenericClient>(
    c: &C,
    q: &str,
    p: Params<'_>,
) -> Result<u64, SyncError> {
    Ok(c.execute(&c.prepare_cached(q).await?, p).await?)
}

pub(super) fn corrupt(what: &str, value: &str) -> SyncError {
    SyncError::Ledger(LedgerError::Db(crate::db::DbError::Corrupt(format!(
        "unknown {what} {value}"
    ))))
}
