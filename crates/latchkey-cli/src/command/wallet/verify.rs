use crate::output::Output;
use latchkey_core::{Code, Core, Error};

#[derive(clap::Args, Debug)]
pub struct Verify {
    /// Print JSON: {"accounts", "entries", "violations": [{"entry", "problem"}]}.
    #[arg(long)]
    json: bool,
}

impl Verify {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let report = app.with_wallet_file(|w| w.verify())?;
        if self.json {
            out.json(&serde_json::to_value(&report).unwrap_or_default());
        } else {
            println!(
                "Checked {} entries of {} accounts.",
                report.entries, report.accounts
            );
            for v in &report.violations {
                println!("violation: {v:?}");
            }
        }
        if report.is_clean() {
            Ok(())
        } else {
            Err(Error::new(
                Code::WalletDamaged,
                format!(
                    "the wallet fails {} check(s); keep a copy of {} and report it",
                    report.violations.len(),
                    app.wallet_path().display()
                ),
            ))
        }
    }
}
