//! Every bad-input class answers a clear 4xx problem naming the field, and stores nothing.
use reqwest::Method;
use serde_json::json;

use crate::support::TestApp;

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> crate::support::Resp {
    let res = app
        .http
        .request(method, format!("{}{}", app.base, path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    TestApp::read(res).await
}

#[tokio::test]
async fn malformed_json_is_refused_for_every_resource() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    for path in [
        "/api/v1/accounts",
        "/api/v1/contacts",
        "/api/v1/contact-folders",
    ] {
        for body in [&b"{\"name\": "[..], b"not json", b"", b"[1,2]"] {
            let r = raw(
                &app,
                Method::POST,
                path,
                &alice,
                "application/json",
                body.to_vec(),
            )
            .await;
            r.assert_problem(400, "invalid_body");
            assert_eq!(
                r.error_fields(),
                ["body"],
                "{path} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
    for table in ["accounts", "contacts", "contact_folders"] {
        assert_eq!(app.count_rows(table).await, 0);
    }
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_name_the_field() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let cases = [
        (
            "/api/v1/contacts",
            json!({"full_name": "X", "nickname": "x"}),
            "nickname",
        ),
        (
            "/api/v1/contacts",
            json!({"full_name": "X", "business_address": {"town": "x"}}),
            "business_address.town",
        ),
        ("/api/v1/contacts", json!({"full_name": 5}), "full_name"),
        (
            "/api/v1/contacts",
            json!({"full_name": "X", "birthday": "29/02/1980"}),
            "birthday",
        ),
        (
            "/api/v1/contacts",
            json!({"full_name": "X", "gender": "other"}),
            "gender",
        ),
        (
            "/api/v1/contacts",
            json!({"full_name": "X", "type_id": "not-a-uuid"}),
            "type_id",
        ),
        (
            "/api/v1/contacts",
            json!({"full_name": "X", "grants": [{"user_id": "b", "access": "own"}]}),
            "grants[0].access",
        ),
        ("/api/v1/accounts", json!({"name": "X", "web": "x"}), "web"),
        ("/api/v1/accounts", json!({"name": ["X"]}), "name"),
        (
            "/api/v1/contact-folders",
            json!({"name": "X", "kind": "smart"}),
            "kind",
        ),
        (
            "/api/v1/contact-folders",
            json!({"name": "X", "kind": "dynamic", "filter": {"has_email": "yes"}}),
            "filter.has_email",
        ),
    ];
    for (path, body, field) in cases {
        let r = app.post(path, &alice, body.clone()).await;
        r.assert_problem(400, "invalid_body");
        assert_eq!(r.error_fields(), [field], "{path} {body}");
    }
    for table in ["accounts", "contacts", "contact_folders"] {
        assert_eq!(app.count_rows(table).await, 0);
    }
}

#[tokio::test]
async fn rule_violations_name_each_field() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let r = app
        .post(
            "/api/v1/contacts",
            &alice,
            json!({"email1": "nope", "email3": "a b@c.de", "job_title": "x".repeat(251)}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["job_title", "email1", "email3"]);
    let r = app
        .post("/api/v1/contacts", &alice, json!({"middle_name": "only"}))
        .await;
    assert_eq!(r.status, 201, "a middle name is a name: {}", r.text);
    let r = app.post("/api/v1/contacts", &alice, json!({})).await;
    assert_eq!(r.error_fields(), ["full_name"]);
    let r = app
        .post("/api/v1/accounts", &alice, json!({"name": "  "}))
        .await;
    assert_eq!(r.error_fields(), ["name"]);
    let r = app
        .post("/api/v1/accounts", &alice, json!({"name": "A", "grants": [{"user_id": "b", "access": "read"}, {"user_id": "b", "access": "edit"}]}))
        .await;
    assert_eq!(r.error_fields(), ["grants[1].user_id"]);
    assert_eq!(app.count_rows("accounts").await, 0);
    assert_eq!(app.count_rows("grants").await, 0);
}

#[tokio::test]
async fn oversized_and_non_json_bodies() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let big = format!("{{\"full_name\": \"{}\"}}", "x".repeat(70 * 1024));
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/contacts",
        &alice,
        "application/json",
        big.into_bytes(),
    )
    .await;
    r.assert_problem(413, "payload_too_large");
    let r = raw(
        &app,
        Method::POST,
        "/api/v1/contacts",
        &alice,
        "text/plain",
        b"{\"full_name\":\"X\"}".to_vec(),
    )
    .await;
    r.assert_problem(415, "unsupported_media_type");
    assert_eq!(app.count_rows("contacts").await, 0);
}

#[tokio::test]
async fn bad_ids_queries_and_cursors() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    for path in [
        "/api/v1/contacts/123",
        "/api/v1/accounts/not-a-uuid",
        "/api/v1/contact-folders/x",
        "/api/v1/contact-types/zz",
    ] {
        let r = app.get(path, &alice).await;
        r.assert_problem(400, "invalid_path");
        assert_eq!(r.error_fields(), ["id"], "{path}");
    }
    let f = app
        .create(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "F", "kind": "static"}),
        )
        .await;
    let r = app
        .delete(
            &format!(
                "/api/v1/contact-folders/{}/members/nope",
                f["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(r.error_fields(), ["contact_id"]);
    let r = app
        .patch(
            "/api/v1/contacts/00000000-0000-7000-8000-00000000dead",
            &alice,
            json!({"full_name": "X"}),
        )
        .await;
    r.assert_problem(404, "not_found");

    let query_cases = [
        ("/api/v1/contacts?type_id=nope", "type_id", "invalid_query"),
        (
            "/api/v1/contacts?updated_since=yesterday",
            "updated_since",
            "invalid_query",
        ),
        ("/api/v1/contacts?limit=0", "limit", "invalid_query"),
        ("/api/v1/contacts?limit=501", "limit", "invalid_query"),
        ("/api/v1/contacts?limit=-1", "limit", "invalid_query"),
        ("/api/v1/contacts?colour=red", "colour", "invalid_query"),
        (
            "/api/v1/contacts?include_deleted=maybe",
            "include_deleted",
            "invalid_query",
        ),
        (
            "/api/v1/contacts?cursor=garbage",
            "cursor",
            "invalid_cursor",
        ),
        (
            "/api/v1/accounts?cursor=djE6bm90LWEtdXVpZA",
            "cursor",
            "invalid_cursor",
        ),
        (
            "/api/v1/contact-folders?cursor=%25%25",
            "cursor",
            "invalid_cursor",
        ),
    ];
    for (path, field, code) in query_cases {
        let r = app.get(path, &alice).await;
        r.assert_problem(400, code);
        assert_eq!(r.error_fields(), [field], "{path}");
    }
    // A folder id that does not exist is a 404, as for any invisible record.
    app.get(
        "/api/v1/contacts?folder_id=00000000-0000-7000-8000-00000000dead",
        &alice,
    )
    .await
    .assert_problem(404, "not_found");
}

#[tokio::test]
async fn unknown_routes_answer_problem_json() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/nothing-here", &app.token("alice")).await;
    r.assert_problem(404, "not_found");
}
