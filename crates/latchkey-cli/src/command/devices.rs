//! `latchkey devices`: the active account's devices at the credit service; `devices remove
//! ID` removes a lost one (its lease closes; what it pushes later is refused and shown).

use crate::output::{clean_line, Output};
use latchkey_core::{Core, DeviceView, Error};

#[derive(clap::Args, Debug)]
pub struct Devices {
    /// Print JSON: {"devices": [{"device_id", "name", "last_seen_at", "removed_at",
    /// "lease_remaining", "lease_expires_at", "this_device"}]}.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Option<DevicesCommand>,
}

#[derive(clap::Subcommand, Debug)]
enum DevicesCommand {
    /// Remove a lost device: its offline lease closes and its later spends are refused.
    Remove(Remove),
}

#[derive(clap::Args, Debug)]
struct Remove {
    /// The device's id (from `latchkey devices`).
    id: String,
    /// Print the removed device as JSON.
    #[arg(long)]
    json: bool,
}

fn line(d: &DeviceView) -> String {
    let lease = match (d.removed_at, d.lease_remaining) {
        (Some(at), _) => format!("removed {}", at.format("%Y-%m-%d %H:%M UTC")),
        (None, Some(n)) => format!("lease {n} credits"),
        (None, None) => "no lease".into(),
    };
    format!(
        "{} {:<24} last seen {}  {}{}",
        d.device_id,
        clean_line(&d.name),
        d.last_seen_at.format("%Y-%m-%d %H:%M UTC"),
        lease,
        if d.this_device { "  (this device)" } else { "" }
    )
}

impl Devices {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        if let Some(DevicesCommand::Remove(r)) = &self.command {
            let d = app.remove_device(None, &r.id).await?;
            if r.json || self.json {
                out.json(&serde_json::to_value(&d).unwrap_or_default());
            } else {
                println!("Removed: {}", line(&d));
                if d.this_device {
                    println!("That was this device: it can no longer sync.");
                }
            }
            return Ok(());
        }
        let devices = app.devices(None).await?;
        if self.json {
            out.json(&serde_json::json!({ "devices": devices }));
            return Ok(());
        }
        if devices.is_empty() {
            println!("No devices yet: `latchkey sync` registers this one.");
        }
        for d in &devices {
            println!("{}", line(d));
        }
        Ok(())
    }
}
