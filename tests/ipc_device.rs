//! "Sign in on another device" in the app, over real IPC (Tauri's mock runtime, the app's real
//! capabilities), against the real test OpenID Provider (tests/idp). With `--device-flow` the
//! provider offers RFC 8628 and `tests/idp/device-user.mjs` plays the user's phone (types the
//! code the window shows, approves or aborts); without it, the app falls back to the
//! paste-back sign-in and device-user.mjs plays a browser elsewhere that stops at the redirect
//! it cannot load, whose address the test pastes as the user would. Nothing here opens a
//! browser on this machine, so these tests need no `LATCHKEY_BROWSER` and run in parallel.

use latchkey_app::commands::analytics::AnalysisRuns;
use latchkey_app::{Shell, SignIns};
use latchkey_auth::MemoryKeyStore;
use latchkey_core::{config, Core, SystemClock};
use latchkey_testkit::idp::{Idp, PUBLIC_CLIENT};
use latchkey_testkit::repo;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Listener, WebviewWindow};

struct Harness {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    store: MemoryKeyStore,
    dir: tempfile::TempDir,
    signed_in: mpsc::Receiver<Value>,
    failed: mpsc::Receiver<Value>,
}

/// The app with one provider, `local`, at `idp`.
fn harness(idp: &Idp) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryKeyStore::new();
    let text = format!(
        "[auth.local]\nclient_id = \"{PUBLIC_CLIENT}\"\nserver_metadata_url = \"{}/.well-known/openid-configuration\"\n",
        idp.issuer
    );
    let core = config::parse(&text, "test.toml")
        .map_err(|e| latchkey_core::Error::new(latchkey_core::Code::Config, e.to_string()))
        .and_then(|c| {
            Core::with_parts(
                c,
                dir.path().join("data"),
                Arc::new(store.clone()),
                Arc::new(SystemClock),
                false,
            )
        });
    let app = mock_builder()
        .plugin(tauri_plugin_opener::init())
        .manage(Shell::over(core))
        .manage(SignIns::new(Duration::from_secs(60)))
        .manage(AnalysisRuns::default())
        .invoke_handler(latchkey_app::app_commands!())
        .build(tauri::generate_context!())
        .expect("the app builds");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    let events = |name: &str| {
        let (tx, rx) = mpsc::channel();
        app.listen_any(name, move |e| {
            let _ = tx.send(serde_json::from_str::<Value>(e.payload()).unwrap());
        });
        rx
    };
    let signed_in = events("auth://signed-in");
    let failed = events("auth://sign-in-failed");
    Harness {
        app,
        window,
        store,
        dir,
        signed_in,
        failed,
    }
}

fn invoke(h: &Harness, cmd: &str, args: Value) -> Result<Value, Value> {
    get_ipc_response(
        &h.window,
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

fn wait(rx: &mpsc::Receiver<Value>, what: &str) -> Value {
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no {what} event"))
}

fn start_device(h: &Harness) -> Value {
    invoke(
        h,
        "auth_sign_in_device",
        json!({"provider": "local", "addAccount": false}),
    )
    .expect("the sign-in on another device starts")
}

/// Runs tests/idp/device-user.mjs (the user's other device); its JSON record.
fn device_user(args: &[&str]) -> Value {
    let out = Command::new("node")
        .arg(repo().join("tests/idp/device-user.mjs"))
        .args(args)
        .output()
        .expect("node runs tests/idp/device-user.mjs (run `make npm` first)");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "device-user prints JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The token values stored for this account: what must never cross IPC.
fn stored_token_values(h: &Harness, issuer: &str, subject: &str) -> Vec<String> {
    let vault = latchkey_auth::Vault::new(
        Arc::new(h.store.clone()),
        h.dir.path().join("data").join("tokens"),
    );
    let tokens = vault
        .load(&latchkey_auth::account_id(issuer, subject))
        .expect("the vault opens")
        .expect("the account's tokens are stored");
    let mut values = vec![tokens.access_token.expose().to_string()];
    values.extend(tokens.refresh_token.map(|t| t.expose().to_string()));
    values.extend(tokens.id_token.map(|t| t.expose().to_string()));
    assert!(values.iter().all(|v| v.len() >= 16), "real token values");
    values
}

/// Asserts that no stored token value (nor any long part of one) appears in `text`.
fn assert_no_token_in(text: &str, tokens: &[String], what: &str) {
    for t in tokens {
        for part in t.split('.').filter(|p| p.len() >= 16) {
            assert!(
                !text.contains(part),
                "a token value crosses IPC in {what}: {text}"
            );
        }
    }
}

fn subjects(h: &Harness) -> Vec<String> {
    invoke(h, "auth_status", json!({}))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subject"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_device_sign_in_in_the_app_succeeds_and_a_denied_or_cancelled_one_keeps_it() {
    let idp = Idp::start(&["--device-flow", "--device-interval", "1"]);
    let h = harness(&idp);

    let started = start_device(&h);
    assert_eq!(started["mode"], "device", "{started}");
    assert_eq!(started["provider"], "local");
    assert_eq!(
        started["browser_opened"], false,
        "nothing opens on this machine"
    );
    let code_shown = started["device"]["user_code"].as_str().unwrap().to_string();
    let page = started["device"]["verification_uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(page, format!("{}/device", idp.issuer));
    let pending = invoke(&h, "auth_pending", json!({})).unwrap();
    assert_eq!(
        (&pending["mode"], &pending["device"]["user_code"]),
        (&json!("device"), &json!(code_shown)),
        "after a reload the window shows the same code: {pending}"
    );

    // The phone: the page and the code the window shows.
    let user = device_user(&["--login", "alice", "--code", &code_shown, &page]);
    assert_eq!(user["error"], Value::Null, "{user}");
    let account = wait(&h.signed_in, "signed-in");
    assert_eq!(account["email"], "alice@example.test");
    assert_eq!(account["active"], true);
    let tokens = stored_token_values(&h, &idp.issuer, "alice");
    assert_no_token_in(&account.to_string(), &tokens, "the signed-in event");
    for cmd in ["auth_status", "app_startup", "auth_pending"] {
        let answer = invoke(&h, cmd, json!({})).unwrap();
        assert_no_token_in(&answer.to_string(), &tokens, cmd);
    }
    assert_no_token_in(&started.to_string(), &tokens, "auth_sign_in_device");
    assert_eq!(invoke(&h, "auth_pending", json!({})), Ok(Value::Null));

    // Denied on the phone: the same words as any denied sign-in; alice stays.
    let started = start_device(&h);
    let complete = started["device"]["verification_uri_complete"]
        .as_str()
        .expect("the provider offers the link with the code filled in")
        .to_string();
    let user = device_user(&["--deny", "--login", "mallory", &complete]);
    assert_eq!(user["error"], Value::Null, "{user}");
    assert_eq!(code(&wait(&h.failed, "failed")), "sign_in_denied");
    assert_eq!(subjects(&h), ["alice"], "the previous session is intact");
    assert_eq!(
        stored_token_values(&h, &idp.issuer, "alice"),
        tokens,
        "its tokens are untouched"
    );

    // Cancelled in the window.
    start_device(&h);
    invoke(&h, "auth_cancel", json!({})).unwrap();
    assert_eq!(code(&wait(&h.failed, "failed")), "sign_in_cancelled");
    assert_eq!(invoke(&h, "auth_pending", json!({})), Ok(Value::Null));
    assert_eq!(subjects(&h), ["alice"]);
    drop(h.app);
}

#[test]
fn without_a_device_endpoint_the_app_takes_the_pasted_address() {
    let idp = Idp::start(&[]);
    let h = harness(&idp);

    let started = start_device(&h);
    assert_eq!(started["mode"], "paste_back", "{started}");
    assert_eq!(started["device"], Value::Null);
    let url = started["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/auth?", idp.issuer)),
        "the address to open elsewhere is the provider's: {url}"
    );
    let prefix = started["paste_prefix"].as_str().unwrap().to_string();
    assert!(
        prefix.starts_with("http://127.0.0.1:"),
        "the address to paste starts with the loopback redirect: {prefix}"
    );

    let e = invoke(&h, "auth_paste_back", json!({"address": "this is not it"})).unwrap_err();
    assert_eq!(code(&e), "invalid_input", "paste again: {e}");
    assert!(
        invoke(&h, "auth_pending", json!({})).unwrap()["mode"] == "paste_back",
        "a wrong paste changes nothing: the sign-in still waits"
    );

    let browser = device_user(&["--stop-at-redirect", "--login", "erin", &url]);
    let address = browser["address"]
        .as_str()
        .unwrap_or_else(|| panic!("the browser ended on the redirect: {browser}"));
    assert!(address.starts_with(&prefix), "{address}");
    invoke(&h, "auth_paste_back", json!({"address": address}))
        .expect("the pasted address is taken");
    let account = wait(&h.signed_in, "signed-in");
    assert_eq!(account["email"], "erin@example.test");
    let tokens = stored_token_values(&h, &idp.issuer, "erin");
    assert_no_token_in(&account.to_string(), &tokens, "the signed-in event");
    assert_no_token_in(
        &invoke(&h, "app_startup", json!({})).unwrap().to_string(),
        &tokens,
        "app_startup",
    );

    let e = invoke(&h, "auth_paste_back", json!({"address": address})).unwrap_err();
    assert_eq!(
        code(&e),
        "sign_in_cancelled",
        "nothing waits for an address any more: {e}"
    );
    assert_eq!(subjects(&h), ["erin"]);
    drop(h.app);
}
