use crate::output::{clean_line, who, Output};
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Status {
    /// Print JSON: {"accounts":[{provider, issuer, subject, email, name, username, picture,
    /// active, expires_at, session_expires_at, offline, provider_changed}]}.
    #[arg(long)]
    json: bool,
}

impl Status {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let accounts = app.status().await?;
        if self.json {
            let shown: Vec<serde_json::Value> = accounts
                .iter()
                .map(|a| {
                    let mut v = serde_json::json!(a);
                    v["provider_changed"] = app.provider_changed(a).into();
                    v
                })
                .collect();
            out.json(&serde_json::json!({ "accounts": shown }));
            return Ok(());
        }
        if accounts.is_empty() {
            println!("Not signed in. Run `latchkey login`.");
            return Ok(());
        }
        for a in &accounts {
            let mark = if a.active { "*" } else { " " };
            let offline = if app.provider_changed(a) {
                "  [provider changed — sign in again]"
            } else if a.offline {
                "  [offline]"
            } else {
                ""
            };
            println!(
                "{mark} {} via {} (subject {}), session until {}{offline}",
                who(a),
                a.provider,
                clean_line(&a.subject),
                a.session_expires_at.format("%Y-%m-%d %H:%M UTC")
            );
        }
        Ok(())
    }
}
