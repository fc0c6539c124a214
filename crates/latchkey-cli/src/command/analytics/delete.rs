use super::dataset_id;
use crate::output::{clean_text, Output};
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Delete {
    /// The dataset: its id or its name.
    dataset: String,
    /// Print {"deleted": ID, "results": N} (N: its saved results, deleted with it).
    #[arg(long)]
    json: bool,
}

impl Delete {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let id = dataset_id(app, &self.dataset)?;
        let d = app.dataset_find(&id.to_string())?;
        let results = app.analysis_results(Some(id))?.len();
        app.dataset_delete(id)?;
        if self.json {
            out.json(&serde_json::json!({ "deleted": id, "results": results }));
            return Ok(());
        }
        println!(
            "Deleted dataset {id} \"{}\" and its {results} saved result{} from this computer \
             (the file you imported is not touched).",
            clean_text(&d.name),
            if results == 1 { "" } else { "s" }
        );
        Ok(())
    }
}
