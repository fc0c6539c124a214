//! `latchkey`: the headless face of Latchkey. Each subcommand lives in `command/`, parses its
//! flags, calls `latchkey_core::Core`, and prints. Failures print one line on stderr and exit
//! with the code of their class (see README, "Exit codes").

mod command;
mod output;

use clap::Parser;
use latchkey_core::{Core, CoreOptions, Error};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "latchkey",
    version,
    about = "Sign in with OpenID Connect through your browser; tokens stay in the OS keychain."
)]
struct Cli {
    /// The configuration file (else LATCHKEY_CONFIG, else the platform config dir's
    /// latchkey/auth.toml).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Explain each step on stderr (never prints secrets).
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: command::Command,
}

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("latchkey: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(cli));
    if let Err(e) = result {
        // Error texts may quote what a provider sent (`iss`, `sub`, `hd`, names).
        eprintln!("latchkey: {}", output::clean_text(&e.message));
        if let Some(hint) = output::hint(e.code) {
            eprintln!("hint: {hint}");
        }
        std::process::exit(e.code.exit_code());
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    let mut options = CoreOptions::from_env();
    if let Some(path) = cli.config {
        options.config_path = Some(path);
    }
    options.insecure_storage = cli.command.insecure_storage();
    let app = Core::open(options)?;
    let out = output::Output::new(cli.verbose);
    out.step(|| match &app.config.source {
        Some(p) => format!("configuration: {}", p.display()),
        None => "configuration: none found".into(),
    });
    out.step(|| format!("data directory: {}", app.data_dir().display()));
    for note in &app.config.notes {
        out.step(|| note.clone());
    }
    cli.command.run(&app, &out).await
}
