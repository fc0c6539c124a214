//! The Latchkey desktop shell: a thin Tauri face over `latchkey-core`. Commands parse,
//! delegate and convert (see `commands/`); no token ever crosses IPC.

pub mod commands;
mod deeplink;
#[cfg(target_os = "linux")]
mod handler;
mod purchase;
mod shell;
mod signin;
mod sync;
mod waiting;
mod watch;

pub use purchase::{Purchases, PURCHASED, PURCHASE_FAILED};
pub use shell::Shell;
pub use signin::{SignIns, DEFAULT_SIGN_IN_TIMEOUT, SIGNED_IN, SIGN_IN_FAILED};
pub use sync::{Phase, SyncStatus, SyncTiming, Syncs, SYNC_STATUS};

use tauri::Manager;
use tauri_plugin_deep_link::DeepLinkExt;

/// The commands the UI may call, for `invoke_handler`. Each one is listed in build.rs (which
/// makes its `allow-<name>` permission) and granted in capabilities/default.json.
#[macro_export]
macro_rules! app_commands {
    () => {
        tauri::generate_handler![
            $crate::commands::startup::app_startup,
            $crate::commands::auth::auth_status,
            $crate::commands::auth::auth_refresh_status,
            $crate::commands::auth::auth_providers,
            $crate::commands::auth::auth_sign_in,
            $crate::commands::auth::auth_pending,
            $crate::commands::auth::auth_cancel,
            $crate::commands::auth::auth_open_again,
            $crate::commands::auth::auth_sign_out,
            $crate::commands::auth::auth_switch,
            $crate::commands::auth::auth_sign_in_device,
            $crate::commands::auth::auth_paste_back,
            $crate::commands::wallet::wallet_balance,
            $crate::commands::wallet::wallet_history,
            $crate::commands::wallet::wallet_voucher_preview,
            $crate::commands::wallet::wallet_redeem,
            $crate::commands::wallet::wallet_export_csv,
            $crate::commands::analytics::dataset_upload_begin,
            $crate::commands::analytics::dataset_upload_chunk,
            $crate::commands::analytics::dataset_upload_cancel,
            $crate::commands::analytics::dataset_detect,
            $crate::commands::analytics::dataset_import,
            $crate::commands::analytics::dataset_list,
            $crate::commands::analytics::dataset_rename,
            $crate::commands::analytics::dataset_delete,
            $crate::commands::analytics::dataset_profile,
            $crate::commands::analytics::dataset_preview,
            $crate::commands::analytics::analysis_price,
            $crate::commands::analytics::analysis_run,
            $crate::commands::analytics::analysis_cancel,
            $crate::commands::analytics::analysis_results,
            $crate::commands::analytics::analysis_result,
            $crate::commands::analytics::analysis_export_csv,
            $crate::commands::analytics::analysis_export_chart,
            $crate::commands::credits::credits_packs,
            $crate::commands::credits::credits_buy,
            $crate::commands::credits::credits_pending,
            $crate::commands::credits::credits_cancel,
            $crate::commands::credits::credits_open_again,
            $crate::commands::sync::sync_status,
            $crate::commands::sync::sync_now,
            $crate::commands::sync::sync_soon,
            $crate::commands::sync::sync_import_shown,
            $crate::commands::sync::devices_list,
            $crate::commands::sync::devices_remove,
        ]
    };
}

/// Builds the app around `shell`; sign-ins wait as long as [`SignIns::from_env`] says.
pub fn builder(shell: Shell) -> tauri::Builder<tauri::Wry> {
    tauri::Builder::default()
        // First, so a second launch hands over its arguments and exits. With the `deep-link`
        // feature the plugin passes a `latchkey://` argument to the deep-link plugin, whose
        // `on_open_url` below handles it; this callback only brings the window forward.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            shell::bring_forward(app);
        }))
        .plugin(tauri_plugin_deep_link::init())
        // Rust-side only: the webview is granted no opener permission.
        .plugin(tauri_plugin_opener::init())
        .manage(shell)
        .manage(SignIns::from_env())
        .manage(commands::analytics::AnalysisRuns::default())
        .manage(Syncs::from_env())
        .invoke_handler(app_commands!())
        .setup(|app| {
            let links = app.deep_link();
            // Off the main thread: it runs `xdg-mime` and friends, and the window should not
            // wait for them.
            #[cfg(target_os = "linux")]
            {
                let handle = app.handle().clone();
                std::thread::spawn(move || register_link_handler(&handle));
            }
            let handle = app.handle().clone();
            links.on_open_url(move |event| {
                deeplink::handle(&handle, event.urls().into_iter().map(String::from));
            });
            // Cold start: the link this process was launched with.
            if let Ok(Some(urls)) = links.get_current() {
                deeplink::handle(app.handle(), urls.into_iter().map(String::from));
            }
            watch::start(app.handle().clone(), app.state::<Shell>().watched_files());
            // With a credit service: sync now, then as things change (sync.rs).
            sync::start(app.handle().clone());
            // Opens the wallet while the window loads, so the first screen does not wait for
            // SQLite (the core keeps the connection). Signed out, this finds nothing to open.
            // With a credit service the wallet is the service's: opening the local one would
            // create it, and the start sync (which imports a local wallet) would find it half
            // made ("no such table").
            let handle = app.handle().clone();
            std::thread::spawn(move || {
                if let Ok(core) = handle.state::<Shell>().core() {
                    if !core.wallet_uses_service() {
                        let _ = core.with_wallet(None, |w, a| w.balance(a));
                    }
                }
            });
            #[cfg(target_os = "linux")]
            if let Some(window) = app.get_webview_window("main") {
                if !std::env::var("LATCHKEY_GPU").is_ok_and(|v| v == "1") {
                    let _ = window.with_webview(|w| software_rendering(&w.inner()));
                }
            }
            Ok(())
        })
}

/// Linux: the .deb/.rpm register the `latchkey://` handler at install time, and a copy that
/// registered itself once stays registered. Only when the desktop's handler does not run this
/// program (a first start, a moved build) does the app register itself, after the first
/// screen: registering starts `xdg-mime` and friends, which would compete with the window for
/// the CPU. A failure only costs deep links; loopback sign-in still works.
#[cfg(target_os = "linux")]
fn register_link_handler<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    let ours = || {
        std::env::current_exe().is_ok_and(|exe| {
            handler::handler_runs(&handler::XdgDirs::from_env(), deeplink::SCHEME, &exe)
        })
    };
    if ours() {
        return;
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    match app.deep_link().register_all().map(|()| ours()) {
        Ok(true) => {}
        Ok(false) => eprintln!(
            "latchkey: {}:// links may open another program (the handler did not take)",
            deeplink::SCHEME
        ),
        Err(e) => eprintln!(
            "latchkey: could not register the {}:// link handler: {e}",
            deeplink::SCHEME
        ),
    }
}

/// Linux: draw the window in software (WebKit's "never" hardware-acceleration policy). The
/// UI is a few cards and a table; GPU compositing buys it nothing, yet costs the WebKit
/// process about 70 MiB idle on a machine without a GPU driver (Mesa's software GL and its
/// LLVM shader compiler), and composited WebKitGTK windows are what goes blank on some
/// driver stacks. `LATCHKEY_GPU=1` keeps WebKit's default.
#[cfg(target_os = "linux")]
fn software_rendering(webview: &webkit2gtk::WebView) {
    use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
    if let Some(settings) = webview.settings() {
        settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
    }
}

/// Builds and runs the desktop app until its last window closes.
pub fn run() {
    let shell = Shell::open(latchkey_core::CoreOptions::from_env());
    builder(shell)
        .run(tauri::generate_context!())
        .unwrap_or_else(|e| {
            eprintln!("latchkey: the desktop app could not start: {e}");
            std::process::exit(1);
        });
}
