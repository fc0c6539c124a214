//! Linux: whether an installed desktop entry (the .deb's or .rpm's) already opens
//! `latchkey://` links with this very program. When it does, the app does not register a
//! second, per-user handler at start: that one would shadow the package's for this user, and
//! its quoted `Exec` line is not understood by the generic `xdg-open` of desktops without
//! their own opener. Development builds and unpacked copies are not installed, so they still
//! register themselves at start.

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when the system's default handler for `scheme` is a desktop entry whose program is
/// `exe`. Any failure (no `xdg-mime`, no handler, unreadable entry) means "no".
pub(crate) fn installed_handler_runs(scheme: &str, exe: &Path) -> bool {
    let Ok(out) = Command::new("xdg-mime")
        .args(["query", "default", &format!("x-scheme-handler/{scheme}")])
        .output()
    else {
        return false;
    };
    let name = String::from_utf8_lossy(&out.stdout);
    let Some(name) = name.lines().next().map(str::trim).filter(|n| !n.is_empty()) else {
        return false;
    };
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let path: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    let me = canonical(exe);
    application_dirs()
        .iter()
        .map(|dir| dir.join(name))
        .find_map(|entry| std::fs::read_to_string(entry).ok())
        .and_then(|text| exec_program(&text))
        .and_then(|program| resolve(&program, &path))
        .is_some_and(|program| canonical(&program) == me)
}

/// Where desktop entries live, most specific first (XDG Base Directory spec).
fn application_dirs() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".local/share")));
    let data_dirs = std::env::var("XDG_DATA_DIRS")
        .ok()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "/usr/local/share:/usr/share".to_owned());
    data_home
        .into_iter()
        .chain(data_dirs.split(':').map(PathBuf::from))
        .map(|d| d.join("applications"))
        .collect()
}

/// The program of a desktop entry's `Exec=` line (its first word, quotes removed).
pub(crate) fn exec_program(entry: &str) -> Option<String> {
    let mut in_main = false;
    for line in entry.lines().map(str::trim) {
        if line.starts_with('[') {
            in_main = line == "[Desktop Entry]";
            continue;
        }
        let Some(exec) = line.strip_prefix("Exec").map(str::trim_start) else {
            continue;
        };
        let Some(exec) = exec.strip_prefix('=').map(str::trim) else {
            continue; // `ExecFoo=` or a localised key
        };
        if !in_main {
            continue;
        }
        let program = match exec.strip_prefix('"') {
            Some(rest) => rest.split('"').next()?,
            None => exec.split_whitespace().next()?,
        };
        return Some(program.to_owned()).filter(|p| !p.is_empty());
    }
    None
}

/// `program` as a path: as is when it has a slash, else looked up in `path`.
fn resolve(program: &str, path: &[PathBuf]) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    path.iter().map(|d| d.join(program)).find(|p| p.is_file())
}

fn canonical(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_of_an_exec_line() {
        let cases = [
            (
                "[Desktop Entry]\nName=L\nExec=latchkey-app %u\n",
                Some("latchkey-app"),
            ),
            (
                "[Desktop Entry]\nExec=\"/opt/My Apps/latchkey-app\" %u\n",
                Some("/opt/My Apps/latchkey-app"),
            ),
            (
                "[Desktop Entry]\nExec = /usr/bin/latchkey-app\n",
                Some("/usr/bin/latchkey-app"),
            ),
            (
                "[Desktop Action new]\nExec=other\n[Desktop Entry]\nExec=mine %u\n",
                Some("mine"),
            ),
            ("[Desktop Entry]\nExecutable=no\nName=x\n", None),
            ("[Desktop Entry]\nExec=\n", None),
            ("no entry at all", None),
        ];
        for (entry, want) in cases {
            assert_eq!(exec_program(entry).as_deref(), want, "{entry:?}");
        }
    }

    #[test]
    fn a_bare_program_is_found_on_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("latchkey-app");
        std::fs::write(&bin, "").unwrap();
        let path = vec![PathBuf::from("/nonexistent"), dir.path().to_path_buf()];
        assert_eq!(resolve("latchkey-app", &path), Some(bin));
        assert_eq!(resolve("missing-app", &path), None);
        assert_eq!(resolve("/abs/x", &path), Some(PathBuf::from("/abs/x")));
    }
}
