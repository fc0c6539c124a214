use super::login_device;
use crate::output::{who, Output};
use latchkey_core::{browser, Completed, Core, Error, SignInOptions};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Login {
    /// Which configured provider (needed when several are configured).
    #[arg(long, value_name = "NAME")]
    provider: Option<String>,
    /// Give up after this many seconds without an answer from the browser.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    timeout: u64,
    /// Print the sign-in link instead of opening a browser.
    #[arg(long)]
    no_browser: bool,
    /// Keep tokens in a file readable only by you instead of the OS keychain (less safe).
    #[arg(long)]
    pub insecure_storage: bool,
    /// Ask the provider to show its account chooser (to add another account).
    #[arg(long)]
    select_account: bool,
    /// Sign in on another device (a phone, another computer): type a code there, or, when the
    /// provider offers no device sign-in, paste back the address your browser ended on.
    #[arg(long)]
    device: bool,
}

impl Login {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let options = SignInOptions {
            prompt: self.select_account.then(|| "select_account".to_string()),
            app_link: None,
        };
        if self.insecure_storage {
            out.warn(
                "--insecure-storage: this account's tokens will be readable by anyone who can \
                 read your files",
            );
        }
        let timeout = Duration::from_secs(self.timeout);
        let done = if self.device || (!self.no_browser && login_device::wants_device_instead(out)) {
            login_device::run(app, out, self.provider.as_deref(), timeout, options).await?
        } else {
            self.in_browser(app, out, options, timeout).await?
        };
        let account = done.account;
        out.step(|| {
            format!(
                "stored {:.1} ms after the callback arrived (exchange, validation, keychain)",
                done.after_callback.as_secs_f64() * 1000.0
            )
        });
        out.step(|| {
            format!(
                "signed in: issuer {}, subject {}",
                account.issuer, account.subject
            )
        });
        println!("Signed in as {} ({}).", who(&account), account.provider);
        if let Some(n) = done.welcome_credits {
            println!("Welcome: {n} credits were added to your wallet.");
        }
        if let Some(problem) = &done.wallet_problem {
            out.warn(&format!("the wallet could not be opened: {problem}"));
        }
        Ok(())
    }

    /// The ordinary sign-in: this machine's browser and the loopback receiver.
    async fn in_browser(
        &self,
        app: &Core,
        out: &Output,
        options: SignInOptions,
        timeout: Duration,
    ) -> Result<Completed, Error> {
        let cancel = super::ctrl_c();
        let sign_in = app.begin_sign_in(self.provider.as_deref(), options).await?;
        out.step(|| {
            format!(
                "provider `{}`: listening for the callback at {}",
                sign_in.provider,
                sign_in.pending.redirect_uri()
            )
        });
        let url = sign_in.pending.authorize_url().to_string();
        if self.no_browser {
            eprintln!("Open this link in your browser to sign in:\n\n  {url}\n");
        } else {
            match browser::open(&url) {
                Ok(()) => eprintln!(
                    "Finish signing in in your browser (waiting up to {} s; Ctrl-C cancels).",
                    self.timeout
                ),
                Err(e) => {
                    out.warn(&e.message);
                    eprintln!("Open this link in your browser to sign in:\n\n  {url}\n");
                }
            }
        }
        app.finish_sign_in(sign_in, timeout, cancel).await
    }
}
