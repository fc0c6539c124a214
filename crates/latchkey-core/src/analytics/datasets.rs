//! The analytics engine behind the core: each account's datasets, profiles, previews, paid
//! analyses and saved results, in `<data dir>/analytics.sqlite` (the engine's own file, beside
//! the wallet). The store is opened at its first use and kept behind a mutex: the engine's
//! `Store` is one SQLite connection, not `Sync`.
//!
//! Importing and looking (list, profile, preview, saved results) are free. An analysis costs
//! its kind's price ([`Core::analysis_price`]), paid like the CSV run: reserve before the work,
//! capture when the result is saved, release when anything fails.

use super::engine::{
    self as analytics, Analysis, AnalysisResult, CancelFlag, Dataset, DecidedBy, ImportOptions,
};
use super::engine::{Detection, Imported, Overrides, Preview, Profile, SavedResult, Store};
use crate::core::Core;
use crate::error::{Code, Error, Result};
use latchkey_wallet::{Balance, Credits};
use serde::Serialize;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// The kinds of analysis, as `Analysis` names them (`{"kind": ...}`).
pub const ANALYSIS_KINDS: &[&str] = &["timeseries", "breakdown", "compare", "trend"];

/// The lazily opened analytics store of a [`Core`], and the files the window is handing over.
#[derive(Default)]
pub(crate) struct AnalyticsSlot {
    store: Mutex<Option<Store>>,
    pub(super) uploads: super::uploads::Uploads,
}

/// A finished, paid analysis.
#[derive(Debug, Clone, Serialize)]
pub struct PaidResult {
    /// The result as saved (its id, parameters, cost and the whole result).
    pub saved: SavedResult,
    /// The wallet's balance after paying.
    pub balance: Balance,
}

impl From<analytics::Error> for Error {
    fn from(e: analytics::Error) -> Self {
        use analytics::Error as A;
        let code = match &e {
            A::Io { .. }
            | A::TooLarge { .. }
            | A::Empty
            | A::NotATable { .. }
            | A::TooManyColumns { .. }
            | A::LineTooLong { .. }
            | A::Ragged { .. }
            | A::BadValue { .. }
            | A::Csv { .. }
            | A::UnknownColumn(_)
            | A::WrongKind { .. }
            | A::BadParameter(_)
            | A::NotFound { .. } => Code::InvalidInput,
            A::NotAnAnalyticsFile { .. } | A::Db(_) => Code::Storage,
            A::Cancelled => Code::Cancelled,
            _ => Code::Internal,
        };
        Error::new(code, e.to_string())
    }
}

impl Core {
    /// The analytics database: `<data dir>/analytics.sqlite`.
    pub fn analytics_path(&self) -> std::path::PathBuf {
        self.data_dir().join("analytics.sqlite")
    }

    /// The account key the analytics store files the active account's datasets under.
    pub(super) fn analytics_account(&self) -> Result<String> {
        let key = self.wallet_account(None)?;
        Ok(format!("{} {}", key.issuer, key.subject))
    }

    fn open_analytics(&self) -> Result<MutexGuard<'_, Option<Store>>> {
        let mut guard = self
            .analytics_slot()
            .store
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            std::fs::create_dir_all(self.data_dir()).map_err(|e| {
                Error::new(Code::Storage, format!("{}: {e}", self.data_dir().display()))
            })?;
            *guard = Some(Store::open(&self.analytics_path())?);
        }
        Ok(guard)
    }

    /// Runs `op` on the analytics store for the active account.
    fn with_analytics<T>(
        &self,
        op: impl FnOnce(&mut Store, &str) -> analytics::Result<T>,
    ) -> Result<T> {
        let account = self.analytics_account()?;
        let mut guard = self.open_analytics()?;
        let store = guard
            .as_mut()
            .ok_or_else(|| Error::new(Code::Internal, "analytics store not open"))?;
        Ok(op(store, &account)?)
    }

    /// Imports the CSV or TSV file at `path` as a dataset of the active account, named `name`
    /// (default: the file name), every type and date order decided by the data. Free. The same
    /// file imported again is recognised (`existing: true`) and not stored twice.
    ///
    /// # Errors
    /// [`Code::InvalidInput`] for a file that cannot be read or is not a table, with the file
    /// name, the line and, for a bad value, the column; nothing is stored then.
    pub fn dataset_import(&self, path: &Path, name: Option<&str>) -> Result<Imported> {
        self.dataset_import_with(path, name, &Overrides::default())
    }

    /// [`Core::dataset_import`] with the user's corrections: a column's type, the day/month
    /// order of the dates, the decimal mark. Every value of a corrected column must fit it, or
    /// the import is refused naming the line and column. A file imported before is recognised
    /// as usual; when its stored types or orders differ from the corrections asked, the import
    /// is refused (delete the dataset first to import it again differently).
    ///
    /// # Errors
    /// Those of [`Core::dataset_import`]; [`Code::InvalidInput`] for a corrected column the
    /// file does not have.
    pub fn dataset_import_with(
        &self,
        path: &Path,
        name: Option<&str>,
        overrides: &Overrides,
    ) -> Result<Imported> {
        let options = ImportOptions {
            name: name.map(str::to_owned),
            overrides: overrides.clone(),
            ..ImportOptions::default()
        };
        let imported = self.import_as(path, &options)?;
        if imported.existing {
            if let Some(differs) = differs(&imported.dataset, overrides) {
                let d = &imported.dataset;
                return Err(Error::new(
                    Code::InvalidInput,
                    format!(
                        "{} was imported before as dataset {} `{}`, where {differs}; \
                         delete that dataset to import the file again with other types",
                        file_label(path),
                        d.id,
                        d.name
                    ),
                ));
            }
        }
        Ok(imported)
    }

    /// Imports the file at `path` again over dataset `id` (which was imported from the same
    /// bytes) with other corrections: the dataset's rows and columns are replaced in one
    /// transaction and it gets a new id; its name and saved results are kept. Free.
    ///
    /// # Errors
    /// Those of [`Core::dataset_import_with`]; [`Code::InvalidInput`] when `id` is no dataset
    /// of the account or was imported from another file. On any error nothing changes.
    pub fn dataset_reimport(
        &self,
        path: &Path,
        id: i64,
        overrides: &Overrides,
    ) -> Result<Imported> {
        let options = ImportOptions {
            overrides: overrides.clone(),
            replace: Some(id),
            ..ImportOptions::default()
        };
        self.import_as(path, &options)
    }

    /// What importing the file at `path` with `overrides` would store: every column's type,
    /// date order and decimal mark, the first `preview_rows` rows (at most 100) as written,
    /// and the dataset the same file was imported as before, if any. Free; stores nothing.
    ///
    /// # Errors
    /// Those of [`Core::dataset_import`]: a correction that does not fit the data names the
    /// line and the column.
    pub fn dataset_detect(
        &self,
        path: &Path,
        overrides: &Overrides,
        preview_rows: usize,
    ) -> Result<Detection> {
        let options = ImportOptions {
            overrides: overrides.clone(),
            ..ImportOptions::default()
        };
        self.with_analytics(|s, a| s.detect(a, path, &options, preview_rows))
            .map_err(|e| about_file(path, e, "nothing detected"))
    }

    /// The engine's import under the active account, an input error prefixed with the file's
    /// name and "nothing imported".
    fn import_as(&self, path: &Path, options: &ImportOptions) -> Result<Imported> {
        let now = self.now().timestamp();
        self.with_analytics(|s, a| s.import(a, path, options, now))
            .map_err(|e| about_file(path, e, "nothing imported"))
    }

    /// The active account's datasets, oldest first.
    pub fn datasets(&self) -> Result<Vec<Dataset>> {
        self.with_analytics(|s, a| s.datasets(a))
    }

    /// The dataset named by its id or its name.
    ///
    /// # Errors
    /// [`Code::InvalidInput`] when no dataset has that id or name, or several have that name.
    pub fn dataset_find(&self, id_or_name: &str) -> Result<Dataset> {
        let all = self.datasets()?;
        if let Ok(id) = id_or_name.parse::<i64>() {
            if let Some(d) = all.iter().find(|d| d.id == id) {
                return Ok(d.clone());
            }
        }
        let named: Vec<&Dataset> = all.iter().filter(|d| d.name == id_or_name).collect();
        match named.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::new(
                Code::InvalidInput,
                format!("no dataset with the id or name `{id_or_name}`"),
            )),
            many => Err(Error::new(
                Code::InvalidInput,
                format!(
                    "{} datasets are named `{id_or_name}` (ids {}); name one by its id",
                    many.len(),
                    many.iter()
                        .map(|d| d.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Renames a dataset.
    pub fn dataset_rename(&self, id: i64, name: &str) -> Result<()> {
        self.with_analytics(|s, a| s.rename(a, id, name))
    }

    /// Deletes a dataset, its rows and its saved results.
    pub fn dataset_delete(&self, id: i64) -> Result<()> {
        self.with_analytics(|s, a| s.delete(a, id))
    }

    /// The free profile of a dataset: per column its type, missing and distinct values and
    /// the statistics of its type.
    pub fn dataset_profile(&self, id: i64) -> Result<Profile> {
        self.with_analytics(|s, a| s.profile(a, id))
    }

    /// A page of a dataset's rows (`limit` at most 1,000). Free.
    pub fn dataset_preview(&self, id: i64, offset: u64, limit: u64) -> Result<Preview> {
        self.with_analytics(|s, a| s.preview(a, id, offset, limit))
    }

    /// What an analysis of this kind (`timeseries`, `breakdown`, `compare`, `trend`) costs,
    /// to show before running it. Every kind costs `[wallet] analytics_cost` today; the price
    /// is asked per kind so kinds can be priced apart without changing the faces.
    ///
    /// # Errors
    /// [`Code::InvalidInput`] for another kind.
    pub fn analysis_price(&self, kind: &str) -> Result<Credits> {
        if !ANALYSIS_KINDS.contains(&kind) {
            return Err(Error::new(
                Code::InvalidInput,
                format!(
                    "no analysis kind `{kind}`; expected {}",
                    ANALYSIS_KINDS.join(", ")
                ),
            ));
        }
        Ok(Credits(self.config.wallet.analytics_cost))
    }

    /// Runs a paid analysis of dataset `id` for the active account and saves the result with
    /// its parameters and cost. The price is reserved before any work (refused at once when
    /// the credits are not there), captured once the result is saved, and released when the
    /// analysis fails (a column that does not exist or has the wrong type...), so a failed
    /// run costs nothing and saves nothing. `run_id` makes the charge idempotent.
    ///
    /// # Errors
    /// [`Code::InsufficientCredits`] before any work; [`Code::InvalidInput`] for an unknown
    /// dataset or parameters that do not fit it; the wallet's and the store's errors.
    pub fn analysis_run(&self, id: i64, analysis: &Analysis, run_id: &str) -> Result<PaidResult> {
        self.analysis_run_cancellable(id, analysis, run_id, &CancelFlag::new())
    }

    /// [`Core::analysis_run`] that stops when `cancel` is set (from another thread: the
    /// window's Cancel button). A cancelled run releases its hold like a failed one: nothing
    /// is charged and nothing is saved. The flag is looked at before the work, every few
    /// thousand rows, and once more before the result is saved.
    ///
    /// # Errors
    /// Those of [`Core::analysis_run`], and [`Code::Cancelled`].
    pub fn analysis_run_cancellable(
        &self,
        id: i64,
        analysis: &Analysis,
        run_id: &str,
        cancel: &CancelFlag,
    ) -> Result<PaidResult> {
        let cost = self.analysis_price(kind_of(analysis))?;
        // Looking the dataset up is free: an unknown id is refused before anything is held.
        self.with_analytics(|s, a| s.dataset(a, id))?;
        let now = self.now().timestamp();
        let (saved, balance) = self.pay_for(cost, run_id, || {
            self.with_analytics(|s, a| {
                let result: AnalysisResult = s.run_cancellable(a, id, analysis, cancel)?;
                // Cancelled after the last row: still nothing saved, nothing charged.
                if cancel.is_cancelled() {
                    return Err(analytics::Error::Cancelled);
                }
                s.save_result(a, id, &result, cost.get(), now)
            })
        })?;
        Ok(PaidResult { saved, balance })
    }

    /// The active account's saved results (of one dataset, or all), newest first, without
    /// their bodies. Free.
    pub fn analysis_results(&self, dataset: Option<i64>) -> Result<Vec<SavedResult>> {
        self.with_analytics(|s, a| s.results(a, dataset))
    }

    /// One saved result, whole. Free and offline: it reads only the local file.
    pub fn analysis_result(&self, id: i64) -> Result<SavedResult> {
        self.with_analytics(|s, a| s.open_result(a, id))
    }

    /// A saved result as CSV text (see `AnalysisResult::to_csv`). Free.
    pub fn analysis_result_csv(&self, id: i64) -> Result<String> {
        let saved = self.analysis_result(id)?;
        let result: AnalysisResult = serde_json::from_value(saved.result).map_err(|e| {
            Error::new(
                Code::Storage,
                format!("saved result {id} cannot be read: {e}"),
            )
        })?;
        Ok(result.to_csv()?)
    }
}

/// The file's name as errors show it.
fn file_label(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// An input error about the file at `path`, prefixed with its name and followed by `after`.
fn about_file(path: &Path, e: Error, after: &str) -> Error {
    match e.code {
        Code::InvalidInput => Error::new(
            Code::InvalidInput,
            format!("{}: {}; {after}", file_label(path), e.message),
        ),
        _ => e,
    }
}

/// How an earlier import of the same file disagrees with the corrections asked now, in
/// words; `None` when it agrees.
fn differs(d: &Dataset, overrides: &Overrides) -> Option<String> {
    for (name, kind) in &overrides.kinds {
        match d.columns.iter().find(|c| &c.name == name) {
            None => return Some(format!("there is no column `{name}`")),
            Some(c) if c.kind != *kind => {
                return Some(format!("`{name}` is a {} column", c.kind));
            }
            Some(_) => {}
        }
    }
    if let Some(order) = overrides.date_order {
        if let Some(c) = d
            .columns
            .iter()
            // Where the data decided, the other order could not read it (or nothing needed
            // an order, as ISO dates): only a default or an earlier correction differs.
            .find(|c| {
                c.date_order.is_some_and(|o| o != order)
                    && c.date_order_decided_by != Some(DecidedBy::Data)
            })
        {
            return Some(format!(
                "the dates of `{}` were read in the other order",
                c.name
            ));
        }
    }
    if let Some(mark) = overrides.decimal_mark {
        if let Some(c) = d
            .columns
            .iter()
            .find(|c| c.decimal_mark.is_some_and(|m| m != mark))
        {
            return Some(format!("`{}` was read with the other decimal mark", c.name));
        }
    }
    None
}

/// The `kind` tag of an analysis.
fn kind_of(analysis: &Analysis) -> &'static str {
    match analysis {
        Analysis::Timeseries(_) => "timeseries",
        Analysis::Breakdown(_) => "breakdown",
        Analysis::Compare(_) => "compare",
        Analysis::Trend(_) => "trend",
    }
}

#[cfg(test)]
mod tests {
    use super::super::MAX_UPLOAD_CHUNK;
    use super::*;
    use crate::testing::{signed_in, Rig};
    use analytics::{Agg, Period, TimeSeriesParams};
    use chrono::Utc;

    fn monthly(split: Option<&str>) -> Analysis {
        Analysis::Timeseries(TimeSeriesParams {
            date: None,
            measure: Some("amount".into()),
            agg: Agg::Sum,
            by: Period::Month,
            split: split.map(str::to_owned),
            top: 5,
            window: 3,
        })
    }

    fn available(app: &Core) -> i64 {
        app.with_wallet(None, |w, a| w.balance(a))
            .unwrap()
            .available
            .get()
    }

    #[test]
    fn import_look_for_free_run_paid_reopen_free() {
        let rig = Rig::new();
        let mut app = rig.at(Utc::now());
        app.config.wallet.analytics_cost = 3;
        app.store_session("p", signed_in("ann")).unwrap();
        app.with_wallet(None, |w, a| w.grant(a, "g", Credits(5), None))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spend.csv");
        std::fs::write(
            &file,
            "date,amount,shop\n2026-01-03,2,a\n2026-01-20,4.5,b\n2026-02-01,-1,a\n",
        )
        .unwrap();

        let imported = app.dataset_import(&file, Some("spend")).unwrap();
        assert!(!imported.existing);
        let id = imported.dataset.id;
        assert_eq!(app.dataset_find("spend").unwrap().id, id, "found by name");
        assert_eq!(app.dataset_find(&id.to_string()).unwrap().id, id);
        assert_eq!(app.dataset_profile(id).unwrap().rows, 3);
        assert_eq!(app.dataset_preview(id, 0, 10).unwrap().rows.len(), 3);
        assert!(
            app.dataset_import(&file, None).unwrap().existing,
            "the same file is recognised"
        );
        assert_eq!(available(&app), 5, "importing and looking are free");
        assert_eq!(app.analysis_price("trend").unwrap(), Credits(3));
        assert_eq!(
            app.analysis_price("pie").unwrap_err().code,
            Code::InvalidInput
        );

        let bad = app
            .analysis_run(id, &monthly(Some("nope")), "r-1")
            .unwrap_err();
        assert_eq!(bad.code, Code::InvalidInput, "{}", bad.message);
        assert!(bad.message.contains("nope"), "{}", bad.message);
        assert_eq!(available(&app), 5, "a refused analysis costs nothing");
        assert!(app.analysis_results(None).unwrap().is_empty());

        let paid = app.analysis_run(id, &monthly(None), "r-2").unwrap();
        assert_eq!(paid.saved.cost, 3);
        assert_eq!(paid.balance.available.get(), 2);
        assert_eq!(available(&app), 2, "the price, once");
        let listed = app.analysis_results(None).unwrap();
        assert_eq!(listed.len(), 1);
        let again = app.analysis_result(listed[0].id).unwrap();
        assert_eq!(again.result, paid.saved.result, "reopened whole");
        assert_eq!(available(&app), 2, "reopening is free");
        let csv = app.analysis_result_csv(listed[0].id).unwrap();
        assert_eq!(
            csv, "period,start,amount,amount (rolling 3)\n2026-01,2026-01-01,6.5,\n2026-02,2026-02-01,-1,\n",
            "the sums per month, as written in the file"
        );

        let broke = app.analysis_run(id, &monthly(None), "r-3").unwrap_err();
        assert_eq!(broke.code, Code::InsufficientCredits);
        assert_eq!(
            app.analysis_results(None).unwrap().len(),
            1,
            "nothing saved"
        );
        let holds = app.with_wallet(None, |w, a| w.holds(a)).unwrap();
        assert!(holds.is_empty(), "no hold is left open");
    }

    #[test]
    fn a_cancelled_analysis_releases_its_hold_and_saves_nothing() {
        let rig = Rig::new();
        let mut app = rig.at(Utc::now());
        app.config.wallet.analytics_cost = 2;
        app.store_session("p", signed_in("ann")).unwrap();
        app.with_wallet(None, |w, a| w.grant(a, "g", Credits(5), None))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spend.csv");
        std::fs::write(&file, "date,amount\n2026-01-03,2\n2026-02-01,4\n").unwrap();
        let id = app.dataset_import(&file, None).unwrap().dataset.id;

        let cancel = CancelFlag::new();
        cancel.clone().cancel();
        let e = app
            .analysis_run_cancellable(id, &monthly(None), "r-c", &cancel)
            .unwrap_err();
        assert_eq!(e.code, Code::Cancelled, "{}", e.message);
        assert_eq!(available(&app), 5, "a cancelled run costs nothing");
        let holds = app.with_wallet(None, |w, a| w.holds(a)).unwrap();
        assert!(holds.is_empty(), "its hold was released");
        let history = app
            .with_wallet(None, |w, a| w.history(a, &Default::default()))
            .unwrap();
        let kinds: Vec<String> = history
            .entries
            .iter()
            .map(|e| format!("{:?}", e.kind).to_lowercase())
            .collect();
        assert_eq!(
            kinds,
            ["release", "reserve", "grant"],
            "held, then given back; never captured"
        );
        assert!(
            app.analysis_results(None).unwrap().is_empty(),
            "nothing saved"
        );

        let paid = app
            .analysis_run_cancellable(id, &monthly(None), "r-d", &CancelFlag::new())
            .unwrap();
        assert_eq!(
            paid.balance.available.get(),
            3,
            "an uncancelled run is paid"
        );
    }

    #[test]
    fn a_retried_run_id_is_charged_once() {
        let rig = Rig::new();
        let mut app = rig.at(Utc::now());
        app.config.wallet.analytics_cost = 2;
        app.store_session("p", signed_in("ann")).unwrap();
        app.with_wallet(None, |w, a| w.grant(a, "g", Credits(5), None))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spend.csv");
        std::fs::write(&file, "date,amount\n2026-01-03,2\n2026-02-01,4\n").unwrap();
        let id = app.dataset_import(&file, None).unwrap().dataset.id;
        app.analysis_run(id, &monthly(None), "r-same").unwrap();
        app.analysis_run(id, &monthly(None), "r-same").unwrap();
        assert_eq!(available(&app), 3, "the same run id pays once");
        let holds = app.with_wallet(None, |w, a| w.holds(a)).unwrap();
        assert!(holds.is_empty(), "no hold is left open");
    }

    #[test]
    fn corrections_decide_types_and_date_order_and_a_reimport_must_agree() {
        use analytics::{ColumnKind, DateOrder};
        let rig = Rig::new();
        let app = rig.at(Utc::now());
        app.store_session("p", signed_in("ann")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("codes.csv");
        // 01/02 .. 12/02: either order reads them; `code` looks like numbers.
        let mut text = String::from("day,code,amount\n");
        for d in 1..=12 {
            text.push_str(&format!("{d:02}/02/2026,{},{d}\n", 100 + d % 3));
        }
        std::fs::write(&file, &text).unwrap();
        let fix = Overrides {
            kinds: [("code".to_owned(), ColumnKind::Category)].into(),
            date_order: Some(DateOrder::MonthFirst),
            ..Overrides::default()
        };
        let d = app.dataset_import_with(&file, None, &fix).unwrap().dataset;
        let code = d.columns.iter().find(|c| c.name == "code").unwrap();
        assert_eq!(code.kind, ColumnKind::Category, "the user's type wins");
        let page = app.dataset_preview(d.id, 0, 1).unwrap();
        assert_eq!(
            page.rows[0][0], "2026-01-02",
            "01/02/2026 read month first: 2 January"
        );

        let again = app.dataset_import(&file, None).unwrap();
        assert!(again.existing, "no corrections asked: the earlier import");
        let other = Overrides {
            date_order: Some(DateOrder::DayFirst),
            ..Overrides::default()
        };
        let e = app.dataset_import_with(&file, None, &other).unwrap_err();
        assert_eq!(e.code, Code::InvalidInput);
        assert!(
            e.message.contains("delete that dataset"),
            "says how to import it differently: {}",
            e.message
        );

        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "when,amount\n2026-01-01,1\nsoon,2\n").unwrap();
        let as_date = Overrides {
            kinds: [("amount".to_owned(), ColumnKind::Date)].into(),
            ..Overrides::default()
        };
        let e = app.dataset_import_with(&bad, None, &as_date).unwrap_err();
        assert!(
            e.message.starts_with("bad.csv: line 2, column 2 (amount):"),
            "names the line and the column: {}",
            e.message
        );
        let unknown = Overrides {
            kinds: [("nope".to_owned(), ColumnKind::Text)].into(),
            ..Overrides::default()
        };
        let e = app.dataset_import_with(&bad, None, &unknown).unwrap_err();
        assert!(e.message.contains("nope"), "{}", e.message);
        assert_eq!(app.datasets().unwrap().len(), 1, "nothing else imported");
    }

    /// Hands `bytes` over as the window does, in chunks of `chunk` bytes.
    fn upload(app: &Core, name: &str, bytes: &[u8], chunk: usize) -> Result<String> {
        let id = app.dataset_upload_begin(name, bytes.len() as u64)?;
        let mut offset = 0u64;
        for piece in bytes.chunks(chunk) {
            offset = app.dataset_upload_append(&id, offset, piece)?;
        }
        Ok(id)
    }

    fn imports_left(app: &Core) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(app.data_dir().join("imports"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_file_from_the_window_is_imported_under_its_own_name_and_not_kept() {
        let rig = Rig::new();
        let app = rig.at(Utc::now());
        app.store_session("p", signed_in("ann")).unwrap();
        let bytes = b"date,amount\n2026-01-03,2\n2026-02-01,4\n";
        let id = upload(&app, "../../etc/spend.csv", bytes, 7).unwrap();
        let copies = imports_left(&app);
        assert_eq!(copies.len(), 1, "one private copy while it is handed over");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let file = copies[0].join("spend.csv");
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the copy is its owner's only");
            let mode = std::fs::metadata(&copies[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let seen = app
            .dataset_upload_detect(&id, &Overrides::default(), 5)
            .unwrap();
        assert_eq!((seen.rows, seen.preview.len()), (2, 2));
        assert!(
            app.datasets().unwrap().is_empty(),
            "detecting stores nothing"
        );
        let d = app
            .dataset_upload_import(&id, None, &Overrides::default(), None)
            .unwrap()
            .dataset;
        assert_eq!(
            (d.name.as_str(), d.rows),
            ("spend.csv", 2),
            "the last component only"
        );
        assert!(imports_left(&app).is_empty(), "the copy goes once imported");
        assert_eq!(
            app.dataset_upload_import(&id, None, &Overrides::default(), None)
                .unwrap_err()
                .code,
            Code::InvalidInput,
            "an upload is imported once"
        );

        let mut broken = String::from("date,amount\n");
        for day in 1..=10 {
            broken.push_str(&format!("2026-01-{day:02},{day}\n"));
        }
        broken.push_str("2026-01-11,3,9\n");
        let id = upload(&app, "broken.csv", broken.as_bytes(), 64).unwrap();
        let bad = app
            .dataset_upload_import(&id, None, &Overrides::default(), None)
            .unwrap_err();
        assert!(
            bad.message.starts_with("broken.csv: line 12:"),
            "{}",
            bad.message
        );
        assert!(
            imports_left(&app).is_empty(),
            "the copy goes when the import fails"
        );

        let id = upload(&app, "half.csv", bytes, 100).unwrap();
        app.dataset_upload_cancel(&id);
        assert!(imports_left(&app).is_empty(), "and when the page cancels");

        // Out of order, more than announced, unfinished, too large, no name.
        let id = app.dataset_upload_begin("x.csv", 10).unwrap();
        assert_eq!(
            app.dataset_upload_append(&id, 3, b"abc").unwrap_err().code,
            Code::InvalidInput
        );
        app.dataset_upload_append(&id, 0, b"abc").unwrap();
        let e = app
            .dataset_upload_import(&id, None, &Overrides::default(), None)
            .unwrap_err();
        assert!(
            e.message.contains("only 3 of the file's 10 bytes"),
            "{}",
            e.message
        );
        let id = app.dataset_upload_begin("x.csv", 2).unwrap();
        assert!(app.dataset_upload_append(&id, 0, b"abc").is_err());
        assert!(imports_left(&app).is_empty(), "a refused upload is dropped");
        let e = app.dataset_upload_begin("huge.csv", 2 << 30).unwrap_err();
        assert_eq!(
            e.message,
            "huge.csv: the file is 2147483648 bytes, over the 1073741824-byte limit; split it \
             or raise the limit; nothing imported"
        );
        assert_eq!(
            app.dataset_upload_begin("..", 3).unwrap_err().code,
            Code::InvalidInput
        );
        let id = app.dataset_upload_begin("x.csv", 100 << 20).unwrap();
        let e = app
            .dataset_upload_append(&id, 0, &vec![b'a'; MAX_UPLOAD_CHUNK + 1])
            .unwrap_err();
        assert_eq!(e.code, Code::InvalidInput, "a chunk is bounded");
        app.dataset_upload_cancel(&id);
        assert_eq!(app.datasets().unwrap().len(), 1, "nothing else imported");
    }

    #[test]
    fn copies_left_by_a_crash_are_swept_once_an_hour_old() {
        let rig = Rig::new();
        let app = rig.at(Utc::now());
        app.store_session("p", signed_in("ann")).unwrap();
        let imports = app.data_dir().join("imports");
        let leftover = |name: &str, age: std::time::Duration| {
            let dir = imports.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("x.csv"), b"a,b\n1,2\n").unwrap();
            let when = std::time::SystemTime::now() - age;
            std::fs::File::open(&dir)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        leftover("upload-old", std::time::Duration::from_secs(2 * 3600));
        leftover("upload-recent", std::time::Duration::from_secs(60));
        let id = app.dataset_upload_begin("new.csv", 3).unwrap();
        let mut left: Vec<String> = imports_left(&app)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [id.clone(), "upload-recent".to_owned()],
            "the crashed run's old copy goes; a recent one may be another run's"
        );
        app.dataset_upload_cancel(&id);
    }

    #[test]
    fn a_malformed_file_names_file_and_line_and_imports_nothing() {
        let rig = Rig::new();
        let app = rig.at(Utc::now());
        app.store_session("p", signed_in("ann")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.csv");
        let mut text = String::from("date,amount\n");
        for day in 1..=10 {
            text.push_str(&format!("2026-01-{day:02},{day}\n"));
        }
        text.push_str("2026-01-11,3,9\n");
        std::fs::write(&file, text).unwrap();
        let e = app.dataset_import(&file, None).unwrap_err();
        assert_eq!(e.code, Code::InvalidInput);
        assert!(
            e.message.starts_with("bad.csv: line 12:"),
            "names the file and line: {}",
            e.message
        );
        assert!(app.datasets().unwrap().is_empty(), "nothing half-imported");
    }
}
