use super::{print_table, when};
use crate::output::{clean_text, Output};
use latchkey_core::analytics::engine::{ColumnKind, DateOrder, DecimalMark, Overrides};
use latchkey_core::{Code, Core, Error};
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Order {
    /// 05/03/2024 is 5 March.
    Dmy,
    /// 05/03/2024 is 3 May.
    Mdy,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Mark {
    /// 1,234.56
    Point,
    /// 1.234,56
    Comma,
}

#[derive(clap::Args, Debug)]
pub struct Import {
    /// The CSV or TSV file (delimiter, header, encoding and column types are detected).
    file: PathBuf,
    /// The dataset's name (default: the file name).
    #[arg(long)]
    name: Option<String>,
    /// Correct a column's detected type: COL=date|datetime|number|category|text (repeatable).
    /// Every value of the column must then fit the type.
    #[arg(long = "type", value_name = "COL=TYPE", value_parser = column_type)]
    types: Vec<(String, ColumnKind)>,
    /// How dates like 05/03/2024 are read in every date column (default: decided by the
    /// data; day first when the data cannot tell).
    #[arg(long, value_enum)]
    date_order: Option<Order>,
    /// The decimal mark of every number column (default: decided by the data).
    #[arg(long, value_enum)]
    decimal_mark: Option<Mark>,
    /// Print the imported dataset as JSON: {"dataset": {...}, "existing"}.
    #[arg(long)]
    json: bool,
}

impl Import {
    pub fn run(&self, app: &Core, out: &Output) -> Result<(), Error> {
        let overrides = Overrides {
            kinds: self.types.iter().cloned().collect(),
            date_order: self.date_order.map(|o| match o {
                Order::Dmy => DateOrder::DayFirst,
                Order::Mdy => DateOrder::MonthFirst,
            }),
            decimal_mark: self.decimal_mark.map(|m| match m {
                Mark::Point => DecimalMark::Point,
                Mark::Comma => DecimalMark::Comma,
            }),
        };
        let imported = app.dataset_import_with(&self.file, self.name.as_deref(), &overrides)?;
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
                clean_text(&d.name)
            );
        } else {
            println!(
                "Imported dataset {} \"{}\": {} rows, {} columns.",
                d.id,
                clean_text(&d.name),
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

/// `COL=TYPE` (the type after the last `=`, so a column name may hold one).
fn column_type(arg: &str) -> Result<(String, ColumnKind), Error> {
    let bad = || {
        Error::new(
            Code::InvalidInput,
            format!(
                "`{arg}`: expected COL=TYPE, TYPE one of date, datetime, number, category, text"
            ),
        )
    };
    let (col, kind) = arg.rsplit_once('=').ok_or_else(bad)?;
    let kind = ColumnKind::parse(kind.trim()).ok_or_else(bad)?;
    if col.is_empty() {
        return Err(bad());
    }
    Ok((col.to_owned(), kind))
}
