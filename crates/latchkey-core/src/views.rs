//! What the faces show: accounts and providers, never a token.

use crate::accounts::AccountRecord;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// An account as faces show it (`latchkey status --json`). No tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    /// The configured provider's name.
    pub provider: String,
    /// The provider's issuer identifier.
    pub issuer: String,
    /// The person's id at the issuer.
    pub subject: String,
    /// Their email, when shared.
    pub email: Option<String>,
    /// Their name, when shared.
    pub name: Option<String>,
    /// The name they sign in with (`preferred_username`), when shared: what Microsoft
    /// accounts show where there is no email.
    pub username: Option<String>,
    /// A URL of their picture, when shared.
    pub picture: Option<String>,
    /// Whether faces act on this account by default.
    pub active: bool,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the sign-in ends, whatever the tokens say (`session_days`).
    pub session_expires_at: DateTime<Utc>,
    /// The provider could not be reached just now.
    pub offline: bool,
}

impl AccountView {
    /// How every face names this person in one line: the name, else the email, else the
    /// `preferred_username` (Microsoft tokens often carry no email), else the subject.
    pub fn display_name(&self) -> &str {
        latchkey_auth::display_name(
            self.name.as_deref(),
            self.email.as_deref().or(self.username.as_deref()),
            &self.subject,
        )
    }

    /// The email, else the `preferred_username`: what to show beside the name.
    pub fn contact(&self) -> Option<&str> {
        self.email.as_deref().or(self.username.as_deref())
    }
}

/// A configured provider (`latchkey providers`).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    /// The configured name.
    pub name: String,
    /// The issuer its discovery URL names.
    pub issuer: String,
    /// Where the browser comes back (`http://127.0.0.1:<any port>/callback`, a deep link).
    pub redirect: String,
    /// Whether its discovery document answered just now.
    pub reachable: bool,
    /// Why discovery failed, when it did.
    pub problem: Option<String>,
}

pub(crate) fn view(r: &AccountRecord, active: bool, offline: bool) -> AccountView {
    AccountView {
        provider: r.provider.clone(),
        issuer: r.identity.issuer.clone(),
        subject: r.identity.subject.clone(),
        email: r.identity.email.clone(),
        name: r.identity.name.clone(),
        username: r.identity.username.clone(),
        picture: r.identity.picture.clone(),
        active,
        expires_at: r.access_expires_at,
        session_expires_at: r.session_expires_at,
        offline,
    }
}
