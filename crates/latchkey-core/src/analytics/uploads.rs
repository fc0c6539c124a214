//! Files the window hands over piece by piece. The page has no file-system access, so it sends
//! the file the user picked in chunks (`File.slice`); each chunk is appended to a private file
//! in the data folder (`imports/<random>/<file name>`: folder 0700, file created new with mode
//! 0600), so the app holds one chunk in memory at a time, never the file. The file is then
//! detected (types, date order, decimal mark, first rows: free, nothing stored) and imported,
//! streaming and in one transaction, like a file the CLI names.
//!
//! The copy is removed once it is imported, whether the import succeeds or fails, when the
//! page cancels, when a newer upload pushes it out, and when the app ends; a copy left behind
//! by a crash is swept away by the next upload once it is an hour old.

use super::engine::{Detection, Imported, Overrides};
use crate::core::Core;
use crate::error::{Code, Error, Result};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The largest chunk [`Core::dataset_upload_append`] takes (the page sends 1 MiB ones).
pub const MAX_UPLOAD_CHUNK: usize = 8 << 20;
/// Uploads kept at once; a newer one drops the oldest (a page that was reloaded mid-upload).
const MAX_UPLOADS: usize = 4;
/// A leftover folder in `imports/` older than this is a crashed run's: removed.
const STALE: Duration = Duration::from_secs(3600);

/// One file being handed over.
struct Upload {
    /// Whose it is: imported only for the account that began it.
    account: String,
    /// The private folder holding the copy; removed with it.
    dir: PathBuf,
    path: PathBuf,
    file: std::fs::File,
    /// The size the page announced.
    size: u64,
    written: u64,
    /// For dropping the oldest.
    serial: u64,
}

impl Drop for Upload {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The uploads of a [`Core`], by their id.
#[derive(Default)]
pub(crate) struct Uploads {
    open: Mutex<HashMap<String, Upload>>,
    serial: std::sync::atomic::AtomicU64,
}

fn lock(u: &Uploads) -> std::sync::MutexGuard<'_, HashMap<String, Upload>> {
    u.open.lock().unwrap_or_else(|p| p.into_inner())
}

/// The last component of the name the page gave, or an error for an empty or dotted one.
fn base_name(file_name: &str) -> Result<&str> {
    let base = file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    if base.trim_matches('.').is_empty() || base.len() > 255 || base.contains('\0') {
        return Err(Error::new(
            Code::InvalidInput,
            format!("`{file_name}` is not a file name"),
        ));
    }
    Ok(base)
}

fn no_upload(id: &str) -> Error {
    Error::new(
        Code::InvalidInput,
        format!("no file is being uploaded as `{id}` (imported, cancelled or never begun); pick the file again"),
    )
}

/// A new file, mode 0600, never an existing one.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

impl Core {
    fn uploads(&self) -> &Uploads {
        &self.analytics_slot().uploads
    }

    /// Begins handing over a file of `size` bytes named `file_name` (its last path component
    /// names the dataset and the errors). Files over the import size cap are refused here,
    /// before any byte is sent. Returns the upload's id.
    ///
    /// # Errors
    /// [`Code::InvalidInput`] for a file over the cap or a name that is empty or only dots;
    /// [`Code::NotSignedIn`]; [`Code::Storage`] when the private copy cannot be created.
    pub fn dataset_upload_begin(&self, file_name: &str, size: u64) -> Result<String> {
        let base = base_name(file_name)?;
        let cap = super::engine::read::DEFAULT_MAX_BYTES;
        if size > cap {
            let e = super::engine::Error::TooLarge { bytes: size, cap };
            return Err(Error::new(
                Code::InvalidInput,
                format!("{base}: {e}; nothing imported"),
            ));
        }
        let account = self.analytics_account()?;
        let imports = self.data_dir().join("imports");
        let storage = |p: &Path, e: std::io::Error| {
            Error::new(Code::Storage, format!("{}: {e}", p.display()))
        };
        latchkey_auth::create_private_dir(&imports).map_err(|e| storage(&imports, e))?;
        let id = crate::new_key("upload")?;
        let mut open = lock(self.uploads());
        sweep(&imports, &open);
        let dir = imports.join(&id);
        latchkey_auth::create_private_dir(&dir).map_err(|e| storage(&dir, e))?;
        let path = dir.join(base);
        let file = match create_private(&path) {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(storage(&path, e));
            }
        };
        while open.len() >= MAX_UPLOADS {
            let oldest = open
                .iter()
                .min_by_key(|(_, u)| u.serial)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => drop(open.remove(&k)),
                None => break,
            }
        }
        let serial = self
            .uploads()
            .serial
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        open.insert(
            id.clone(),
            Upload {
                account,
                dir,
                path,
                file,
                size,
                written: 0,
                serial,
            },
        );
        Ok(id)
    }

    /// Appends the chunk that starts at byte `offset` of the file (chunks come in order; at
    /// most [`MAX_UPLOAD_CHUNK`] bytes). Returns the bytes received so far.
    ///
    /// # Errors
    /// [`Code::InvalidInput`] for an unknown upload, a chunk out of order or too large, or
    /// more bytes than announced; [`Code::Storage`] when the copy cannot be written (the
    /// upload is then dropped).
    pub fn dataset_upload_append(&self, upload: &str, offset: u64, bytes: &[u8]) -> Result<u64> {
        if bytes.len() > MAX_UPLOAD_CHUNK {
            return Err(Error::new(
                Code::InvalidInput,
                format!(
                    "a chunk of {} bytes is over the {MAX_UPLOAD_CHUNK}-byte limit",
                    bytes.len()
                ),
            ));
        }
        let mut open = lock(self.uploads());
        let u = open.get_mut(upload).ok_or_else(|| no_upload(upload))?;
        if offset != u.written {
            return Err(Error::new(
                Code::InvalidInput,
                format!(
                    "a chunk at byte {offset}, where the next one starts at byte {}",
                    u.written
                ),
            ));
        }
        let end = u.written + bytes.len() as u64;
        if end > u.size {
            let size = u.size;
            drop(open.remove(upload));
            return Err(Error::new(
                Code::InvalidInput,
                format!("more than the {size} bytes announced; nothing imported"),
            ));
        }
        if let Err(e) = u.file.write_all(bytes) {
            let path = u.path.display().to_string();
            drop(open.remove(upload));
            return Err(Error::new(Code::Storage, format!("{path}: {e}")));
        }
        u.written = end;
        Ok(end)
    }

    /// What importing the uploaded file with `overrides` would store (types, date order,
    /// decimal mark, the first `preview_rows` rows as written, an earlier import of the same
    /// file). Free; stores nothing and keeps the upload for the import.
    ///
    /// # Errors
    /// Those of [`Core::dataset_import`] (a correction that does not fit names the line and
    /// column); [`Code::InvalidInput`] for an unknown or unfinished upload.
    pub fn dataset_upload_detect(
        &self,
        upload: &str,
        overrides: &Overrides,
        preview_rows: usize,
    ) -> Result<Detection> {
        let path = {
            let open = lock(self.uploads());
            let u = open.get(upload).ok_or_else(|| no_upload(upload))?;
            self.check_complete(u)?;
            u.path.clone()
        };
        // The lock is not held while the file is read: a cancel meanwhile removes the copy.
        self.dataset_detect(&path, overrides, preview_rows)
    }

    /// Imports the uploaded file (see [`Core::dataset_import_with`]; with `replace`, over that
    /// dataset, see [`Core::dataset_reimport`]) and removes the copy, whatever the outcome.
    ///
    /// # Errors
    /// Those of [`Core::dataset_import_with`]; [`Code::InvalidInput`] for an unknown or
    /// unfinished upload.
    pub fn dataset_upload_import(
        &self,
        upload: &str,
        name: Option<&str>,
        overrides: &Overrides,
        replace: Option<i64>,
    ) -> Result<Imported> {
        let u = lock(self.uploads())
            .remove(upload)
            .ok_or_else(|| no_upload(upload))?;
        self.check_complete(&u)?;
        match replace {
            Some(id) => self.dataset_reimport(&u.path, id, overrides),
            None => self.dataset_import_with(&u.path, name, overrides),
        }
        // `u` is dropped here: the copy goes.
    }

    /// Drops an upload and its copy. Cancelling one that is gone is not an error.
    pub fn dataset_upload_cancel(&self, upload: &str) {
        let gone = lock(self.uploads()).remove(upload);
        drop(gone);
    }

    fn check_complete(&self, u: &Upload) -> Result<()> {
        if u.account != self.analytics_account()? {
            return Err(Error::new(
                Code::InvalidInput,
                "the file was picked by another account; pick it again",
            ));
        }
        if u.written != u.size {
            return Err(Error::new(
                Code::InvalidInput,
                format!(
                    "only {} of the file's {} bytes arrived; pick it again",
                    u.written, u.size
                ),
            ));
        }
        Ok(())
    }
}

/// Removes folders in `imports/` that no upload of this run owns and that are over an hour
/// old (a crashed run's copies).
fn sweep(imports: &Path, open: &HashMap<String, Upload>) {
    let Ok(entries) = std::fs::read_dir(imports) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if open.contains_key(&name) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE);
        if old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
