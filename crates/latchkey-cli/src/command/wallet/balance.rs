use crate::output::{credits, Output};
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Balance {
    /// Print JSON: {"issuer", "subject", "posted", "held", "available"}.
    #[arg(long)]
    json: bool,
}

impl Balance {
    pub fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        let (key, b) = app.with_wallet(account, |w, a| Ok((a.clone(), w.balance(a)?)))?;
        if self.json {
            out.json(&serde_json::json!({
                "issuer": key.issuer, "subject": key.subject,
                "posted": b.posted, "held": b.held, "available": b.available,
            }));
        } else {
            println!(
                "Available: {} credits (posted {}, held {}).",
                credits(b.available),
                credits(b.posted),
                credits(b.held)
            );
        }
        Ok(())
    }
}
