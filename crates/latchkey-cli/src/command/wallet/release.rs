use super::Mutation;
use crate::output::Output;
use latchkey_core::latchkey_wallet::EntryId;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Release {
    /// The hold to give back. A negative id is a hold made offline on this device.
    #[arg(long, value_name = "HOLD_ID", allow_negative_numbers = true)]
    hold: EntryId,
    #[command(flatten)]
    m: Mutation,
}

impl Release {
    pub async fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        let key = self.m.key()?;
        if app.wallet_uses_service() {
            let r = app.service_release(account, &key, self.hold.0).await?;
            self.m.report_service(out, &key, "Released", &r);
            return Ok(());
        }
        let r = app.with_wallet(account, |w, a| w.release(a, &key, self.hold, self.m.memo()))?;
        self.m.report(out, &key, "Released", &r);
        Ok(())
    }
}
