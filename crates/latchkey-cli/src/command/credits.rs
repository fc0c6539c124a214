//! `latchkey credits ...`: the packs on sale at the credit service, and buying one in the
//! browser (like sign-in: the service's payment page opens, the CLI waits for the payment).

use crate::output::{credits, Output};
use latchkey_core::latchkey_wallet::Credits;
use latchkey_core::{browser, Core, Error};
use std::time::Duration;

#[derive(clap::Subcommand, Debug)]
pub enum CreditsCommand {
    /// List the credit packs on sale.
    Packs(Packs),
    /// Buy a pack in your browser; returns once its credits are in your balance.
    Buy(Buy),
}

impl CreditsCommand {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        match self {
            CreditsCommand::Packs(c) => c.run(app, out).await,
            CreditsCommand::Buy(c) => c.run(app, out).await,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Packs {
    /// Print JSON: {"packs": [{"id", "credits", "amount", "currency", "label"}]}.
    #[arg(long)]
    json: bool,
}

/// `1234` cents of `eur` -> "12.34 EUR".
fn price(amount: i64, currency: &str) -> String {
    format!(
        "{}.{:02} {}",
        amount / 100,
        (amount % 100).abs(),
        currency.to_uppercase()
    )
}

impl Packs {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let packs = app.credit_packs().await?;
        if self.json {
            out.json(&serde_json::json!({ "packs": packs }));
            return Ok(());
        }
        if packs.is_empty() {
            println!("No packs are on sale.");
        }
        for p in &packs {
            println!(
                "{:<16} {:>10} credits  {:>14}  {}",
                p.id,
                credits(Credits(p.credits)),
                price(p.amount, &p.currency),
                p.label
            );
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Buy {
    /// The pack to buy (`latchkey credits packs` lists them); needed when several are on sale.
    #[arg(long, value_name = "ID")]
    pack: Option<String>,
    /// Give up waiting after this many seconds (the purchase may still complete later).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    timeout: u64,
    /// Print the payment link instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
}

impl Buy {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let checkout = app.begin_purchase(self.pack.as_deref()).await?;
        out.step(|| format!("checkout {} for pack {}", checkout.id, checkout.pack.id));
        let url = &checkout.url;
        let waiting = || {
            eprintln!(
                "Pay in your browser (waiting up to {} s; Ctrl-C stops waiting).",
                self.timeout
            )
        };
        if self.no_browser {
            eprintln!("Open this link in your browser to pay:\n\n  {url}\n");
        } else {
            match browser::open(url) {
                Ok(()) => waiting(),
                Err(e) => {
                    out.warn(&e.message);
                    eprintln!("Open this link in your browser to pay:\n\n  {url}\n");
                }
            }
        }
        let balance = app
            .wait_for_purchase(&checkout.id, Duration::from_secs(self.timeout))
            .await?;
        println!(
            "Bought {} credits ({}). Available: {} credits.",
            credits(Credits(checkout.pack.credits)),
            checkout.pack.id,
            credits(Credits(balance.available))
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prices_in_major_units() {
        assert_eq!(super::price(1234, "eur"), "12.34 EUR");
        assert_eq!(super::price(500, "usd"), "5.00 USD");
    }
}
