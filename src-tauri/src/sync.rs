//! Sync with the credit service while the window is open (issue 9): at start, after each
//! local change (debounced: the UI calls `sync_soon`), when the service is back (a cheap retry
//! every [`SyncTiming::retry`] while it cannot be reached), now and then while online (other
//! devices' entries, the lease's renewal), and on "Sync now" (`sync_now`).
//!
//! The work is the core's [`Core::sync`]; this only decides when, and keeps what the window
//! shows (syncing, synced, offline since…, the last error). At most one sync runs at a time:
//! in this app through [`Syncs`]'s own lock (so a click does not stack up behind a timer),
//! and across the app and the CLI through the core's `sync.lock`.
//!
//! Every change of state goes to the window as [`SYNC_STATUS`] (`sync://status`), a
//! [`SyncStatus`]: no token, only counts, times and the core's `{code, message}`.

use crate::shell::{internal, lock, Shell};
use latchkey_core::{Code, Core, Error, ImportReport, RefusedEntry};
use serde::Serialize;
use std::sync::Mutex;
use std::time::Duration;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tokio::time::Instant;

/// The event every change of the sync state sends: a [`SyncStatus`].
pub const SYNC_STATUS: &str = "sync://status";

/// At most this many refused entries go to the window (newest first; the history shows them).
const REFUSED_SHOWN: usize = 200;

/// When syncs run by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncTiming {
    /// After a local change, wait this long for more before syncing (one sync for a burst).
    pub debounce: Duration,
    /// While the service cannot be reached, try again this often (one refused connection).
    pub retry: Duration,
    /// While online (or after another failure), sync this often.
    pub every: Duration,
}

impl Default for SyncTiming {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(2),
            retry: Duration::from_secs(15),
            every: Duration::from_secs(300),
        }
    }
}

impl SyncTiming {
    /// The defaults, with `LATCHKEY_SYNC_RETRY_SECS` and `LATCHKEY_SYNC_EVERY_SECS` when set
    /// to a whole number of seconds of at least 1 (tests use short ones).
    pub fn from_env() -> Self {
        let secs = |var: &str| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|s| *s >= 1)
                .map(Duration::from_secs)
        };
        let d = Self::default();
        Self {
            debounce: d.debounce,
            retry: secs("LATCHKEY_SYNC_RETRY_SECS").unwrap_or(d.retry),
            every: secs("LATCHKEY_SYNC_EVERY_SECS").unwrap_or(d.every),
        }
    }
}

/// What the sync indicator says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No credit service, or nobody signed in: nothing to sync, no indicator.
    Off,
    /// Not tried yet since the app started.
    Idle,
    Syncing,
    Synced,
    /// The service could not be reached (`offline_since`).
    Offline,
    /// The last sync failed for another reason (`error`).
    Failed,
}

/// The sync state as the window shows it, for the active account.
#[derive(Debug, Clone, Serialize)]
pub struct SyncStatus {
    pub phase: Phase,
    /// When a sync last ended well (RFC 3339), from this machine's sync state.
    pub last_synced_at: Option<String>,
    /// While offline: the first failed attempt of this stretch (RFC 3339).
    pub offline_since: Option<String>,
    /// Why the last sync failed (`offline` and `failed`).
    pub error: Option<Error>,
    /// What this device may still spend while offline (`None`: it holds no lease).
    pub offline_available: Option<i64>,
    /// Spends made offline here that the service has not answered yet.
    pub unpushed: i64,
    /// Entries the service refused, from any of the account's devices as this one knows them
    /// after its last pull, newest first (they moved nothing); the window shows them in the
    /// history by date.
    pub refused: Vec<RefusedEntry>,
    /// What the sync that imported this computer's single-machine wallet did (what counted,
    /// what did not and why), until the window says it showed it (`sync_import_shown`).
    pub import: Option<ImportNotice>,
    /// In an event: this sync moved something (pushed, pulled, or the service is back), so
    /// the window reads the balance and history again.
    pub changed: bool,
}

impl SyncStatus {
    fn off() -> Self {
        Self {
            phase: Phase::Off,
            last_synced_at: None,
            offline_since: None,
            error: None,
            offline_available: None,
            unpushed: 0,
            refused: Vec::new(),
            import: None,
            changed: false,
        }
    }
}

/// The import of the single-machine wallet, as the window shows it once.
#[derive(Debug, Clone, Serialize)]
pub struct ImportNotice {
    /// Local entries sent.
    pub sent: usize,
    /// Credits the service counted.
    pub credited: i64,
    /// Credits spent at the service for the wallet's spends.
    pub spent: i64,
    /// Entries that did not count.
    pub refused: Vec<ImportNoticeEntry>,
}

/// A local wallet entry the import did not count.
#[derive(Debug, Clone, Serialize)]
pub struct ImportNoticeEntry {
    /// Its id in the local wallet.
    pub entry_id: i64,
    /// Its local kind (`grant`, `voucher`, `spend`, `refund`, `capture`).
    pub kind: String,
    /// Its credits.
    pub amount: i64,
    /// The reason's code (`local_grant`, `invalid_voucher`, `already_redeemed`...).
    pub reason: String,
    /// Why, in words that follow "not counted, because".
    pub words: String,
}

impl From<&ImportReport> for ImportNotice {
    fn from(r: &ImportReport) -> Self {
        Self {
            sent: r.sent,
            credited: r.credited,
            spent: r.spent,
            refused: r
                .refused
                .iter()
                .map(|x| ImportNoticeEntry {
                    entry_id: x.entry_id,
                    kind: x.kind.clone(),
                    amount: x.amount,
                    reason: x.reason.clone(),
                    words: x.words().to_string(),
                })
                .collect(),
        }
    }
}

struct Memory {
    phase: Phase,
    offline_since: Option<String>,
    error: Option<Error>,
    /// A sync is wanted at this instant (start, a local change, the service answered).
    requested: Option<Instant>,
    /// When the last sync ended.
    last_end: Option<Instant>,
    /// The import a sync did, until the window has shown it.
    import: Option<ImportNotice>,
}

/// The app's syncs: their state and their one-at-a-time lock. Managed by the app.
pub struct Syncs {
    memory: Mutex<Memory>,
    one: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    timing: SyncTiming,
}

impl Syncs {
    pub fn new(timing: SyncTiming) -> Self {
        Self {
            memory: Mutex::new(Memory {
                phase: Phase::Idle,
                offline_since: None,
                error: None,
                requested: None,
                last_end: None,
                import: None,
            }),
            one: tokio::sync::Mutex::new(()),
            wake: tokio::sync::Notify::new(),
            timing,
        }
    }

    /// With [`SyncTiming::from_env`].
    pub fn from_env() -> Self {
        Self::new(SyncTiming::from_env())
    }

    /// Asks the background task for a sync after a local change: in `debounce`, moved on by
    /// each further change (a burst of changes makes one sync).
    pub fn soon(&self) {
        lock(&self.memory).requested = Some(Instant::now() + self.timing.debounce);
        self.wake.notify_one();
    }

    /// The state for the window, from local files only (no network).
    pub fn status(&self, core: &Core) -> SyncStatus {
        self.status_with(core, false)
    }

    /// The window showed the import's report: it is not sent again.
    pub fn import_shown(&self) {
        lock(&self.memory).import = None;
    }

    fn status_with(&self, core: &Core, changed: bool) -> SyncStatus {
        if !core.wallet_uses_service() {
            return SyncStatus::off();
        }
        let (phase, offline_since, error, import) = {
            let m = lock(&self.memory);
            (
                m.phase,
                m.offline_since.clone(),
                m.error.clone(),
                m.import.clone(),
            )
        };
        let state = core
            .sync_state(None)
            .and_then(|s| Ok((s, core.refused_entries(None, REFUSED_SHOWN)?)));
        match state {
            Ok((s, refused)) => SyncStatus {
                phase,
                last_synced_at: s.last_synced_at.map(|t| t.to_rfc3339()),
                offline_since,
                error,
                offline_available: s.offline_available,
                unpushed: s.unpushed,
                refused,
                import,
                changed,
            },
            Err(e) if e.code == Code::NotSignedIn => SyncStatus::off(),
            Err(e) => SyncStatus {
                phase: Phase::Failed,
                error: Some(e),
                ..SyncStatus::off()
            },
        }
    }

    /// Runs one sync of the active account now, after any other sync of this app ends, and
    /// tells the window as it starts and ends. The state after it, or why it failed.
    ///
    /// # Errors
    /// The core's: `service_unavailable` (offline), `not_signed_in`, `config` without a
    /// service, `session_expired`...
    pub async fn run<R: Runtime>(&self, app: &AppHandle<R>) -> Result<SyncStatus, Error> {
        self.run_as(app, false).await
    }

    /// [`Syncs::run`]; `quiet`: a background retry while offline, which the window does not
    /// see start (the indicator keeps "Offline since …" rather than blinking "Syncing…").
    async fn run_as<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        quiet: bool,
    ) -> Result<SyncStatus, Error> {
        let _one = self.one.lock().await;
        let shell = app.state::<Shell>();
        let core = shell.core()?;
        if !core.wallet_uses_service() {
            return Err(Error::new(
                Code::Config,
                "No credit service is configured, so there is nothing to sync: this computer \
                 keeps its own wallet.",
            ));
        }
        let (before, shown) = {
            let mut m = lock(&self.memory);
            m.requested = None;
            let before = m.phase;
            let shown = !(quiet && before == Phase::Offline);
            if shown {
                m.phase = Phase::Syncing;
            }
            (before, shown)
        };
        if shown {
            let _ = app.emit(SYNC_STATUS, self.status(core));
        }
        // Off the async workers: the core's sync waits for `sync.lock` with a blocking call
        // (a `latchkey sync` may hold it for a while) and reads and writes SQLite.
        let handle = app.clone();
        let result = tauri::async_runtime::spawn_blocking(move || {
            let shell = handle.state::<Shell>();
            tauri::async_runtime::block_on(shell.core()?.sync(None, None))
        })
        .await
        .map_err(internal)
        .and_then(|r| r);
        let changed = {
            let mut m = lock(&self.memory);
            m.last_end = Some(Instant::now());
            match &result {
                Ok(report) => {
                    m.phase = Phase::Synced;
                    m.offline_since = None;
                    m.error = None;
                    if let Some(import) = &report.import {
                        m.import = Some(import.into());
                    }
                    report.registered
                        || report.import.is_some()
                        || report.pushed > 0
                        || report.pulled > 0
                        || before != Phase::Synced
                }
                Err(e) if e.code == Code::NotSignedIn => {
                    m.phase = Phase::Off;
                    m.error = None;
                    false
                }
                Err(e) => {
                    if e.code == Code::ServiceUnavailable || e.code == Code::Offline {
                        m.phase = Phase::Offline;
                        if m.offline_since.is_none() {
                            m.offline_since = Some(core.now().to_rfc3339());
                        }
                    } else {
                        m.phase = Phase::Failed;
                    }
                    m.error = Some(e.clone());
                    false
                }
            }
        };
        let status = self.status_with(core, changed);
        let _ = app.emit(SYNC_STATUS, status.clone());
        result.map(|_| status)
    }

    /// When the background task should sync next: a request, else the last sync's end plus
    /// the retry (offline) or the usual interval; `None`: only when asked.
    fn next_due(&self) -> Option<Instant> {
        let m = lock(&self.memory);
        let every = match m.phase {
            Phase::Off => None,
            Phase::Offline => Some(self.timing.retry),
            _ => Some(self.timing.every),
        };
        let periodic = m.last_end.zip(every).map(|(end, after)| end + after);
        match (m.requested, periodic) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Starts the background syncs (the real app; tests of the commands do without): the first
/// one at once. Without a credit service there is nothing to sync and nothing starts.
pub(crate) fn start<R: Runtime>(app: AppHandle<R>) {
    let uses_service = app
        .state::<Shell>()
        .core()
        .is_ok_and(|c| c.wallet_uses_service());
    if !uses_service {
        return;
    }
    lock(&app.state::<Syncs>().memory).requested = Some(Instant::now());
    tauri::async_runtime::spawn(async move {
        let syncs = app.state::<Syncs>();
        loop {
            match syncs.next_due() {
                Some(due) => tokio::select! {
                    _ = syncs.wake.notified() => continue,
                    _ = tokio::time::sleep_until(due) => {}
                },
                None => {
                    syncs.wake.notified().await;
                    continue;
                }
            }
            // The outcome is in the state the window was sent. A timed retry while offline is
            // quiet; one a change asked for shows "Syncing…".
            let asked = lock(&syncs.memory).requested.is_some();
            let _ = syncs.run_as(&app, !asked).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_retries_sooner_than_the_usual_interval_and_a_request_comes_first() {
        let timing = SyncTiming {
            debounce: Duration::from_secs(2),
            retry: Duration::from_secs(15),
            every: Duration::from_secs(300),
        };
        let syncs = Syncs::new(timing);
        assert_eq!(
            syncs.next_due(),
            None,
            "nothing asked, nothing ran: no sync"
        );
        let end = Instant::now();
        {
            let mut m = lock(&syncs.memory);
            m.last_end = Some(end);
            m.phase = Phase::Offline;
        }
        assert_eq!(syncs.next_due(), Some(end + timing.retry));
        lock(&syncs.memory).phase = Phase::Synced;
        assert_eq!(syncs.next_due(), Some(end + timing.every));
        lock(&syncs.memory).phase = Phase::Off;
        assert_eq!(syncs.next_due(), None, "signed out: only when asked");
        syncs.soon();
        let due = syncs.next_due().expect("a local change asks for a sync");
        assert!(
            due <= Instant::now() + timing.debounce && due > end,
            "debounced, not at once and not at the periodic time"
        );
    }
}
