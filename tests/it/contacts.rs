//! Contacts: every field, CRUD, visibility, filters, pagination, soft delete.
use serde_json::{Value, json};

use crate::support::TestApp;

const EMPLOYEE: &str = "00000000-0000-7000-8000-000000000001";
const CUSTOMER: &str = "00000000-0000-7000-8000-000000000002";

fn full_contact(account_id: &Value) -> Value {
    json!({
        "type_id": EMPLOYEE, "account_id": account_id,
        "given_name": "Ann", "middle_name": "B", "surname": "Lee", "salutation": "Dr.",
        "gender": "female", "job_title": "CTO", "department": "R&D", "birthday": "1980-02-29",
        "web_page": "https://ann.example", "email1": "ann@acme.test", "email2": "ann.lee@home.test",
        "email3": "a@x.test", "business_phone": "+47 1", "home_phone": "+47 2", "mobile_phone": "+47 3",
        "business_address": {"street": "1 Main", "city": "Oslo", "state": "", "postal_code": "0150", "country": "Norway"},
        "home_address": {"street": "2 Side", "city": "Bergen", "state": "V", "postal_code": "5003", "country": "Norway"}
    })
}

#[tokio::test]
async fn contact_with_every_field_round_trips() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let acc = app
        .create("/api/v1/accounts", &alice, json!({"name": "Acme"}))
        .await;
    let input = full_contact(&acc["id"]);
    let c = app.create("/api/v1/contacts", &alice, input.clone()).await;
    for (k, v) in input.as_object().unwrap() {
        assert_eq!(&c[k], v, "field {k}");
    }
    assert_eq!(c["full_name"], "Ann B Lee");
    assert_eq!(c["company"], "Acme");
    assert_eq!(c["version"], 1);
    let got = app
        .get(
            &format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()),
            &alice,
        )
        .await;
    assert_eq!(got.body, c);
    assert_eq!(got.header("etag"), Some("\"1\""));
}

#[tokio::test]
async fn patch_changes_only_given_fields_and_null_clears() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let c = app
        .create("/api/v1/contacts", &alice, full_contact(&Value::Null))
        .await;
    let path = format!("/api/v1/contacts/{}", c["id"].as_str().unwrap());
    let r = app
        .patch(&path, &alice, json!({"job_title": "CEO", "birthday": null, "type_id": null, "home_address": {"city": "Trondheim"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["job_title"], "CEO");
    assert_eq!(r.body["birthday"], Value::Null);
    assert_eq!(r.body["type_id"], Value::Null);
    assert_eq!(r.body["home_address"]["city"], "Trondheim");
    assert_eq!(r.body["home_address"]["street"], "2 Side");
    assert_eq!(r.body["email1"], "ann@acme.test");
    assert_eq!(r.body["version"], 2);
    // A no-op patch keeps the version: sync must not see a change that is not one.
    let same = app.patch(&path, &alice, json!({"job_title": "CEO"})).await;
    assert_eq!(same.body["version"], 2);
}

#[tokio::test]
async fn soft_delete_keeps_a_tombstone() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let c = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "Gone Soon"}),
        )
        .await;
    let id = c["id"].as_str().unwrap();
    let path = format!("/api/v1/contacts/{id}");
    assert_eq!(app.delete(&path, &alice).await.status, 204);
    app.get(&path, &alice)
        .await
        .assert_problem(404, "not_found");
    app.delete(&path, &alice)
        .await
        .assert_problem(404, "not_found");
    assert!(app.list_all("/api/v1/contacts", &alice).await.is_empty());
    let tombs = app
        .list_all("/api/v1/contacts?include_deleted=true", &alice)
        .await;
    assert_eq!(tombs.len(), 1);
    assert_eq!(tombs[0]["id"], id);
    assert!(tombs[0]["deleted_at"].is_string());
    assert_eq!(tombs[0]["version"], 2);
    assert_eq!(app.count_rows("contacts").await, 1, "row kept as tombstone");

    let purged = app
        .store
        .purge_tombstones(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(app.count_rows("contacts").await, 0);
}

#[tokio::test]
async fn contact_filters() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let acme = app
        .create("/api/v1/accounts", &alice, json!({"name": "Acme"}))
        .await;
    let a = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "Ann Employee", "type_id": EMPLOYEE, "account_id": acme["id"]}),
        )
        .await;
    let b = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "Bob Customer", "type_id": CUSTOMER, "email1": "bob@shop.test"}),
        )
        .await;
    let ids = |v: Vec<Value>| v.into_iter().map(|c| c["id"].clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(app
            .list_all(&format!("/api/v1/contacts?type_id={EMPLOYEE}"), &alice)
            .await),
        vec![a["id"].clone()]
    );
    assert_eq!(
        ids(app
            .list_all(&format!("/api/v1/contacts?type_id={CUSTOMER}"), &alice)
            .await),
        vec![b["id"].clone()]
    );
    assert_eq!(
        ids(app
            .list_all(
                &format!(
                    "/api/v1/contacts?account_id={}",
                    acme["id"].as_str().unwrap()
                ),
                &alice
            )
            .await),
        vec![a["id"].clone()]
    );
    assert_eq!(
        ids(app.list_all("/api/v1/contacts?q=SHOP.TEST", &alice).await),
        vec![b["id"].clone()]
    );
    assert_eq!(
        ids(app.list_all("/api/v1/contacts?q=acme", &alice).await),
        vec![a["id"].clone()],
        "company"
    );
    assert_eq!(
        ids(app.list_all("/api/v1/contacts?q=100%25", &alice).await),
        Vec::<Value>::new(),
        "wildcards escaped"
    );

    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.patch(
        &format!("/api/v1/contacts/{}", b["id"].as_str().unwrap()),
        &alice,
        json!({"job_title": "Buyer"}),
    )
    .await;
    let since = before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let changed = app
        .list_all(
            &format!(
                "/api/v1/contacts?updated_since={}",
                since.replace('+', "%2B")
            ),
            &alice,
        )
        .await;
    assert_eq!(ids(changed), vec![b["id"].clone()]);
}

#[tokio::test]
async fn contacts_paginate_across_pages_in_creation_order() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let mut created = Vec::new();
    for i in 0..12 {
        let c = app
            .create(
                "/api/v1/contacts",
                &alice,
                json!({"full_name": format!("P{i:02}")}),
            )
            .await;
        created.push(c["id"].clone());
    }
    let first = app.get("/api/v1/contacts?limit=5", &alice).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 5);
    let listed: Vec<Value> = app
        .list_all("/api/v1/contacts?limit=5", &alice)
        .await
        .into_iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(listed, created);
    let exact = app.get("/api/v1/contacts?limit=12", &alice).await;
    assert_eq!(exact.body["next_cursor"], Value::Null, "no empty last page");
}

#[tokio::test]
async fn own_and_shared_contacts_interleave_in_creation_order_across_pages() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    // Alternately Alice's own, Bob's shared with her (every other one with everyone
    // too: listed once), Bob's shared with everyone, and Bob's private one, so that
    // every page mixes what she owns and what she is shown.
    let mut visible = Vec::new();
    for i in 0..6 {
        let to_alice = if i % 2 == 0 {
            json!([{"user_id": "alice", "access": "read"}, {"user_id": "*", "access": "read"}])
        } else {
            json!([{"user_id": "alice", "access": "read"}])
        };
        let own = app
            .create(
                "/api/v1/contacts",
                &alice,
                json!({"full_name": format!("A{i}")}),
            )
            .await;
        visible.push(own["id"].clone());
        let shared = app
            .create(
                "/api/v1/contacts",
                &bob,
                json!({"full_name": format!("B{i}"), "grants": to_alice}),
            )
            .await;
        visible.push(shared["id"].clone());
        let public = app
            .create(
                "/api/v1/contacts",
                &bob,
                json!({"full_name": format!("E{i}"), "grants": [{"user_id": "*", "access": "read"}]}),
            )
            .await;
        visible.push(public["id"].clone());
        app.create(
            "/api/v1/contacts",
            &bob,
            json!({"full_name": format!("P{i}")}),
        )
        .await;
    }
    for limit in [1, 2, 4, 7, 18, 50] {
        let listed: Vec<Value> = app
            .list_all(&format!("/api/v1/contacts?limit={limit}"), &alice)
            .await
            .into_iter()
            .map(|c| c["id"].clone())
            .collect();
        assert_eq!(listed, visible, "pages of {limit}");
    }
    let exact = app.get("/api/v1/contacts?limit=18", &alice).await;
    assert_eq!(exact.body["next_cursor"], Value::Null, "no empty last page");
    // Filters apply to both kinds.
    let named: Vec<Value> = app
        .list_all("/api/v1/contacts?q=B3", &alice)
        .await
        .into_iter()
        .map(|c| c["full_name"].clone())
        .collect();
    assert_eq!(named, vec![json!("B3")]);
    assert_eq!(
        app.list_all("/api/v1/contacts?limit=3", &bob).await.len(),
        18
    );
}

/// A token's subject may be `*`, the grantee that means everyone: such a caller is shown
/// each public record once, not once as "its own grant" and again as everyone's.
#[tokio::test]
async fn a_caller_named_like_everyone_sees_each_public_contact_once() {
    let app = TestApp::spawn().await;
    let bob = app.token("bob");
    let star = app.token("*");
    for i in 0..3 {
        app.create(
            "/api/v1/contacts",
            &bob,
            json!({"full_name": format!("E{i}"), "grants": [{"user_id": "*", "access": "read"}]}),
        )
        .await;
    }
    let names: Vec<Value> = app
        .list_all("/api/v1/contacts?limit=2", &star)
        .await
        .into_iter()
        .map(|c| c["full_name"].clone())
        .collect();
    assert_eq!(names, vec![json!("E0"), json!("E1"), json!("E2")]);
}

#[tokio::test]
async fn contact_visibility_owner_grant_everyone_admin_stranger() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol, eve, admin) = (
        app.token("alice"),
        app.token("bob"),
        app.token("carol"),
        app.token("eve"),
        app.admin_token("root"),
    );
    let c = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "Secret", "grants": [{"user_id": "bob", "access": "read"}, {"user_id": "carol", "access": "edit"}]}),
        )
        .await;
    let path = format!("/api/v1/contacts/{}", c["id"].as_str().unwrap());
    for t in [&alice, &bob, &carol, &admin] {
        assert_eq!(app.get(&path, t).await.status, 200);
    }
    app.get(&path, &eve).await.assert_problem(404, "not_found");
    app.delete(&path, &eve)
        .await
        .assert_problem(404, "not_found");
    app.patch(&path, &bob, json!({"job_title": "x"}))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.patch(&path, &carol, json!({"job_title": "Editor"}))
            .await
            .status,
        200
    );
    assert_eq!(app.list_all("/api/v1/contacts", &bob).await.len(), 1);
    assert!(app.list_all("/api/v1/contacts", &eve).await.is_empty());
    assert_eq!(app.list_all("/api/v1/contacts", &admin).await.len(), 1);
    let shared = app
        .patch(
            &path,
            &alice,
            json!({"grants": [{"user_id": "*", "access": "read"}]}),
        )
        .await;
    assert_eq!(shared.status, 200);
    assert_eq!(app.get(&path, &eve).await.status, 200);
    app.patch(&path, &eve, json!({"job_title": "x"}))
        .await
        .assert_problem(403, "forbidden");
    // Only an administrator may create a contact for someone else.
    let r = app
        .post(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "X", "owner_id": "bob"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["owner_id"]);
    let by_admin = app
        .create(
            "/api/v1/contacts",
            &admin,
            json!({"full_name": "X", "owner_id": "bob"}),
        )
        .await;
    assert_eq!(by_admin["owner_id"], "bob");
    assert_eq!(
        app.get(
            &format!("/api/v1/contacts/{}", by_admin["id"].as_str().unwrap()),
            &bob
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn contact_links_are_checked() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let bobs_account = app
        .create("/api/v1/accounts", &bob, json!({"name": "Private"}))
        .await;
    let r = app
        .post(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "X", "account_id": bobs_account["id"], "type_id": "00000000-0000-7000-8000-0000000000ff"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["type_id", "account_id"]);
    assert_eq!(app.count_rows("contacts").await, 0);
}

#[tokio::test]
async fn contact_types_are_seeded_and_admin_can_add() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let r = app.get("/api/v1/contact-types", &alice).await;
    let names: Vec<_> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Contractor", "Customer", "Employee", "Partner", "Supplier"]
    );
    let one = app
        .get(&format!("/api/v1/contact-types/{EMPLOYEE}"), &alice)
        .await;
    assert_eq!(one.body["name"], "Employee");
    app.post("/api/v1/contact-types", &alice, json!({"name": "Vendor"}))
        .await
        .assert_problem(403, "forbidden");
    let admin = app.admin_token("root");
    assert_eq!(
        app.post("/api/v1/contact-types", &admin, json!({"name": "Vendor"}))
            .await
            .status,
        201
    );
    app.post("/api/v1/contact-types", &admin, json!({"name": "Vendor"}))
        .await
        .assert_problem(422, "validation_failed");
}

/// The raw answer to `GET path` with these request headers: status, headers, body bytes.
async fn raw_get(
    app: &TestApp,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn a_page_is_gzipped_whole_when_the_client_accepts_gzip() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    for i in 0..20 {
        let mut c = full_contact(&Value::Null);
        c["email1"] = json!(format!("ann{i}@acme.test"));
        app.create("/api/v1/contacts", &alice, c).await;
    }
    let path = "/api/v1/contacts?limit=20";
    let (status, plain_headers, plain) = raw_get(&app, path, &alice, &[]).await;
    assert_eq!(status, 200);
    assert!(plain_headers.get("content-encoding").is_none());
    let (status, headers, body) = raw_get(
        &app,
        path,
        &alice,
        &[("accept-encoding", "br;q=1.0, gzip;q=0.8")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-encoding"], "gzip");
    assert!(
        headers
            .get_all("vary")
            .iter()
            .any(|v| v == "accept-encoding"),
        "{headers:?}"
    );
    // One buffer with its length, not a chunked stream.
    assert_eq!(
        headers["content-length"].to_str().unwrap(),
        body.len().to_string()
    );
    assert!(
        body.len() * 3 < plain.len(),
        "{} vs {}",
        body.len(),
        plain.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    let page: Value = serde_json::from_slice(&unzipped).unwrap();
    assert_eq!(page, serde_json::from_slice::<Value>(&plain).unwrap());
    assert_eq!(page["items"].as_array().unwrap().len(), 20);

    // Refused gzip, or an answer too small to gain from it: sent as it is.
    let (_, headers, _) = raw_get(&app, path, &alice, &[("accept-encoding", "gzip;q=0")]).await;
    assert!(headers.get("content-encoding").is_none());
    let (status, headers, body) =
        raw_get(&app, "/api/v1/me", &alice, &[("accept-encoding", "gzip")]).await;
    assert_eq!(status, 200);
    assert!(headers.get("content-encoding").is_none());
    assert!(serde_json::from_slice::<Value>(&body).is_ok());
}
