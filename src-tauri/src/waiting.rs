//! One thing the window waits for in the user's browser: a sign-in ([`crate::signin`]) or a
//! purchase ([`crate::purchase`]). The same machine for both: [`Waiting::start`] replaces any
//! pending one (which ends and reports nothing: the newer one owns the waiting screen) and
//! spawns its waiter, [`Waiting::pending`] is what the waiting screen shows,
//! [`Waiting::cancel`] ends it, [`Waiting::open_again`] opens its link again. The outcome goes
//! to an [`Outcome`], never to a command's answer.

use crate::shell::lock;
use latchkey_core::Error;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tauri::async_runtime::JoinHandle;
use tokio::sync::oneshot;

/// Where an outcome goes: the window's events in the app, a channel in tests.
pub trait Outcome<D>: Send + Sync + 'static {
    fn done(&self, done: D);
    fn failed(&self, error: Error);
}

/// The errors a kind of wait reports in its own words.
#[derive(Clone, Copy)]
pub struct Words {
    /// Nothing came back within the time (plus grace), in seconds.
    pub timed_out: fn(u64) -> Error,
    /// "Open again" when nothing waits any more.
    pub nothing_waiting: fn() -> Error,
}

/// A pending wait as the waiting screen shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// What is waited for (a provider's name, a pack's id).
    pub label: String,
    /// The link to open (or copy into the right browser profile).
    pub url: String,
    pub timeout_secs: u64,
    /// Seconds left before it times out.
    pub remaining_secs: u64,
    /// False when no browser could be started: the UI shows the link to copy.
    pub browser_opened: bool,
}

/// Why a pending wait stopped before its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The user cancelled (or the app is closing).
    Cancelled,
    /// A newer one took its place and reports for itself.
    Superseded,
}

struct Pending {
    id: u64,
    label: String,
    url: String,
    started: Instant,
    end: oneshot::Sender<End>,
}

#[derive(Default)]
struct Slot {
    pending: Option<Pending>,
    next_id: u64,
}

/// The pending wait (at most one) and how long waits last. Cheap to clone.
#[derive(Clone)]
pub struct Waiting {
    pub(crate) timeout: Duration,
    pub(crate) grace: Duration,
    words: Words,
    slot: Arc<Mutex<Slot>>,
}

impl Waiting {
    /// Waits of `timeout`, then `grace` for work that was already under way.
    pub fn new(timeout: Duration, grace: Duration, words: Words) -> Self {
        Self {
            timeout,
            grace,
            words,
            slot: Arc::default(),
        }
    }

    /// Makes this wait the pending one, spawns its waiter, then opens `url` with `open`.
    /// `finish(timeout, cancelled)` is the work: its outcome goes to `report` unless it was
    /// superseded; the waiter gives up on its own after the timeout plus the grace.
    pub fn start<D, F, Fut>(
        &self,
        label: String,
        url: String,
        finish: F,
        report: impl Outcome<D>,
        open: impl FnOnce(&str) -> Result<(), Error>,
    ) -> (Started, JoinHandle<()>)
    where
        D: Send + 'static,
        F: FnOnce(Duration, Cancelled) -> Fut,
        Fut: Future<Output = Result<D, Error>> + Send + 'static,
    {
        let (end_tx, end_rx) = oneshot::channel();
        let id = {
            let mut slot = lock(&self.slot);
            slot.next_id += 1;
            let id = slot.next_id;
            let replaced = slot.pending.replace(Pending {
                id,
                label: label.clone(),
                url: url.clone(),
                started: Instant::now(),
                end: end_tx,
            });
            if let Some(old) = replaced {
                let _ = old.end.send(End::Superseded);
            }
            id
        };
        let ended = Arc::new(OnceLock::new());
        let cancelled = Cancelled {
            rx: end_rx,
            ended: ended.clone(),
        };
        let outcome = finish(self.timeout, cancelled);
        let backstop = self.timeout + self.grace;
        let timed_out = self.words.timed_out;
        let this = self.clone();
        let waiter = tauri::async_runtime::spawn(async move {
            let result = tokio::time::timeout(backstop, outcome)
                .await
                .unwrap_or_else(|_| Err(timed_out(backstop.as_secs())));
            this.clear(id);
            if ended.get() == Some(&End::Superseded) {
                return; // the newer one reports for itself
            }
            match result {
                Ok(done) => report.done(done),
                Err(e) => report.failed(e),
            }
        });
        let browser_opened = open(&url).is_ok();
        let started = Started {
            label,
            url,
            timeout_secs: self.timeout.as_secs(),
            remaining_secs: self.timeout.as_secs(),
            browser_opened,
        };
        (started, waiter)
    }

    /// The wait pending, if any, with the time it has left.
    pub fn pending(&self) -> Option<Started> {
        lock(&self.slot).pending.as_ref().map(|p| Started {
            label: p.label.clone(),
            url: p.url.clone(),
            timeout_secs: self.timeout.as_secs(),
            remaining_secs: self.timeout.saturating_sub(p.started.elapsed()).as_secs(),
            browser_opened: true,
        })
    }

    /// Cancels the pending wait; its work sees [`Cancelled`] resolve. Nothing pending: nothing.
    pub fn cancel(&self) {
        if let Some(p) = lock(&self.slot).pending.take() {
            let _ = p.end.send(End::Cancelled);
        }
    }

    /// Opens the pending wait's link again with `open`.
    pub fn open_again(&self, open: impl FnOnce(&str) -> Result<(), Error>) -> Result<(), Error> {
        let url = lock(&self.slot).pending.as_ref().map(|p| p.url.clone());
        match url {
            Some(url) => open(&url),
            None => Err((self.words.nothing_waiting)()),
        }
    }

    /// Forgets wait `id` if it is still the pending one.
    fn clear(&self, id: u64) {
        let mut slot = lock(&self.slot);
        if slot.pending.as_ref().is_some_and(|p| p.id == id) {
            slot.pending = None;
        }
    }
}

/// Resolves when the wait should stop: cancelled, superseded, or the app closing (its sender
/// dropped, which counts as cancelled).
pub struct Cancelled {
    rx: oneshot::Receiver<End>,
    ended: Arc<OnceLock<End>>,
}

impl Cancelled {
    /// Waits for the end, and records why for the waiter.
    pub async fn wait(self) {
        let end = self.rx.await.unwrap_or(End::Cancelled);
        let _ = self.ended.set(end);
    }
}
