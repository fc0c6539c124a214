//! Sessions: status, the end of a sign-in after `session_days`, and tokens refreshed under a
//! per-account lock.

use crate::accounts::AccountRecord;
use crate::config::ProviderConfig;
use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::views::{view, AccountView};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use latchkey_auth::TokenSet;
use std::collections::HashMap;

/// An access token this close to expiry is refreshed before use.
pub(crate) const REFRESH_MARGIN_SECS: i64 = 60;

impl Core {
    /// The account's provider as configured now, when it still names the issuer and the client
    /// id the account signed in with: the only provider its tokens may go to (RFC 9700 §4.4).
    ///
    /// # Errors
    /// [`Code::ProviderChanged`] when `[auth.<name>]` now points elsewhere (nothing is sent);
    /// [`Code::Config`] when the provider is no longer configured.
    pub(crate) fn provider_of(&self, record: &AccountRecord) -> Result<&ProviderConfig> {
        let p = self.provider(Some(&record.provider))?;
        let issuer = p.issuer();
        let issuer_changed = record
            .provider_issuer
            .as_ref()
            .is_some_and(|i| *i != issuer);
        let client_changed = record.client_id.as_ref().is_some_and(|c| *c != p.client_id);
        if issuer_changed || client_changed {
            let what = match (issuer_changed, client_changed) {
                (true, true) => "issuer and client id",
                (true, false) => "issuer",
                _ => "client id",
            };
            return Err(Error::new(
                Code::ProviderChanged,
                format!(
                    "provider changed — sign in again: `{}` now names another {what} than {}                      signed in with, so its tokens were not sent",
                    record.provider,
                    record.identity.display_name()
                ),
            ));
        }
        Ok(p)
    }

    fn provider_changed_record(&self, record: &AccountRecord) -> bool {
        self.provider_of(record)
            .is_err_and(|e| e.code == Code::ProviderChanged)
    }

    /// Whether this account's provider was changed since it signed in (see
    /// [`Core::provider_of`]): faces show it as "provider changed — sign in again".
    pub fn provider_changed(&self, account: &AccountView) -> bool {
        let Ok(accounts) = self.accounts.read() else {
            return false;
        };
        let id = latchkey_auth::account_id(&account.issuer, &account.subject);
        accounts
            .accounts
            .iter()
            .find(|r| r.id == id)
            .is_some_and(|r| self.provider_changed_record(r))
    }

    /// Every account, from local files only: no network, no keychain. For a first paint.
    pub fn status_local(&self) -> Result<Vec<AccountView>> {
        let now = self.now();
        if self
            .accounts
            .read()?
            .accounts
            .iter()
            .any(|a| a.session_expires_at <= now)
        {
            // Only then the keychain: an ended session's tokens are forgotten.
            self.end_expired_sessions()?;
        }
        let accounts = self.accounts.read()?;
        Ok(accounts
            .accounts
            .iter()
            .map(|r| view(r, accounts.active.as_deref() == Some(r.id.as_str()), false))
            .collect())
    }

    /// Every account, with the session checked: ended sessions are signed out, expired
    /// access tokens refreshed, unreachable providers marked `offline`.
    pub async fn status(&self) -> Result<Vec<AccountView>> {
        self.end_expired_sessions()?;
        let accounts = self.accounts.read()?;
        let mut reachable: HashMap<String, bool> = HashMap::new();
        let mut out = Vec::new();
        for r in &accounts.accounts {
            let mut record = r.clone();
            let mut offline = false;
            if self.provider_changed_record(&record) {
                // Shown as it is, with nothing sent: faces ask for a new sign-in.
                out.push(view(
                    &record,
                    accounts.active.as_deref() == Some(record.id.as_str()),
                    false,
                ));
                continue;
            }
            if record
                .access_expires_at
                .is_some_and(|t| t <= self.now() + TimeDelta::seconds(REFRESH_MARGIN_SECS))
            {
                match self.fresh_tokens(&record).await {
                    Ok((_, updated)) => record = updated,
                    Err(e) if e.code == Code::Offline => offline = true,
                    Err(e) if e.code == Code::SessionExpired || e.code == Code::NotSignedIn => {
                        continue
                    }
                    Err(e) => return Err(e),
                }
            }
            if !offline {
                offline = !match reachable.get(&record.provider) {
                    Some(ok) => *ok,
                    None => {
                        let ok = self.reachable(&record.provider).await;
                        reachable.insert(record.provider.clone(), ok);
                        ok
                    }
                };
            }
            out.push(view(
                &record,
                accounts.active.as_deref() == Some(record.id.as_str()),
                offline,
            ));
        }
        Ok(out)
    }

    /// Signs out (locally) every account whose `session_days` have passed.
    pub(crate) fn end_expired_sessions(&self) -> Result<()> {
        let now = self.now();
        let expired: Vec<AccountRecord> = self
            .accounts
            .read()?
            .accounts
            .into_iter()
            .filter(|a| a.session_expires_at <= now)
            .collect();
        for r in expired {
            self.forget_locally(&r)?;
        }
        Ok(())
    }

    pub(crate) fn forget_locally(&self, r: &AccountRecord) -> Result<()> {
        self.vault(r.storage).forget(&r.id)?;
        self.accounts.update(|a| {
            a.remove(&r.id);
            Ok(())
        })?;
        self.forget_avatar(&r.identity.issuer, &r.identity.subject);
        Ok(())
    }

    /// The active account's record.
    pub(crate) fn active_account(&self) -> Result<AccountRecord> {
        self.pick(None)
    }

    /// The active account (or the chosen provider's), after ending every session whose
    /// `session_days` have passed: whatever acts on an account (tokens, the wallet, the
    /// credit service) never acts on an ended session.
    pub(crate) fn pick(&self, provider: Option<&str>) -> Result<AccountRecord> {
        self.end_expired_sessions()?;
        self.pick_unchecked(provider)
    }

    /// [`Core::pick`] without ending sessions first (signing out still revokes an ended
    /// session's refresh token at the provider).
    pub(crate) fn pick_unchecked(&self, provider: Option<&str>) -> Result<AccountRecord> {
        let accounts = self.accounts.read()?;
        let active = accounts.active().cloned();
        let chosen = match provider {
            None => active,
            Some(p) => active.filter(|a| a.provider == p).or_else(|| {
                accounts
                    .accounts
                    .iter()
                    .filter(|a| a.provider == p)
                    .max_by_key(|a| a.signed_in_at)
                    .cloned()
            }),
        };
        chosen.ok_or_else(|| {
            Error::new(
                Code::NotSignedIn,
                match provider {
                    Some(p) => format!("not signed in with `{p}`"),
                    None => "not signed in".into(),
                },
            )
        })
    }

    /// Tokens for `record`, refreshed (under a per-account lock, so the app and the CLI never
    /// spend a rotating refresh token twice) when the access token is about to expire.
    pub(crate) async fn fresh_tokens(
        &self,
        record: &AccountRecord,
    ) -> Result<(TokenSet, AccountRecord)> {
        self.fresh_tokens_when(record, |_, _| false).await
    }

    /// [`Core::fresh_tokens`], also refreshing when `also(tokens, now)` says so (checked under
    /// the lock, so a refresh another process just made is not repeated): the credit
    /// service's caller refreshes when the ID token is about to expire.
    pub(crate) async fn fresh_tokens_when(
        &self,
        record: &AccountRecord,
        also: impl Fn(&TokenSet, DateTime<Utc>) -> bool,
    ) -> Result<(TokenSet, AccountRecord)> {
        // Checked before the tokens are even read: none of them goes to a changed provider.
        self.provider_of(record)?;
        let vault = self.vault(record.storage);
        let lock_path = self
            .data_dir
            .join("tokens")
            .join(format!("{}.lock", record.id));
        latchkey_auth::create_private_dir(&self.data_dir.join("tokens"))
            .map_err(|e| Error::new(Code::Storage, e.to_string()))?;
        let lock = latchkey_auth::open_private(&lock_path)
            .map_err(|e| Error::new(Code::Storage, format!("{}: {e}", lock_path.display())))?;
        lock.lock()
            .map_err(|e| Error::new(Code::Storage, e.to_string()))?;
        let signed_out = || {
            Error::new(
                Code::NotSignedIn,
                format!(
                    "{} is no longer signed in here (its tokens are gone); sign in again",
                    record.identity.display_name()
                ),
            )
        };
        let tokens = vault.load(&record.id)?.ok_or_else(signed_out)?;
        if !tokens.access_expired(self.now(), REFRESH_MARGIN_SECS) && !also(&tokens, self.now()) {
            return Ok((tokens, record.clone()));
        }
        let p = self.provider_of(record)?;
        let mut info = self.provider_info(p).await?;
        let provider = Self::provider_for_info(p, &info);
        // The old refresh token is spent once the provider answers: a rotated one is stored
        // (beside the old access and ID tokens) before the rest of the answer is checked.
        let keep_rotated = |rotated: &latchkey_auth::RefreshToken| {
            vault.save(
                &record.id,
                &TokenSet {
                    access_token: tokens.access_token.duplicate(),
                    access_expires_at: tokens.access_expires_at,
                    refresh_token: Some(rotated.duplicate()),
                    id_token: tokens.id_token.as_ref().map(|t| t.duplicate()),
                },
            )
        };
        let refreshed = latchkey_auth::refresh(
            &self.http,
            &provider,
            &mut info,
            &tokens,
            &record.identity.subject,
            self.now(),
            keep_rotated,
        )
        .await;
        match refreshed {
            Ok(r) => {
                vault.save(&record.id, &r.tokens)?;
                let mut updated = record.clone();
                updated.access_expires_at = r.tokens.access_expires_at;
                let u = updated.clone();
                self.accounts.update(move |a| {
                    if let Some(x) = a.accounts.iter_mut().find(|x| x.id == u.id) {
                        x.access_expires_at = u.access_expires_at;
                    }
                    Ok(())
                })?;
                Ok((r.tokens, updated))
            }
            Err(latchkey_auth::AuthError::InvalidGrant) => {
                drop(lock);
                self.forget_locally(record)?;
                let who = record.identity.display_name();
                Err(Error::new(
                    Code::SessionExpired,
                    format!(
                        "the provider ended the session of {who} (invalid_grant); it was signed \
                         out here; sign in again"
                    ),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{signed_in, t0, Rig};
    use crate::TokenKind;
    use latchkey_auth::{account_id, KeyStore};

    /// A core over the rig's directory and store with this `[auth.p]` (session_days = 2).
    fn with_provider(rig: &Rig, client_id: &str, metadata_url: &str) -> Core {
        let text = format!(
            "[auth]\nsession_days = 2\n[auth.p]\nclient_id = \"{client_id}\"\n\
             server_metadata_url = \"{metadata_url}\"\n"
        );
        Core::with_parts(
            crate::config::parse(&text, "test.toml").unwrap(),
            rig.dir.path().to_path_buf(),
            std::sync::Arc::new(rig.store.clone()),
            std::sync::Arc::new(latchkey_wallet::FixedClock::new(t0())),
            false,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn tokens_go_only_to_the_issuer_and_client_they_were_minted_for() {
        let rig = Rig::new();
        let app = rig.at(t0());
        let mut expiring = signed_in("alice");
        expiring.tokens.access_expires_at = Some(t0());
        expiring.tokens.refresh_token = Some(latchkey_auth::RefreshToken::new("rt-alice"));
        app.store_session("p", expiring).unwrap();
        // Something listening where `[auth.p]` now points: it must hear nothing.
        let elsewhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        elsewhere.set_nonblocking(true).unwrap();
        let moved = format!(
            "http://127.0.0.1:{}/.well-known/openid-configuration",
            elsewhere.local_addr().unwrap().port()
        );
        let same_url = "http://127.0.0.1:9/.well-known/openid-configuration";
        for (client, url, why) in [
            ("c", moved.as_str(), "another issuer"),
            ("other-client", same_url, "another client id"),
        ] {
            let changed = with_provider(&rig, client, url);
            let e = changed.token(None, TokenKind::Access).await.unwrap_err();
            assert_eq!(e.code, Code::ProviderChanged, "{why}: {e:?}");
            assert!(e.message.contains("sign in again"), "{}", e.message);
            let shown = changed.status().await.unwrap();
            assert_eq!(shown.len(), 1, "{why}: the account is still shown");
            assert!(
                changed.provider_changed(&shown[0]),
                "{why}: marked as changed"
            );
            assert!(
                !app.provider_changed(&shown[0]),
                "unchanged under the old settings"
            );
        }
        let changed = with_provider(&rig, "c", &moved);
        let report = changed
            .logout(crate::logout::LogoutTarget::Active, false)
            .await
            .unwrap();
        assert_eq!(report.revoked, 0);
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.contains("provider changed")),
            "{:?}",
            report.warnings
        );
        assert!(
            elsewhere
                .accept()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
            "nothing was sent to the provider the config now names"
        );
        assert!(
            changed.status_local().unwrap().is_empty(),
            "signed out here"
        );
    }

    #[test]
    fn an_ended_session_is_over_for_the_wallet_the_first_screen_and_switching() {
        let rig = Rig::new();
        let app = rig.at(t0());
        app.store_session("p", signed_in("alice")).unwrap();
        assert!(
            app.wallet_account(None).is_ok(),
            "signed in: the wallet is there"
        );
        let ended = rig.at(t0() + TimeDelta::days(2));
        assert_eq!(
            ended.wallet_account(None).unwrap_err().code,
            Code::NotSignedIn,
            "wallet commands see the session ended"
        );
        let app = rig.at(t0());
        app.store_session("p", signed_in("alice")).unwrap();
        let ended = rig.at(t0() + TimeDelta::days(2));
        assert_eq!(
            ended.switch("alice").unwrap_err().code,
            Code::UnknownAccount,
            "an ended session cannot be switched to"
        );
        let app = rig.at(t0());
        app.store_session("p", signed_in("alice")).unwrap();
        let ended = rig.at(t0() + TimeDelta::days(2));
        assert!(
            ended.status_local().unwrap().is_empty(),
            "the first screen shows it signed out"
        );
        let id = account_id("http://127.0.0.1:9", "alice");
        assert!(
            rig.store.get(&id).unwrap().is_none(),
            "and its key is gone from the keychain"
        );
    }

    #[tokio::test]
    async fn a_session_ends_after_session_days_whatever_the_tokens_say() {
        let rig = Rig::new();
        let t0 = t0();
        let app = rig.at(t0);
        let view = app.store_session("p", signed_in("alice")).unwrap();
        assert_eq!(view.session_expires_at, t0 + TimeDelta::days(2));
        // The access token never expires, so only session_days can end this session.
        let later = rig.at(t0 + TimeDelta::days(1));
        assert_eq!(
            later.token(None, TokenKind::Access).await.unwrap().expose(),
            "at-alice"
        );

        let ended = rig.at(t0 + TimeDelta::days(2));
        assert!(
            ended.status().await.unwrap().is_empty(),
            "the session is over after 2 days"
        );
        let e = ended.token(None, TokenKind::Access).await.unwrap_err();
        assert_eq!(e.code, Code::NotSignedIn);
        let id = account_id("http://127.0.0.1:9", "alice");
        assert!(
            rig.store.get(&id).unwrap().is_none(),
            "its key is gone from the keychain"
        );
    }
}
