use super::{print_table, when};
use crate::output::Output;
use latchkey_core::{Core, Error};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Import {
    /// The CSV or TSV file (delimiter, header, encoding and column types are detected).
    file: PathBuf,
    /// The dataset's name (default: the file name).
    #[arg(long)]
    name: Option<String>,
    /// Print the imported dataset as JSON: {"dataset": {...}, "existing"}.
    #[arg(long)]
    json: bool,
}

impl Import {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let imported = app.dataset_import(&self.file, self.name.as_deref())?;
        if self.json {
            out.json(&serde_json::to_value(&imported).unwrap_or_default());
            return Ok(());
        }
        let d = &imported.dataset;
        if imported.existing {
            println!(
                "Already imported on {} as dataset {} \"{}\" (same file); nothing changed.",
                when(d.created_at),
                d.id,
                d.name
            );
        } else {
            println!(
                "Imported dataset {} \"{}\": {} rows, {} columns.",
                d.id,
                d.name,
                d.rows,
                d.columns.len()
            );
        }
        let rows: Vec<Vec<String>> = d
            .columns
            .iter()
            .map(|c| vec![c.name.clone(), c.kind.to_string()])
            .collect();
        print_table(&["column", "type"], &rows);
        Ok(())
    }
}
