use latchkey_core::{Code, Core, Error};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Format {
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct Export {
    /// csv or json.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl Export {
    pub fn run(&self, app: &Core, account: Option<&str>) -> Result<(), Error> {
        super::not_with_service(
            app,
            "export is of the local wallet only; use `history --json`",
        )?;
        let mut buf = Vec::new();
        app.with_wallet(account, |w, a| match self.format {
            Format::Csv => w.export_csv(a, &mut buf),
            Format::Json => w.export_json(a, &mut buf),
        })?;
        let io =
            |e: std::io::Error| Error::new(Code::Storage, format!("cannot write the export: {e}"));
        match &self.output {
            Some(path) => std::fs::write(path, &buf).map_err(io),
            None => std::io::stdout().write_all(&buf).map_err(io),
        }
    }
}
