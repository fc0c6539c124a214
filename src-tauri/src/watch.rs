//! Tells the UI when another process (the CLI) changed the accounts or the wallet: a light
//! poll of the files' modification times, every two seconds.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tauri::{AppHandle, Emitter, Runtime};

pub(crate) fn start<R: Runtime>(app: AppHandle<R>, files: Vec<PathBuf>) {
    if files.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        let stamp = |files: &[PathBuf]| -> Vec<Option<SystemTime>> {
            files
                .iter()
                .map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
                .collect()
        };
        let mut last = stamp(&files);
        loop {
            std::thread::sleep(Duration::from_secs(2));
            let now = stamp(&files);
            if now != last {
                last = now;
                if app.emit("state://changed", ()).is_err() {
                    return;
                }
            }
        }
    });
}
