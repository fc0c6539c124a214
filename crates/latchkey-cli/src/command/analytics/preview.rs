use super::{dataset_id, num, print_table};
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Preview {
    /// The dataset: its id or its name.
    dataset: String,
    /// The first row to show, counted from 0 (the file's first data row).
    #[arg(long, default_value_t = 0, value_name = "N")]
    offset: u64,
    /// How many rows (at most 1000).
    #[arg(long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    limit: u64,
    /// Print the page as JSON: {"dataset_id", "offset", "total_rows", "columns", "rows"}
    /// (values as numbers, dates as YYYY-MM-DD, text, null when missing).
    #[arg(long)]
    json: bool,
}

impl Preview {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let id = dataset_id(app, &self.dataset)?;
        let page = app.dataset_preview(id, self.offset, self.limit)?;
        if self.json {
            out.json(&serde_json::to_value(&page).unwrap_or_default());
            return Ok(());
        }
        let headers: Vec<&str> = page.columns.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = page
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|v| match v {
                        serde_json::Value::Null => "-".into(),
                        serde_json::Value::Number(n) => num(n.as_f64()),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        print_table(&headers, &rows);
        let shown = page.rows.len() as u64;
        if shown == 0 {
            println!(
                "No rows from {}: the dataset has {}.",
                page.offset, page.total_rows
            );
        } else {
            println!(
                "Rows {}-{} of {}.",
                page.offset + 1,
                page.offset + shown,
                page.total_rows
            );
        }
        Ok(())
    }
}
