//! Switching the active account, and finding an account by subject or email.

use crate::accounts::AccountRecord;
use crate::core::Core;
use crate::error::{Code, Error, Result};
use crate::views::{view, AccountView};

impl Core {
    pub(crate) fn find_account(&self, subject: &str) -> Result<AccountRecord> {
        let accounts = self.accounts.read()?;
        let matches: Vec<_> = accounts
            .accounts
            .iter()
            .filter(|a| {
                a.identity.subject == subject || a.identity.email.as_deref() == Some(subject)
            })
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

    /// Makes the account with this subject (or email) the active one.
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
}
