//! `latchkey-server`: serve the credit API, migrate the database, grant credits.

use chrono::Utc;
use clap::{Parser, Subcommand};
use latchkey_server::config::{Config, ConfigError};
use latchkey_server::db::DbError;
use latchkey_server::ledger::{Account, Ledger, LedgerError, Operation};
use latchkey_server::vouchers::VoucherError;
use latchkey_server::{db, report, vouchers, DB_TIMEOUT};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "latchkey-server",
    version,
    about = "The Latchkey credit service"
)]
struct Cli {
    /// The configuration file (TOML). Default: $LATCHKEY_SERVER_CONFIG.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve the API where `listen` says.
    Serve,
    /// Apply pending migrations and print the schema version.
    Migrate,
    /// Give credits to one account (operator command).
    Grant {
        /// The account's OpenID issuer, exactly as its ID tokens say it.
        #[arg(long)]
        issuer: String,
        /// The account's subject at that issuer.
        #[arg(long)]
        subject: String,
        /// How many credits (1 to 1e12).
        #[arg(long)]
        credits: i64,
        /// An idempotency key: running the same grant again with it changes nothing.
        #[arg(long)]
        key: Option<String>,
    },
    /// Vouchers signed with the service's key.
    #[command(subcommand)]
    Voucher(VoucherCommand),
    /// The voucher signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Who paid and who spent, per user and per day (UTC).
    Report {
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum VoucherCommand {
    /// Print a new voucher (made with the active key; the first key is made if none exists).
    Issue {
        /// How many credits (1 to 1e12).
        #[arg(long)]
        credits: i64,
        /// Bind it to one account: its issuer and subject.
        #[arg(long = "for", num_args = 2, value_names = ["ISS", "SUB"])]
        bound_to: Option<Vec<String>>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new active signing key, signed by the previous one; prints its public half.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why a subcommand failed: printed as one `error:` line (each source's own message), exit 1.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Voucher(#[from] VoucherError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let config = Config::load(cli.config.as_deref())?;
    let pool = db::pool(&config.database_url, 2, DB_TIMEOUT)?;
    match cli.command {
        Command::Migrate => {
            let version = migrate(&pool).await?;
            println!("the database schema is at version {version}");
            Ok(())
        }
        Command::Grant {
            issuer,
            subject,
            credits,
            key,
        } => {
            let ledger = Ledger::new(pool.clone());
            let receipt = ledger
                .apply(
                    &Account { issuer, subject },
                    key.as_deref(),
                    &Operation::Grant {
                        amount: credits,
                        memo: Some("operator grant".into()),
                    },
                    Utc::now(),
                )
                .await?;
            println!("{}", serde_json::to_string(&receipt)?);
            Ok(())
        }
        Command::Voucher(VoucherCommand::Issue { credits, bound_to }) => {
            let ledger = Ledger::new(pool.clone());
            let account = bound_to.map(|v| Account {
                issuer: v[0].clone(),
                subject: v[1].clone(),
            });
            let token = vouchers::issue(
                &ledger,
                config.voucher_seal_key.as_ref(),
                credits,
                account.as_ref(),
                Utc::now(),
            )
            .await?;
            println!("{token}");
            Ok(())
        }
        Command::Keys(KeysCommand::Rotate) => {
            let ledger = Ledger::new(pool.clone());
            let key =
                vouchers::rotate(&ledger, config.voucher_seal_key.as_ref(), Utc::now()).await?;
            println!("{}", serde_json::to_string(&key)?);
            Ok(())
        }
        Command::Report { json } => {
            let ledger = Ledger::new(pool.clone());
            let lines = report::report(&ledger).await?;
            let debts = report::debts(&ledger).await?;
            if json {
                let doc = serde_json::json!({ "lines": lines, "debts": debts });
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                print!("{}", report::table(&lines));
                print!("{}", report::debts_table(&debts));
            }
            Ok(())
        }
        Command::Serve => {
            let version = migrate(&pool).await?;
            drop(pool);
            let app = latchkey_server::app(&config, Arc::new(Utc::now))?;
            let listener =
                tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|source| Failure::Listen {
                        addr: config.listen,
                        source,
                    })?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, schema_version = version, "latchkey-server listening");
            // One line on stdout for whoever started us (tests, scripts): the bound address.
            println!("{{\"listen\":\"{addr}\"}}");
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown())
                .await?;
            Ok(())
        }
    }
}

async fn migrate(pool: &deadpool_postgres::Pool) -> Result<i64, DbError> {
    let mut client = pool.get().await.map_err(DbError::from)?;
    db::migrate(&mut client).await
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}
