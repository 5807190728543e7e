//! The OpenAPI document's own rules (beside the drift check in `operations.rs`): what
//! standard validators and client generators refuse, caught by `cargo test` on a fresh
//! clone; and the unsupported-method answer the document implies.
use reqwest::Method;
use serde_json::Value;

use crate::support::{TestApp, spawn_sim};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of the document as (path, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_owned(), op.clone()));
            }
        }
    }
    out
}

/// A response, with a `$ref` to `#/components/responses/...` followed.
fn resolve<'a>(doc: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/responses/")
                .unwrap_or_else(|| panic!("unexpected response $ref {r}"));
            let found = &doc["components"]["responses"][name];
            assert!(found.is_object(), "dangling response $ref {r}");
            found
        }
        None => response,
    }
}

#[test]
fn every_response_has_a_description() {
    // OpenAPI 3.1 requires it; openapi-spec-validator and openapi-python-client refuse a
    // document without it.
    let doc = serde_json::to_value(contactsync::app::openapi()).unwrap();
    let mut missing = Vec::new();
    let mut count = 0;
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has no response");
        for (status, response) in responses {
            count += 1;
            let r = resolve(&doc, response);
            if r["description"]
                .as_str()
                .is_none_or(|d| d.trim().is_empty())
            {
                missing.push(format!("{method} {path} {status}"));
            }
        }
    }
    for (name, r) in doc["components"]["responses"]
        .as_object()
        .into_iter()
        .flatten()
    {
        if r["description"]
            .as_str()
            .is_none_or(|d| d.trim().is_empty())
        {
            missing.push(format!("components.responses.{name}"));
        }
    }
    assert!(count > 100, "only {count} responses in the document");
    assert!(
        missing.is_empty(),
        "responses without a description: {missing:?}"
    );
}

#[test]
fn error_answers_are_documented_as_problem_json() {
    let doc = serde_json::to_value(contactsync::app::openapi()).unwrap();
    let mut wrong = Vec::new();
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for (status, response) in responses {
            let code: u16 = status.parse().expect("numeric status");
            if code < 400 || (path == "/readyz" && code == 503) {
                continue;
            }
            let content = &resolve(&doc, response)["content"];
            let schema = &content["application/problem+json"]["schema"]["$ref"];
            if schema != "#/components/schemas/Problem" || content.as_object().unwrap().len() != 1 {
                wrong.push(format!("{method} {path} {status}: {content}"));
            }
        }
        // What every authenticated operation can answer, whatever its handler does.
        if op.get("security").is_some() {
            for status in ["401", "500"] {
                if !responses.contains_key(status) {
                    wrong.push(format!("{method} {path} lacks {status}"));
                }
            }
        }
        if path.contains('{') {
            for status in ["400", "404"] {
                if !responses.contains_key(status) {
                    wrong.push(format!("{method} {path} lacks {status}"));
                }
            }
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                if !responses.contains_key(status) {
                    wrong.push(format!("{method} {path} lacks {status}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn an_unsupported_method_answers_405_with_allow() {
    let app = TestApp::spawn().await;
    let trace = Method::from_bytes(b"TRACE").unwrap();
    let r = app
        .send(trace.clone(), "/api/v1/contacts", None, None, &[])
        .await;
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let id = uuid::Uuid::now_v7();
    let r = app
        .send(
            Method::PUT,
            &format!("/api/v1/contacts/{id}"),
            None,
            None,
            &[],
        )
        .await;
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET, DELETE, PATCH"));
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/contact-sync/runs/{id}/items"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(r.header("allow"), Some("GET"), "{}", r.text);
    // A path the API does not have is still a 404, whatever the method.
    let r = app
        .send(trace, "/api/v1/nothing-here", None, None, &[])
        .await;
    r.assert_problem(404, "not_found");
    let r = app
        .send(
            Method::GET,
            &format!("/api/v1/contacts/{id}/extra"),
            None,
            None,
            &[],
        )
        .await;
    r.assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_whole_number_written_with_a_fraction_is_an_integer() {
    // JSON Schema's `integer` takes 72.0, so a client generated from the document may send
    // it; serde alone would refuse it as a float.
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let mailbox = app
        .connect_mailbox(&alice, &sim, "alice@example.com", "alice-pw-S3cret")
        .await;
    let path = format!("/api/v1/mailboxes/{mailbox}/contact-sync");
    let r = app
        .put(
            &path,
            &alice,
            serde_json::json!({"auto_sync": {"enabled": true, "interval_minutes": 72.0}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["auto_sync"]["interval_minutes"], 72);
    let r = app
        .put(
            &path,
            &alice,
            serde_json::json!({"auto_sync": {"interval_minutes": 72.5}}),
        )
        .await;
    r.assert_problem(400, "invalid_body");
    assert_eq!(r.error_fields(), ["auto_sync.interval_minutes"]);
}
