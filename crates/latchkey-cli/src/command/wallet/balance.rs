use crate::output::{credits, Output};
use latchkey_core::latchkey_wallet::Credits;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Balance {
    /// Print JSON: {"issuer", "subject", "posted", "held", "available"} (with a credit
    /// service, also "stale", "as_of" when stale, "offline_available" (what this device may
    /// spend offline from its lease, null without one), "last_synced_at" (null before the
    /// first sync) and "spendable" (what this device can spend now: available +
    /// offline_available, or offline_available alone while stale)).
    /// With a credit service, also "queued_vouchers": vouchers redeemed while it could not be
    /// reached, waiting for the next sync (not counted yet).
    #[arg(long)]
    json: bool,
}

impl Balance {
    pub async fn run(&self, app: &Core, account: Option<&str>, out: &Output) -> Result<(), Error> {
        if app.wallet_uses_service() {
            let key = app.wallet_account(account)?;
            let b = app.service_balance(account).await?;
            let v = b.value;
            // Vouchers redeemed while the service could not be reached: not counted yet.
            let queued = app.queued_vouchers(account)?;
            let sync = app.sync_state(account)?;
            // Online, a spend beyond what is available is paid from this device's lease.
            let lease = sync.offline_available.unwrap_or(0);
            let spendable = if b.stale { lease } else { v.available + lease };
            if self.json {
                let mut json = serde_json::json!({
                    "issuer": key.issuer, "subject": key.subject,
                    "posted": v.posted, "held": v.held, "available": v.available,
                    "stale": b.stale,
                    "offline_available": sync.offline_available,
                    "last_synced_at": sync.last_synced_at.map(|t| t.to_rfc3339()),
                    "spendable": spendable,
                });
                if b.stale {
                    json["as_of"] = b.as_of.to_rfc3339().into();
                }
                json["queued_vouchers"] = queued.len().into();
                out.json(&json);
            } else {
                println!(
                    "Available: {} credits (posted {}, held {}).",
                    credits(Credits(v.available)),
                    credits(Credits(v.posted)),
                    credits(Credits(v.held))
                );
                if b.stale {
                    println!(
                        "(last known, as of {}: the credit service cannot be reached)",
                        b.as_of.to_rfc3339()
                    );
                }
                if !queued.is_empty() {
                    println!(
                        "Queued: {} voucher(s) for {} credits, redeemed at the next sync; not \
                         counted yet.",
                        queued.len(),
                        credits(Credits(queued.iter().map(|q| q.credits).sum()))
                    );
                }
                if let Some(n) = sync.offline_available {
                    println!("Available offline: {n} credits.");
                    println!(
                        "This device can spend: {} credits ({}).",
                        credits(Credits(spendable)),
                        if b.stale {
                            "its offline lease alone while the service cannot be reached"
                        } else {
                            "available + its offline lease"
                        }
                    );
                }
            }
            return Ok(());
        }
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
