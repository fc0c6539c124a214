//! `latchkey wallet ...`: the active account's credit wallet (or `--account SUBJECT`'s).

mod balance;
mod capture;
mod export;
mod grant;
mod history;
mod redeem;
mod refund;
mod release;
mod reserve;
mod spend;
mod verify;
mod voucher;

use crate::output::{credits, Output};
use latchkey_core::latchkey_wallet::{Credits, Receipt};
use latchkey_core::{Code, Core, Error, ServiceReceipt};

#[derive(clap::Args, Debug)]
pub struct Wallet {
    /// Act on this signed-in account (subject or email) instead of the active one.
    #[arg(long, global = true, value_name = "SUBJECT")]
    account: Option<String>,
    #[command(subcommand)]
    command: WalletCommand,
}

#[derive(clap::Subcommand, Debug)]
enum WalletCommand {
    /// Show available, held and posted credits.
    Balance(balance::Balance),
    /// List ledger entries, newest first, a page at a time.
    History(history::History),
    /// Give credits (admin, tests).
    Grant(grant::Grant),
    /// Spend available credits.
    Spend(spend::Spend),
    /// Give back (part of) an earlier spend.
    Refund(refund::Refund),
    /// Hold credits for a long job; capture or release them later.
    Reserve(reserve::Reserve),
    /// Spend (part of) a hold and release the rest.
    Capture(capture::Capture),
    /// Give a hold back.
    Release(release::Release),
    /// Redeem a signed credit voucher.
    Redeem(redeem::Redeem),
    /// Write the whole history as CSV or JSON.
    Export(export::Export),
    /// Recompute every invariant from the ledger and report violations.
    Verify(verify::Verify),
    /// Make signing keys and vouchers (for sellers and tests).
    #[command(subcommand)]
    Voucher(voucher::Voucher),
}

impl Wallet {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let account = self.account.as_deref();
        match &self.command {
            WalletCommand::Balance(c) => c.run(app, account, out).await,
            WalletCommand::History(c) => c.run(app, account, out).await,
            WalletCommand::Grant(c) => c.run(app, account, out),
            WalletCommand::Spend(c) => c.run(app, account, out).await,
            WalletCommand::Refund(c) => c.run(app, account, out),
            WalletCommand::Reserve(c) => c.run(app, account, out).await,
            WalletCommand::Capture(c) => c.run(app, account, out).await,
            WalletCommand::Release(c) => c.run(app, account, out).await,
            WalletCommand::Redeem(c) => c.run(app, account, out).await,
            WalletCommand::Export(c) => c.run(app, account),
            WalletCommand::Verify(c) => c.run(app, out),
            WalletCommand::Voucher(c) => c.run(out),
        }
    }
}

/// Flags every mutating command has.
#[derive(clap::Args, Debug)]
struct Mutation {
    /// Idempotency key: retrying with the same key never applies twice. Generated and
    /// printed when absent.
    #[arg(long, value_name = "IDEMPOTENCY_KEY")]
    key: Option<String>,
    /// A note kept with the entry.
    #[arg(long)]
    memo: Option<String>,
    /// Print the receipt as JSON: {"key", "replayed", "entry": {...}, "balance": {...}}.
    #[arg(long)]
    json: bool,
}

impl Mutation {
    /// The key to use: the given one, or a fresh random one (announced on stderr so a retry
    /// can reuse it).
    fn key(&self) -> Result<String, Error> {
        if let Some(k) = &self.key {
            return Ok(k.clone());
        }
        let key = latchkey_core::new_key("cli")?;
        eprintln!("idempotency key: {key} (pass --key {key} to retry safely)");
        Ok(key)
    }

    fn memo(&self) -> Option<&str> {
        self.memo.as_deref()
    }

    /// Prints what happened.
    fn report(&self, out: &Output, key: &str, what: &str, r: &Receipt) {
        let printed = Printed {
            entry: serde_json::to_value(&r.entry).unwrap_or_default(),
            balance: serde_json::to_value(r.balance).unwrap_or_default(),
            id: r.entry.id.to_string(),
            amount: r.entry.amount,
            available: r.balance.available,
            held: r.balance.held,
            replayed: r.replayed,
        };
        self.print(out, key, what, printed);
    }

    /// Prints what happened at the credit service, in the same shapes.
    fn report_service(&self, out: &Output, key: &str, what: &str, r: &ServiceReceipt) {
        let printed = Printed {
            entry: serde_json::to_value(&r.entry).unwrap_or_default(),
            balance: serde_json::to_value(r.balance).unwrap_or_default(),
            id: r.entry.id.to_string(),
            amount: r.entry.amount,
            available: Credits(r.balance.available),
            held: Credits(r.balance.held),
            replayed: r.replayed,
        };
        self.print(out, key, what, printed);
    }

    fn print(&self, out: &Output, key: &str, what: &str, p: Printed) {
        if self.json {
            out.json(&serde_json::json!({
                "key": key,
                "replayed": p.replayed,
                "entry": p.entry,
                "balance": p.balance,
            }));
            return;
        }
        let again = if p.replayed {
            " (already done earlier with this key; nothing changed)"
        } else {
            ""
        };
        println!(
            "{what} {} credits, entry {}{again}. Available: {} (held {}).",
            credits(p.amount),
            p.id,
            credits(p.available),
            credits(p.held)
        );
    }
}

/// A receipt, local or the service's, as printed.
struct Printed {
    entry: serde_json::Value,
    balance: serde_json::Value,
    id: String,
    amount: Credits,
    available: Credits,
    held: Credits,
    replayed: bool,
}

/// The refusal of a local-wallet-only command while the credit service keeps the ledger.
fn not_with_service(app: &Core, what: &str) -> Result<(), Error> {
    if app.wallet_uses_service() {
        return Err(Error::new(
            Code::InvalidInput,
            format!(
                "the credit service keeps this account's credits, so {what}; nothing changed \
                 (`latchkey wallet` commands act on the service while [service] url is set)"
            ),
        ));
    }
    Ok(())
}

/// Parses a positive whole number of credits.
fn amount(n: i64) -> Credits {
    Credits(n)
}
