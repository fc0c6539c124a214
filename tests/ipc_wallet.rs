//! The app's wallet and credits commands over real IPC (Tauri's mock runtime, the app's real
//! capabilities) against the real credit service: `latchkey-server` over a throwaway
//! PostgreSQL cluster (crates/latchkey-testkit), the test OpenID Provider's real ID tokens,
//! and the DEMO payment page "paid" by a scripted browser (pay-demo.mjs). No display needed.
//!
//! Every test here sets `LATCHKEY_BROWSER` (process-wide), so they run one at a time.

use latchkey_app::commands::analytics::AnalysisRuns;
use latchkey_app::{Purchases, Shell, SignIns};
use latchkey_auth::MemoryKeyStore;
use latchkey_core::{config, Core, SystemClock};
use latchkey_testkit::idp::Idp;
use latchkey_testkit::pg::{fresh_db_sync, psql};
use latchkey_testkit::repo;
use latchkey_testkit::server::Service;
use serde_json::{json, Value};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;
use tauri::http::{HeaderMap, HeaderName, HeaderValue};
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Listener, WebviewWindow};

/// Two packs and the DEMO payment provider, in the server's TOML.
const SHOP: &str = r#"
[[packs]]
id = "small"
credits = 100
amount = 500
currency = "eur"
label = "100 credits"

[[packs]]
id = "large"
credits = 1000
amount = 4000
currency = "eur"
label = "1000 credits"

[payment]
provider = "demo"
"#;

static BROWSER: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    BROWSER.lock().unwrap_or_else(|e| e.into_inner())
}

/// The scripted browser the app opens links with: `script` from the repository, with `env`.
fn browser(script: &str, env: &str) {
    let cmd = format!("env {env} node {}", repo().join(script).display());
    std::env::set_var("LATCHKEY_BROWSER", cmd);
}

struct Rig {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    idp: Idp,
    svc: Service,
    _dir: tempfile::TempDir,
}

/// The provider, the service over a fresh database, and the app signed in as alice with
/// `[service] url` naming the service.
fn rig(purchase_timeout: Duration) -> Rig {
    let idp = Idp::start(&[]);
    let svc = Service::start(&fresh_db_sync(), &idp.issuer, SHOP);
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[auth.local]\nclient_id = \"desktop-public\"\nserver_metadata_url = \
         \"{}/.well-known/openid-configuration\"\n[wallet]\nanalytics_cost = 2\n\
         [service]\nurl = \"{}\"\n",
        idp.issuer, svc.base
    );
    let core = config::parse(&text, "test.toml")
        .map_err(|e| latchkey_core::Error::new(latchkey_core::Code::Config, e.to_string()))
        .and_then(|c| {
            Core::with_parts(
                c,
                dir.path().join("data"),
                Arc::new(MemoryKeyStore::new()),
                Arc::new(SystemClock),
                false,
            )
        });
    let shell = Shell::over(core).with_purchases(Purchases::new(purchase_timeout));
    let app = mock_builder()
        .plugin(tauri_plugin_opener::init())
        .manage(shell)
        .manage(SignIns::new(Duration::from_secs(30)))
        .manage(AnalysisRuns::default())
        .invoke_handler(latchkey_app::app_commands!())
        .build(tauri::generate_context!())
        .expect("the app builds");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    let rig = Rig {
        app,
        window,
        idp,
        svc,
        _dir: dir,
    };
    let signed_in = events(&rig, "auth://signed-in");
    browser("tests/idp/browser-http.mjs", "LATCHKEY_TEST_LOGIN=alice");
    invoke(
        &rig,
        "auth_sign_in",
        json!({"provider": "local", "addAccount": false}),
    )
    .expect("the sign-in starts");
    wait(&signed_in, "auth://signed-in");
    rig
}

fn invoke(r: &Rig, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        &r.window,
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

/// A raw-body command, as `command(name, bytes, {headers})` in ui/api.js sends it.
fn invoke_raw(r: &Rig, cmd: &str, bytes: &[u8], headers: &[(&str, &str)]) -> Result<Value, Value> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    get_ipc_response(
        &r.window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: tauri::ipc::InvokeBody::Raw(bytes.to_vec()),
            headers: map,
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().expect("JSON answer"))
}

/// The error's code, after checking it has the `{code, message}` shape.
fn code(e: Value) -> String {
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

fn wait(rx: &mpsc::Receiver<Value>, what: &str) -> Value {
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no {what} event"))
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

fn available(r: &Rig) -> i64 {
    let b = invoke(r, "wallet_balance", json!({})).expect("balance");
    assert_eq!(b["stale"], false, "online: the service's own balance: {b}");
    b["available"].as_i64().expect("available")
}

#[test]
fn balance_history_and_analyses_go_through_the_service_and_offline_is_marked_or_refused() {
    let _one = one_at_a_time();
    let mut r = rig(Duration::from_secs(60));
    assert_eq!(available(&r), 0, "the service's balance, not a local one");
    grant(&r, "10");
    let b = invoke(&r, "wallet_balance", json!({})).unwrap();
    assert_eq!(
        (b["available"].as_i64(), b["posted"].as_i64()),
        (Some(10), Some(10))
    );
    assert!(b["as_of"].as_str().is_some(), "when it was read: {b}");

    // A dataset, imported as the page sends a picked file (begun, one piece, imported): free.
    let file = b"date,value\n2026-01-01,1\n2026-02-01,3\n";
    let upload = invoke(
        &r,
        "dataset_upload_begin",
        json!({"fileName": "steps.csv", "size": file.len()}),
    )
    .expect("upload begun");
    let upload = upload.as_str().expect("an upload id");
    invoke_raw(
        &r,
        "dataset_upload_chunk",
        file,
        &[("x-upload", upload), ("x-offset", "0")],
    )
    .expect("the piece taken");
    let imported = invoke(&r, "dataset_import", json!({"upload": upload})).expect("imported");
    let dataset = imported["dataset"]["id"].as_i64().expect("a dataset id");
    assert_eq!(available(&r), 10, "importing is free");
    let monthly = |measure: &str| json!({"kind": "timeseries", "measure": measure, "agg": "sum", "by": "month"});
    let run = |analysis: Value, ticket: &str| {
        invoke(
            &r,
            "analysis_run",
            json!({"dataset": dataset, "analysis": analysis, "ticket": ticket}),
        )
    };

    let paid = run(monthly("value"), "run-1").expect("a paid run");
    assert_eq!(paid["saved"]["cost"], 2);
    assert_eq!(
        paid["balance"]["available"], 8,
        "paid at the service: {paid}"
    );
    assert_eq!(available(&r), 8);
    assert_eq!(
        psql(
            &r.svc.db_url,
            "SELECT string_agg(kind, ',' ORDER BY server_seq) FROM entries"
        ),
        "grant,hold,capture",
        "held, then captured, in the service's ledger"
    );
    let bad = run(monthly("nope"), "run-2").expect_err("a column the dataset does not have");
    assert_eq!(code(bad), "invalid_input");
    assert_eq!(
        available(&r),
        8,
        "a refused analysis costs nothing: the hold was released"
    );
    // Cancelled (the window's Cancel; here before it starts): held, then released, free.
    invoke(&r, "analysis_cancel", json!({"ticket": "run-c"})).unwrap();
    let cancelled = run(monthly("value"), "run-c").expect_err("a cancelled run");
    assert_eq!(code(cancelled), "cancelled");
    assert_eq!(available(&r), 8, "a cancelled run releases its hold");
    assert_eq!(
        invoke(&r, "analysis_results", json!({"dataset": null}))
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(1),
        "only the paid run saved a result"
    );

    let page = invoke(&r, "wallet_history", json!({"cursor": null, "limit": 20})).unwrap();
    assert_eq!(page["stale"], false);
    let entries = page["entries"].as_array().expect("entries");
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["release", "reserve", "release", "reserve", "capture", "reserve", "grant"],
        "{page}"
    );
    assert_eq!(
        entries[5]["captured_by"], entries[4]["id"],
        "the captured hold names its capture: the window shows them as one line"
    );
    assert!(
        entries[1]["captured_by"].is_null() && entries[3]["captured_by"].is_null(),
        "a released hold was not captured"
    );

    r.svc.stop();
    let b = invoke(&r, "wallet_balance", json!({})).expect("the last known balance");
    assert_eq!(b["stale"], true, "marked as last known: {b}");
    assert_eq!(b["available"], 8);
    let h = invoke(&r, "wallet_history", json!({"cursor": null, "limit": 20})).unwrap();
    assert_eq!(h["stale"], true);
    let e = invoke(
        &r,
        "analysis_run",
        json!({"dataset": dataset, "analysis": monthly("value"), "ticket": "run-3"}),
    )
    .expect_err("no spending offline while a service is configured");
    assert_eq!(code(e.clone()), "service_unavailable");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("nothing was charged"),
        "{e}"
    );
    let me = invoke(&r, "auth_status", json!({})).unwrap()[0].clone();
    let e = invoke(
        &r,
        "wallet_redeem",
        json!({"voucher": "LKV1.a.b", "issuer": me["issuer"], "subject": me["subject"]}),
    )
    .unwrap_err();
    assert_eq!(
        code(e),
        "service_unavailable",
        "redeeming needs the service"
    );
    let e = invoke(&r, "credits_packs", json!({})).unwrap_err();
    assert_eq!(code(e), "service_unavailable");
}

#[test]
fn buying_a_pack_through_the_demo_page_moves_the_balance_and_cancel_ends_the_wait() {
    let _one = one_at_a_time();
    let r = rig(Duration::from_secs(60));
    let packs = invoke(&r, "credits_packs", json!({})).expect("packs");
    let ids: Vec<&str> = packs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["small", "large"]);

    let purchased = events(&r, "credits://purchased");
    let failed = events(&r, "credits://purchase-failed");
    browser(
        "crates/latchkey-cli/tests/cli/pay-demo.mjs",
        "LATCHKEY_TEST_DEMO=pay",
    );
    let started = invoke(&r, "credits_buy", json!({"pack": "small"})).expect("the checkout");
    assert_eq!(started["pack"], "small");
    assert_eq!(started["timeout_secs"], 60);
    assert!(
        started["url"].as_str().unwrap().starts_with(&r.svc.base),
        "the service's DEMO payment page: {started}"
    );
    let done = wait(&purchased, "credits://purchased");
    assert_eq!(done["pack"]["credits"], 100);
    assert_eq!(done["balance"]["available"], 100, "{done}");
    assert_eq!(available(&r), 100, "the pack's credits are in the balance");
    assert_eq!(
        invoke(&r, "credits_pending", json!({})).unwrap(),
        Value::Null,
        "nothing waits any more"
    );

    // A page that is never paid: Cancel ends the wait, nothing is charged.
    std::env::set_var("LATCHKEY_BROWSER", "true");
    invoke(&r, "credits_buy", json!({"pack": "large"})).expect("a second checkout");
    let pending = invoke(&r, "credits_pending", json!({})).unwrap();
    assert_eq!(pending["pack"], "large");
    invoke(&r, "credits_open_again", json!({})).expect("opens the page again");
    invoke(&r, "credits_cancel", json!({})).unwrap();
    let e = wait(&failed, "credits://purchase-failed");
    assert_eq!(code(e), "purchase_not_completed");
    assert_eq!(
        invoke(&r, "credits_pending", json!({})).unwrap(),
        Value::Null
    );
    let e = invoke(&r, "credits_open_again", json!({})).unwrap_err();
    assert_eq!(
        code(e),
        "purchase_not_completed",
        "nothing to open any more"
    );
    assert_eq!(available(&r), 100, "the unpaid pack added nothing");
    assert!(purchased.try_recv().is_err(), "one purchase, one event");

    let e = invoke(&r, "credits_buy", json!({"pack": "nope"})).unwrap_err();
    assert_eq!(code(e), "invalid_input", "an unknown pack");
}

#[test]
fn a_purchase_not_paid_in_time_times_out() {
    let _one = one_at_a_time();
    let r = rig(Duration::from_secs(2));
    let failed = events(&r, "credits://purchase-failed");
    std::env::set_var("LATCHKEY_BROWSER", "true");
    invoke(&r, "credits_buy", json!({"pack": "small"})).expect("the checkout");
    let e = wait(&failed, "credits://purchase-failed");
    assert_eq!(code(e), "purchase_timed_out");
    assert_eq!(available(&r), 0);
}
