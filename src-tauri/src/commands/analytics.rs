//! Personal analytics for the active account: datasets (import, list, rename, delete, profile,
//! preview), analyses (price, run, cancel) and saved results (list, open, export). Each command
//! delegates to the core's analytics facade (`crates/latchkey-core/src/analytics/`).
//!
//! The page never names a path: it sends the file the user picked (`<input type=file>`) in
//! chunks (`dataset_upload_begin`, then `dataset_upload_chunk` with each piece as the raw
//! request body, at most `MAX_UPLOAD_CHUNK` bytes), which the core appends to a private copy;
//! `dataset_detect` shows what an import would make of it, `dataset_import` imports it with
//! the user's corrections and drops the copy. So the window needs no dialog or file-system
//! permission, and the app holds one chunk of the file in memory, never all of it.

use crate::shell::Shell;
use latchkey_core::analytics::engine::{
    Analysis, CancelFlag, Dataset, Detection, Imported, Overrides, Preview, Profile, SavedResult,
};
use latchkey_core::analytics::PaidResult;
use latchkey_core::{new_key, Code, Core, Error};
use std::collections::HashMap;
use std::sync::Mutex;
use tauri::ipc::{InvokeBody, Request};
use tauri::State;

/// Rows per preview page unless the page asks for another size.
const PREVIEW_PAGE: u64 = 50;

/// The analyses running now, by the ticket the page chose, so Cancel can reach them. A cancel
/// that arrives before its run has started leaves a set flag the run then finds.
#[derive(Default)]
pub struct AnalysisRuns(Mutex<HashMap<String, CancelFlag>>);

impl AnalysisRuns {
    fn flag(&self, ticket: &str) -> CancelFlag {
        crate::shell::lock(&self.0)
            .entry(ticket.to_owned())
            .or_default()
            .clone()
    }

    fn finish(&self, ticket: &str) {
        crate::shell::lock(&self.0).remove(ticket);
    }
}

/// The page's ticket for a run: a short token of letters, digits and `-`.
fn ticket(t: &str) -> Result<&str, Error> {
    let ok =
        (1..=64).contains(&t.len()) && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then_some(t).ok_or_else(|| {
        Error::new(
            Code::InvalidInput,
            "a run ticket is 1 to 64 letters, digits or -",
        )
    })
}

/// A header of a raw request, percent-decoded (`encodeURIComponent` on the page).
fn header(request: &Request<'_>, name: &str) -> Option<String> {
    let raw = request.headers().get(name)?.to_str().ok()?;
    url::form_urlencoded::parse(format!("v={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

fn raw_body<'a>(request: &'a Request<'_>) -> Result<&'a [u8], Error> {
    match request.body() {
        InvokeBody::Raw(bytes) => Ok(bytes),
        InvokeBody::Json(_) => Err(Error::new(
            Code::InvalidInput,
            "send the bytes as the request body",
        )),
    }
}

/// Rows of the file a detection shows unless the page asks for another number.
const DETECT_ROWS: usize = 10;

/// Begins handing over the file the user picked: its name and size in bytes. Returns the
/// upload's id for the chunks. A file over the size cap is refused here.
#[tauri::command(async)]
pub fn dataset_upload_begin(
    shell: State<'_, Shell>,
    file_name: String,
    size: u64,
) -> Result<String, Error> {
    shell.core()?.dataset_upload_begin(&file_name, size)
}

/// One piece of the file: its bytes as the body, `x-upload` the upload's id and `x-offset`
/// where the piece starts. Returns the bytes received so far.
#[tauri::command(async)]
pub fn dataset_upload_chunk(shell: State<'_, Shell>, request: Request<'_>) -> Result<u64, Error> {
    let upload = header(&request, "x-upload").unwrap_or_default();
    let offset: u64 = header(&request, "x-offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::new(Code::InvalidInput, "x-offset is not a byte offset"))?;
    shell
        .core()?
        .dataset_upload_append(&upload, offset, raw_body(&request)?)
}

/// Drops an upload and its copy (the page's Cancel).
#[tauri::command(async)]
pub fn dataset_upload_cancel(shell: State<'_, Shell>, upload: String) -> Result<(), Error> {
    shell.core()?.dataset_upload_cancel(&upload);
    Ok(())
}

/// What importing the uploaded file with `corrections` would store (types, date order,
/// decimal mark, its first rows as written, an earlier import of it). Free; stores nothing.
#[tauri::command(async)]
pub fn dataset_detect(
    shell: State<'_, Shell>,
    upload: String,
    corrections: Option<Overrides>,
    rows: Option<usize>,
) -> Result<Detection, Error> {
    shell.core()?.dataset_upload_detect(
        &upload,
        &corrections.unwrap_or_default(),
        rows.unwrap_or(DETECT_ROWS),
    )
}

/// Imports the uploaded file with the user's `corrections` (as `name`, else the file's name),
/// or with `replace`, again over that dataset (same file). Free. The copy is dropped.
#[tauri::command(async)]
pub fn dataset_import(
    shell: State<'_, Shell>,
    upload: String,
    name: Option<String>,
    corrections: Option<Overrides>,
    replace: Option<i64>,
) -> Result<Imported, Error> {
    let name = name.filter(|n| !n.trim().is_empty());
    shell.core()?.dataset_upload_import(
        &upload,
        name.as_deref(),
        &corrections.unwrap_or_default(),
        replace,
    )
}

#[tauri::command(async)]
pub fn dataset_list(shell: State<'_, Shell>) -> Result<Vec<Dataset>, Error> {
    shell.core()?.datasets()
}

#[tauri::command(async)]
pub fn dataset_rename(shell: State<'_, Shell>, id: i64, name: String) -> Result<Dataset, Error> {
    let core = shell.core()?;
    core.dataset_rename(id, &name)?;
    core.dataset_find(&id.to_string())
}

/// Deletes a dataset with its rows and saved results.
#[tauri::command(async)]
pub fn dataset_delete(shell: State<'_, Shell>, id: i64) -> Result<(), Error> {
    shell.core()?.dataset_delete(id)
}

#[tauri::command(async)]
pub fn dataset_profile(shell: State<'_, Shell>, id: i64) -> Result<Profile, Error> {
    shell.core()?.dataset_profile(id)
}

/// Rows `offset..offset + limit` (50 unless asked; at most 1,000).
#[tauri::command(async)]
pub fn dataset_preview(
    shell: State<'_, Shell>,
    id: i64,
    offset: u64,
    limit: Option<u64>,
) -> Result<Preview, Error> {
    shell
        .core()?
        .dataset_preview(id, offset, limit.unwrap_or(PREVIEW_PAGE))
}

/// What an analysis of `kind` costs, in credits, to show before running it.
#[tauri::command(async)]
pub fn analysis_price(shell: State<'_, Shell>, kind: String) -> Result<i64, Error> {
    Ok(shell.core()?.analysis_price(&kind)?.get())
}

/// Runs a paid analysis (held first, captured when saved, released on error or cancel);
/// `ticket` is the page's handle for [`analysis_cancel`].
#[tauri::command(async)]
pub fn analysis_run(
    shell: State<'_, Shell>,
    runs: State<'_, AnalysisRuns>,
    dataset: i64,
    analysis: Analysis,
    ticket: String,
) -> Result<PaidResult, Error> {
    let t = self::ticket(&ticket)?;
    let flag = runs.flag(t);
    let result = new_key("app-analysis").and_then(|key| {
        shell
            .core()?
            .analysis_run_cancellable(dataset, &analysis, &key, &flag)
    });
    runs.finish(t);
    result
}

/// Stops the run with this ticket: it fails with `cancelled` and its hold is released.
#[tauri::command]
pub fn analysis_cancel(runs: State<'_, AnalysisRuns>, ticket: String) -> Result<(), Error> {
    runs.flag(self::ticket(&ticket)?).cancel();
    Ok(())
}

/// The saved results (of one dataset, or all), newest first, without their bodies.
#[tauri::command(async)]
pub fn analysis_results(
    shell: State<'_, Shell>,
    dataset: Option<i64>,
) -> Result<Vec<SavedResult>, Error> {
    shell.core()?.analysis_results(dataset)
}

/// One saved result, whole: free, offline.
#[tauri::command(async)]
pub fn analysis_result(shell: State<'_, Shell>, id: i64) -> Result<SavedResult, Error> {
    shell.core()?.analysis_result(id)
}

/// Writes a saved result as CSV to the Downloads folder (else the data folder); returns the
/// file's path.
#[tauri::command(async)]
pub fn analysis_export_csv(shell: State<'_, Shell>, id: i64) -> Result<String, Error> {
    let core = shell.core()?;
    let csv = core.analysis_result_csv(id)?;
    save_export(
        core,
        &format!("latchkey-result-{id}"),
        "csv",
        csv.as_bytes(),
    )
}

/// Writes the chart the page drew (the body: PNG or SVG bytes; `x-result-id` and `x-format`
/// `png` or `svg` in the headers) beside the CSV exports; returns the file's path.
#[tauri::command(async)]
pub fn analysis_export_chart(
    shell: State<'_, Shell>,
    request: Request<'_>,
) -> Result<String, Error> {
    let core = shell.core()?;
    let id: i64 = header(&request, "x-result-id")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::new(Code::InvalidInput, "x-result-id names no result"))?;
    let format = header(&request, "x-format").unwrap_or_default();
    let bytes = raw_body(&request)?;
    let looks_right = match format.as_str() {
        "png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "svg" => bytes.starts_with(b"<svg"),
        _ => false,
    };
    if !looks_right {
        return Err(Error::new(
            Code::InvalidInput,
            "a chart is saved as a PNG or an SVG image",
        ));
    }
    core.analysis_result(id)?;
    save_export(core, &format!("latchkey-chart-{id}"), &format, bytes)
}

/// Saves `bytes` as `<stem>-<time>.<ext>` in the Downloads folder (the data folder when there
/// is none) and returns the path: where `wallet_export_csv` puts the history too.
fn save_export(core: &Core, stem: &str, ext: &str, bytes: &[u8]) -> Result<String, Error> {
    let dir = directories::UserDirs::new()
        .and_then(|u| u.download_dir().map(|d| d.to_path_buf()))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| core.data_dir().to_path_buf());
    let path = dir.join(format!(
        "{stem}-{}.{ext}",
        core.now().format("%Y%m%d-%H%M%S")
    ));
    std::fs::write(&path, bytes).map_err(|e| {
        Error::new(
            Code::Storage,
            format!("could not write {}: {e}", path.display()),
        )
    })?;
    Ok(path.display().to_string())
}
