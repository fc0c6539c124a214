use super::{amount, Mutation};
use crate::output::Output;
use latchkey_core::latchkey_wallet::EntryId;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Capture {
    /// The hold (the id `reserve` printed). A negative id is a hold made offline on this device.
    #[arg(long, value_name = "HOLD_ID", allow_negative_numbers = true)]
    hold: EntryId,
    /// How many of the held credits to spend (the rest is released).
    #[arg(long, value_name = "N")]
    credits: i64,
    #[command(flatten)]
    m: Mutation,
}

impl Capture {
    pub async fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        let key = self.m.key()?;
        if app.wallet_uses_service() {
            let r = app
                .service_capture(account, &key, self.hold.0, self.credits)
                .await?;
            self.m.report_service(out, &key, "Captured", &r);
            return Ok(());
        }
        let r = app.with_wallet(account, |w, a| {
            w.capture(a, &key, self.hold, amount(self.credits), self.m.memo())
        })?;
        self.m.report(out, &key, "Captured", &r);
        Ok(())
    }
}
