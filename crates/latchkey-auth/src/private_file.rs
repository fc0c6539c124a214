//! The one way Latchkey writes a file only its owner may read (sealed tokens, the insecure
//! key store, voucher signing keys).

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether [`write_private`] may replace a file that is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    /// Replace it atomically.
    Replace,
    /// Fail with [`std::io::ErrorKind::AlreadyExists`] and leave it as it is.
    Keep,
}

/// Writes `bytes` to `path`, readable and writable by its owner only (mode 0600 on Unix),
/// atomically: a reader sees the old content or the new, never a part. The parent folder is
/// created when missing.
///
/// # Errors
/// Any I/O error, and `AlreadyExists` when `existing` is [`Existing::Keep`] and `path` exists.
pub fn write_private(path: &Path, bytes: &[u8], existing: Existing) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let (tmp, mut f) = create_temp(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    let placed = match existing {
        Existing::Replace => std::fs::rename(&tmp, path),
        // A hard link never replaces its target: no window where another file is clobbered.
        Existing::Keep => std::fs::hard_link(&tmp, path),
    };
    if existing == Existing::Keep || placed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    placed
}

/// A new temporary file beside `path`, mode 0600, created with create-new: never an existing
/// file, never through a symlink someone planted under the name (`O_EXCL`).
fn create_temp(path: &Path) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let mut last = None;
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        match private_options().open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            // A leftover of a crashed run with the same pid, or a planted name: take another.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free temporary name")))
}

/// Create-new, write-only, mode 0600 on Unix.
fn private_options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Opens (creating when missing, mode 0600 on Unix) a file such as a lock file, never
/// truncating it.
pub fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates `dir` and its missing parents readable by their owner only (mode 0700 on Unix),
/// and makes `dir` itself 0700 when it already exists (a data folder made by an older
/// version, or by a tool, with wider rights).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let meta = std::fs::symlink_metadata(dir)?;
        if meta.is_dir() && meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_or_keep() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("f");
        write_private(&path, b"one", Existing::Keep).unwrap();
        let again = write_private(&path, b"two", Existing::Keep).unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"one",
            "Keep leaves it as it was"
        );
        write_private(&path, b"three", Existing::Replace).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "owner only");
            let mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o700,
                "the folder it made is its owner's only"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_temporary_name_is_never_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let path = dir.path().join("f");
        // Whatever temporary names this process would take next, plant symlinks under them.
        let pid = std::process::id();
        let mut names = vec![format!("tmp{pid}")];
        names.extend((0..64).map(|n| format!("tmp{pid}-{n}")));
        for name in names {
            std::os::unix::fs::symlink(&victim, path.with_extension(name)).unwrap();
        }
        let _ = write_private(&path, b"secret", Existing::Replace);
        assert_eq!(
            std::fs::read(&victim).unwrap(),
            b"keep me",
            "a symlink in the temporary file's place is not written through"
        );
        let wide = dir.path().join("wide");
        std::fs::create_dir(&wide).unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&wide).unwrap();
        let mode = std::fs::metadata(&wide).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "an existing data folder is narrowed");
    }
}
