//! Providers as people configure them, through the CLI with the real keychain: Microsoft Entra's
//! `common`, `organizations` and `consumers` endpoints (tenant issuers, `tid`), the
//! `allowed_tenants` and `allowed_domains` allow-lists and the `[auth.microsoft]` preset, against
//! `tests/idp/tenants.mjs` (real oidc-provider instances, one per tenant, on one port).

use crate::harness::{assert_exit, text, wait_for_file, Machine};
use latchkey_testkit::tenants::{Tenants, CONTOSO, FABRIKAM};
use std::process::Output;

const CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

fn machine(toml: &str) -> Machine {
    let m = Machine::new(&[]);
    m.add_config(toml);
    m
}

fn accounts(m: &Machine) -> Vec<serde_json::Value> {
    m.status()["accounts"].as_array().expect("accounts").clone()
}

fn refused(out: &Output, says: &str, why: &str) {
    assert_exit(out, 8, why);
    assert!(
        text(&out.stderr).contains(says),
        "{why}: the error says `{says}`: {}",
        text(&out.stderr)
    );
}

#[test]
fn common_signs_each_tenant_in_as_its_own_account() {
    let t = Tenants::start();
    // `[auth.microsoft]` with an explicit server_metadata_url: the URL wins over the preset.
    let m = machine(&format!(
        "\n[auth.microsoft]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}\"\n",
        t.metadata_url("common/v2.0")
    ));
    let out = m.latchkey("alice", &["login"]);
    assert_exit(&out, 0, "alice of contoso signs in through common");
    assert!(
        text(&out.stdout).contains("Test alice <alice@contoso.example>"),
        "with no email, the preferred_username is shown: {}",
        text(&out.stdout)
    );
    let a = accounts(&m);
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0]["issuer"],
        t.tenant_issuer(CONTOSO).as_str(),
        "status shows the tenant's real issuer, never the template"
    );
    assert_eq!(a[0]["email"], serde_json::Value::Null);
    assert_eq!(a[0]["username"], "alice@contoso.example");

    t.route_common_to(FABRIKAM);
    assert_exit(
        &m.latchkey("alice", &["login"]),
        0,
        "the same login in fabrikam",
    );
    let mut issuers: Vec<String> = accounts(&m)
        .iter()
        .map(|a| a["issuer"].as_str().unwrap().to_string())
        .collect();
    issuers.sort();
    assert_eq!(
        issuers,
        [t.tenant_issuer(CONTOSO), t.tenant_issuer(FABRIKAM)],
        "the same person in two tenants is two accounts"
    );
    assert_exit(
        &m.latchkey("-", &["token"]),
        0,
        "the fabrikam session gives a token",
    );
}

#[test]
fn switch_and_logout_find_an_account_by_its_username() {
    let t = Tenants::start();
    let m = machine(&format!(
        "\n[auth.microsoft]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}\"\n",
        t.metadata_url("common/v2.0")
    ));
    assert_exit(&m.latchkey("alice", &["login"]), 0, "alice of contoso");
    assert_exit(&m.latchkey("bob", &["login"]), 0, "bob of contoso");
    let out = m.latchkey("-", &["switch", "alice@contoso.example"]);
    assert_exit(&out, 0, "switch by the username shown in the email's place");
    assert!(
        text(&out.stdout).contains("Test alice <alice@contoso.example>"),
        "{}",
        text(&out.stdout)
    );
    let active: Vec<_> = accounts(&m)
        .into_iter()
        .filter(|a| a["active"] == true)
        .map(|a| a["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(active, ["alice"], "alice is active again");
    assert_exit(
        &m.latchkey("-", &["logout", "--account", "bob@contoso.example"]),
        0,
        "logout --account by username",
    );
    let left: Vec<_> = accounts(&m)
        .into_iter()
        .map(|a| a["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["alice"], "only bob was signed out");
    assert_exit(
        &m.latchkey("-", &["switch", "nobody@contoso.example"]),
        12,
        "an unknown username is an unknown account",
    );
}

#[test]
fn broken_tenant_tokens_are_refused_with_clear_errors() {
    let t = Tenants::start();
    let m = machine(&format!(
        "\n[auth.ms]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}\"\n",
        t.metadata_url("organizations/v2.0")
    ));
    t.route_common_to("liar");
    refused(
        &m.latchkey("alice", &["login"]),
        "disagrees with its tenant (tid)",
        "a token whose iss and tid disagree",
    );
    t.route_common_to("notid");
    refused(
        &m.latchkey("alice", &["login"]),
        "no tenant id (tid)",
        "a token without tid",
    );
    t.route_common_to("template");
    refused(
        &m.latchkey("alice", &["login"]),
        "literal template",
        "an issuer that is the literal template",
    );
    assert!(accounts(&m).is_empty(), "no refused sign-in is kept");
    t.route_common_to(CONTOSO);
    assert_exit(
        &m.latchkey("alice", &["login"]),
        0,
        "a well-formed tenant still signs in",
    );
}

#[test]
fn allowed_tenants_admits_only_listed_tenants() {
    let t = Tenants::start();
    let m = machine(&format!(
        "\n[auth.ms]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}\"\n\
         allowed_tenants = [\"{}\"]\n",
        t.metadata_url("organizations/v2.0"),
        CONTOSO.to_uppercase()
    ));
    assert_exit(
        &m.latchkey("alice", &["login"]),
        0,
        "contoso is listed (case aside)",
    );
    t.route_common_to(FABRIKAM);
    refused(
        &m.latchkey("bob", &["login"]),
        &format!("tenant (tid) `{FABRIKAM}` is not among"),
        "fabrikam is not listed",
    );
    let a = accounts(&m);
    assert_eq!(a.len(), 1, "only alice of contoso: {a:?}");
    assert_eq!(a[0]["subject"], "alice");
}

#[test]
fn consumers_accepts_the_consumer_tenant_only() {
    let t = Tenants::start();
    let m = machine(&format!(
        "\n[auth.personal]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}\"\n",
        t.metadata_url("consumers/v2.0")
    ));
    assert_exit(
        &m.latchkey("carol", &["login"]),
        0,
        "a personal account signs in",
    );
    let a = accounts(&m);
    assert_eq!(a[0]["issuer"], t.tenant_issuer(CONSUMERS).as_str());
    assert_eq!(a[0]["username"], "carol@consumers.example");

    // A consumers endpoint that signs a work account in (a fresh machine: no cached document).
    t.route_consumers_to(CONTOSO);
    let m = machine(&format!(
        "\n[auth.personal]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}\"\n",
        t.metadata_url("consumers/v2.0")
    ));
    refused(
        &m.latchkey("dan", &["login"]),
        &format!("`{}`", t.tenant_issuer(CONTOSO)),
        "consumers accepts only the consumer tenant, never a work tenant",
    );
    assert!(accounts(&m).is_empty(), "nothing is kept");
}

#[test]
fn allowed_domains_judges_the_hd_claim_never_the_email() {
    let t = Tenants::start();
    let m = machine(&format!(
        "\n[auth.work]\nclient_id = \"desktop-public\"\nserver_metadata_url = \"{}\"\n\
         allowed_domains = [\"corp.example\"]\n",
        t.metadata_url("google")
    ));
    assert_exit(
        &m.latchkey("ann@corp.example", &["login"]),
        0,
        "a Workspace account of corp.example",
    );
    let log = wait_for_file(&m.browser_log()).expect("the browser ran");
    assert!(
        log.contains("hd=corp.example"),
        "one allowed domain adds Google's hd hint to the authorization request: {log}"
    );
    refused(
        &m.latchkey("personal.bob@corp.example", &["login"]),
        "names no Workspace domain (hd)",
        "an email in the domain without hd is not a Workspace account",
    );
    refused(
        &m.latchkey("carl@other.example", &["login"]),
        "`other.example` is not among",
        "another Workspace",
    );
    // The refusal quotes the token's `hd`: a hostile one reaches the terminal defused.
    let out = m.latchkey(
        "dan@evil\u{1b}]52;c;ZXZpbA==\u{7}\u{9b}2J.example",
        &["login"],
    );
    refused(
        &out,
        "`evil\u{FFFD}]52;c;ZXZpbA==\u{FFFD}\u{FFFD}2J.example` is not among",
        "a hostile hd",
    );
    let shown = text(&out.stderr);
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "the error text prints no control character: {shown:?}"
    );
    let a = accounts(&m);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["email"], "ann@corp.example");
}
