use super::{dataset_id, num, print_table};
use crate::output::Output;
use latchkey_core::{Core, Error};

#[derive(clap::Args, Debug)]
pub struct Profile {
    /// The dataset: its id or its name.
    dataset: String,
    /// Print the profile as JSON: {"dataset_id", "rows", "columns": [{"column", "missing",
    /// "distinct", "min", "max", "mean", "median", "first", "last", "top"}]}.
    #[arg(long)]
    json: bool,
}

impl Profile {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let id = dataset_id(app, &self.dataset)?;
        let p = app.dataset_profile(id)?;
        if self.json {
            out.json(&serde_json::to_value(&p).unwrap_or_default());
            return Ok(());
        }
        println!("Dataset {id}: {} rows.", p.rows);
        let rows: Vec<Vec<String>> = p
            .columns
            .iter()
            .map(|c| {
                let range = match (&c.first, &c.last) {
                    (Some(f), Some(l)) => format!("{f} .. {l}"),
                    _ if c.min.is_some() => format!(
                        "min {} max {} mean {} median {}",
                        num(c.min),
                        num(c.max),
                        num(c.mean),
                        num(c.median)
                    ),
                    _ => c
                        .top
                        .iter()
                        .take(5)
                        .map(|(v, n)| format!("{v} ({n})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                vec![
                    c.column.name.clone(),
                    c.column.kind.to_string(),
                    c.missing.to_string(),
                    c.distinct.to_string(),
                    range,
                ]
            })
            .collect();
        print_table(&["column", "type", "missing", "distinct", "values"], &rows);
        Ok(())
    }
}
