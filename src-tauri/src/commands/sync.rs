//! Sync with the credit service and this account's devices (issue 9), as `latchkey sync` and
//! `latchkey devices` do: the sync state, "Sync now", the devices, "Remove lost device". No
//! token crosses IPC: devices are names, times and credits; errors are `{code, message}`.

use crate::shell::Shell;
use crate::sync::{SyncStatus, Syncs};
use latchkey_core::{Code, DeviceView, Error};
use tauri::{AppHandle, Runtime, State};

/// The sync state from local files only: phase, last sync, what this device may spend
/// offline, its offline spends not yet sent and those the service refused.
#[tauri::command(async)]
pub fn sync_status(shell: State<'_, Shell>, syncs: State<'_, Syncs>) -> Result<SyncStatus, Error> {
    Ok(syncs.status(shell.core()?))
}

/// Syncs now ("Sync now"), after any sync already running here; the state after it. The
/// window also hears it as `sync://status` events.
#[tauri::command(async)]
pub async fn sync_now<R: Runtime>(
    app: AppHandle<R>,
    syncs: State<'_, Syncs>,
) -> Result<SyncStatus, Error> {
    syncs.run(&app).await
}

/// Something changed here (a paid run, a redemption, a purchase, another account): sync in a
/// moment, once for a burst of changes.
#[tauri::command]
pub fn sync_soon(syncs: State<'_, Syncs>) {
    syncs.soon();
}

/// The window showed the report of the sync that imported this computer's wallet: it is not
/// sent again.
#[tauri::command]
pub fn sync_import_shown(syncs: State<'_, Syncs>) {
    syncs.import_shown();
}

/// This account's devices at the service, oldest first, removed ones included.
#[tauri::command(async)]
pub async fn devices_list(shell: State<'_, Shell>) -> Result<Vec<DeviceView>, Error> {
    shell.core()?.devices(None).await
}

/// Removes another device as lost: its lease closes (the credits it held come back) and what
/// it sends later is refused and shown. This device cannot remove itself here.
#[tauri::command(async)]
pub async fn devices_remove(
    shell: State<'_, Shell>,
    device_id: String,
) -> Result<DeviceView, Error> {
    let core = shell.core()?;
    if core.device_identity()?.device_id == device_id {
        return Err(Error::new(
            Code::InvalidInput,
            "This is the device you are using. If it is lost, remove it from one of your \
             other devices.",
        ));
    }
    core.remove_device(None, &device_id).await
}
