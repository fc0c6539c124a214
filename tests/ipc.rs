//! The app's commands over real IPC (Tauri's mock runtime with the app's real capabilities):
//! payload shapes, events, and `{code, message}` errors. No display needed. The sign-in
//! flow runs against the real test OpenID Provider (tests/idp, `make npm` first) with the
//! HTTP-scripted browser.

use latchkey_app::commands::analytics::AnalysisRuns;
use latchkey_app::{Shell, SignIns};
use latchkey_auth::MemoryKeyStore;
use latchkey_core::{config, Core, SystemClock};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Listener, WebviewWindow};

// COMMANDS: every command the UI may call; each must be granted in capabilities/default.json.
include!("../src-tauri/commands.list.rs");

struct Harness {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    /// The core's key store, shared with the test: it reads the stored token values.
    store: MemoryKeyStore,
    dir: tempfile::TempDir,
}

fn harness(config_text: &str) -> Harness {
    harness_with(config_text, Duration::from_secs(300))
}

fn harness_with(config_text: &str, sign_in_timeout: Duration) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryKeyStore::new();
    let core = config::parse(config_text, "test.toml")
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
        // As the real app does: the opener refusal below must come from the ACL, not from a
        // plugin that is not there.
        .plugin(tauri_plugin_opener::init())
        .manage(Shell::over(core))
        .manage(SignIns::new(sign_in_timeout))
        .manage(AnalysisRuns::default())
        .invoke_handler(latchkey_app::app_commands!())
        .build(tauri::generate_context!())
        .expect("the app builds");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    Harness {
        app,
        window,
        store,
        dir,
    }
}

/// The token values stored for this account (access, refresh, ID): what must never cross IPC.
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
    assert!(
        values.iter().all(|v| v.len() >= 16),
        "real token values, long enough that finding one is no accident"
    );
    values
}

/// Asserts that no stored token value (nor a telling piece of one) appears in `text`.
fn assert_no_token_in(text: &str, tokens: &[String], what: &str) {
    for t in tokens {
        // A JWT's middle part alone would leak its claims; check each dot-separated part.
        for part in t.split('.').filter(|p| p.len() >= 16) {
            assert!(
                !text.contains(part),
                "a token value crosses IPC in {what}: {text}"
            );
        }
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
fn code(e: Value) -> String {
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "errors are {{code, message}}: {e}"
    );
    e["code"].as_str().expect("errors carry a code").to_string()
}

const ONE_PROVIDER: &str =
    "[auth.google]\nclient_id = \"x.apps.googleusercontent.com\"\n[wallet]\nanalytics_cost = 3\n";
const UNREACHABLE: &str = "[auth.local]\nclient_id = \"c\"\nserver_metadata_url = \"http://127.0.0.1:9/.well-known/openid-configuration\"\n";

#[test]
fn capabilities_grant_the_app_commands_and_event_listening_only() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("capabilities/default.json"),
    )
    .unwrap();
    let cap: Value = serde_json::from_str(&text).unwrap();
    let granted: Vec<&str> = cap["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().expect("plain permission names"))
        .collect();
    let mut expected = vec!["core:event:allow-listen", "core:event:allow-unlisten"];
    let own: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .collect();
    expected.extend(own.iter().map(String::as_str));
    assert_eq!(
        granted, expected,
        "no shell, opener or fs permission for the webview"
    );
    // build.rs makes a permission for each name in commands.list.rs; the handler list is the
    // one other place that names them.
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src-tauri/src/lib.rs"))
            .unwrap();
    for c in COMMANDS {
        assert!(
            lib.contains(&format!("::{c},")),
            "{c} is in app_commands! (src-tauri/src/lib.rs)"
        );
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `'name'` right after `prefix` in `text`, in order.
fn quoted_after(text: &str, prefix: &str) -> Vec<String> {
    text.match_indices(prefix)
        .filter_map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            rest.find('\'').map(|end| rest[..end].to_string())
        })
        .collect()
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[test]
fn the_ui_bindings_the_handler_list_and_the_capabilities_name_the_same_commands() {
    let own: Vec<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    let bindings = quoted_after(&read("ui/api.js"), "command('");
    assert_eq!(
        sorted(bindings.clone()),
        sorted(own.clone()),
        "ui/api.js has one function per command, no more, no fewer"
    );
    let lib = read("src-tauri/src/lib.rs");
    let handlers: Vec<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("$crate::commands::"))
        .map(|path| {
            let name = path.trim_end_matches(',');
            name.rsplit("::").next().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        sorted(handlers),
        sorted(own.clone()),
        "app_commands! (src-tauri/src/lib.rs) registers exactly the listed commands"
    );
    let cap: Value = serde_json::from_str(&read("capabilities/default.json")).unwrap();
    let granted: Vec<String> = cap["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str()?.strip_prefix("allow-"))
        .map(|p| p.replace('-', "_"))
        .collect();
    assert_eq!(
        sorted(granted),
        sorted(own),
        "capabilities/default.json grants exactly the listed commands"
    );
}

#[test]
fn the_ui_calls_the_shell_only_through_api_js() {
    for file in ["ui/app.js", "ui/wallet.js", "ui/analytics.js", "ui/sync.js"] {
        let text = read(file);
        for raw in ["__TAURI_INTERNALS__", "invoke(", "__TAURI__"] {
            assert!(
                !text.contains(raw),
                "{file} uses `{raw}`: call the shell through ui/api.js"
            );
        }
    }
    let html = read("ui/index.html");
    let scripts = quoted_after(&html, "<script defer src=\"");
    let order: Vec<&str> = scripts
        .iter()
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "api.js",
            "vendor/uPlot.iife.min.js",
            "wallet.js",
            "analytics.js",
            "sync.js",
            "app.js"
        ],
        "deferred classic scripts run in order: the bindings first"
    );
}

#[test]
fn the_ui_words_every_error_code() {
    let app = read("ui/app.js");
    let start = app
        .find("const ERROR_WORDS = {")
        .expect("ui/app.js has the ERROR_WORDS table");
    let table = &app[start..start + app[start..].find("\n};").expect("the table ends")];
    let worded: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.strip_prefix("  ")?.split_once(':'))
        .map(|(key, _)| key.to_string())
        .collect();
    let api = read("ui/api.js");
    let mut codes = Vec::new();
    for code in latchkey_core::Code::ALL {
        let name = serde_json::to_value(code).unwrap();
        let name = name
            .as_str()
            .expect("codes serialise as strings")
            .to_string();
        assert!(
            worded.contains(&name),
            "ui/app.js ERROR_WORDS has no words for `{name}`: add a plain sentence with the next step"
        );
        assert!(
            api.contains(&format!("'{name}'")),
            "ui/api.js's ErrorCode type lacks `{name}`"
        );
        codes.push(name);
    }
    assert_eq!(
        sorted(worded),
        sorted(codes),
        "ERROR_WORDS words exactly the core's codes, each once"
    );
}

#[test]
fn every_command_is_reachable_through_the_acl() {
    let h = harness(ONE_PROVIDER);
    for c in COMMANDS {
        // Wrong or missing arguments are fine here; an ACL refusal is a plain string.
        if let Err(e) = invoke(&h, c, json!({})) {
            assert!(
                !e.to_string().contains("not allowed"),
                "{c} is refused by the ACL: {e}"
            );
        }
    }
    let refused = invoke(
        &h,
        "plugin:opener|open_url",
        json!({"url": "https://example.com"}),
    );
    let refused = refused.expect_err("the webview cannot open URLs itself");
    assert!(
        refused.to_string().contains("not allowed"),
        "the opener plugin is there, and the capabilities refuse it: {refused}"
    );
}

#[test]
fn first_paint_is_local_and_labelled() {
    let h = harness(ONE_PROVIDER);
    assert_eq!(
        invoke(&h, "auth_status", json!({})),
        Ok(json!([])),
        "no one is signed in yet"
    );
    assert_eq!(
        invoke(&h, "auth_providers", json!({})),
        Ok(json!([{"name": "google", "label": "Sign in with Google"}]))
    );
    assert_eq!(invoke(&h, "auth_pending", json!({})), Ok(Value::Null));
    assert_eq!(
        invoke(&h, "app_startup", json!({})),
        Ok(json!({
            "accounts": [],
            "providers": [{"name": "google", "label": "Sign in with Google"}],
            "pending": null,
            "wallet": null,
            "wallet_error": null,
            "vouchers": [],
        })),
        "the first screen in one call: signed out, so no wallet and no error"
    );
}

#[test]
fn a_config_problem_is_shown_not_fatal() {
    let h = harness("[auth.google]\nclient_id = 42\n");
    for cmd in [
        "app_startup",
        "auth_status",
        "auth_providers",
        "wallet_balance",
    ] {
        let e = invoke(&h, cmd, json!({})).unwrap_err();
        assert!(
            e["message"].as_str().unwrap().contains("test.toml:2"),
            "the message names file:line: {e}"
        );
        assert_eq!(code(e), "config", "{cmd}");
    }
}

#[test]
fn signed_out_errors_have_codes() {
    let h = harness(ONE_PROVIDER);
    let err = |cmd: &str, args: Value| code(invoke(&h, cmd, args).unwrap_err());
    assert_eq!(err("wallet_balance", json!({})), "not_signed_in");
    assert_eq!(
        err("wallet_history", json!({"cursor": null, "limit": 5})),
        "not_signed_in"
    );
    assert_eq!(
        err(
            "analysis_run",
            json!({"dataset": 1, "analysis": {"kind": "timeseries", "measure": "value",
                   "agg": "sum", "by": "month"}, "ticket": "run-1"})
        ),
        "not_signed_in"
    );
    assert_eq!(
        err(
            "wallet_redeem",
            json!({"voucher": "LKV1.x.y", "issuer": "https://x.example", "subject": "nobody"})
        ),
        "not_signed_in"
    );
    assert_eq!(err("wallet_export_csv", json!({})), "not_signed_in");
    assert_eq!(
        err("auth_switch", json!({"subject": "nobody"})),
        "unknown_account"
    );
    assert_eq!(
        err(
            "auth_sign_out",
            json!({"subject": null, "everywhere": false})
        ),
        "not_signed_in"
    );
    assert_eq!(
        err(
            "auth_sign_out",
            json!({"subject": "nobody", "everywhere": false})
        ),
        "unknown_account"
    );
    assert_eq!(err("auth_open_again", json!({})), "sign_in_cancelled");
    assert_eq!(
        invoke(&h, "auth_cancel", json!({})),
        Ok(Value::Null),
        "cancelling nothing is fine"
    );
}

#[test]
fn sign_in_needs_a_configured_provider() {
    let h = harness("[auth]\n");
    assert_eq!(invoke(&h, "auth_providers", json!({})), Ok(json!([])));
    let e = invoke(
        &h,
        "auth_sign_in",
        json!({"provider": "google", "addAccount": false}),
    )
    .unwrap_err();
    assert_eq!(code(e), "config");
}

#[test]
fn sign_in_to_an_unreachable_provider_says_offline() {
    let h = harness(UNREACHABLE);
    let e = invoke(
        &h,
        "auth_sign_in",
        json!({"provider": "local", "addAccount": false}),
    )
    .unwrap_err();
    assert_eq!(code(e), "offline");
    assert_eq!(
        invoke(&h, "auth_pending", json!({})),
        Ok(Value::Null),
        "nothing is left waiting"
    );
}

/// The seller whose public key `[wallet] voucher_keys` trusts (this is a debug build, which
/// trusts the user's own keys in every mode).
fn seller() -> latchkey_core::latchkey_wallet::PrivateKey {
    latchkey_core::latchkey_wallet::PrivateKey::from_seed([11; 32])
}

/// Alice and Bob at Google, signed in earlier (bob active), and the seller's key trusted.
fn two_accounts_and_a_seller() -> Harness {
    let cfg = format!(
        "[auth.google]\nclient_id = \"x.apps.googleusercontent.com\"\n[wallet]\nvoucher_keys = [\"{}\"]\n",
        seller().public_key().to_text()
    );
    let h = harness(&cfg);
    let issuer = "https://accounts.google.com";
    let data = h.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let record = |who: &str| {
        json!({
            "id": latchkey_auth::account_id(issuer, who),
            "provider": "google",
            "identity": {"issuer": issuer, "subject": who, "email": format!("{who}@example.test"),
                         "name": format!("Test {who}"), "picture": null},
            "signed_in_at": "2026-11-01T00:00:00Z",
            "session_expires_at": "2099-01-01T00:00:00Z",
            "access_expires_at": null,
            "storage": "keychain",
            "provider_issuer": issuer,
            "client_id": "x.apps.googleusercontent.com",
        })
    };
    let accounts = json!({
        "active": latchkey_auth::account_id(issuer, "bob"),
        "accounts": [record("alice"), record("bob")],
    });
    std::fs::write(data.join("accounts.json"), accounts.to_string()).unwrap();
    h
}

fn available(h: &Harness) -> i64 {
    invoke(h, "wallet_balance", json!({})).unwrap()["available"]
        .as_i64()
        .unwrap()
}

#[test]
fn the_voucher_preview_shows_an_amount_only_for_a_verified_voucher() {
    use latchkey_core::latchkey_wallet::{voucher, Credits, PrivateKey, VoucherSpec};
    let h = two_accounts_and_a_seller();
    let e = invoke(
        &h,
        "wallet_voucher_preview",
        json!({"voucher": "<img src=x>"}),
    )
    .unwrap_err();
    assert_eq!(code(e), "voucher_rejected");

    let good = voucher::issue(&seller(), &VoucherSpec::new(Credits(25))).unwrap();
    let v = invoke(&h, "wallet_voucher_preview", json!({"voucher": good}))
        .expect("a voucher signed by a trusted key");
    assert_eq!(v["credits"], 25);
    assert_eq!(
        (&v["account"]["subject"], &v["account"]["display_name"]),
        (&json!("bob"), &json!("Test bob")),
        "the question names the active account: {v}"
    );

    // Well-formed, and claiming a large amount, but not signed by a trusted key: a forger's
    // own key, and the trusted key's id over a forger's signature.
    let forger = PrivateKey::from_seed([12; 32]);
    let forged = voucher::issue(&forger, &VoucherSpec::new(Credits(900))).unwrap();
    let payload = good.split('.').nth(1).unwrap();
    let forged_sig = forged.split('.').nth(2).unwrap();
    let expired = {
        let mut s = VoucherSpec::new(Credits(900));
        s.expires_at = Some(latchkey_core::latchkey_wallet::Timestamp::from_unix_millis(
            1_000,
        ));
        voucher::issue(&seller(), &s).unwrap()
    };
    let for_alice = {
        let mut s = VoucherSpec::new(Credits(900));
        s.issuer = Some("https://accounts.google.com".into());
        s.subject = Some("alice".into());
        voucher::issue(&seller(), &s).unwrap()
    };
    for (bad, why) in [
        (forged.clone(), "signed by an untrusted key"),
        (format!("LKV1.{payload}.{forged_sig}"), "a forged signature"),
        (expired, "expired"),
        (for_alice, "bound to another account"),
    ] {
        let e = invoke(&h, "wallet_voucher_preview", json!({"voucher": bad})).expect_err(why);
        assert!(
            !e.to_string().contains("900"),
            "{why}: no amount is shown: {e}"
        );
        assert_eq!(code(e), "voucher_rejected", "{why}");
    }

    invoke(
        &h,
        "wallet_redeem",
        json!({"voucher": good, "issuer": v["account"]["issuer"], "subject": "bob"}),
    )
    .expect("the named account is still active");
    assert_eq!(available(&h), 25);
    let e = invoke(&h, "wallet_voucher_preview", json!({"voucher": good})).unwrap_err();
    assert_eq!(code(e), "voucher_rejected", "already redeemed here");
}

#[test]
fn a_redeem_after_a_switch_of_account_is_refused_and_changes_nothing() {
    use latchkey_core::latchkey_wallet::{voucher, Credits, VoucherSpec};
    let h = two_accounts_and_a_seller();
    let good = voucher::issue(&seller(), &VoucherSpec::new(Credits(25))).unwrap();
    let asked = invoke(&h, "wallet_voucher_preview", json!({"voucher": good})).unwrap();
    assert_eq!(asked["account"]["subject"], "bob");

    invoke(&h, "auth_switch", json!({"subject": "alice"})).unwrap();
    let e = invoke(
        &h,
        "wallet_redeem",
        json!({"voucher": good, "issuer": asked["account"]["issuer"], "subject": "bob"}),
    )
    .unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("active account changed"),
        "{e}"
    );
    assert_eq!(code(e), "voucher_rejected");
    assert_eq!(available(&h), 0, "alice got nothing");
    invoke(&h, "auth_switch", json!({"subject": "bob"})).unwrap();
    assert_eq!(available(&h), 0, "bob got nothing either");

    invoke(
        &h,
        "wallet_redeem",
        json!({"voucher": good, "issuer": asked["account"]["issuer"], "subject": "bob"}),
    )
    .expect("asked again of the account now active");
    assert_eq!(available(&h), 25);
}

#[test]
fn the_window_loads_no_image_from_the_network() {
    let conf: Value = serde_json::from_str(&read("tauri.conf.json")).unwrap();
    let csp = conf["app"]["security"]["csp"].as_str().expect("a CSP");
    let img_src = csp
        .split(';')
        .map(str::trim)
        .find(|d| d.starts_with("img-src"))
        .expect("an img-src directive");
    let sources: Vec<&str> = img_src.split_whitespace().skip(1).collect();
    assert_eq!(
        sources,
        ["'self'", "data:"],
        "pictures come from the core's kept copy (data:), never from a host"
    );
    assert!(
        !read("ui/app.js").contains("https:/"),
        "the page has no path that shows a remote picture"
    );
}

// ---------- the whole sign-in flow against the real provider ----------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test OpenID Provider; it exits when dropped (its stdin closes).
struct Idp {
    child: Child,
    issuer: String,
}

impl Idp {
    fn start() -> Idp {
        let mut child = Command::new("node")
            .arg(repo().join("tests/idp/provider.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/idp/provider.mjs (run `make npm` first)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the provider prints its issuer");
        let v: Value = serde_json::from_str(&line).expect("one JSON line");
        Idp {
            issuer: v["issuer"].as_str().unwrap().to_string(),
            child,
        }
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Held by every test that opens the browser: `LATCHKEY_BROWSER` is process-wide, so those
/// tests run one at a time (the others fail before opening a browser, and read no such
/// variable).
static BROWSER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The scripted system browser, signing in as `login` (or denying, or doing nothing); the
/// caller holds [`BROWSER`].
fn browser(_held: &std::sync::MutexGuard<'_, ()>, login: &str, extra: &str) {
    let cmd = format!(
        "env LATCHKEY_TEST_LOGIN={login} {extra} node {}",
        repo().join("tests/idp/browser-http.mjs").display()
    );
    std::env::set_var("LATCHKEY_BROWSER", cmd);
}

fn browser_lock() -> std::sync::MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one still runs.
    BROWSER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Collects one event's payloads.
fn events(h: &Harness, name: &str) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    h.app.listen_any(name, move |e| {
        let _ = tx.send(serde_json::from_str(e.payload()).unwrap());
    });
    rx
}

#[test]
fn sign_in_add_switch_and_sign_out_with_the_real_provider() {
    let held = browser_lock();
    let idp = Idp::start();
    let cfg = format!(
        "[auth.local]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}/.well-known/openid-configuration\"\n[wallet]\nwelcome_credits = 7\n",
        idp.issuer
    );
    let h = harness_with(&cfg, Duration::from_secs(4));
    let signed_in = events(&h, "auth://signed-in");
    let failed = events(&h, "auth://sign-in-failed");
    let wait = |rx: &mpsc::Receiver<Value>, what: &str| {
        rx.recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no {what} event"))
    };
    let start = |add: bool| {
        invoke(
            &h,
            "auth_sign_in",
            json!({"provider": "local", "addAccount": add}),
        )
        .expect("the sign-in starts")
    };

    browser(&held, "alice", "");
    let started = start(false);
    assert_eq!(started["provider"], "local");
    assert_eq!(started["timeout_secs"], 4);
    assert!(started["url"].as_str().unwrap().starts_with(&idp.issuer));
    let account = wait(&signed_in, "signed-in");
    assert_eq!(account["email"], "alice@example.test");
    assert_eq!(account["name"], "Test alice");
    assert_eq!(
        account["display_name"], "Test alice",
        "the core's one way to name a person: the name first"
    );
    assert_eq!(account["active"], true);
    let tokens = stored_token_values(&h, &idp.issuer, "alice");
    assert_no_token_in(&account.to_string(), &tokens, "the signed-in event");
    assert_no_token_in(
        &invoke(&h, "auth_status", json!({})).unwrap().to_string(),
        &tokens,
        "auth_status",
    );
    assert_no_token_in(
        &invoke(&h, "app_startup", json!({})).unwrap().to_string(),
        &tokens,
        "app_startup",
    );
    assert_eq!(invoke(&h, "auth_pending", json!({})), Ok(Value::Null));

    browser(&held, "bob", "");
    let started = start(true);
    assert!(
        started["url"]
            .as_str()
            .unwrap()
            .contains("prompt=select_account"),
        "Add account asks the provider for its account chooser"
    );
    assert_eq!(wait(&signed_in, "signed-in")["email"], "bob@example.test");
    let accounts = invoke(&h, "auth_status", json!({})).unwrap();
    let active: Vec<_> = accounts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["active"] == true)
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert_eq!(accounts.as_array().unwrap().len(), 2);
    assert_eq!(active, ["bob"], "the new account becomes active");

    let switched = invoke(&h, "auth_switch", json!({"subject": "alice"})).unwrap();
    assert_eq!(
        (&switched["subject"], &switched["active"]),
        (&json!("alice"), &json!(true))
    );
    assert_eq!(switched["display_name"], "Test alice");
    let first = invoke(&h, "app_startup", json!({})).unwrap();
    assert_eq!(
        first["accounts"],
        invoke(&h, "auth_status", json!({})).unwrap()
    );
    assert_eq!(
        first["wallet"],
        json!({
            "balance": invoke(&h, "wallet_balance", json!({})).unwrap(),
            "history": invoke(&h, "wallet_history", json!({})).unwrap(),
        }),
        "the first screen shows the active account's wallet (alice's)"
    );
    assert_eq!(first["wallet"]["balance"]["available"], 7, "{first}");
    assert_eq!(first["wallet"]["history"]["entries"][0]["kind"], "grant");
    assert_eq!(first["wallet_error"], Value::Null);
    let online = invoke(&h, "auth_refresh_status", json!({})).unwrap();
    assert!(
        online
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["offline"] == false),
        "the provider is up: {online}"
    );

    let report = invoke(
        &h,
        "auth_sign_out",
        json!({"subject": "bob", "everywhere": false}),
    )
    .unwrap();
    assert_eq!(report["signed_out"][0]["subject"], "bob");
    assert_eq!(report["revoked"], 1, "bob's refresh token was revoked");
    browser(&held, "nobody", "LATCHKEY_TEST_BROWSER_NOOP=1");
    let report = invoke(
        &h,
        "auth_sign_out",
        json!({"subject": null, "everywhere": true}),
    )
    .unwrap();
    assert_eq!(report["signed_out"][0]["subject"], "alice");
    assert!(
        report["end_session_urls"][0]
            .as_str()
            .unwrap()
            .starts_with(&idp.issuer),
        "everywhere opens the provider's sign-out page: {report}"
    );
    assert_eq!(invoke(&h, "auth_status", json!({})), Ok(json!([])));

    browser(&held, "carol", "LATCHKEY_TEST_DENY=1");
    start(false);
    assert_eq!(code(wait(&failed, "failed")), "sign_in_denied");

    browser(&held, "dave", "LATCHKEY_TEST_BROWSER_NOOP=1");
    start(false);
    start(false); // e.g. a double click: the newer sign-in replaces the first, silently
    let pending = invoke(&h, "auth_pending", json!({})).unwrap();
    assert_eq!(pending["provider"], "local");
    assert_eq!(invoke(&h, "auth_open_again", json!({})), Ok(Value::Null));
    invoke(&h, "auth_cancel", json!({})).unwrap();
    assert_eq!(code(wait(&failed, "failed")), "sign_in_cancelled");
    assert!(
        failed.recv_timeout(Duration::from_secs(1)).is_err(),
        "the replaced sign-in reports nothing (it would end the newer one's waiting screen)"
    );
    assert_eq!(invoke(&h, "auth_pending", json!({})), Ok(Value::Null));

    start(false);
    assert_eq!(
        code(wait(&failed, "failed")),
        "sign_in_timed_out",
        "nothing came back within the 4 s timeout"
    );
    assert_eq!(invoke(&h, "auth_status", json!({})), Ok(json!([])));
}

// ---------- a Microsoft Entra-shaped provider (tests/idp/tenants.mjs) ----------

/// `tests/idp/tenants.mjs`: Microsoft-shaped `common`/`organizations`/`consumers` endpoints; it
/// exits when dropped.
struct Tenants {
    child: Child,
    base: String,
}

impl Tenants {
    fn start() -> Tenants {
        let mut child = Command::new("node")
            .arg(repo().join("tests/idp/tenants.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/idp/tenants.mjs (run `make npm` first)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the tenants print their base URL");
        let v: Value = serde_json::from_str(&line).expect("one JSON line");
        Tenants {
            base: v["base"].as_str().unwrap().to_string(),
            child,
        }
    }
}

impl Drop for Tenants {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sign_in_through_microsoft_common_shows_the_tenant_and_the_username() {
    const CONTOSO: &str = "aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa";
    let held = browser_lock();
    let t = Tenants::start();
    let cfg = format!(
        "[auth.microsoft]\nclient_id = \"desktop-public\"\n\
         server_metadata_url = \"{}/common/v2.0/.well-known/openid-configuration\"\n",
        t.base
    );
    let h = harness_with(&cfg, Duration::from_secs(30));
    let signed_in = events(&h, "auth://signed-in");
    let failed = events(&h, "auth://sign-in-failed");
    assert_eq!(
        invoke(&h, "auth_providers", json!({})),
        Ok(json!([{"name": "microsoft", "label": "Sign in with Microsoft"}]))
    );
    browser(&held, "alice", "");
    let started = invoke(
        &h,
        "auth_sign_in",
        json!({"provider": "microsoft", "addAccount": false}),
    )
    .expect("the sign-in starts");
    assert!(
        started["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/common/v2.0/", t.base)),
        "the browser goes to the common endpoint: {started}"
    );
    let account = match signed_in.recv_timeout(Duration::from_secs(30)) {
        Ok(a) => a,
        Err(_) => panic!(
            "no signed-in event; failed: {:?}",
            failed.recv_timeout(Duration::from_secs(1))
        ),
    };
    let tenant_issuer = format!("{}/{CONTOSO}/v2.0", t.base);
    assert_eq!(
        account["issuer"], tenant_issuer,
        "the account is the tenant's, never the template's: {account}"
    );
    assert_eq!(account["subject"], "alice");
    assert_eq!(account["email"], Value::Null, "Microsoft sent no email");
    assert_eq!(
        account["username"], "alice@contoso.example",
        "the preferred_username is what the app shows beside the name"
    );
    assert_eq!(account["display_name"], "Test alice");
    assert_eq!(account["active"], true);
    let tokens = stored_token_values(&h, &tenant_issuer, "alice");
    assert_no_token_in(&account.to_string(), &tokens, "the signed-in event");
    assert_eq!(
        invoke(
            &h,
            "auth_switch",
            json!({"subject": "alice@contoso.example"})
        )
        .expect("the username finds the account")["subject"],
        "alice"
    );
    let online = invoke(&h, "auth_refresh_status", json!({})).unwrap();
    assert_eq!(
        online[0]["offline"], false,
        "the tenant's issuer is reachable through the common document: {online}"
    );
}

/// An account whose `[auth.<name>]` now names another issuer than it signed in with.
fn an_account_signed_in_elsewhere(h: &Harness, provider: &str, issuer_then: &str) {
    let issuer = "https://accounts.google.com";
    let data = h.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let id = latchkey_auth::account_id(issuer, "alice");
    let record = json!({
        "active": id,
        "accounts": [{
            "id": id,
            "provider": provider,
            "identity": {"issuer": issuer, "subject": "alice", "email": "alice@example.test",
                         "name": "Alice", "picture": null},
            "signed_in_at": "2026-11-01T00:00:00Z",
            "session_expires_at": "2099-01-01T00:00:00Z",
            "access_expires_at": null,
            "storage": "keychain",
            "provider_issuer": issuer_then,
            "client_id": "x.apps.googleusercontent.com",
        }],
    });
    std::fs::write(data.join("accounts.json"), record.to_string()).unwrap();
}

#[test]
fn the_window_marks_an_account_whose_provider_changed() {
    let h = harness(ONE_PROVIDER);
    an_account_signed_in_elsewhere(&h, "google", "https://id.elsewhere.example");
    for (cmd, accounts) in [
        ("auth_status", invoke(&h, "auth_status", json!({})).unwrap()),
        (
            "app_startup",
            invoke(&h, "app_startup", json!({})).unwrap()["accounts"].clone(),
        ),
    ] {
        assert_eq!(accounts[0]["subject"], "alice", "{cmd}: still shown");
        assert_eq!(
            accounts[0]["provider_changed"], true,
            "{cmd}: the window is told to say \"provider changed — sign in again\""
        );
    }

    let same = harness(ONE_PROVIDER);
    an_account_signed_in_elsewhere(&same, "google", "https://accounts.google.com");
    let accounts = invoke(&same, "auth_status", json!({})).unwrap();
    assert_eq!(
        accounts[0]["provider_changed"], false,
        "an unchanged provider is not marked"
    );
}

/// A 1x1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// A loopback picture host answering every request with [`PNG`] until `stop` is set; returns
/// its address and the number of requests it answered.
fn picture_host(
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alice.png", listener.local_addr().unwrap());
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            if stop.load(Ordering::SeqCst) {
                return; // the host is gone: the connection closes unanswered
            }
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                PNG.len()
            );
            let _ = sock.write_all(head.as_bytes());
            let _ = sock.write_all(PNG);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, served)
}

#[test]
fn the_window_gets_the_kept_picture_never_the_picture_hosts_address() {
    use std::sync::atomic::Ordering;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (picture, served) = picture_host(stop.clone());
    let h = harness(UNREACHABLE);
    let issuer = "http://127.0.0.1:9";
    let data = h.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let id = latchkey_auth::account_id(issuer, "alice");
    let record = json!({
        "active": id,
        "accounts": [{
            "id": id,
            "provider": "local",
            "identity": {"issuer": issuer, "subject": "alice", "email": "alice@example.test",
                         "name": "Alice", "picture": picture},
            "signed_in_at": "2026-11-01T00:00:00Z",
            "session_expires_at": "2099-01-01T00:00:00Z",
            "access_expires_at": null,
            "storage": "keychain",
            "provider_issuer": issuer,
            "client_id": "c",
        }],
    });
    std::fs::write(data.join("accounts.json"), record.to_string()).unwrap();

    let before = invoke(&h, "auth_status", json!({})).unwrap();
    assert_eq!(
        before[0]["picture"],
        Value::Null,
        "nothing kept yet: {before}"
    );
    assert!(!before.to_string().contains(&picture), "no host address");
    assert_eq!(
        served.load(Ordering::SeqCst),
        0,
        "the local first paint fetches nothing"
    );

    let changed = events(&h, "state://changed");
    invoke(&h, "auth_refresh_status", json!({})).unwrap();
    changed
        .recv_timeout(Duration::from_secs(30))
        .expect("the window is told once the picture is kept");
    let kept = invoke(&h, "auth_status", json!({})).unwrap()[0]["picture"]
        .as_str()
        .expect("the kept picture")
        .to_string();
    assert!(
        kept.starts_with("data:image/png;base64,iVBORw0KGgo"),
        "the PNG itself, as a data: URL: {kept}"
    );
    for cmd in ["auth_status", "auth_refresh_status", "app_startup"] {
        let answer = invoke(&h, cmd, json!({})).unwrap();
        let accounts = if cmd == "app_startup" {
            answer["accounts"].clone()
        } else {
            answer
        };
        assert_eq!(accounts[0]["picture"], kept.as_str(), "{cmd}");
        assert!(
            !accounts.to_string().contains(&picture),
            "{cmd}: no host address"
        );
    }

    // The host goes away: the kept picture is still shown, and it was fetched once.
    stop.store(true, Ordering::SeqCst);
    let offline = invoke(&h, "auth_refresh_status", json!({})).unwrap();
    assert_eq!(offline[0]["picture"], kept.as_str());
    assert_eq!(served.load(Ordering::SeqCst), 1, "fetched once");
}
