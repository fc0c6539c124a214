use super::Mutation;
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Redeem {
    /// The voucher text (LKV1....), or `-` to read it from stdin.
    voucher: String,
    #[command(flatten)]
    m: Mutation,
}

impl Redeem {
    pub async fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        let voucher = if self.voucher == "-" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| {
                Error::new(
                    latchkey_core::Code::InvalidInput,
                    format!("cannot read the voucher from stdin: {e}"),
                )
            })?;
            s.trim().to_string()
        } else {
            self.voucher.trim().to_string()
        };
        let key = self.m.key()?;
        if app.wallet_uses_service() {
            let r = app.service_redeem(account, &key, &voucher).await?;
            self.m.report_service(out, &key, "Redeemed", &r);
            return Ok(());
        }
        let r = app.redeem_voucher_locally(account, &key, &voucher)?;
        self.m.report(out, &key, "Redeemed", &r);
        Ok(())
    }
}
