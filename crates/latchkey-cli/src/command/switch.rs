use crate::output::{who, Output};
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Switch {
    /// The account's subject (as `latchkey status` shows it), email, or (for an account with
    /// no email) username.
    subject: String,
}

impl Switch {
    pub fn run(&self, app: &Core, _out: &Output) -> Result<(), Error> {
        let account = app.switch(&self.subject)?;
        println!("Now using {} ({}).", who(&account), account.provider);
        Ok(())
    }
}
