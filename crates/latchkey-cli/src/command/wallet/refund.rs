use super::{amount, Mutation};
use crate::output::Output;
use latchkey_core::latchkey_wallet::EntryId;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Refund {
    /// The spend to refund (its entry id).
    #[arg(long, value_name = "ENTRY_ID")]
    spend: EntryId,
    /// How many credits to give back (at most what is left of that spend).
    #[arg(long, value_name = "N")]
    credits: i64,
    #[command(flatten)]
    m: Mutation,
}

impl Refund {
    pub fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        super::not_with_service(app, "refunds are made there")?;
        let key = self.m.key()?;
        let r = app.with_wallet(account, |w, a| {
            w.refund(a, &key, self.spend, amount(self.credits), self.m.memo())
        })?;
        self.m.report(out, &key, "Refunded", &r);
        Ok(())
    }
}
