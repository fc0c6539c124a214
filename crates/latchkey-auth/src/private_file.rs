//! The one way Latchkey writes a file only its owner may read (sealed tokens, the insecure
//! key store, voucher signing keys).

use std::io::Write;
use std::path::Path;

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
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
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
        }
    }
}
