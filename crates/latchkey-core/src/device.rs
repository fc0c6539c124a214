//! Signing in where no browser can reach this machine's loopback port: the device flow
//! (RFC 8628) in [`Core::begin_device_sign_in`] / [`Core::finish_device_sign_in`], and, for
//! providers without it, a browser sign-in finished by pasting back the address the browser
//! ended on ([`SignIn::paste_back`]). Both end like every sign-in
//! (`Core::complete_sign_in`): session stored, keychain, welcome credits.

use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::signin::{Completed, SignIn};
use latchkey_auth::{DeepLinkError, PastedCallbacks};
use std::future::Future;
use std::time::Duration;

/// A device sign-in in progress: show its codes, then [`Core::finish_device_sign_in`].
#[derive(Debug)]
pub struct DeviceSignIn {
    /// The configured provider's name.
    pub provider: String,
    /// The codes and where to enter them.
    pub pending: latchkey_auth::DeviceSignIn,
}

impl DeviceSignIn {
    /// The code the user types on their other device.
    pub fn user_code(&self) -> &str {
        self.pending.user_code()
    }

    /// Where the user goes on their other device.
    pub fn verification_uri(&self) -> &str {
        self.pending.verification_uri().as_str()
    }

    /// The same with the code filled in, when the provider offers it.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.pending.verification_uri_complete().map(|u| u.as_str())
    }

    /// How long the code is valid.
    pub fn expires_in(&self) -> Duration {
        self.pending.expires_in()
    }
}

impl Core {
    /// Starts a device sign-in: discovery, then the provider hands out the codes. `Ok(None)`
    /// when the provider offers no device flow (a face then offers [`SignIn::paste_back`]).
    /// Nothing is changed until [`Core::finish_device_sign_in`] succeeds.
    pub async fn begin_device_sign_in(
        &self,
        provider: Option<&str>,
    ) -> Result<Option<DeviceSignIn>> {
        let p = self.provider(provider)?;
        let info = self.provider_info(p).await?;
        if !latchkey_auth::DeviceSignIn::offered(&info)? {
            return Ok(None);
        }
        let provider = Self::provider_for_info(p, &info);
        let pending = latchkey_auth::DeviceSignIn::start(&self.http, &provider, info).await?;
        Ok(Some(DeviceSignIn {
            provider: p.name.clone(),
            pending,
        }))
    }

    /// Polls until the user approves on their other device (at most `timeout`, or until the
    /// code expires, or `cancel` resolves), validates, then stores the session as
    /// [`Core::finish_sign_in`] does. A failure anywhere leaves every existing session as it
    /// was.
    pub async fn finish_device_sign_in(
        &self,
        sign_in: DeviceSignIn,
        timeout: Duration,
        cancel: impl Future<Output = ()>,
    ) -> Result<Completed> {
        let clock = self.clock();
        let (signed_in, info) = sign_in
            .pending
            .finish(&self.http, move || clock.now(), timeout, cancel)
            .await?;
        self.complete_sign_in(&sign_in.provider, signed_in, &info)
    }
}

/// Where a browser sign-in takes the address its browser ended on, pasted back by the user.
#[derive(Debug, Clone)]
pub struct PasteBack(PastedCallbacks);

impl SignIn {
    /// The way to finish this sign-in with a pasted address (the browser ran where the
    /// loopback port is out of reach; its address bar shows the redirect it could not load).
    /// [`Core::finish_sign_in`] still waits and validates; the loopback receiver keeps
    /// listening meanwhile.
    pub fn paste_back(&self) -> PasteBack {
        PasteBack(self.pending.pasted_callbacks())
    }
}

impl PasteBack {
    /// The redirect URI the pasted address starts with.
    pub fn redirect_uri(&self) -> &str {
        self.0.redirect_uri().as_str()
    }

    /// Hands one pasted address to the sign-in, checked like any callback.
    ///
    /// # Errors
    /// [`Code::InvalidInput`] when it is not this sign-in's redirect address at all (nothing
    /// changes; paste again); [`Code::SignInRejected`] when it is, but with another `state`
    /// (stale or forged) or broken parameters; [`Code::Internal`] when the sign-in is over.
    pub fn feed(&self, address: &str) -> Result<()> {
        self.0.feed(address).map_err(|e| match e {
            DeepLinkError::NotACallback => Error::new(
                Code::InvalidInput,
                format!(
                    "That is not the address this sign-in waits for: it starts with {}",
                    self.redirect_uri()
                ),
            ),
            DeepLinkError::WrongState => Error::new(
                Code::SignInRejected,
                "The pasted address belongs to another sign-in (its state does not match): it \
                 is old, or not from this sign-in",
            ),
            DeepLinkError::Malformed(e) => Error::new(
                Code::SignInRejected,
                format!("The pasted address is malformed: {e}"),
            ),
            other => Error::new(Code::Internal, crate::capitalise_first(&other.to_string())),
        })
    }
}

/// The desktop shell runs these futures on a multi-threaded runtime: they must be `Send`.
#[allow(dead_code)]
fn futures_are_send(app: &Core, sign_in: DeviceSignIn) {
    fn send<T: Send>(_: T) {}
    send(app.begin_device_sign_in(None));
    send(app.finish_device_sign_in(sign_in, Duration::ZERO, async {}));
}
