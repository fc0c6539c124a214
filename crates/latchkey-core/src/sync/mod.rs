//! The desktop side of sync with the credit service (issue 9): this install's device
//! identity, offline spending from the device's lease, and [`Core::sync`] (register, push the
//! offline entries, pull everything after the cursor, keep the lease).
//!
//! The protocol is `latchkey-wire`'s and the routes are the service's (its README, "Sync").
//! At most one sync runs at a time per device, across the app and the CLI: `sync.lock` in the
//! data dir. The sync state is kept in `sync.sqlite` (see `store.rs` for why not the wallet).

use crate::core::Core;
use crate::error::{Code, Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod import;
mod offline;
mod queue;
mod store;
pub use import::{import_reason_words, ImportRefused, ImportReport};
pub(crate) use offline::OfflineOp;
pub(crate) use queue::QueueAnswer;
pub use queue::{QueueOutcome, QueueReport, QueuedVoucher};
pub(crate) use store::Pending;
pub use store::Refused;
use store::Store;

/// Entries per push (the service's 64 KiB body cap holds about 250).
const PUSH_BATCH: usize = 200;
/// Pull page size.
const PULL_PAGE: i64 = latchkey_wire::MAX_PULL_PAGE;
/// The lease is renewed when less than this is left of it...
const RENEW_BELOW: i64 = 10;
/// ...or when it lapses within this many days.
const RENEW_DAYS: i64 = 7;
/// A not-yet-ready offline entry this old belongs to a run that crashed.
const STALE_RUN_MINUTES: i64 = 60;

/// This install's identity at the credit service, kept in `<data dir>/device.json` (0600).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceIdentity {
    /// 32 random hex digits, chosen once per data dir.
    pub device_id: String,
    /// The name the user sees (the host name by default).
    pub name: String,
}

/// What one [`Core::sync`] did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    /// This device.
    pub device_id: String,
    /// Whether this sync registered the device (its first contact).
    pub registered: bool,
    /// Offline entries pushed now.
    pub pushed: usize,
    /// Of them, applied (now or before).
    pub applied: usize,
    /// Of them, refused (rejected or conflicting).
    pub refused_now: usize,
    /// Service entries pulled and applied here for the first time.
    pub pulled: usize,
    /// The pull cursor after the sync (`server_seq`).
    pub cursor: i64,
    /// What this device may spend while offline.
    pub offline_available: i64,
    /// When its lease lapses, if it has one.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Every offline entry the service refused, with its reason, oldest first.
    pub refused: Vec<Refused>,
    /// When this sync ended.
    pub last_synced_at: DateTime<Utc>,
    /// What this sync imported of this computer's single-machine wallet (the local ledger
    /// kept before a service was configured), once per local entry; `None`: nothing to send.
    pub import: Option<ImportReport>,
    /// What this sync did with the vouchers redeemed while the service could not be reached.
    pub vouchers: QueueReport,
}

/// The local sync state of an account, read without asking the service.
#[derive(Debug, Clone, Serialize)]
pub struct SyncState {
    /// What this device may spend offline now (`None`: no lease).
    pub offline_available: Option<i64>,
    /// When the last sync ended.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Offline entries waiting for their push.
    pub unpushed: i64,
    /// Offline entries the service refused.
    pub refused: Vec<Refused>,
}

/// An offline spend or hold of this device not yet known to the service (history shows them
/// apart until the sync that pushes them).
#[derive(Debug, Clone, Serialize)]
pub struct OfflineLine {
    /// Its local id (negative: never one of the service's).
    pub id: i64,
    /// `spend` (a spend or a captured hold) or `reserve` (an open offline hold).
    pub kind: &'static str,
    /// Credits.
    pub amount: i64,
    /// Its note.
    pub memo: Option<String>,
    /// When it was made here.
    pub created_at: DateTime<Utc>,
}

/// An entry the credit service refused, from any of the account's devices, as this device
/// knows it after its last pull. It moved no credits: nothing was charged for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusedEntry {
    /// Its entry id (the sending device's idempotency key).
    pub entry_id: String,
    /// When the service refused it (the same on every device); for a conflict, which the
    /// service does not store, when it was made here.
    pub at: DateTime<Utc>,
    /// When it was made on this device (`None` for another device's: the service does not say).
    pub made_at: Option<DateTime<Utc>>,
    /// The device that sent it.
    pub device_id: Option<String>,
    /// That device's name as the service last listed it (`None`: not known here yet).
    pub device_name: Option<String>,
    /// Whether this device sent it.
    pub this_device: bool,
    /// What it tried (`spend`).
    pub kind: String,
    /// Credits it tried to spend.
    pub amount: i64,
    /// `rejected` or `conflict`.
    pub outcome: String,
    /// The reason's code: `device_removed`, `beyond_lease`, `lease_closed`, `lease_expired`,
    /// `unknown_lease`, `not_pushable`, `invalid`, or `conflict`.
    pub reason: String,
    /// The reason in plain words, to follow "not accepted, because" (no final stop).
    pub words: String,
    /// What for.
    pub memo: Option<String>,
}

/// Why the service refused a device's entry, in plain words that follow "not accepted,
/// because" (no final stop); `this_device`: sent by the device reading them.
pub fn refused_words(reason: &str, this_device: bool) -> String {
    let device = if this_device {
        "this device"
    } else {
        "that device"
    };
    match reason {
        "device_removed" if this_device => {
            "this device had been removed as lost (from another device) before it sent it".into()
        }
        "device_removed" => "that device had been removed as lost before it sent it".into(),
        "beyond_lease" => format!("it was more than {device} still held for offline use"),
        "lease_closed" => {
            format!("the credits {device} held for offline use had already been given back")
        }
        "lease_expired" => format!(
            "the credits {device} held for offline use had lapsed, and your balance did not \
             cover it"
        ),
        "unknown_lease" => {
            "the credit service did not know the offline credits it was paid from".into()
        }
        "not_pushable" => "only spends can be made offline".into(),
        "invalid" => "its amount or note was out of range".into(),
        "conflict" => "a different spend with the same id was already recorded".into(),
        other => format!("the credit service refused it ({other})"),
    }
}

/// One device as `latchkey devices` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// Its id.
    pub device_id: String,
    /// Its name.
    pub name: String,
    /// Its last registration, lease request or push.
    pub last_seen_at: DateTime<Utc>,
    /// When it was removed as lost.
    pub removed_at: Option<DateTime<Utc>>,
    /// Credits its open lease still holds (`None`: no open lease).
    pub lease_remaining: Option<i64>,
    /// When that lease lapses.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Whether it is the device this runs on.
    pub this_device: bool,
}

fn storage(what: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::new(Code::Storage, format!("{}: {e}", what.display()))
}

/// The host name, for a device's default name.
fn host_name() -> String {
    let from_file = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok();
    let name = from_file
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| {
            s.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect::<String>()
        })
        .unwrap_or_default();
    if name.is_empty() {
        "This computer".into()
    } else {
        name
    }
}

fn path_segment(id: &str) -> Result<&str> {
    let ok = (16..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(Error::new(
            Code::InvalidInput,
            format!("{id:?} is not a device id (16 to 64 letters, digits, - or _)"),
        ))
    }
}

impl Core {
    /// This install's device identity, created on first use (random id, the host name).
    ///
    /// # Errors
    /// [`Code::Storage`] when `device.json` cannot be read or written.
    pub fn device_identity(&self) -> Result<DeviceIdentity> {
        let path = self.data_dir().join("device.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                return serde_json::from_slice(&bytes).map_err(|e| storage(&path, e));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(storage(&path, e)),
        }
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw)
            .map_err(|e| Error::new(Code::Internal, format!("no randomness: {e}")))?;
        let id = DeviceIdentity {
            device_id: raw.iter().map(|b| format!("{b:02x}")).collect(),
            name: host_name(),
        };
        let bytes = serde_json::to_vec_pretty(&id).map_err(|e| storage(&path, e))?;
        match latchkey_auth::write_private(&path, &bytes, latchkey_auth::Existing::Keep) {
            Ok(()) => Ok(id),
            // Another process made it first: its identity is the one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(&path).map_err(|e| storage(&path, e))?;
                serde_json::from_slice(&bytes).map_err(|e| storage(&path, e))
            }
            Err(e) => Err(storage(&path, e)),
        }
    }

    fn sync_store(&self) -> Result<Store> {
        Store::open(self.data_dir())
    }

    /// The active account's (or `subject`'s) sync state here, from local files only.
    ///
    /// # Errors
    /// [`Code::NotSignedIn`] and the other account errors; [`Code::Storage`].
    pub fn sync_state(&self, subject: Option<&str>) -> Result<SyncState> {
        let record = self.account_record(subject)?;
        let store = self.sync_store()?;
        Ok(SyncState {
            offline_available: store.offline_available(&record.id, self.now())?,
            last_synced_at: store.last_synced_at(&record.id)?,
            unpushed: store.unpushed_count(&record.id)?,
            refused: store.refused(&record.id)?,
        })
    }

    /// The active account's (or `subject`'s) offline spends and open offline holds that no
    /// sync has pushed yet, oldest first, from local files only.
    ///
    /// # Errors
    /// As [`Core::sync_state`].
    pub fn offline_lines(&self, subject: Option<&str>) -> Result<Vec<OfflineLine>> {
        let record = self.account_record(subject)?;
        Ok(self
            .sync_store()?
            .waiting(&record.id, self.now())?
            .into_iter()
            .map(|(seq, kind, amount, memo, created_at)| OfflineLine {
                id: -seq,
                kind,
                amount,
                memo,
                created_at,
            })
            .collect())
    }

    /// Every entry of the active account's (or `subject`'s) that the credit service refused,
    /// from any of its devices, as this device knows them after its last pull (with each
    /// device's name as last listed), newest first, at most `limit`. From local files only.
    ///
    /// # Errors
    /// As [`Core::sync_state`].
    pub fn refused_entries(
        &self,
        subject: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RefusedEntry>> {
        let record = self.account_record(subject)?;
        let me = self.device_identity()?;
        let mut rows = self
            .sync_store()?
            .refused_everywhere(&record.id, &me.device_id)?;
        rows.truncate(limit);
        Ok(rows
            .into_iter()
            .map(|r| {
                let this_device = r.device_id.as_deref() == Some(me.device_id.as_str());
                RefusedEntry {
                    words: refused_words(&r.reason, this_device),
                    device_name: r
                        .device_name
                        .or_else(|| this_device.then(|| me.name.clone())),
                    entry_id: r.entry_id,
                    at: r.at,
                    made_at: r.made_at,
                    device_id: r.device_id,
                    this_device,
                    kind: r.kind,
                    amount: r.amount,
                    outcome: r.outcome,
                    reason: r.reason,
                    memo: r.memo,
                }
            })
            .collect())
    }

    /// Syncs the active account (or `subject`'s) with the credit service: registers this
    /// device on first contact, pushes the offline entries not yet answered (each outcome kept
    /// here), pulls every service entry after the cursor (each applied here once), and asks
    /// for or renews the lease (`lease`: ask for that many credits now; else the service's
    /// default, asked only when the lease runs low or lapses soon). Waits for a sync another
    /// process is running.
    ///
    /// # Errors
    /// [`Code::ServiceUnavailable`] when the service cannot be reached (what was done before
    /// stays done: every step is idempotent); [`Code::Config`] without a service; the account
    /// and token errors.
    pub async fn sync(&self, subject: Option<&str>, lease: Option<i64>) -> Result<SyncReport> {
        let record = self.account_record(subject)?;
        let me = self.device_identity()?;
        let lock_path = self.data_dir().join("sync.lock");
        let lock = latchkey_auth::open_private(&lock_path).map_err(|e| storage(&lock_path, e))?;
        lock.lock().map_err(|e| storage(&lock_path, e))?;
        let account = record.id.clone();
        let mut store = self.sync_store()?;
        let device_path = format!("v1/devices/{}", path_segment(&me.device_id)?);

        let mut registered = false;
        if !store.registered(&account)? {
            let body = serde_json::to_value(latchkey_wire::DeviceRegistration {
                name: me.name.clone(),
            })
            .map_err(|e| Error::new(Code::Internal, e.to_string()))?;
            self.call(
                Some(&record),
                reqwest::Method::PUT,
                &device_path,
                Some(body),
            )
            .await?;
            store.set_registered(&account)?;
            registered = true;
        }

        // The single-machine wallet, once per local entry (first sync after `[service]`).
        let import = self
            .import_wallet(&record, &mut store, &device_path)
            .await?;

        // Push: every ready entry without an answer, in batches, oldest first.
        store.expire_holds(&account, self.now())?;
        store.give_back_stale(
            &account,
            self.now() - chrono::Duration::minutes(STALE_RUN_MINUTES),
        )?;
        let (mut pushed, mut applied, mut refused_now) = (0, 0, 0);
        loop {
            let batch = store.unpushed(&account, PUSH_BATCH)?;
            if batch.is_empty() {
                break;
            }
            let body = latchkey_wire::PushBatch {
                entries: batch
                    .iter()
                    .map(|p| latchkey_wire::PushEntry {
                        entry_id: p.entry_id.clone(),
                        kind: latchkey_wire::EntryKind::Spend,
                        amount: p.amount,
                        lease_id: p.lease_id,
                        local_time: p.local_time,
                        memo: p.memo.clone(),
                    })
                    .collect(),
            };
            let path = format!("{device_path}/entries");
            let (bytes, _) = self
                .call(
                    Some(&record),
                    reqwest::Method::POST,
                    &path,
                    Some(
                        serde_json::to_value(&body)
                            .map_err(|e| Error::new(Code::Internal, e.to_string()))?,
                    ),
                )
                .await?;
            let answer: latchkey_wire::PushAnswer =
                serde_json::from_slice(&bytes).map_err(|e| crate::service::malformed(&path, e))?;
            // Tests only (debug builds; a release build has no such hook): stop here, after
            // the service committed and before the answer is kept, until the test kills the
            // process (kill -9 between commit and reply).
            #[cfg(debug_assertions)]
            if let Some(marker) = std::env::var_os("LATCHKEY_TEST_PAUSE_AFTER_PUSH") {
                let _ = std::fs::write(marker, b"pushed");
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(60));
                }
            }
            store.record_push(&account, &answer)?;
            pushed += answer.outcomes.len();
            for o in &answer.outcomes {
                match o.outcome {
                    latchkey_wire::Outcome::Applied { .. }
                    | latchkey_wire::Outcome::AlreadyApplied { .. } => applied += 1,
                    _ => refused_now += 1,
                }
            }
            if answer.outcomes.len() < batch.len() {
                // The service answered only part of the batch: stop rather than loop.
                break;
            }
        }

        // Vouchers queued offline, each with its own key (credited once).
        let vouchers = self.send_queued_vouchers(&record).await?;

        // Pull: everything after the cursor.
        let mut pulled = 0;
        loop {
            let after = store.cursor(&account)?;
            let page: latchkey_wire::PullPage = self
                .get(
                    Some(&record),
                    &format!("v1/sync?after={after}&limit={PULL_PAGE}"),
                )
                .await?;
            pulled += store.apply_page(&account, &page)?;
            if !page.more || page.cursor <= after {
                break;
            }
        }

        // The lease: as the service has it, renewed when it runs low or lapses soon.
        let list: latchkey_wire::DeviceList = self.get(Some(&record), "v1/devices").await?;
        // Their names, for the refused entries pulled above.
        store.set_devices(&account, &list.devices)?;
        let mine = list.devices.iter().find(|d| d.device_id == me.device_id);
        let removed = mine.is_some_and(|d| d.removed_at.is_some());
        let asked = lease;
        let mut lease = mine.and_then(|d| d.lease.clone());
        let now = self.now();
        let low = |l: &latchkey_wire::Lease| {
            l.remaining < RENEW_BELOW || l.expires_at - now < chrono::Duration::days(RENEW_DAYS)
        };
        let wants = !removed && (asked.is_some() || lease.as_ref().is_none_or(low));
        if wants {
            let path = format!("{device_path}/lease");
            match self
                .call(
                    Some(&record),
                    reqwest::Method::POST,
                    &path,
                    Some(
                        serde_json::to_value(latchkey_wire::LeaseRequest { credits: asked })
                            .map_err(|e| Error::new(Code::Internal, e.to_string()))?,
                    ),
                )
                .await
            {
                Ok((bytes, _)) => {
                    lease = Some(
                        serde_json::from_slice(&bytes)
                            .map_err(|e| crate::service::malformed(&path, e))?,
                    );
                }
                // No credits to lend is not a failed sync: the device just has no lease.
                Err(e) if e.code == Code::InsufficientCredits => {}
                Err(e) => return Err(e),
            }
        }
        store.set_lease(&account, lease.as_ref())?;
        // The balance after all this, kept for when the service cannot be reached.
        let balance: crate::ServiceBalance = self.get(Some(&record), "v1/balance").await?;
        self.remember_balance(&record, balance);

        let done = self.now();
        store.set_synced(&account, done)?;
        drop(lock);
        Ok(SyncReport {
            device_id: me.device_id,
            registered,
            pushed,
            applied,
            refused_now,
            pulled,
            cursor: store.cursor(&account)?,
            offline_available: store.offline_available(&account, done)?.unwrap_or(0),
            lease_expires_at: store.lease(&account)?.map(|l| l.expires_at),
            refused: store.refused(&account)?,
            last_synced_at: done,
            import,
            vouchers,
        })
    }

    /// The active account's devices at the service, oldest first (removed ones included).
    ///
    /// # Errors
    /// [`Code::ServiceUnavailable`]; [`Code::Config`] without a service; account errors.
    pub async fn devices(&self, subject: Option<&str>) -> Result<Vec<DeviceView>> {
        let record = self.account_record(subject)?;
        let me = self.device_identity()?;
        let list: latchkey_wire::DeviceList = self.get(Some(&record), "v1/devices").await?;
        // Kept for the names refused entries are shown with (a best effort: a read-only data
        // dir still lists the devices).
        let _ = self
            .sync_store()
            .and_then(|mut s| s.set_devices(&record.id, &list.devices));
        Ok(list
            .devices
            .into_iter()
            .map(|d| DeviceView {
                this_device: d.device_id == me.device_id,
                lease_remaining: d
                    .lease
                    .as_ref()
                    .filter(|l| l.closed_at.is_none())
                    .map(|l| l.remaining),
                lease_expires_at: d
                    .lease
                    .as_ref()
                    .filter(|l| l.closed_at.is_none())
                    .map(|l| l.expires_at),
                device_id: d.device_id,
                name: d.name,
                last_seen_at: d.last_seen_at,
                removed_at: d.removed_at,
            })
            .collect())
    }

    /// Removes a lost device at the service: its lease is closed (the credits it held come
    /// back) and whatever it pushes later is stored as rejected and shown to the user.
    ///
    /// # Errors
    /// [`Code::UnknownEntry`] when no device of this account has that id;
    /// [`Code::InvalidInput`] for a malformed id; otherwise as [`Core::devices`].
    pub async fn remove_device(
        &self,
        subject: Option<&str>,
        device_id: &str,
    ) -> Result<DeviceView> {
        let record = self.account_record(subject)?;
        let me = self.device_identity()?;
        let path = format!("v1/devices/{}", path_segment(device_id)?);
        let (bytes, _) = self
            .call(Some(&record), reqwest::Method::DELETE, &path, None)
            .await?;
        let d: latchkey_wire::Device =
            serde_json::from_slice(&bytes).map_err(|e| crate::service::malformed(&path, e))?;
        Ok(DeviceView {
            this_device: d.device_id == me.device_id,
            lease_remaining: None,
            lease_expires_at: None,
            device_id: d.device_id,
            name: d.name,
            last_seen_at: d.last_seen_at,
            removed_at: d.removed_at,
        })
    }

    /// Pays `cost` from this device's lease while the service cannot be reached: the credits
    /// are taken from the lease as an offline entry (id `entry_id`, pushed at the next sync)
    /// before `work` runs, kept when it succeeds and given back when it fails.
    ///
    /// # Errors
    /// [`Code::InsufficientCredits`] ("available offline: N") when the lease cannot cover it;
    /// `offline()` when this device holds no lease; the work's error.
    pub(crate) fn pay_from_lease<T>(
        &self,
        cost: i64,
        entry_id: &str,
        memo: &str,
        offline: impl FnOnce() -> Error,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<(T, crate::ServiceBalance)> {
        let record = self.account_record(None)?;
        let mut store = self.sync_store()?;
        let now = self.now();
        let entry = Pending {
            entry_id: entry_id.to_string(),
            amount: cost,
            lease_id: 0,
            local_time: now,
            memo: Some(memo.to_string()),
        };
        let fresh = store.take(&record.id, &entry, now, offline)?;
        match work() {
            Ok(done) => {
                if fresh {
                    store.make_ready(entry_id)?;
                }
                // The last known balance, less what is spent offline and not pushed yet.
                let known = self.service_balance_cached(None)?;
                let b = known.map(|k| k.value).unwrap_or(crate::ServiceBalance {
                    posted: 0,
                    held: 0,
                    available: 0,
                });
                Ok((done, b))
            }
            Err(e) => {
                if fresh {
                    store.give_back(entry_id)?;
                }
                Err(e)
            }
        }
    }
}

/// The desktop shell runs these futures on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(app: &Core) {
    fn send<T: Send>(_: T) {}
    send(app.sync(None, None));
    send(app.devices(None));
    send(app.remove_device(None, "d"));
}
