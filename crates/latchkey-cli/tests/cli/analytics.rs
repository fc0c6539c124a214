//! `latchkey analytics ...` end to end: a real sign-in, the real wallet and analytics files,
//! real data (vega-datasets' seattle-weather.csv), results checked against sums computed here
//! from the raw CSV text.

use crate::harness::{assert_exit, repo, text, Idp, Machine};
use std::collections::BTreeMap;

const PRICE: i64 = 3;

fn signed_in(welcome: i64) -> (Idp, Machine) {
    let idp = Idp::start(&[]);
    let m = Machine::new(&[("local", "desktop-public", None, &idp.issuer)]);
    m.add_config(&format!(
        "\n[wallet]\nwelcome_credits = {welcome}\nanalytics_cost = {PRICE}\n"
    ));
    assert_exit(&m.latchkey("alice", &["login"]), 0, "sign in");
    (idp, m)
}

fn available(m: &Machine) -> i64 {
    m.json(&["wallet", "balance", "--json"])["available"]
        .as_i64()
        .expect("available")
}

fn seattle() -> std::path::PathBuf {
    let p = repo().join(
        "crates/latchkey-analytics/tests/data/node_modules/vega-datasets/data/seattle-weather.csv",
    );
    assert!(
        p.exists(),
        "{} is missing: run `make npm` (the vega-datasets package)",
        p.display()
    );
    p
}

/// Monthly sums of precipitation per weather, from the raw text: (month, weather) -> sum.
fn expected_sums(csv: &str) -> BTreeMap<(String, String), f64> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (date, precipitation, weather) = (col("date"), col("precipitation"), col("weather"));
    let mut sums = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let month = f[date][..7].to_string();
        let v: f64 = f[precipitation].parse().expect("a number");
        *sums.entry((month, f[weather].to_string())).or_insert(0.0) += v;
    }
    sums
}

#[test]
fn import_profile_paid_timeseries_and_free_reopen() {
    let (_idp, m) = signed_in(5);
    let file = seattle();
    let raw = std::fs::read_to_string(&file).unwrap();

    let out = m.latchkey(
        "-",
        &[
            "analytics",
            "import",
            file.to_str().unwrap(),
            "--name",
            "seattle",
        ],
    );
    assert_exit(&out, 0, "import");
    assert!(
        text(&out.stdout).contains("Imported dataset"),
        "{}",
        text(&out.stdout)
    );

    let list = m.json(&["analytics", "list", "--json"]);
    let datasets = list["datasets"].as_array().expect("datasets");
    assert_eq!(datasets.len(), 1);
    let d = &datasets[0];
    assert_eq!(d["name"], "seattle");
    let data_rows = raw.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    assert_eq!(d["rows"].as_u64(), Some(data_rows as u64), "every row");
    let kinds: BTreeMap<String, String> = d["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(kinds["date"], "date");
    assert_eq!(kinds["precipitation"], "number");
    assert_eq!(kinds["weather"], "category");
    let human = text(&m.latchkey("-", &["analytics", "list"]).stdout);
    assert!(
        human.contains("seattle") && human.contains(&data_rows.to_string()),
        "{human}"
    );

    let profile = m.json(&["analytics", "profile", "seattle", "--json"]);
    assert_eq!(profile["rows"].as_u64(), Some(data_rows as u64));
    let weather = profile["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"]["name"] == "weather")
        .expect("weather profiled");
    let sun_rows = raw.lines().filter(|l| l.ends_with(",sun")).count() as u64;
    assert!(
        weather["top"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t[0] == "sun" && t[1].as_u64() == Some(sun_rows)),
        "sun counted like the raw text: {weather}"
    );
    assert_eq!(available(&m), 5, "importing and looking are free");

    let out = m.latchkey(
        "-",
        &[
            "analytics",
            "run",
            "seattle",
            "--kind",
            "timeseries",
            "--measure",
            "precipitation",
            "--by",
            "month",
            "--split",
            "weather",
            "--json",
        ],
    );
    assert_exit(&out, 0, "a paid monthly time series");
    assert!(
        text(&out.stderr).contains(&format!("costs {PRICE} credits")),
        "the price is shown before running: {}",
        text(&out.stderr)
    );
    assert_eq!(available(&m), 5 - PRICE, "the balance drops by the price");
    let saved: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(saved["cost"], PRICE);
    assert_eq!(saved["kind"], "timeseries");
    let result = &saved["result"];
    let periods: Vec<String> = result["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["label"].as_str().unwrap().to_string())
        .collect();
    let expected = expected_sums(&raw);
    let months: std::collections::BTreeSet<&String> = expected.keys().map(|(m, _)| m).collect();
    assert_eq!(
        periods.iter().collect::<std::collections::BTreeSet<_>>(),
        months,
        "one period per month of the data"
    );
    let mut checked = 0;
    for series in result["series"].as_array().unwrap() {
        let name = series["name"].as_str().unwrap();
        for (i, month) in periods.iter().enumerate() {
            let got = series["values"][i].as_f64().unwrap_or(0.0);
            let want = if name == "other" {
                0.0 // seattle has five kinds of weather: each keeps its own series
            } else {
                expected
                    .get(&(month.clone(), name.to_string()))
                    .copied()
                    .unwrap_or(0.0)
            };
            assert!(
                (got - want).abs() < 1e-9,
                "{name} in {month}: {got} where the raw text sums to {want}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 5 * 48, "every weather and month checked");

    let results = m.json(&["analytics", "results", "--json"]);
    let listed = results["results"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], saved["id"]);
    assert_eq!(listed[0]["cost"], PRICE);
    let id = saved["id"].to_string();
    let again = m.json(&["analytics", "results", &id, "--json"]);
    assert_eq!(again["result"], saved["result"], "reopened whole");
    let shown = m.latchkey("-", &["analytics", "results", &id]);
    assert_exit(&shown, 0, "the result as a table");
    assert!(
        text(&shown.stdout).contains("2012-01") && text(&shown.stdout).contains("rain"),
        "{}",
        text(&shown.stdout)
    );
    assert_eq!(available(&m), 5 - PRICE, "reopening costs nothing");

    // 2 credits left, the price is 3: refused before any work, nothing saved.
    let out = m.latchkey(
        "-",
        &[
            "analytics",
            "run",
            "seattle",
            "--kind",
            "breakdown",
            "--measure",
            "precipitation",
            "--split",
            "weather",
        ],
    );
    assert_exit(&out, 20, "not enough credits");
    assert_eq!(available(&m), 5 - PRICE, "the balance is unchanged");
    let results = m.json(&["analytics", "results", "--json"]);
    assert_eq!(
        results["results"].as_array().unwrap().len(),
        1,
        "nothing saved"
    );
    let holds = m.json(&["wallet", "balance", "--json"]);
    assert_eq!(holds["held"], 0, "no hold left open");
}

#[test]
fn a_malformed_file_names_the_line_imports_and_charges_nothing() {
    let (_idp, m) = signed_in(5);
    let file = m.dir.path().join("statement.csv");
    let mut csv = String::from("date,amount,shop\n");
    for day in 1..=20 {
        csv.push_str(&format!("2026-01-{day:02},{day}.50,corner\n"));
    }
    csv.push_str("2026-01-21,4.00\n"); // line 22: a field short
    csv.push_str("2026-01-22,1.00,corner\n");
    std::fs::write(&file, csv).unwrap();

    let out = m.latchkey("-", &["analytics", "import", file.to_str().unwrap()]);
    assert_exit(&out, 24, "a malformed file is invalid input");
    let err = text(&out.stderr);
    assert!(
        err.contains("statement.csv: line 22: 2 fields where the header has 3"),
        "names the file and the line: {err}"
    );
    let list = m.json(&["analytics", "list", "--json"]);
    assert!(
        list["datasets"].as_array().unwrap().is_empty(),
        "nothing imported"
    );
    assert_eq!(available(&m), 5, "nothing charged");

    let out = m.latchkey(
        "-",
        &[
            "analytics",
            "run",
            "nope",
            "--kind",
            "trend",
            "--measure",
            "amount",
        ],
    );
    assert_exit(&out, 24, "an unknown dataset");
    assert_eq!(available(&m), 5, "nothing charged for it either");

    // A good file, then an analysis whose measure is not a number: the hold is given back.
    let good = m.dir.path().join("good.csv");
    let mut csv = String::from("date,amount,shop\n");
    for day in 1..=20 {
        let shop = if day % 3 == 0 { "market" } else { "corner" };
        csv.push_str(&format!("2026-01-{day:02},{day}.50,{shop}\n"));
    }
    std::fs::write(&good, csv).unwrap();
    let out = m.latchkey("-", &["analytics", "import", good.to_str().unwrap()]);
    assert_exit(&out, 0, "a good file imports");
    let run = |measure: &str| {
        m.latchkey(
            "-",
            &[
                "analytics",
                "run",
                "good.csv",
                "--kind",
                "breakdown",
                "--measure",
                measure,
                "--split",
                "shop",
            ],
        )
    };
    let out = run("shop");
    assert_exit(&out, 24, "a category is not a measure");
    assert!(
        text(&out.stderr).contains("`shop`"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(available(&m), 5, "a refused analysis costs nothing");
    assert_eq!(
        m.json(&["wallet", "balance", "--json"])["held"],
        0,
        "its hold was released"
    );
    let results = m.json(&["analytics", "results", "--json"]);
    assert!(
        results["results"].as_array().unwrap().is_empty(),
        "nothing saved"
    );

    let out = run("amount");
    assert_exit(&out, 0, "a paid breakdown");
    let table = text(&out.stdout);
    // corner: days not divisible by 3 (14 of them); market: 3, 6, ..., 18 (6 of them).
    let market: f64 = (1..=20)
        .filter(|d| d % 3 == 0)
        .map(|d| d as f64 + 0.5)
        .sum();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("market") && l.contains(&format!("{market}"))),
        "a plain table with market's total {market}: {table}"
    );
    assert_eq!(available(&m), 5 - PRICE);
}
