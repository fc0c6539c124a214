//! The deep-link receiver: the app shell gets `scheme://...` URLs from the OS and feeds them
//! here; the one that matches the pending sign-in completes it.

use crate::callback::{parse_callback, same_secret, CallbackError};
use crate::flow::Delivery;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use url::Url;

struct Slot {
    redirect: Url,
    state: String,
    tx: mpsc::Sender<Delivery>,
    wrong_state: Arc<AtomicBool>,
}

/// Where the app shell hands deep-link URLs. Cheap to clone; all clones share one slot for
/// the (at most one) pending deep-link sign-in.
#[derive(Clone, Default)]
pub struct DeepLinkInbox {
    slot: Arc<Mutex<Option<Slot>>>,
}

/// Why a fed URL did not complete a sign-in. Deep links are untrusted input: these are
/// expected, and none of them changes any state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeepLinkError {
    /// No deep-link sign-in is pending.
    #[error("no sign-in is waiting for a deep link")]
    NotPending,
    /// The URL is not the redirect URI the pending sign-in waits on.
    #[error("the link is not this app's sign-in callback")]
    NotACallback,
    /// The `state` is not the pending sign-in's: a stale or forged link.
    #[error("the link's state does not match the pending sign-in")]
    WrongState,
    /// The callback's parameters are malformed.
    #[error("the sign-in link is malformed: {0}")]
    Malformed(CallbackError),
}

impl DeepLinkInbox {
    /// An inbox with no sign-in pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a sign-in is waiting for a deep link.
    pub fn is_pending(&self) -> bool {
        self.lock().is_some()
    }

    /// Feeds one URL the OS handed the app.
    pub fn feed(&self, url: &str) -> Result<(), DeepLinkError> {
        let url = Url::parse(url).map_err(|_| DeepLinkError::NotACallback)?;
        let guard = self.lock();
        let slot = guard.as_ref().ok_or(DeepLinkError::NotPending)?;
        let matches = url.scheme() == slot.redirect.scheme()
            && url.host_str() == slot.redirect.host_str()
            && url.path() == slot.redirect.path();
        if !matches {
            return Err(DeepLinkError::NotACallback);
        }
        let callback =
            parse_callback(url.query().unwrap_or("")).map_err(DeepLinkError::Malformed)?;
        if !callback
            .state()
            .is_some_and(|s| same_secret(s, &slot.state))
        {
            slot.wrong_state.store(true, Ordering::SeqCst);
            return Err(DeepLinkError::WrongState);
        }
        slot.tx
            .try_send(Delivery {
                callback,
                reply: None,
            })
            .map_err(|_| DeepLinkError::NotPending)
    }

    pub(crate) fn arm(
        &self,
        redirect: Url,
        state: String,
        tx: mpsc::Sender<Delivery>,
        wrong_state: Arc<AtomicBool>,
    ) {
        *self.lock() = Some(Slot {
            redirect,
            state,
            tx,
            wrong_state,
        });
    }

    /// Forgets the pending sign-in with this state (a newer one may have replaced it).
    pub(crate) fn disarm(&self, state: &str) {
        let mut guard = self.lock();
        if guard.as_ref().is_some_and(|s| s.state == state) {
            *guard = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Slot>> {
        // A panic while holding this lock cannot leave the slot half-written.
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}
