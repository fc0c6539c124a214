mod analytics;
mod credits;
mod devices;
mod login;
mod login_device;
mod logout;
mod providers;
mod status;
mod switch;
mod sync;
mod token;
mod wallet;

use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Sign in through your browser.
    Login(login::Login),
    /// Show every signed-in account.
    Status(status::Status),
    /// Print a fresh access token of the active account (refreshing it if needed).
    Token(token::Token),
    /// Sign out: forget tokens here and revoke them at the provider.
    Logout(logout::Logout),
    /// Make another signed-in account the active one.
    Switch(switch::Switch),
    /// List the configured providers and whether they can be reached.
    Providers(providers::Providers),
    /// The credit wallet of the active account.
    Wallet(wallet::Wallet),
    /// Credit packs at the credit service: list them, buy one.
    #[command(subcommand)]
    Credits(credits::CreditsCommand),
    /// Sync with the credit service: push offline spends, pull, renew the offline lease.
    Sync(sync::Sync),
    /// This account's devices at the credit service; `devices remove ID` removes a lost one.
    Devices(devices::Devices),
    /// Your datasets and the paid analyses over them.
    #[command(subcommand)]
    Analytics(analytics::AnalyticsCommand),
}

impl Command {
    pub fn insecure_storage(&self) -> bool {
        matches!(self, Command::Login(l) if l.insecure_storage)
    }

    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        match self {
            Command::Login(c) => c.run(app, out).await,
            Command::Status(c) => c.run(app, out).await,
            Command::Token(c) => c.run(app, out).await,
            Command::Logout(c) => c.run(app, out).await,
            Command::Switch(c) => c.run(app, out),
            Command::Providers(c) => c.run(app, out).await,
            Command::Wallet(c) => c.run(app, out).await,
            Command::Credits(c) => c.run(app, out).await,
            Command::Analytics(c) => c.run(app, out),
            Command::Sync(c) => c.run(app, out).await,
            Command::Devices(c) => c.run(app, out).await,
        }
    }
}

/// Resolves at Ctrl-C. The handler is installed when this is called, not when the future is
/// first awaited: called before a sign-in prints its link, a Ctrl-C pressed as soon as the link
/// shows cancels the sign-in (exit 7) instead of killing the process. If no handler can be
/// installed, it never resolves (the sign-in still ends by its timeout).
pub(crate) fn ctrl_c() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let listener = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    #[cfg(windows)]
    let listener = tokio::signal::windows::ctrl_c();
    async move {
        match listener {
            Ok(mut l) => {
                l.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    }
}
