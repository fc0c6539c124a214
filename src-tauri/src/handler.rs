//! Linux: whether the desktop's default handler for `latchkey://` links already runs this
//! very program: the .deb's or .rpm's entry, or the per-user one an earlier start of this
//! copy registered. Then the app registers nothing at start. Another per-user handler would
//! shadow the package's for this user (and its quoted `Exec` line is not understood by the
//! generic `xdg-open` of desktops without their own opener), and registering runs `xdg-mime`
//! and `update-desktop-database`, shell scripts that start dozens of processes while the
//! window is loading. The lookup reads the files the XDG "Association between MIME types and
//! applications" spec names, in its order, and starts no process.

use std::path::{Path, PathBuf};

/// The directories the lookup reads (XDG Base Directory spec), from the environment.
pub(crate) struct XdgDirs {
    config: Vec<PathBuf>,
    /// `applications/` under `$XDG_DATA_HOME` then each of `$XDG_DATA_DIRS`.
    applications: Vec<PathBuf>,
    /// `$XDG_CURRENT_DESKTOP`, lower-cased (`gnome`, `kde`...), for `<desktop>-mimeapps.list`.
    desktops: Vec<String>,
}

impl XdgDirs {
    pub(crate) fn from_env() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let config_home = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        let data_home = var("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".local/share")));
        let list = |k: &str, default: &str| -> Vec<PathBuf> {
            let v = var(k).unwrap_or_else(|| default.into());
            std::env::split_paths(&v).collect()
        };
        Self {
            config: config_home
                .into_iter()
                .chain(list("XDG_CONFIG_DIRS", "/etc/xdg"))
                .collect(),
            applications: data_home
                .into_iter()
                .chain(list("XDG_DATA_DIRS", "/usr/local/share:/usr/share"))
                .map(|d| d.join("applications"))
                .collect(),
            desktops: std::env::var("XDG_CURRENT_DESKTOP")
                .unwrap_or_default()
                .split(':')
                .filter(|d| !d.is_empty())
                .map(str::to_lowercase)
                .collect(),
        }
    }

    /// The `mimeapps.list` files, most important first: each config dir, then each
    /// applications dir; in each, the desktop-specific lists before the plain one.
    fn mimeapps_lists(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for dir in self.config.iter().chain(&self.applications) {
            for desktop in &self.desktops {
                out.push(dir.join(format!("{desktop}-mimeapps.list")));
            }
            out.push(dir.join("mimeapps.list"));
        }
        out
    }

    /// The installed desktop entry with this id, if any.
    fn entry(&self, id: &str) -> Option<PathBuf> {
        if id.is_empty() || id.contains('/') {
            return None;
        }
        self.applications
            .iter()
            .map(|d| d.join(id))
            .find(|p| p.is_file())
    }

    /// The desktop entry that opens `mime`: the first installed one of the first
    /// `[Default Applications]` line naming it, else the first of the `[MIME Cache]` lines
    /// (what `update-desktop-database` writes for installed packages).
    pub(crate) fn default_entry(&self, mime: &str) -> Option<PathBuf> {
        let from = |files: Vec<PathBuf>, section: &str| {
            files.iter().find_map(|f| {
                let text = std::fs::read_to_string(f).ok()?;
                ini_values(&text, section, mime)?
                    .split(';')
                    .map(str::trim)
                    .find_map(|id| self.entry(id))
            })
        };
        from(self.mimeapps_lists(), "Default Applications").or_else(|| {
            let caches = self
                .applications
                .iter()
                .map(|d| d.join("mimeinfo.cache"))
                .collect();
            from(caches, "MIME Cache")
        })
    }
}

/// True when the desktop's default handler for `scheme` is a desktop entry whose program is
/// `exe`. Anything missing or unreadable means "no".
pub(crate) fn handler_runs(dirs: &XdgDirs, scheme: &str, exe: &Path) -> bool {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let path: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    let me = canonical(exe);
    dirs.default_entry(&format!("x-scheme-handler/{scheme}"))
        .and_then(|entry| std::fs::read_to_string(entry).ok())
        .and_then(|text| exec_program(&text))
        .and_then(|program| resolve(&program, &path))
        .is_some_and(|program| canonical(&program) == me)
}

/// The value of `key` in `[section]` of an ini-style file (the first, as the spec says).
fn ini_values<'a>(text: &'a str, section: &str, key: &str) -> Option<&'a str> {
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name == section;
        } else if inside {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == key {
                    return Some(v.trim());
                }
            }
        }
    }
    None
}

/// The program of a desktop entry's `Exec=` line (its first word, quotes removed).
pub(crate) fn exec_program(entry: &str) -> Option<String> {
    let exec = ini_values(entry, "Desktop Entry", "Exec")?;
    let program = match exec.strip_prefix('"') {
        Some(rest) => rest.split('"').next()?,
        None => exec.split_whitespace().next()?,
    };
    Some(program.to_owned()).filter(|p| !p.is_empty())
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

    /// A scratch desktop: a user's config and data dirs and one system data dir.
    struct Desktop {
        _root: tempfile::TempDir,
        config: PathBuf,
        user_apps: PathBuf,
        system_apps: PathBuf,
        dirs: XdgDirs,
    }

    fn desktop(current: &[&str]) -> Desktop {
        let root = tempfile::tempdir().unwrap();
        let config = root.path().join("config");
        let user_apps = root.path().join("data/applications");
        let system_apps = root.path().join("usr/share/applications");
        for d in [&config, &user_apps, &system_apps] {
            std::fs::create_dir_all(d).unwrap();
        }
        let dirs = XdgDirs {
            config: vec![config.clone(), root.path().join("etc/xdg")],
            applications: vec![user_apps.clone(), system_apps.clone()],
            desktops: current.iter().map(|d| d.to_string()).collect(),
        };
        Desktop {
            _root: root,
            config,
            user_apps,
            system_apps,
            dirs,
        }
    }

    fn entry(dir: &Path, id: &str, exec: &str) {
        let text = format!("[Desktop Entry]\nType=Application\nExec={exec}\n");
        std::fs::write(dir.join(id), text).unwrap();
    }

    const MIME: &str = "x-scheme-handler/latchkey";

    #[test]
    fn an_installed_package_is_found_through_the_system_mime_cache() {
        let d = desktop(&[]);
        entry(&d.system_apps, "Latchkey.desktop", "latchkey-app %u");
        std::fs::write(
            d.system_apps.join("mimeinfo.cache"),
            "[MIME Cache]\ntext/plain=other.desktop;\nx-scheme-handler/latchkey=Latchkey.desktop;\n",
        )
        .unwrap();
        assert_eq!(
            d.dirs.default_entry(MIME),
            Some(d.system_apps.join("Latchkey.desktop"))
        );
        assert_eq!(d.dirs.default_entry("x-scheme-handler/other"), None);
    }

    #[test]
    fn a_users_default_wins_over_the_cache_and_missing_entries_are_skipped() {
        let d = desktop(&[]);
        entry(&d.system_apps, "Latchkey.desktop", "latchkey-app %u");
        entry(
            &d.user_apps,
            "latchkey-app-handler.desktop",
            "\"/opt/x/latchkey-app\" %u",
        );
        std::fs::write(
            d.system_apps.join("mimeinfo.cache"),
            "[MIME Cache]\nx-scheme-handler/latchkey=Latchkey.desktop;\n",
        )
        .unwrap();
        std::fs::write(
            d.config.join("mimeapps.list"),
            "[Added Associations]\nx-scheme-handler/latchkey=Latchkey.desktop;\n\
             [Default Applications]\nx-scheme-handler/latchkey=gone.desktop;latchkey-app-handler.desktop;\n",
        )
        .unwrap();
        assert_eq!(
            d.dirs.default_entry(MIME),
            Some(d.user_apps.join("latchkey-app-handler.desktop"))
        );
    }

    #[test]
    fn the_current_desktops_own_list_comes_first() {
        let d = desktop(&["gnome"]);
        entry(&d.user_apps, "a.desktop", "a");
        entry(&d.user_apps, "b.desktop", "b");
        std::fs::write(
            d.config.join("mimeapps.list"),
            "[Default Applications]\nx-scheme-handler/latchkey=a.desktop\n",
        )
        .unwrap();
        std::fs::write(
            d.config.join("gnome-mimeapps.list"),
            "[Default Applications]\nx-scheme-handler/latchkey=b.desktop\n",
        )
        .unwrap();
        assert_eq!(
            d.dirs.default_entry(MIME),
            Some(d.user_apps.join("b.desktop"))
        );
    }

    #[test]
    fn the_handler_runs_this_program_only_when_its_exec_names_it() {
        let d = desktop(&[]);
        let exe = d.user_apps.join("latchkey-app");
        std::fs::write(&exe, "").unwrap();
        std::fs::write(
            d.config.join("mimeapps.list"),
            "[Default Applications]\nx-scheme-handler/latchkey=mine.desktop\n",
        )
        .unwrap();
        assert!(!handler_runs(&d.dirs, "latchkey", &exe), "no entry yet");
        entry(
            &d.user_apps,
            "mine.desktop",
            &format!("\"{}\" %u", exe.display()),
        );
        assert!(handler_runs(&d.dirs, "latchkey", &exe));
        entry(&d.user_apps, "mine.desktop", "/usr/bin/something-else %u");
        assert!(!handler_runs(&d.dirs, "latchkey", &exe));
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
