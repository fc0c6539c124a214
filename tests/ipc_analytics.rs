//! The analytics commands over real IPC (Tauri's mock runtime with the app's capabilities):
//! a real export (vega-datasets' seattle-weather.csv) sent as the page sends it (in pieces,
//! each the raw body of a `dataset_upload_chunk`), detected, corrected and imported, profile
//! and preview for free, the price shown first, a paid monthly
//! time series split by weather checked against sums of the raw text, a cancelled run that
//! costs nothing, saved results reopened for free, CSV and chart exports. The account is
//! signed in through the real test OpenID Provider (tests/idp, `make npm` first).

use latchkey_app::commands::analytics::AnalysisRuns;
use latchkey_app::{Shell, SignIns};
use latchkey_auth::MemoryKeyStore;
use latchkey_core::{config, Core, SystemClock};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tauri::http::{HeaderMap, HeaderName, HeaderValue};
use tauri::ipc::InvokeBody;
use tauri::test::{get_ipc_response, mock_builder, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{Listener, WebviewWindow};

struct Harness {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn harness(config_text: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let core = config::parse(config_text, "test.toml")
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
    let app = mock_builder()
        .manage(Shell::over(core))
        .manage(SignIns::new(Duration::from_secs(30)))
        .manage(AnalysisRuns::default())
        .invoke_handler(latchkey_app::app_commands!())
        .build(tauri::generate_context!())
        .expect("the app builds");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .expect("main window");
    Harness { app, window, dir }
}

fn request(h: &Harness, cmd: &str, body: InvokeBody, headers: HeaderMap) -> Result<Value, Value> {
    get_ipc_response(
        &h.window,
        InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body,
            headers,
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|b| b.deserialize::<Value>().expect("JSON answer"))
}

fn invoke(h: &Harness, cmd: &str, args: Value) -> Result<Value, Value> {
    request(h, cmd, InvokeBody::Json(args), HeaderMap::new())
}

/// A raw-body command, as `command(name, bytes, {headers})` in ui/api.js sends it.
fn invoke_raw(
    h: &Harness,
    cmd: &str,
    bytes: &[u8],
    headers: &[(&str, &str)],
) -> Result<Value, Value> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    request(h, cmd, InvokeBody::Raw(bytes.to_vec()), map)
}

/// The error's code, after checking it has the `{code, message}` shape.
fn code(e: Value) -> String {
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "errors are {{code, message}}: {e}"
    );
    e["code"].as_str().expect("errors carry a code").to_string()
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn seattle() -> PathBuf {
    let path = repo().join(
        "crates/latchkey-analytics/tests/data/node_modules/vega-datasets/data/seattle-weather.csv",
    );
    assert!(
        path.is_file(),
        "{} is missing: run `make npm`",
        path.display()
    );
    path
}

/// The test OpenID Provider; it exits when dropped.
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

/// A window signed in as `login` through the real provider (HTTP-scripted browser), with
/// `welcome` credits and analyses at `cost`.
fn signed_in(idp: &Idp, login: &str, welcome: i64, cost: i64) -> Harness {
    let cfg = format!(
        "[auth.local]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}/.well-known/openid-configuration\"\n[wallet]\nwelcome_credits = {welcome}\nanalytics_cost = {cost}\n",
        idp.issuer
    );
    let h = harness(&cfg);
    let (tx, rx) = mpsc::channel();
    h.app.listen_any("auth://signed-in", move |e| {
        let _ = tx.send(e.payload().to_string());
    });
    // The only test in this binary that opens a browser: the variable is not shared.
    std::env::set_var(
        "LATCHKEY_BROWSER",
        format!(
            "env LATCHKEY_TEST_LOGIN={login} node {}",
            repo().join("tests/idp/browser-http.mjs").display()
        ),
    );
    invoke(
        &h,
        "auth_sign_in",
        json!({"provider": "local", "addAccount": false}),
    )
    .expect("the sign-in starts");
    rx.recv_timeout(Duration::from_secs(30))
        .expect("signed in through the real provider");
    h
}

fn available(h: &Harness) -> i64 {
    invoke(h, "wallet_balance", json!({})).unwrap()["available"]
        .as_i64()
        .unwrap()
}

/// Hands `bytes` over as the page does (ui/analytics.js): begin, then pieces of `chunk` bytes
/// in order. Returns the upload's id.
fn upload(h: &Harness, name: &str, bytes: &[u8], chunk: usize) -> String {
    let id = invoke(
        h,
        "dataset_upload_begin",
        json!({"fileName": name, "size": bytes.len()}),
    )
    .expect("upload begun");
    let id = id.as_str().unwrap().to_string();
    let mut offset = 0;
    for piece in bytes.chunks(chunk) {
        let got = invoke_raw(
            h,
            "dataset_upload_chunk",
            piece,
            &[("x-upload", &id), ("x-offset", &offset.to_string())],
        )
        .expect("piece taken");
        offset += piece.len();
        assert_eq!(got, json!(offset), "the bytes received so far");
    }
    id
}

/// The private copies of uploaded files the app holds now.
fn copies(h: &Harness) -> Vec<PathBuf> {
    std::fs::read_dir(h.dir.path().join("data/imports"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn signed_out_the_analytics_commands_say_so() {
    let h = harness("[auth.google]\nclient_id = \"x.apps.googleusercontent.com\"\n");
    assert_eq!(
        code(invoke(&h, "dataset_list", json!({})).unwrap_err()),
        "not_signed_in"
    );
    assert_eq!(
        code(
            invoke(
                &h,
                "dataset_upload_begin",
                json!({"fileName": "a.csv", "size": 8})
            )
            .unwrap_err()
        ),
        "not_signed_in"
    );
    assert_eq!(
        code(invoke(&h, "analysis_cancel", json!({"ticket": "../x"})).unwrap_err()),
        "invalid_input",
        "a ticket is a plain token"
    );
    assert_eq!(
        invoke(&h, "analysis_cancel", json!({"ticket": "run-1"})),
        Ok(Value::Null),
        "cancelling a run that is not running is harmless"
    );
}

/// Per month (`YYYY-MM`), the sum of `precipitation` of the rows whose weather is `weather`,
/// from the raw text (date,precipitation,temp_max,temp_min,wind,weather).
fn precipitation_by_month(text: &str, weather: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let month = f[0][..7].to_string();
        let e = out.entry(month).or_insert(0.0);
        if f[5] == weather {
            *e += f[1].parse::<f64>().unwrap();
        }
    }
    out
}

#[test]
fn import_profile_run_paid_cancel_for_free_reopen_and_export() {
    let idp = Idp::start();
    let h = signed_in(&idp, "ana", 10, 3);
    let bytes = std::fs::read(seattle()).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let data_rows = text.lines().skip(1).filter(|l| !l.is_empty()).count();

    // ---- import, as the page sends a picked file: in pieces, then detected, then imported ----
    let refused = invoke(&h, "dataset_import", json!({"upload": "/etc/passwd"})).unwrap_err();
    assert_eq!(
        code(refused),
        "invalid_input",
        "an upload is an id the app gave, never a path"
    );
    let up = upload(&h, "seattle-weather.csv", &bytes, 16 << 10);
    let found = invoke(&h, "dataset_detect", json!({"upload": up})).expect("detected");
    assert_eq!(found["rows"].as_u64().unwrap() as usize, data_rows);
    assert_eq!(found["existing"], Value::Null);
    assert_eq!(
        found["preview"].as_array().unwrap().len(),
        10,
        "ten rows unless asked"
    );
    let imported = invoke(
        &h,
        "dataset_import",
        json!({"upload": up, "name": "Seattle ☔"}),
    )
    .expect("imported");
    assert_eq!(imported["existing"], false);
    let ds = &imported["dataset"];
    let id = ds["id"].as_i64().unwrap();
    assert_eq!(ds["name"], "Seattle ☔");
    assert_eq!(ds["source_name"], "seattle-weather.csv");
    assert_eq!(ds["rows"].as_u64().unwrap() as usize, data_rows);
    let up = upload(&h, "copy.csv", &bytes, 1 << 20);
    let again = invoke(&h, "dataset_import", json!({"upload": up})).unwrap();
    assert_eq!(
        (again["existing"].clone(), again["dataset"]["id"].as_i64()),
        (json!(true), Some(id)),
        "the same bytes are recognised"
    );
    let up = upload(
        &h,
        "ragged.csv",
        &[text.as_bytes(), b"2016-01-01,1,2\n"].concat(),
        1 << 20,
    );
    let ragged = invoke(&h, "dataset_import", json!({"upload": up})).unwrap_err();
    let message = ragged["message"].as_str().unwrap().to_string();
    assert_eq!(code(ragged), "invalid_input");
    assert!(
        message.starts_with(&format!("ragged.csv: line {}:", data_rows + 2)),
        "names the file and the line: {message}"
    );

    // ---- list, rename, profile, preview: free ----
    let list = invoke(&h, "dataset_list", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing half-imported");
    let renamed = invoke(&h, "dataset_rename", json!({"id": id, "name": "Seattle"})).unwrap();
    assert_eq!(renamed["name"], "Seattle");
    let profile = invoke(&h, "dataset_profile", json!({"id": id})).unwrap();
    let kinds: Vec<(&str, &str)> = profile["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["column"]["name"].as_str().unwrap(),
                c["column"]["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds[0], ("date", "date"));
    assert_eq!(kinds[1], ("precipitation", "number"));
    assert_eq!(kinds[5], ("weather", "category"));
    let page = invoke(
        &h,
        "dataset_preview",
        json!({"id": id, "offset": 100, "limit": 2}),
    )
    .unwrap();
    let line_102: Vec<&str> = text.lines().nth(101).unwrap().split(',').collect();
    assert_eq!(page["total_rows"].as_u64().unwrap() as usize, data_rows);
    assert_eq!(
        page["rows"][0][0], line_102[0],
        "row 101 is the file's line 102"
    );
    assert_eq!(page["rows"][0][5], line_102[5]);
    assert_eq!(page["rows"].as_array().unwrap().len(), 2);
    assert_eq!(available(&h), 10, "importing and looking are free");

    // ---- the price first; a cancelled run costs nothing ----
    assert_eq!(
        invoke(&h, "analysis_price", json!({"kind": "timeseries"})),
        Ok(json!(3))
    );
    assert_eq!(
        code(invoke(&h, "analysis_price", json!({"kind": "pie"})).unwrap_err()),
        "invalid_input"
    );
    let monthly = json!({"kind": "timeseries", "measure": "precipitation", "agg": "sum",
                         "by": "month", "split": "weather"});
    invoke(&h, "analysis_cancel", json!({"ticket": "run-a"})).unwrap();
    let cancelled = invoke(
        &h,
        "analysis_run",
        json!({"dataset": id, "analysis": monthly, "ticket": "run-a"}),
    )
    .unwrap_err();
    assert_eq!(code(cancelled), "cancelled");
    assert_eq!(available(&h), 10, "a cancelled run releases its hold");
    assert_eq!(
        invoke(&h, "analysis_results", json!({"dataset": null})),
        Ok(json!([])),
        "and saves nothing"
    );

    // ---- a paid run ----
    let paid = invoke(
        &h,
        "analysis_run",
        json!({"dataset": id, "analysis": monthly, "ticket": "run-b"}),
    )
    .expect("paid run");
    assert_eq!(paid["saved"]["cost"], 3);
    assert_eq!(paid["balance"]["available"], 7);
    assert_eq!(available(&h), 7, "the price, once");
    let result = &paid["saved"]["result"];
    let periods: Vec<&str> = result["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap())
        .collect();
    let rain = result["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "rain")
        .expect("a series for rain");
    let expected = precipitation_by_month(&text, "rain");
    assert_eq!(
        periods,
        expected.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for (i, (month, sum)) in expected.iter().enumerate() {
        let got = rain["values"][i].as_f64().unwrap();
        assert!((got - sum).abs() < 1e-6, "{month}: {got} != {sum}");
    }

    // ---- saved results: free, whole ----
    let listed = invoke(&h, "analysis_results", json!({"dataset": id})).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["result"], Value::Null, "listings carry no bodies");
    let rid = listed[0]["id"].as_i64().unwrap();
    let reopened = invoke(&h, "analysis_result", json!({"id": rid})).unwrap();
    assert_eq!(&reopened["result"], result);
    assert_eq!(available(&h), 7, "reopening is free");

    // ---- exports ----
    let csv_path = invoke(&h, "analysis_export_csv", json!({"id": rid})).unwrap();
    let csv_path = PathBuf::from(csv_path.as_str().unwrap());
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    std::fs::remove_file(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("period,start,"), "{csv}");
    assert_eq!(lines.count(), periods.len(), "one line per month");
    let png = b"\x89PNG\r\n\x1a\nrest";
    let png_path = invoke_raw(
        &h,
        "analysis_export_chart",
        png,
        &[("x-result-id", &rid.to_string()), ("x-format", "png")],
    )
    .unwrap();
    let png_path = PathBuf::from(png_path.as_str().unwrap());
    assert_eq!(std::fs::read(&png_path).unwrap(), png);
    assert_eq!(png_path.extension().unwrap(), "png");
    std::fs::remove_file(&png_path).unwrap();
    let not_svg = invoke_raw(
        &h,
        "analysis_export_chart",
        b"<script>",
        &[("x-result-id", &rid.to_string()), ("x-format", "svg")],
    )
    .unwrap_err();
    assert_eq!(
        code(not_svg),
        "invalid_input",
        "only a PNG or an SVG is saved"
    );

    // ---- delete: the rows and the results go ----
    invoke(&h, "dataset_delete", json!({"id": id})).unwrap();
    assert_eq!(invoke(&h, "dataset_list", json!({})), Ok(json!([])));
    assert_eq!(
        code(invoke(&h, "analysis_result", json!({"id": rid})).unwrap_err()),
        "invalid_input"
    );
    assert!(copies(&h).is_empty(), "no copy of an imported file is kept");
}

/// Line `i + 2` of [`two_way_dates`]'s file: the day/month pair written `AA/BB/2026`, both at
/// most 12 so either order reads it.
fn pair(i: usize) -> (usize, usize) {
    (1 + i % 12, 1 + (i * 5 + i / 12) % 12)
}

/// A file of `rows` rows (`when,amount,ref`) whose dates read both ways, and whose `ref` is a
/// number on every line but `bad_line`.
fn two_way_dates(rows: usize, bad_line: usize) -> Vec<u8> {
    let mut text = String::from("when,amount,ref\n");
    for i in 0..rows {
        let (a, b) = pair(i);
        let r = if i + 2 == bad_line {
            "x12".to_string()
        } else {
            format!("{}", 1000 + i)
        };
        text.push_str(&format!("{a:02}/{b:02}/2026,{}.25,{r}\n", i % 97));
    }
    text.into_bytes()
}

/// The `when` column of rows `offset..offset + limit`, as the app shows dates.
fn dates(h: &Harness, id: i64, offset: usize, limit: usize) -> Vec<String> {
    let page = invoke(
        h,
        "dataset_preview",
        json!({"id": id, "offset": offset, "limit": limit}),
    )
    .unwrap();
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn detect_correct_and_import_a_file_sent_in_pieces() {
    let idp = Idp::start();
    let h = signed_in(&idp, "ana", 0, 1);
    // ~1.6 MB: two pieces of the page's 1 MiB, the bad value after the first.
    const ROWS: usize = 60_000;
    const BAD_LINE: usize = 50_001;
    let bytes = two_way_dates(ROWS, BAD_LINE);
    assert!(bytes.len() > 1 << 20, "more than one piece");
    let piece = 1 << 20;

    // ---- detect: what an import would store; nothing stored ----
    let up = upload(&h, "two-way.csv", &bytes, piece);
    assert_eq!(copies(&h).len(), 1, "one private copy while it is checked");
    let found = invoke(&h, "dataset_detect", json!({"upload": up, "rows": 3})).unwrap();
    assert_eq!(found["rows"], ROWS);
    let cols: Vec<(&str, &str)> = found["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        cols,
        [("when", "date"), ("amount", "number"), ("ref", "text")],
        "`ref` has a value that is no number"
    );
    assert_eq!(found["columns"][0]["date_order_decided_by"], "default");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let first: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .take(3)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(found["preview"], json!(first), "the first rows, as written");
    assert_eq!(invoke(&h, "dataset_list", json!({})), Ok(json!([])));

    // ---- a column forced to be a number that is not: line and column named, nothing imported ----
    let e = invoke(
        &h,
        "dataset_import",
        json!({"upload": up, "corrections": {"kinds": {"ref": "number"}}}),
    )
    .unwrap_err();
    assert_eq!(
        e["message"],
        format!(
            "two-way.csv: line {BAD_LINE}, column 3 (ref): `x12` is not a number; nothing imported"
        )
    );
    assert_eq!(code(e), "invalid_input");
    assert_eq!(
        invoke(&h, "dataset_list", json!({})),
        Ok(json!([])),
        "nothing imported"
    );
    assert!(copies(&h).is_empty(), "the copy goes when the import fails");
    assert_eq!(
        code(invoke(&h, "dataset_import", json!({"upload": up})).unwrap_err()),
        "invalid_input",
        "and the page must send the file again"
    );
    let bogus = invoke(
        &h,
        "dataset_detect",
        json!({"upload": up, "corrections": {"kinds": {"ref": "number"}, "colour": 1}}),
    );
    assert!(bogus.is_err(), "unknown correction fields are refused");

    // ---- month first ----
    let up = upload(&h, "two-way.csv", &bytes, piece);
    let imported = invoke(
        &h,
        "dataset_import",
        json!({"upload": up, "corrections": {"date_order": "month_first", "kinds": {"ref": "category"}}}),
    )
    .expect("imported month first");
    let d = &imported["dataset"];
    let mdy_id = d["id"].as_i64().unwrap();
    assert_eq!(d["rows"], ROWS, "every row, across the pieces");
    assert_eq!(d["columns"][0]["date_order"], "month_first");
    assert_eq!(d["columns"][0]["date_order_decided_by"], "user");
    assert_eq!(d["columns"][2]["kind"], "category");
    assert!(copies(&h).is_empty(), "the copy goes once imported");
    // AA/BB/2026 month first is 2026-AA-BB; checked at the start and past the first piece.
    let expect = |offset: usize, n: usize, month_first: bool| -> Vec<String> {
        (offset..offset + n)
            .map(|i| {
                let (a, b) = pair(i);
                let (m, d) = if month_first { (a, b) } else { (b, a) };
                format!("2026-{m:02}-{d:02}")
            })
            .collect()
    };
    assert_eq!(dates(&h, mdy_id, 0, 40), expect(0, 40, true));
    assert_eq!(
        dates(&h, mdy_id, ROWS - 40, 40),
        expect(ROWS - 40, 40, true)
    );

    // ---- the same file again, day first, over that dataset ----
    let up = upload(&h, "two-way.csv", &bytes, piece);
    let found = invoke(&h, "dataset_detect", json!({"upload": up, "rows": 0})).unwrap();
    assert_eq!(
        found["existing"]["id"], mdy_id,
        "recognised as imported before"
    );
    let replaced = invoke(
        &h,
        "dataset_import",
        json!({"upload": up, "corrections": {"date_order": "day_first"}, "replace": mdy_id}),
    )
    .expect("imported again over it");
    let dmy_id = replaced["dataset"]["id"].as_i64().unwrap();
    assert_ne!(dmy_id, mdy_id);
    assert_eq!(dates(&h, dmy_id, 0, 40), expect(0, 40, false));
    assert_eq!(
        dates(&h, dmy_id, ROWS - 40, 40),
        expect(ROWS - 40, 40, false)
    );
    assert_ne!(
        expect(0, 40, true),
        expect(0, 40, false),
        "the orders read these dates differently"
    );
    let list = invoke(&h, "dataset_list", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "replaced, not added");
    assert!(copies(&h).is_empty());

    // ---- cancel, limits ----
    let up = upload(&h, "two-way.csv", &bytes[..1000], piece);
    invoke(&h, "dataset_upload_cancel", json!({"upload": up})).unwrap();
    assert!(copies(&h).is_empty(), "a cancelled upload leaves no copy");
    let huge = invoke(
        &h,
        "dataset_upload_begin",
        json!({"fileName": "huge.csv", "size": 2u64 << 30}),
    )
    .unwrap_err();
    assert_eq!(
        huge["message"],
        "huge.csv: the file is 2147483648 bytes, over the 1073741824-byte limit; split it or \
         raise the limit; nothing imported",
        "a 2 GB file is refused before a byte is sent"
    );
    let up = invoke(
        &h,
        "dataset_upload_begin",
        json!({"fileName": "big.csv", "size": 64u64 << 20}),
    )
    .unwrap();
    let up = up.as_str().unwrap();
    let too_big = vec![b'a'; latchkey_core::analytics::MAX_UPLOAD_CHUNK + 1];
    let e = invoke_raw(
        &h,
        "dataset_upload_chunk",
        &too_big,
        &[("x-upload", up), ("x-offset", "0")],
    )
    .unwrap_err();
    assert_eq!(code(e), "invalid_input", "a piece is bounded");
    let e = invoke_raw(
        &h,
        "dataset_upload_chunk",
        b"abc",
        &[("x-upload", up), ("x-offset", "5")],
    )
    .unwrap_err();
    assert_eq!(code(e), "invalid_input", "pieces come in order");
    invoke(&h, "dataset_upload_cancel", json!({"upload": up})).unwrap();
    assert!(copies(&h).is_empty());
}
