use crate::output::Output;
use latchkey_core::{Code, Core, Error, TokenKind};

#[derive(clap::Args, Debug)]
pub struct Token {
    /// Use the account signed in with this provider instead of the active one.
    #[arg(long, value_name = "NAME")]
    provider: Option<String>,
    /// Print the ID token instead of the access token.
    #[arg(long)]
    id_token: bool,
}

impl Token {
    pub async fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let kind = if self.id_token {
            TokenKind::Id
        } else {
            TokenKind::Access
        };
        let token = app.token(self.provider.as_deref(), kind).await?;
        if token.expose().chars().any(char::is_control) {
            // A token is printable ASCII (RFC 6749 Appendix A); cleaning it would break it, and
            // printing it could drive the terminal.
            return Err(Error::new(
                Code::Provider,
                "the provider's token contains control characters; it was not printed",
            ));
        }
        out.step(|| "printing the token on stdout".into());
        // The one place a token is printed: this command exists for it.
        println!("{}", token.expose());
        Ok(())
    }
}
