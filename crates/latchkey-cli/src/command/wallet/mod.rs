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
use latchkey_core::{Core, Error};

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
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let account = self.account.as_deref();
        match &self.command {
            WalletCommand::Balance(c) => c.run(app, account, out),
            WalletCommand::History(c) => c.run(app, account, out),
            WalletCommand::Grant(c) => c.run(app, account, out),
            WalletCommand::Spend(c) => c.run(app, account, out),
            WalletCommand::Refund(c) => c.run(app, account, out),
            WalletCommand::Reserve(c) => c.run(app, account, out),
            WalletCommand::Capture(c) => c.run(app, account, out),
            WalletCommand::Release(c) => c.run(app, account, out),
            WalletCommand::Redeem(c) => c.run(app, account, out),
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
        if self.json {
            out.json(&serde_json::json!({
                "key": key,
                "replayed": r.replayed,
                "entry": r.entry,
                "balance": r.balance,
            }));
            return;
        }
        let again = if r.replayed {
            " (already done earlier with this key; nothing changed)"
        } else {
            ""
        };
        println!(
            "{what} {} credits, entry {}{again}. Available: {} (held {}).",
            credits(r.entry.amount),
            r.entry.id,
            credits(r.balance.available),
            credits(r.balance.held)
        );
    }
}

/// Parses a positive whole number of credits.
fn amount(n: i64) -> Credits {
    Credits(n)
}
