use super::{print_table, when};
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct List {
    /// Print JSON: {"datasets": [{"id", "name", "source_name", "rows", "columns": [...], ...}]}.
    #[arg(long)]
    json: bool,
}

impl List {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let all = app.datasets()?;
        if self.json {
            out.json(&serde_json::json!({ "datasets": all }));
            return Ok(());
        }
        if all.is_empty() {
            println!("No datasets yet; import one with `latchkey analytics import FILE`.");
            return Ok(());
        }
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|d| {
                vec![
                    d.id.to_string(),
                    d.name.clone(),
                    d.rows.to_string(),
                    d.columns.len().to_string(),
                    d.source_name.clone(),
                    when(d.created_at),
                ]
            })
            .collect();
        print_table(
            &["id", "name", "rows", "columns", "file", "imported"],
            &rows,
        );
        Ok(())
    }
}
