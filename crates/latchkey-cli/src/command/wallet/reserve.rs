use super::{amount, Mutation};
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Reserve {
    /// How many credits to hold.
    #[arg(long, value_name = "N")]
    credits: i64,
    /// Seconds until the hold releases itself if not captured or released.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    ttl: u64,
    #[command(flatten)]
    m: Mutation,
}

impl Reserve {
    pub async fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        let key = self.m.key()?;
        if app.wallet_uses_service() {
            let r = app
                .service_reserve(account, &key, self.credits, self.ttl, self.m.memo())
                .await?;
            self.m.report_service(out, &key, "Held", &r);
            if !self.m.json {
                println!(
                    "Hold id: {} (capture or release it with --hold {}).",
                    r.entry.id, r.entry.id
                );
            }
            return Ok(());
        }
        let r = app.with_wallet(account, |w, a| {
            w.reserve(a, &key, amount(self.credits), self.ttl, self.m.memo())
        })?;
        self.m.report(out, &key, "Held", &r);
        if !self.m.json {
            println!(
                "Hold id: {} (capture or release it with --hold {}).",
                r.entry.id, r.entry.id
            );
        }
        Ok(())
    }
}
