//! `latchkey sync`: push this device's offline spends, pull the service's ledger, renew the
//! offline lease.

use crate::output::{clean_line, Output};
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Sync {
    /// Print JSON: {"device_id", "registered", "pushed", "applied", "refused_now", "pulled",
    /// "cursor", "offline_available", "lease_expires_at", "refused": [{"entry_id", "amount",
    /// "outcome", "reason", "memo"}], "last_synced_at", "import"} ("import": what this sync
    /// imported of this computer's single-machine wallet, {"sent", "credited", "spent",
    /// "refused": [{"entry_id", "kind", "amount", "reason"}]}, or null; "vouchers": what it did
    /// with vouchers queued offline, {"sent", "credited", "outcomes": [{"key", "voucher_id",
    /// "credits", "outcome", "reason"}], "still_queued"}).
    #[arg(long)]
    json: bool,
    /// Ask the service for an offline lease of this many credits now (it grants at most what
    /// is available); without it the default lease is asked for when it runs low.
    #[arg(long, value_name = "CREDITS")]
    lease: Option<i64>,
}

impl Sync {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let r = app.sync(None, self.lease).await?;
        if self.json {
            out.json(&serde_json::to_value(&r).unwrap_or_default());
            return Ok(());
        }
        if r.registered {
            println!("This device is now registered with the credit service.");
        }
        if let Some(i) = &r.import {
            println!(
                "Imported this computer's wallet: {} entr{} sent, {} credits counted by the \
                 service, {} spent of them.",
                i.sent,
                if i.sent == 1 { "y" } else { "ies" },
                i.credited,
                i.spent
            );
            for x in &i.refused {
                println!(
                    "Not counted: {} {} credits (local entry {}) — {}",
                    x.kind,
                    x.amount,
                    x.entry_id,
                    x.words()
                );
            }
        }
        for v in &r.vouchers.outcomes {
            match v.outcome {
                "credited" => println!("Queued voucher redeemed: {} credits.", v.credits),
                "already_redeemed" => println!(
                    "Queued voucher not counted: it was already redeemed (on another device, \
                     or by someone else) before this device could send it."
                ),
                _ => println!(
                    "Queued voucher refused by the service: {}",
                    v.reason.as_deref().unwrap_or("no reason given")
                ),
            }
        }
        if r.vouchers.still_queued > 0 {
            println!(
                "{} voucher(s) still queued for the service.",
                r.vouchers.still_queued
            );
        }
        println!(
            "Synced: {} offline spend(s) pushed ({} applied), {} new entr{} pulled.",
            r.pushed,
            r.applied,
            r.pulled,
            if r.pulled == 1 { "y" } else { "ies" }
        );
        match r.lease_expires_at {
            Some(at) => println!(
                "Available offline: {} credits (lease until {}).",
                r.offline_available,
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => println!("Available offline: 0 credits (no lease: nothing to lend)."),
        }
        for x in &r.refused {
            println!(
                "Refused by the service: {} credits{} ({}) — {}",
                x.amount,
                x.memo
                    .as_deref()
                    .map(|m| format!(" for {}", clean_line(m)))
                    .unwrap_or_default(),
                x.entry_id,
                match (x.outcome.as_str(), x.reason.as_deref()) {
                    (_, Some("device_removed")) =>
                        "this device was removed as lost before it pushed this",
                    (_, Some("beyond_lease")) => "it went beyond the device's offline lease",
                    (_, Some("lease_closed")) => "the offline lease was already closed",
                    (_, Some("lease_expired")) => "the offline lease had lapsed",
                    ("conflict", _) => "its id was already used for another spend",
                    _ => "the service did not accept it",
                }
            );
        }
        // Your other devices' refused entries, as this sync pulled them (a lost device's late
        // spends): shown here too, not only on the device that sent them.
        for x in app
            .refused_entries(None, usize::MAX)?
            .iter()
            .filter(|x| !x.this_device)
        {
            println!(
                "Refused by the service, from {} ({}): {} credits{} — {}; nothing was charged.",
                x.device_name
                    .as_deref()
                    .map(|n| format!("\u{201c}{}\u{201d}", clean_line(n)))
                    .unwrap_or_else(|| "another device".into()),
                x.at.format("%Y-%m-%d %H:%M UTC"),
                x.amount,
                x.memo
                    .as_deref()
                    .map(|m| format!(" for {}", clean_line(m)))
                    .unwrap_or_default(),
                x.words
            );
        }
        Ok(())
    }
}
