use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Providers {
    /// Print JSON: {"providers":[{name, issuer, redirect, reachable, problem}]}.
    #[arg(long)]
    json: bool,
}

impl Providers {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let providers = app.providers().await;
        if self.json {
            out.json(&serde_json::json!({ "providers": providers }));
            return Ok(());
        }
        if providers.is_empty() {
            println!("No providers configured. See README, \"Configuring providers\".");
        }
        for p in &providers {
            let state = if p.reachable {
                "reachable".to_string()
            } else {
                // The problem may quote what the provider sent.
                let problem = p.problem.as_deref().unwrap_or("unknown");
                format!("unreachable: {}", crate::output::clean_line(problem))
            };
            println!(
                "{}  {}  redirect {}  ({state})",
                p.name, p.issuer, p.redirect
            );
        }
        Ok(())
    }
}
