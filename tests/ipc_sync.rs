//! The app's sync and devices commands over real IPC (Tauri's mock runtime, the app's real
//! capabilities) against the real credit service: `latchkey-server` over a throwaway
//! PostgreSQL cluster (crates/latchkey-testkit) and the test OpenID Provider's real ID tokens.
//! The app reaches the service through a loopback relay this test can cut and restore (the
//! network going away and coming back); two more devices of the same account are cores of
//! their own beside the app, talking to the service directly. No display needed.

use latchkey_app::commands::analytics::AnalysisRuns;
use latchkey_app::{Shell, SignIns, SyncTiming, Syncs};
use latchkey_auth::MemoryKeyStore;
use latchkey_core::{config, Core, SystemClock};
use latchkey_testkit::idp::Idp;
use latchkey_testkit::pg::fresh_db_sync;
use latchkey_testkit::repo;
use latchkey_testkit::server::Service;
use serde_json::{json, Value};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Listener, WebviewWindow};

/// A loopback TCP relay to the service that can be cut (new connections are closed at once,
/// open ones are shut) and restored: the app's network going away and coming back.
struct Relay {
    base: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, open2) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let mut kept = open2.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(server.try_clone().unwrap());
                drop(kept);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { base, up, open }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

struct Rig {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    idp: Idp,
    svc: Service,
    relay: Relay,
    store: MemoryKeyStore,
    dir: tempfile::TempDir,
}

fn config_text(issuer: &str, service: &str) -> String {
    format!(
        "[auth.local]\nclient_id = \"desktop-public\"\nserver_metadata_url = \
         \"{issuer}/.well-known/openid-configuration\"\n[wallet]\nanalytics_cost = 2\n\
         [service]\nurl = \"{service}\"\n"
    )
}

fn core_at(text: &str, data: PathBuf, store: &MemoryKeyStore) -> latchkey_core::Result<Core> {
    config::parse(text, "test.toml")
        .map_err(|e| latchkey_core::Error::new(latchkey_core::Code::Config, e.to_string()))
        .and_then(|c| {
            Core::with_parts(
                c,
                data,
                Arc::new(store.clone()),
                Arc::new(SystemClock),
                false,
            )
        })
}

/// The app over `core` in Tauri's mock runtime, as the real app builds it (its commands, its
/// capabilities), without the background syncs: each sync here is one the test asks for.
fn mock_app(
    core: latchkey_core::Result<Core>,
) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let app = mock_builder()
        .plugin(tauri_plugin_opener::init())
        .manage(Shell::over(core))
        .manage(SignIns::new(Duration::from_secs(30)))
        .manage(AnalysisRuns::default())
        .manage(Syncs::new(SyncTiming::default()))
        .invoke_handler(latchkey_app::app_commands!())
        .build(tauri::generate_context!())
        .expect("the app builds");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    (app, window)
}

/// The provider, the service over a fresh database, the relay, and the app signed in as
/// alice with `[service] url` naming the relay.
fn rig() -> Rig {
    let idp = Idp::start(&[]);
    let svc = Service::start(&fresh_db_sync(), &idp.issuer, "");
    let relay = Relay::start(
        svc.base
            .trim_start_matches("http://")
            .parse()
            .expect("the service's address"),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryKeyStore::new();
    let core = core_at(
        &config_text(&idp.issuer, &relay.base),
        dir.path().join("data"),
        &store,
    );
    let (app, window) = mock_app(core);
    let rig = Rig {
        app,
        window,
        idp,
        svc,
        relay,
        store,
        dir,
    };
    let signed_in = events(&rig, "auth://signed-in");
    std::env::set_var(
        "LATCHKEY_BROWSER",
        format!(
            "env LATCHKEY_TEST_LOGIN=alice node {}",
            repo().join("tests/idp/browser-http.mjs").display()
        ),
    );
    invoke(
        &rig,
        "auth_sign_in",
        json!({"provider": "local", "addAccount": false}),
    )
    .expect("the sign-in starts");
    signed_in
        .recv_timeout(Duration::from_secs(60))
        .expect("signed in");
    rig
}

/// Another device of alice's: a core over a data dir of its own with the app's sign-in (the
/// same key store, a copy of the account and its sealed tokens), a chosen id and name, talking
/// to the service directly.
fn other_device(r: &Rig, name: &str, id: &str) -> Core {
    other_device_at(r, name, id, &r.svc.base)
}

/// [`other_device`], reaching the service at `base` (a relay of its own, to cut).
fn other_device_at(r: &Rig, name: &str, id: &str, base: &str) -> Core {
    let data = r.dir.path().join(name);
    let from = r.dir.path().join("data");
    std::fs::create_dir_all(data.join("tokens")).unwrap();
    std::fs::copy(from.join("accounts.json"), data.join("accounts.json")).unwrap();
    for f in std::fs::read_dir(from.join("tokens")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), data.join("tokens").join(f.file_name())).unwrap();
    }
    std::fs::write(
        data.join("device.json"),
        json!({"device_id": id, "name": name}).to_string(),
    )
    .unwrap();
    core_at(&config_text(&r.idp.issuer, base), data, &r.store).expect("the device's core")
}

fn invoke(r: &Rig, cmd: &str, args: Value) -> Result<Value, Value> {
    invoke_in(&r.window, cmd, args)
}

fn invoke_in(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().expect("JSON answer"))
}

/// The error's code, after checking it has the `{code, message}` shape.
fn code(e: &Value) -> String {
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "errors are {{code, message}}: {e}"
    );
    e["code"].as_str().expect("errors carry a code").to_string()
}

fn events(r: &Rig, name: &str) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    r.app.listen_any(name, move |e| {
        let _ = tx.send(serde_json::from_str(e.payload()).unwrap());
    });
    rx
}

fn grant(r: &Rig, credits: &str) {
    let out = r.svc.operator(&[
        "grant",
        "--issuer",
        &r.idp.issuer,
        "--subject",
        "alice",
        "--credits",
        credits,
    ]);
    assert!(out.status.success(), "latchkey-server grant failed");
}

/// The token values stored for alice (access, refresh, ID): what must never cross IPC.
fn stored_token_values(r: &Rig) -> Vec<String> {
    let vault = latchkey_auth::Vault::new(
        Arc::new(r.store.clone()),
        r.dir.path().join("data").join("tokens"),
    );
    let tokens = vault
        .load(&latchkey_auth::account_id(&r.idp.issuer, "alice"))
        .expect("the vault opens")
        .expect("alice's tokens are stored");
    let mut values = vec![tokens.access_token.expose().to_string()];
    values.extend(tokens.refresh_token.map(|t| t.expose().to_string()));
    values.extend(tokens.id_token.map(|t| t.expose().to_string()));
    assert!(values.iter().all(|v| v.len() >= 16), "real token values");
    values
}

fn this_device_id(data: &Path) -> String {
    let v: Value =
        serde_json::from_slice(&std::fs::read(data.join("device.json")).unwrap()).unwrap();
    v["device_id"].as_str().unwrap().to_string()
}

const PHONE: &str = "0123456789abcdef0123456789abcdef";
const TABLET: &str = "fedcba9876543210fedcba9876543210";

#[test]
fn sync_state_devices_removal_and_a_refused_offline_spend_over_ipc() {
    let r = rig();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Everything the sync and devices commands answer, to look for tokens at the end.
    let mut answers = Vec::new();
    grant(&r, "50");

    let before = invoke(&r, "sync_status", json!({})).expect("the state, from local files");
    assert_eq!(before["phase"], "idle", "nothing tried yet: {before}");
    assert_eq!(before["last_synced_at"], Value::Null);
    assert_eq!(before["offline_available"], Value::Null, "no lease yet");
    assert_eq!(before["unpushed"], 0);
    assert_eq!(before["refused"], json!([]));

    let status = events(&r, "sync://status");
    let synced = invoke(&r, "sync_now", json!({})).expect("the first sync");
    assert_eq!(synced["phase"], "synced", "{synced}");
    assert!(synced["last_synced_at"].is_string(), "{synced}");
    assert_eq!(
        synced["offline_available"], 20,
        "the default lease: min(available, 20)"
    );
    assert_eq!(
        synced["changed"], true,
        "a first sync reads the wallet again"
    );
    let phases: Vec<Value> = status.try_iter().map(|e| e["phase"].clone()).collect();
    assert_eq!(
        phases,
        [json!("syncing"), json!("synced")],
        "the window hears it start and end"
    );
    answers.push(synced);

    // Two more devices of alice's: each registers and takes a lease (20, then the 10 left).
    let phone = other_device(&r, "Phone", PHONE);
    let tablet = other_device(&r, "Tablet", TABLET);
    rt.block_on(phone.sync(None, None))
        .expect("the phone syncs");
    rt.block_on(tablet.sync(None, None))
        .expect("the tablet syncs");

    let me = this_device_id(&r.dir.path().join("data"));
    let list = invoke(&r, "devices_list", json!({})).expect("the devices");
    let devices = list.as_array().expect("a list").clone();
    assert_eq!(devices.len(), 3, "{list}");
    let mine: Vec<&Value> = devices
        .iter()
        .filter(|d| d["this_device"] == true)
        .collect();
    assert_eq!(mine.len(), 1, "exactly one is this device: {list}");
    assert_eq!(mine[0]["device_id"], me.as_str());
    assert_eq!(mine[0]["lease_remaining"], 20);
    let named = |id: &str| {
        devices
            .iter()
            .find(|d| d["device_id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(named(PHONE)["name"], "Phone");
    assert_eq!(named(TABLET)["lease_remaining"], 10);
    assert_eq!(named(TABLET)["removed_at"], Value::Null);
    answers.push(list);

    let e = invoke(&r, "devices_remove", json!({"deviceId": me})).unwrap_err();
    assert_eq!(code(&e), "invalid_input", "the app does not remove itself");

    let available = |r: &Rig| {
        let b = invoke(r, "wallet_balance", json!({})).expect("balance");
        b["available"].as_i64().unwrap()
    };
    assert_eq!(
        available(&r),
        0,
        "50 credits, all lent to the three devices"
    );
    let removed = invoke(&r, "devices_remove", json!({"deviceId": TABLET})).expect("removed");
    assert!(removed["removed_at"].is_string(), "{removed}");
    assert_eq!(removed["this_device"], false);
    assert_eq!(
        available(&r),
        10,
        "the lost tablet's lease closed: its credits came back"
    );
    let list = invoke(&r, "devices_list", json!({})).unwrap();
    let tablet_now = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["device_id"] == TABLET)
        .cloned()
        .unwrap();
    assert!(tablet_now["removed_at"].is_string(), "listed as removed");
    assert_eq!(
        tablet_now["lease_remaining"],
        Value::Null,
        "no lease any more"
    );
    answers.push(removed);
    answers.push(list);
    let e = invoke(
        &r,
        "devices_remove",
        json!({"deviceId": "no-such-device-0000"}),
    )
    .unwrap_err();
    assert_eq!(code(&e), "unknown_entry");

    // The network goes away: the sync says offline, since when, and why.
    r.relay.cut();
    let e = invoke(&r, "sync_now", json!({})).expect_err("the service cannot be reached");
    assert_eq!(code(&e), "service_unavailable");
    let offline = invoke(&r, "sync_status", json!({})).unwrap();
    assert_eq!(offline["phase"], "offline", "{offline}");
    assert!(offline["offline_since"].is_string(), "{offline}");
    assert_eq!(offline["error"]["code"], "service_unavailable");
    assert_eq!(
        offline["last_synced_at"], answers[0]["last_synced_at"],
        "the last good sync is still the first one"
    );

    // A paid run offline: paid from this device's lease, waiting to be sent. The dataset is
    // imported on this machine as `latchkey analytics import` does (free, local).
    let csv = r.dir.path().join("steps.csv");
    std::fs::write(&csv, "date,value\n2026-01-01,1\n2026-02-01,3\n").unwrap();
    let here = core_at(
        &config_text(&r.idp.issuer, &r.relay.base),
        r.dir.path().join("data"),
        &r.store,
    )
    .unwrap();
    let imported =
        serde_json::to_value(here.dataset_import(&csv, None).expect("imported")).unwrap();
    let dataset = imported["dataset"]["id"].as_i64().unwrap();
    invoke(
        &r,
        "analysis_run",
        json!({"dataset": dataset, "ticket": "offline-1",
               "analysis": {"kind": "timeseries", "measure": "value", "agg": "sum", "by": "month"}}),
    )
    .expect("paid from the lease while offline");
    let after_spend = invoke(&r, "sync_status", json!({})).unwrap();
    assert_eq!(after_spend["offline_available"], 18, "{after_spend}");
    assert_eq!(after_spend["unpushed"], 1, "the spend waits to be sent");
    answers.push(after_spend);

    // Meanwhile this device is removed as lost from the phone; then the network returns.
    rt.block_on(phone.remove_device(None, &me))
        .expect("the phone removes this device");
    r.relay.restore();
    let back = invoke(&r, "sync_now", json!({})).expect("the service is back");
    assert_eq!(back["phase"], "synced", "{back}");
    assert_eq!(back["offline_since"], Value::Null);
    assert_eq!(back["error"], Value::Null);
    assert_eq!(back["unpushed"], 0, "sent, and answered");
    let refused = back["refused"].as_array().expect("refused entries");
    assert_eq!(refused.len(), 1, "{back}");
    assert_eq!(refused[0]["amount"], 2);
    assert_eq!(refused[0]["outcome"], "rejected");
    assert_eq!(
        refused[0]["reason"], "device_removed",
        "refused because this device was removed before it sent the spend"
    );
    assert_eq!(refused[0]["memo"], "analytics run");
    assert_eq!(
        invoke(&r, "sync_status", json!({})).unwrap()["refused"],
        back["refused"],
        "kept, and shown from local files"
    );
    let list = invoke(&r, "devices_list", json!({})).unwrap();
    let me_now = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["this_device"] == true)
        .cloned()
        .unwrap();
    assert!(
        me_now["removed_at"].is_string(),
        "this device is listed as removed"
    );
    answers.push(back);
    answers.push(list);

    let tokens = stored_token_values(&r);
    for a in &answers {
        let text = a.to_string();
        for t in &tokens {
            for part in t.split('.').filter(|p| p.len() >= 16) {
                assert!(!text.contains(part), "a token value crosses IPC: {text}");
            }
        }
    }
}

#[test]
fn another_devices_late_spend_after_its_removal_and_the_wallet_import_reach_the_window() {
    let r = rig();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // A wallet this computer kept before the service was configured: a voucher of the
    // service's redeemed here (it counts), and credits granted here alone (they do not).
    let out = r.svc.operator(&["voucher", "issue", "--credits", "30"]);
    assert!(out.status.success(), "voucher issue failed");
    let voucher = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let key = latchkey_testkit::pg::psql(
        &r.svc.db_url,
        "SELECT public_key FROM voucher_keys WHERE active",
    );
    let local = core_at(
        &format!(
            "[auth.local]\nclient_id = \"desktop-public\"\nserver_metadata_url = \
             \"{}/.well-known/openid-configuration\"\n[wallet]\noffline_only = true\n\
             voucher_keys = [\"{key}\"]\n",
            r.idp.issuer
        ),
        r.dir.path().join("data"),
        &r.store,
    )
    .unwrap();
    local
        .redeem_voucher_locally(None, "v-1", &voucher)
        .expect("redeemed on this computer");
    local
        .with_wallet(None, |w, a| {
            w.grant(a, "g-1", latchkey_core::latchkey_wallet::Credits(10), None)
        })
        .expect("granted on this computer");
    drop(local);

    // The first sync imports it: the window is told what counted and what did not, and why.
    let status = events(&r, "sync://status");
    let first = invoke(&r, "sync_now", json!({})).expect("the first sync");
    let import = &first["import"];
    assert_eq!(
        import["credited"], 30,
        "the service's voucher counted: {first}"
    );
    assert!(import["sent"].as_i64().unwrap() >= 2, "{first}");
    let refused = import["refused"].as_array().expect("what did not count");
    let grant = refused
        .iter()
        .find(|x| x["kind"] == "grant" && x["amount"] == 10)
        .unwrap_or_else(|| panic!("the local grant is listed as not counted: {first}"));
    assert_eq!(grant["reason"], "local_grant");
    assert!(
        grant["words"]
            .as_str()
            .is_some_and(|w| w.contains("granted on this computer only")),
        "with the reason in words: {grant}"
    );
    let heard: Vec<Value> = status.try_iter().collect();
    assert_eq!(
        heard.last().map(|e| &e["import"]),
        Some(import),
        "the sync's event carries the report too"
    );
    assert_eq!(
        invoke(&r, "sync_status", json!({})).unwrap()["import"],
        *import,
        "kept for a window that was not listening yet"
    );
    invoke(&r, "sync_import_shown", json!({})).expect("the window showed it");
    assert_eq!(
        invoke(&r, "sync_status", json!({})).unwrap()["import"],
        Value::Null,
        "shown once"
    );
    let again = invoke(&r, "sync_now", json!({})).expect("a second sync");
    assert_eq!(
        again["import"],
        Value::Null,
        "nothing imported twice: {again}"
    );
    assert_eq!(again["refused"], json!([]), "nothing refused yet");

    // A phone of alice's takes a lease, spends from it while cut off, and is removed as lost
    // from this window meanwhile. Back online, it pushes the spend: refused at the service.
    let phone_link = Relay::start(
        r.svc
            .base
            .trim_start_matches("http://")
            .parse()
            .expect("the service's address"),
    );
    let phone = other_device_at(&r, "Phone", PHONE, &phone_link.base);
    let leased = rt
        .block_on(phone.sync(None, None))
        .expect("the phone syncs");
    assert_eq!(leased.offline_available, 10, "the 10 left of 30");
    phone_link.cut();
    let spent = rt
        .block_on(phone.service_spend(None, "late-1", 3, Some("report export")))
        .expect("spent offline from the phone's lease");
    assert!(spent.entry.id < 0, "an offline entry, local id");
    invoke(&r, "devices_remove", json!({"deviceId": PHONE})).expect("removed as lost");
    let available = invoke(&r, "wallet_balance", json!({})).unwrap()["available"].clone();
    phone_link.restore();
    let pushed = rt
        .block_on(phone.sync(None, None))
        .expect("the phone syncs again");
    assert_eq!(pushed.refused_now, 1, "the late spend is refused");

    assert_eq!(
        invoke(&r, "sync_status", json!({})).unwrap()["refused"],
        json!([]),
        "this device learns of it at its next sync"
    );
    let after = invoke(&r, "sync_now", json!({})).expect("the window's next sync");
    let refused = after["refused"].as_array().expect("refused entries");
    assert_eq!(refused.len(), 1, "{after}");
    let late = &refused[0];
    assert_eq!(late["device_name"], "Phone", "named: {late}");
    assert_eq!(late["device_id"], PHONE);
    assert_eq!(late["this_device"], false);
    assert_eq!(late["amount"], 3);
    assert_eq!(late["memo"], "report export");
    assert_eq!(late["outcome"], "rejected");
    assert_eq!(late["reason"], "device_removed");
    assert!(
        late["words"]
            .as_str()
            .is_some_and(|w| w.contains("removed as lost")),
        "the reason in words: {late}"
    );
    assert!(
        late["at"]
            .as_str()
            .is_some_and(|t| t.len() >= 20 && t.as_bytes()[10] == b'T'),
        "dated, for the history: {late}"
    );
    assert_eq!(
        invoke(&r, "wallet_balance", json!({})).unwrap()["available"],
        available,
        "the refused spend moved no credits"
    );
    assert_eq!(
        invoke(&r, "sync_status", json!({})).unwrap()["refused"],
        after["refused"],
        "kept here, from local files"
    );
}

#[test]
fn without_a_credit_service_sync_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let core = core_at(
        "[auth.local]\nclient_id = \"c\"\nserver_metadata_url = \"http://127.0.0.1:9/.well-known/openid-configuration\"\n",
        dir.path().join("data"),
        &MemoryKeyStore::new(),
    );
    let (_app, window) = mock_app(core);
    let call = |cmd: &str| invoke_in(&window, cmd, json!({}));
    let s = call("sync_status").expect("a state");
    assert_eq!(s["phase"], "off", "no service: no indicator: {s}");
    let e = call("sync_now").expect_err("nothing to sync");
    assert_eq!(code(&e), "config");
}

#[test]
fn a_paid_run_online_with_every_credit_lent_is_paid_from_this_devices_lease() {
    let r = rig();
    grant(&r, "10");
    let synced = invoke(&r, "sync_now", json!({})).expect("the first sync");
    assert_eq!(synced["offline_available"], 10, "all 10 lent: {synced}");
    let b = invoke(&r, "wallet_balance", json!({})).expect("balance");
    assert_eq!(b["available"], 0, "nothing available at the service: {b}");

    let csv = r.dir.path().join("steps.csv");
    std::fs::write(&csv, "date,value\n2026-01-01,1\n2026-02-01,3\n").unwrap();
    let here = core_at(
        &config_text(&r.idp.issuer, &r.relay.base),
        r.dir.path().join("data"),
        &r.store,
    )
    .unwrap();
    let imported =
        serde_json::to_value(here.dataset_import(&csv, None).expect("imported")).unwrap();
    let dataset = imported["dataset"]["id"].as_i64().unwrap();
    let analysis = json!({"kind": "timeseries", "measure": "value", "agg": "sum", "by": "month"});
    invoke(
        &r,
        "analysis_run",
        json!({"dataset": dataset, "ticket": "online-1", "analysis": analysis}),
    )
    .expect("paid from the lease while the service answers");
    let state = invoke(&r, "sync_status", json!({})).unwrap();
    assert_eq!(state["offline_available"], 8, "{state}");
    assert_eq!(state["unpushed"], 0, "pushed at once: {state}");
    let b = invoke(&r, "wallet_balance", json!({})).expect("balance");
    assert_eq!(
        (b["posted"].as_i64(), b["held"].as_i64()),
        (Some(8), Some(8)),
        "the service captured it from the lease: {b}"
    );
    let again = invoke(&r, "sync_now", json!({})).expect("a sync");
    assert_eq!(again["offline_available"], 8, "charged once: {again}");

    // More than available + the lease: refused, nothing run, nothing charged.
    let dear = core_at(
        &config_text(&r.idp.issuer, &r.relay.base)
            .replace("analytics_cost = 2", "analytics_cost = 9"),
        r.dir.path().join("data"),
        &r.store,
    )
    .unwrap();
    let analysis: latchkey_core::analytics::engine::Analysis =
        serde_json::from_value(analysis).unwrap();
    let e = dear
        .analysis_run(dataset, &analysis, "dear-1")
        .expect_err("9 is beyond 0 available + 8 in the lease");
    assert_eq!(
        e.code,
        latchkey_core::Code::InsufficientCredits,
        "{}",
        e.message
    );
    let b = invoke(&r, "wallet_balance", json!({})).expect("balance");
    assert_eq!(
        (b["posted"].as_i64(), b["held"].as_i64()),
        (Some(8), Some(8)),
        "a refusal changes nothing: {b}"
    );
}
