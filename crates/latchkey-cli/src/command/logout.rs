use crate::output::{who, Output};
use latchkey_core::{browser, Core, Error, LogoutTarget};

#[derive(clap::Args, Debug)]
pub struct Logout {
    /// Sign out of every account.
    #[arg(long, conflicts_with = "account")]
    all: bool,
    /// Sign out of this account (its subject, email, or, with no email, username) instead of
    /// the active one.
    #[arg(long, value_name = "SUBJECT")]
    account: Option<String>,
    /// Also end the session at the provider (opens its sign-out page in the browser).
    #[arg(long)]
    everywhere: bool,
}

impl Logout {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let target = match (&self.account, self.all) {
            (Some(s), _) => LogoutTarget::Subject(s.clone()),
            (None, true) => LogoutTarget::All,
            (None, false) => LogoutTarget::Active,
        };
        let report = app.logout(target, self.everywhere).await?;
        for w in &report.warnings {
            out.warn(w);
        }
        for a in &report.signed_out {
            println!("Signed out {} ({}).", who(a), a.provider);
        }
        if report.signed_out.is_empty() {
            println!("No account was signed in.");
        }
        out.step(|| {
            format!(
                "{} refresh token(s) revoked at the provider",
                report.revoked
            )
        });
        for url in &report.end_session_urls {
            if let Err(e) = browser::open(url) {
                out.warn(&e.message);
                eprintln!("Open this link to sign out at the provider too:\n  {url}");
            }
        }
        Ok(())
    }
}
