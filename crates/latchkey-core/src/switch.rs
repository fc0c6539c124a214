//! Switching the active account, and finding an account by subject, email or (for accounts
//! with no email, as Microsoft's often are) `preferred_username`.

use crate::accounts::AccountRecord;
use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::views::{view, AccountView};

/// Whether `who` names this identity: its subject, its email, or, when it has no email, the
/// `preferred_username` faces show in the email's place (`AccountView::contact`).
fn names(identity: &latchkey_auth::Identity, who: &str) -> bool {
    identity.subject == who
        || match &identity.email {
            Some(email) => email == who,
            None => identity.username.as_deref() == Some(who),
        }
}

impl Core {
    /// The account `subject` names, after ending every session whose `session_days` have
    /// passed.
    pub(crate) fn find_account(&self, subject: &str) -> Result<AccountRecord> {
        self.end_expired_sessions()?;
        let accounts = self.accounts.read()?;
        let matches: Vec<_> = accounts
            .accounts
            .iter()
            .filter(|a| names(&a.identity, subject))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::new(
                Code::UnknownAccount,
                format!("no signed-in account `{subject}`"),
            )),
            _ => Err(Error::new(
                Code::UnknownAccount,
                format!(
                    "`{subject}` matches accounts at several providers; sign out of all but one"
                ),
            )),
        }
    }

    /// Makes the account with this subject (or email, or username) the active one.
    pub fn switch(&self, subject: &str) -> Result<AccountView> {
        let record = self.find_account(subject)?;
        self.accounts.update(|a| {
            a.active = Some(record.id.clone());
            Ok(())
        })?;
        Ok(view(&record, true, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{signed_in, t0, Rig};

    #[test]
    fn switch_and_unknown_accounts() {
        let rig = Rig::new();
        let app = rig.at(t0());
        app.store_session("p", signed_in("a")).unwrap();
        app.store_session("p", signed_in("b")).unwrap();
        assert_eq!(
            app.switch("a@example.test").unwrap().subject,
            "a",
            "switch by email works too"
        );
        let local = app.status_local().unwrap();
        assert_eq!(
            local.iter().filter(|v| v.active).count(),
            1,
            "exactly one active account"
        );
        assert_eq!(app.switch("zed").unwrap_err().code, Code::UnknownAccount);
    }

    #[tokio::test]
    async fn an_account_without_email_is_found_by_its_username() {
        let rig = Rig::new();
        let app = rig.at(t0());
        let mut ms = signed_in("m");
        ms.identity.email = None;
        ms.identity.username = Some("m@contoso.example".into());
        app.store_session("ms", ms).unwrap();
        let mut g = signed_in("g");
        g.identity.username = Some("g-handle".into());
        app.store_session("p", g).unwrap();
        assert_eq!(
            app.switch("m@contoso.example").unwrap().subject,
            "m",
            "with no email, the preferred_username shown in its place finds the account"
        );
        assert_eq!(
            app.switch("g-handle").unwrap_err().code,
            Code::UnknownAccount,
            "an account with an email is named by it, not by its username"
        );
        let report = app
            .logout(
                crate::logout::LogoutTarget::Subject("m@contoso.example".into()),
                false,
            )
            .await
            .unwrap();
        assert_eq!(report.signed_out[0].subject, "m", "logout --account too");
        assert_eq!(app.status_local().unwrap().len(), 1);
    }
}
