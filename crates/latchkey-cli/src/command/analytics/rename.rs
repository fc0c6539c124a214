use super::dataset_id;
use crate::output::{clean_text, Output};
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Rename {
    /// The dataset: its id or its name.
    dataset: String,
    /// Its new name (not blank).
    name: String,
    /// Print the renamed dataset as JSON.
    #[arg(long)]
    json: bool,
}

impl Rename {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let id = dataset_id(app, &self.dataset)?;
        app.dataset_rename(id, &self.name)?;
        let d = app.dataset_find(&id.to_string())?;
        if self.json {
            out.json(&serde_json::to_value(&d).unwrap_or_default());
            return Ok(());
        }
        println!("Dataset {id} is now named \"{}\".", clean_text(&d.name));
        Ok(())
    }
}
