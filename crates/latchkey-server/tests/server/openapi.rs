//! `GET /v1/openapi.json`: the document generated from the code lists every route the router
//! has, with the methods it answers, and nothing the router does not have.

use crate::support;
use std::collections::BTreeSet;
use std::path::Path;

/// Every `.route("PATH", get(..).post(..))` in the crate's sources, as (METHOD, PATH).
/// Reading the sources is what makes a new route without `#[utoipa::path]` fail this test:
/// axum cannot list a router's routes at run time.
fn routes_in_sources() -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(".nest("),
            "{}: nested routers are not understood by this test; list full paths with .route",
            path.display()
        );
        for (at, _) in text.match_indices(".route(") {
            let call = balanced(&text[at + ".route".len()..]);
            let path_lit = call
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("a .route( without a literal path: {call}"));
            let methods: Vec<&str> = ["get", "post", "put", "patch", "delete"]
                .into_iter()
                .filter(|m| {
                    call.match_indices(&format!("{m}(")).any(|(i, _)| {
                        i == 0
                            || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                                && call.as_bytes()[i - 1] != b'_'
                    })
                })
                .collect();
            assert!(!methods.is_empty(), "no method in {call}");
            for m in methods {
                found.insert((m.to_string(), path_lit.to_string()));
            }
        }
    }
    found
}

/// The parenthesised text at the start of `s`, parentheses included.
fn balanced(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..=i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {s}")
}

#[tokio::test]
async fn the_served_document_lists_every_route() {
    let server = support::server().await;
    let doc = server.get("/v1/openapi.json", None).await;
    assert_eq!(doc.status, 200, "the document needs no token: {doc:?}");
    assert!(
        doc.json["openapi"].as_str().unwrap_or("").starts_with("3."),
        "an OpenAPI 3 document"
    );
    let mut documented = BTreeSet::new();
    for (path, item) in doc.json["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let routed = routes_in_sources();
    assert!(
        routed.contains(&("post".into(), "/v1/spend".into())),
        "the source scan finds the routes: {routed:?}"
    );
    let missing: Vec<_> = routed.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes without #[utoipa::path] in openapi.rs: {missing:?}"
    );
    let phantom: Vec<_> = documented.difference(&routed).collect();
    assert!(phantom.is_empty(), "documented but not routed: {phantom:?}");
}

#[tokio::test]
async fn v1_operations_require_the_bearer_id_token() {
    let server = support::server().await;
    let doc = server.get("/v1/openapi.json", None).await.json;
    assert_eq!(
        doc["components"]["securitySchemes"]["id_token"]["scheme"], "bearer",
        "the bearer scheme is declared"
    );
    assert_eq!(doc["security"][0]["id_token"], serde_json::json!([]));
    assert_eq!(
        doc["paths"]["/healthz"]["get"]["security"],
        serde_json::json!([]),
        "/healthz needs no token"
    );
    let spend = &doc["paths"]["/v1/spend"]["post"];
    assert!(
        spend["security"].is_null(),
        "spend uses the default: a token"
    );
    assert!(
        spend["responses"]["default"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/ApiError")),
        "errors are documented as ApiError: {spend}"
    );
}
