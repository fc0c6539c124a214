use super::{amount, Mutation};
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Grant {
    /// How many credits (a positive whole number).
    #[arg(long, value_name = "N")]
    credits: i64,
    #[command(flatten)]
    m: Mutation,
}

impl Grant {
    pub fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        super::not_with_service(
            app,
            "credits are granted by its operator (`latchkey-server grant`)",
        )?;
        let key = self.m.key()?;
        let r = app.with_wallet(account, |w, a| {
            w.grant(a, &key, amount(self.credits), self.m.memo())
        })?;
        self.m.report(out, &key, "Granted", &r);
        Ok(())
    }
}
