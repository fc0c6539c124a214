//! Signing out: locally always, at the provider when it can be reached.

use crate::core::Core;
use crate::error::Result;
use crate::views::{view, AccountView};
use serde::Serialize;

/// Which accounts `logout` acts on.
#[derive(Debug, Clone)]
pub enum LogoutTarget {
    /// The active account.
    Active,
    /// Every account signed in here.
    All,
    /// The account with this subject, email, or (with no email) username.
    Subject(String),
}

/// What `logout` did.
#[derive(Debug, Default, Serialize)]
pub struct LogoutReport {
    /// The accounts signed out here.
    pub signed_out: Vec<AccountView>,
    /// How many refresh tokens the providers confirmed revoked.
    pub revoked: usize,
    /// Revocations that could not be done (offline...): the local sign-out still happened.
    pub warnings: Vec<String>,
    /// RP-initiated logout pages to open (`--everywhere`).
    pub end_session_urls: Vec<String>,
}

impl Core {
    /// Signs accounts out: tokens and metadata forgotten here, refresh tokens revoked at the
    /// provider when possible (best effort: offline sign-out still succeeds locally).
    pub async fn logout(&self, target: LogoutTarget, everywhere: bool) -> Result<LogoutReport> {
        let records = match target {
            LogoutTarget::Active => vec![self.pick_unchecked(None)?],
            LogoutTarget::All => self.accounts.read()?.accounts,
            LogoutTarget::Subject(s) => vec![self.find_account(&s)?],
        };
        let mut report = LogoutReport::default();
        for r in records {
            let tokens = self.vault(r.storage).load(&r.id).ok().flatten();
            // A provider that now names another issuer or client gets no token to revoke.
            let provider_cfg = match self.provider_of(&r) {
                Ok(p) => Some(p),
                Err(e) if e.code == crate::Code::ProviderChanged => {
                    report.warnings.push(format!(
                        "{}; signed out here only, nothing was sent to the provider",
                        e.message
                    ));
                    None
                }
                Err(_) => None,
            };
            if let Some(p) = provider_cfg {
                match self.provider_info(p).await {
                    Ok(info) => {
                        let provider = Self::provider_for_info(p, &info);
                        if let Some(rt) = tokens.as_ref().and_then(|t| t.refresh_token.as_ref()) {
                            match latchkey_auth::revoke(&self.http, &provider, &info, rt).await {
                                Ok(true) => report.revoked += 1,
                                Ok(false) => {}
                                Err(e) => report.warnings.push(format!(
                                    "could not revoke the session of {} at the provider ({e}); \
                                     signed out here only",
                                    r.identity.display_name()
                                )),
                            }
                        }
                        if everywhere {
                            match latchkey_auth::end_session_url(&provider, &info) {
                                Ok(Some(url)) => report.end_session_urls.push(url.to_string()),
                                Ok(None) => report.warnings.push(format!(
                                    "`{}` offers no way to end its own session",
                                    r.provider
                                )),
                                Err(e) => report.warnings.push(e.to_string()),
                            }
                        }
                    }
                    Err(e) => report.warnings.push(format!(
                        "could not reach `{}` to revoke the session ({}); signed out here only",
                        r.provider, e.message
                    )),
                }
            }
            self.forget_locally(&r)?;
            report.signed_out.push(view(&r, false, false));
        }
        Ok(report)
    }
}
