use super::{amount, Mutation};
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Spend {
    /// How many credits (a positive whole number).
    #[arg(long, value_name = "N")]
    credits: i64,
    #[command(flatten)]
    m: Mutation,
}

impl Spend {
    pub async fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        let key = self.m.key()?;
        if app.wallet_uses_service() {
            let r = app
                .service_spend(account, &key, self.credits, self.m.memo())
                .await?;
            self.m.report_service(out, &key, "Spent", &r);
            return Ok(());
        }
        let r = app.with_wallet(account, |w, a| {
            w.spend(a, &key, amount(self.credits), self.m.memo())
        })?;
        self.m.report(out, &key, "Spent", &r);
        Ok(())
    }
}
