//! `latchkey://` links from the OS. They are untrusted input (anyone can launch one); which
//! link is which is decided by [`latchkey_core::links::classify`] (fuzzed), acted on here:
//! - `latchkey://redeem?voucher=...` is checked for shape only and handed to the UI, which
//!   has the core verify it fully (`wallet_voucher_preview`) before showing its amount, asks
//!   the user, and redeems only into the account the question named (`wallet_redeem`);
//! - while a deep-link sign-in is pending, other links go to the core's inbox, which acts
//!   only on the callback matching that sign-in (path and `state`);
//! - a bare `latchkey://` (the "Open Latchkey" link on the browser's success page) just
//!   brings the window forward;
//! - `latchkey://purchase?checkout=ID` (the credit service's "Back to Latchkey" after a
//!   payment) brings the window forward and tells the UI, which shows the new balance; it
//!   proves nothing by itself (the balance comes from the service, and a pending purchase
//!   learns its outcome by asking the service);
//! - anything else is ignored, and logged without its query (it may carry a code).

use crate::shell::{bring_forward, lock, Shell};
use latchkey_core::links::{classify, shown, Link};
use serde::Serialize;
use tauri::{AppHandle, Emitter, Manager, Runtime};

/// The app's URL scheme (tauri.conf.json `plugins.deep-link.desktop.schemes`).
pub(crate) use latchkey_core::links::SCHEME;

/// The `deeplink://purchase` event's payload.
#[derive(Clone, Serialize)]
pub(crate) struct PurchaseLink {
    pub checkout: String,
}

/// The `deeplink://redeem` event's payload.
#[derive(Clone, Serialize)]
pub(crate) struct RedeemLink {
    pub voucher: String,
}

/// Acts on links the OS handed the app (a running instance, a second launch, a cold start).
pub(crate) fn handle<R: Runtime>(app: &AppHandle<R>, urls: impl IntoIterator<Item = String>) {
    let shell = app.state::<Shell>();
    for url in urls {
        match classify(&url) {
            Link::Redeem(voucher) => {
                if let Some(early) = lock(&shell.early_vouchers).as_mut() {
                    early.push(voucher.clone());
                }
                let _ = app.emit("deeplink://redeem", RedeemLink { voucher });
                show_without_stealing_focus(app);
            }
            Link::MaybeCallback(u) => {
                let fed = match shell.core() {
                    Ok(core) if core.deep_link_inbox().is_pending() => core
                        .deep_link_inbox()
                        .feed(u.as_str())
                        .map_err(|e| e.to_string()),
                    _ => Err("no sign-in is waiting for a link".into()),
                };
                match fed {
                    Ok(()) => bring_forward(app),
                    Err(why) => eprintln!("latchkey: ignored the link {} ({why})", shown(&url)),
                }
            }
            Link::Open => bring_forward(app),
            Link::Purchase(checkout) => {
                let _ = app.emit("deeplink://purchase", PurchaseLink { checkout });
                bring_forward(app);
            }
            Link::Ignored => eprintln!("latchkey: ignored the link {}", shown(&url)),
        }
    }
}

/// Shows the window for a redeem question without taking the keyboard from another app the
/// user is typing in (an Enter meant there must never answer it): focus only when the window
/// already has it, otherwise ask for the user's attention (a taskbar flash).
fn show_without_stealing_focus<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        if w.is_focused().unwrap_or(false) {
            bring_forward(app);
        } else {
            let _ = w.unminimize();
            let _ = w.show();
            let _ = w.request_user_attention(Some(tauri::UserAttentionType::Informational));
        }
    }
}
