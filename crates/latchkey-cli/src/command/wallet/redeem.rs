use super::Mutation;
use crate::output::credits;
use crate::output::Output;
use latchkey_core::latchkey_wallet::Credits;
use latchkey_core::{Core, Error, QueuedVoucher, Redeemed};

#[derive(clap::Args, Debug)]
pub struct Redeem {
    /// The voucher text (LKV1....), or `-` to read it from stdin. With a credit service that
    /// cannot be reached, it is checked here and queued for the next sync (exit 0; `--json`
    /// adds "queued": true, "entry": null, "voucher": {"id", "credits", "queued_at"}).
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
            match app.redeem_at_service(account, &key, &voucher).await? {
                Redeemed::Queued(q) => self.report_queued(out, &q),
                Redeemed::Service(r) => self.m.report_service(out, &key, "Redeemed", &r),
                Redeemed::Local(r) => self.m.report(out, &key, "Redeemed", &r),
            }
            return Ok(());
        }
        let r = app.redeem_voucher_locally(account, &key, &voucher)?;
        self.m.report(out, &key, "Redeemed", &r);
        Ok(())
    }
}

impl Redeem {
    /// A redeem queued while the credit service cannot be reached: said plainly, nothing
    /// counted. `--json` keeps the redeem's shape (`entry` is null: no entry was written) and
    /// adds `"queued": true` and the voucher.
    fn report_queued(&self, out: &Output, q: &QueuedVoucher) {
        if self.m.json {
            out.json(&serde_json::json!({
                "key": q.key,
                "replayed": q.replayed,
                "queued": true,
                "entry": null,
                "balance": q.balance,
                "voucher": {
                    "id": q.voucher_id,
                    "credits": q.credits,
                    "queued_at": q.queued_at.to_rfc3339(),
                },
            }));
            return;
        }
        let again = if q.replayed {
            " (it was queued before; still one entry)"
        } else {
            ""
        };
        println!(
            "Queued: the credit service cannot be reached, so this voucher for {} credits will be \
             redeemed when it can (the next `latchkey sync`){again}. It is not counted in your \
             balance yet.",
            credits(Credits(q.credits))
        );
    }
}
