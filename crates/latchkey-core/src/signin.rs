//! Sign-in: discovery and the receiver in [`Core::begin_sign_in`], the browser's answer,
//! validation and storing the session in [`Core::finish_sign_in`].

use crate::accounts::{AccountRecord, Storage};
use crate::core::Core;
use crate::error::Result;
use crate::views::{view, AccountView};
use chrono::Duration as TimeDelta;
use latchkey_auth::{account_id, PendingSignIn, ProviderInfo, SignInOptions, SignedIn};
use std::future::Future;
use std::time::Duration;

/// A finished sign-in.
#[derive(Debug)]
pub struct Completed {
    /// The account now signed in (and active).
    pub account: AccountView,
    /// From the genuine callback's arrival to the account being stored: token exchange, ID
    /// token validation, userinfo, keychain.
    pub after_callback: Duration,
    /// Welcome credits granted by this (first) sign-in.
    pub welcome_credits: Option<i64>,
    /// Why the wallet could not be reached, when it could not.
    pub wallet_problem: Option<String>,
}

/// A sign-in in progress: show `authorize_url()` / open the browser, then
/// [`Core::finish_sign_in`].
#[derive(Debug)]
pub struct SignIn {
    /// The configured provider's name.
    pub provider: String,
    /// The authorization request and its listening receiver.
    pub pending: PendingSignIn,
}

impl Core {
    /// Starts a sign-in: discovery, then the receiver starts listening. Nothing is changed
    /// until [`Core::finish_sign_in`] succeeds.
    pub async fn begin_sign_in(
        &self,
        provider: Option<&str>,
        options: SignInOptions,
    ) -> Result<SignIn> {
        let p = self.provider(provider)?;
        let info = self.provider_info(p).await?;
        let provider = Self::provider_for_info(p, &info);
        let options = fit_prompt(options, &info);
        let pending = PendingSignIn::start(&provider, info, &options, Some(&self.inbox)).await?;
        Ok(SignIn {
            provider: p.name.clone(),
            pending,
        })
    }

    /// Waits for the browser, validates, then stores the session. A failure anywhere leaves
    /// every existing session exactly as it was.
    pub async fn finish_sign_in(
        &self,
        sign_in: SignIn,
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

    /// The end every sign-in shares (browser or device): cache the provider's keys, store the
    /// session, grant the welcome credits.
    pub(crate) fn complete_sign_in(
        &self,
        provider: &str,
        signed_in: SignedIn,
        info: &ProviderInfo,
    ) -> Result<Completed> {
        if let Ok(p) = self.provider(Some(provider)) {
            self.save_provider_info(p, info);
        }
        let callback_at = signed_in.callback_at;
        let account = self.store_session(provider, signed_in)?;
        let after_callback = callback_at.elapsed();
        // The sign-in stands even if the wallet cannot be opened; the faces say so.
        let welcome = self.grant_welcome(&account.issuer, &account.subject);
        Ok(Completed {
            account,
            after_callback,
            welcome_credits: welcome.as_ref().ok().copied().flatten(),
            wallet_problem: welcome.err().map(|e| e.message),
        })
    }

    pub(crate) fn store_session(&self, provider: &str, signed_in: SignedIn) -> Result<AccountView> {
        let SignedIn {
            identity, tokens, ..
        } = signed_in;
        let id = account_id(&identity.issuer, &identity.subject);
        let storage = if self.insecure_storage {
            Storage::InsecureFile
        } else {
            Storage::Keychain
        };
        let previous = self
            .accounts
            .read()?
            .accounts
            .into_iter()
            .find(|a| a.id == id);
        self.vault(storage).save(&id, &tokens)?;
        if let Some(prev) = &previous {
            if prev.storage != storage {
                let _ = self.vault(prev.storage).forget(&id);
            }
        }
        let now = self.now();
        let configured = self.provider(Some(provider)).ok();
        let record = AccountRecord {
            id: id.clone(),
            provider: provider.to_string(),
            identity,
            signed_in_at: now,
            session_expires_at: now + TimeDelta::days(i64::from(self.config.session_days)),
            access_expires_at: tokens.access_expires_at,
            storage,
            provider_issuer: configured.map(|p| p.issuer()),
            client_id: configured.map(|p| p.client_id.clone()),
        };
        self.accounts.update(|a| {
            a.upsert(record.clone());
            Ok(())
        })?;
        Ok(view(&record, true, false))
    }
}

/// A provider that lists its supported `prompt` values and lacks the one asked for (often
/// `select_account`) gets `login` instead, which also lets the user pick another account;
/// sending an unsupported value would fail the sign-in.
fn fit_prompt(mut options: SignInOptions, info: &ProviderInfo) -> SignInOptions {
    let supported: Option<Vec<&str>> = info
        .metadata
        .get("prompt_values_supported")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect());
    if let (Some(prompt), Some(supported)) = (&options.prompt, supported) {
        if !supported.contains(&prompt.as_str()) {
            options.prompt = supported.contains(&"login").then(|| "login".to_string());
        }
    }
    options
}
