//! `latchkey login --device`: signing in where no browser can reach this machine's loopback
//! port. With the provider's device flow (RFC 8628) the user opens a page on any device and
//! types a code (or scans the QR code); without one, they sign in in any browser and paste
//! back the address it ended on. Also the question `latchkey login` asks on a machine with no
//! display and no browser.

use crate::output::Output;
use latchkey_core::{Code, Completed, Core, DeviceSignIn, Error, SignInOptions};
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

/// Signs in on another device, or by pasting back the browser's address when the provider
/// offers no device flow.
pub async fn run(
    app: &Core,
    out: &Output,
    provider: Option<&str>,
    timeout: Duration,
    options: SignInOptions,
) -> Result<Completed, Error> {
    let cancel = super::ctrl_c();
    match app.begin_device_sign_in(provider).await? {
        Some(device) => {
            out.step(|| format!("provider `{}`: device sign-in (RFC 8628)", device.provider));
            show_codes(&device, timeout);
            app.finish_device_sign_in(device, timeout, cancel).await
        }
        None => paste_back(app, out, provider, timeout, options, cancel).await,
    }
}

fn show_codes(device: &DeviceSignIn, timeout: Duration) {
    let mut text = format!(
        "To sign in, open this page on any device (a phone, another computer):\n\n  {}\n\n\
         and enter the code:  {}\n",
        device.verification_uri(),
        device.user_code()
    );
    if let Some(complete) = device.verification_uri_complete() {
        text.push_str(&format!(
            "\nOr open this link, which has the code filled in:\n\n  {complete}\n"
        ));
    }
    let for_qr = device
        .verification_uri_complete()
        .unwrap_or(device.verification_uri());
    if let Ok(code) = QrCode::new(for_qr.as_bytes()) {
        // Light modules drawn as blocks: on the usual light-on-dark terminal the code shows
        // dark-on-light, as scanners expect.
        let qr = code
            .render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build();
        text.push_str(&format!("\nOr scan it:\n\n{qr}\n"));
    }
    let expires = device.expires_in().min(timeout).as_secs();
    text.push_str(&format!(
        "\nWaiting for you to approve (up to {expires} s; Ctrl-C cancels)."
    ));
    eprintln!("{text}");
}

async fn paste_back(
    app: &Core,
    out: &Output,
    provider: Option<&str>,
    timeout: Duration,
    options: SignInOptions,
    cancel: impl std::future::Future<Output = ()>,
) -> Result<Completed, Error> {
    let sign_in = app.begin_sign_in(provider, options).await?;
    out.step(|| {
        format!(
            "provider `{}` offers no device sign-in: paste-back, redirect {}",
            sign_in.provider,
            sign_in.pending.redirect_uri()
        )
    });
    let paste = sign_in.paste_back();
    eprintln!(
        "This provider offers no sign-in on another device. Sign in with a browser anywhere \
         and bring back the address it ends on:\n\n\
         1. Open this link in a browser:\n\n  {}\n\n\
         2. Once you have signed in, the browser tries to open {}?code=… and fails (that \
         address is on this machine). Copy the whole address from its address bar, paste it \
         here and press Enter (waiting up to {} s; Ctrl-C cancels):",
        sign_in.pending.authorize_url(),
        paste.redirect_uri(),
        timeout.as_secs()
    );

    // A plain thread: a blocked read of stdin must not keep the runtime from shutting down.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let finish = app.finish_sign_in(sign_in, timeout, cancel);
    tokio::pin!(finish);
    let mut reading = true;
    loop {
        tokio::select! {
            done = &mut finish => return done,
            line = lines.recv(), if reading => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => match paste.feed(&line) {
                    Ok(()) => {
                        reading = false;
                        eprintln!("Checking the address…");
                    }
                    Err(e) if e.code == Code::InvalidInput => {
                        out.warn(&e.message);
                        eprintln!("Paste the address again:");
                    }
                    Err(e) => return Err(e),
                },
                None => {
                    return Err(Error::new(
                        Code::SignInCancelled,
                        "No address was pasted before the input ended; the sign-in was cancelled",
                    ))
                }
            },
        }
    }
}

/// Whether a browser can open here: one is named (`LATCHKEY_BROWSER`, `BROWSER`), or the
/// platform has a desktop (always on macOS and Windows; `DISPLAY` or `WAYLAND_DISPLAY` else).
fn browser_can_open_here() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("LATCHKEY_BROWSER")
        || set("BROWSER")
        || cfg!(any(target_os = "macos", target_os = "windows"))
        || set("DISPLAY")
        || set("WAYLAND_DISPLAY")
}

/// On a machine where no browser can open, asks whether to sign in on another device
/// (only when someone can answer: stdin is a terminal); otherwise says how.
pub fn wants_device_instead(out: &Output) -> bool {
    if browser_can_open_here() {
        return false;
    }
    if !std::io::stdin().is_terminal() {
        out.warn(
            "no display and no browser here: `latchkey login --device` signs in on another \
             device (a phone, another computer)",
        );
        return false;
    }
    eprint!(
        "There is no display or browser here. Sign in on another device (a phone, another \
         computer) instead? [Y/n] "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    !matches!(answer.trim().to_ascii_lowercase().as_str(), "n" | "no")
}
