use super::{print_table, show_result, when};
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Results {
    /// Show this saved result whole (free, offline) instead of listing them.
    result: Option<i64>,
    /// Print JSON: {"results": [{"id", "dataset_id", "kind", "params", "cost", "created_at"}]},
    /// or with RESULT the saved result with its "result".
    #[arg(long)]
    json: bool,
}

impl Results {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        if let Some(id) = self.result {
            let saved = app.analysis_result(id)?;
            if self.json {
                out.json(&serde_json::to_value(&saved).unwrap_or_default());
            } else {
                show_result(&saved)?;
            }
            return Ok(());
        }
        let all = app.analysis_results(None)?;
        if self.json {
            out.json(&serde_json::json!({ "results": all }));
            return Ok(());
        }
        if all.is_empty() {
            println!("No saved results yet; run one with `latchkey analytics run`.");
            return Ok(());
        }
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.dataset_id.to_string(),
                    r.kind.clone(),
                    r.cost.to_string(),
                    when(r.created_at),
                    r.params.to_string(),
                ]
            })
            .collect();
        print_table(
            &["id", "dataset", "kind", "cost", "saved", "parameters"],
            &rows,
        );
        Ok(())
    }
}
