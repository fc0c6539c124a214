//! Opening the user's own browser: `LATCHKEY_BROWSER`, else `BROWSER`, else the platform's
//! opener. The command gets the URL as its last argument and must return promptly (as
//! `xdg-open` does); we never wait for the browser itself.

use crate::error::{Code, Error, Result};
use std::process::{Command, Stdio};

/// Opens `url` in the browser and returns once the opener has been started.
pub fn open(url: &str) -> Result<()> {
    let (program, mut args) = opener();
    args.push(url.to_string());
    Command::new(&program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| {
            Error::new(
                Code::Internal,
                format!("could not start the browser (`{program}`): {e}; open the link yourself"),
            )
        })
}

/// The command that opens a URL here.
fn opener() -> (String, Vec<String>) {
    for var in ["LATCHKEY_BROWSER", "BROWSER"] {
        if let Ok(cmd) = std::env::var(var) {
            let mut parts: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
            if !parts.is_empty() {
                let program = parts.remove(0);
                return (program, parts);
            }
        }
    }
    if cfg!(target_os = "macos") {
        ("open".into(), vec![])
    } else if cfg!(target_os = "windows") {
        (
            "rundll32".into(),
            vec!["url.dll,FileProtocolHandler".into()],
        )
    } else {
        ("xdg-open".into(), vec![])
    }
}
