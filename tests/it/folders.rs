//! Contact folders: static members, dynamic filters, `GET /contacts?folder_id=`.
use serde_json::{Value, json};

use crate::support::TestApp;

const EMPLOYEE: &str = "00000000-0000-7000-8000-000000000001";

fn ids(v: Vec<Value>) -> Vec<Value> {
    v.into_iter().map(|c| c["id"].clone()).collect()
}

#[tokio::test]
async fn static_folder_members() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let a = app
        .create("/api/v1/contacts", &alice, json!({"full_name": "A"}))
        .await;
    let b = app
        .create("/api/v1/contacts", &alice, json!({"full_name": "B"}))
        .await;
    let hidden = app
        .create("/api/v1/contacts", &bob, json!({"full_name": "Bob's"}))
        .await;
    let f = app
        .create(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "Employees", "kind": "static"}),
        )
        .await;
    let fid = f["id"].as_str().unwrap();
    let members = format!("/api/v1/contact-folders/{fid}/members");
    let r = app
        .post(
            &members,
            &alice,
            json!({"contact_ids": [a["id"], b["id"], a["id"]]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let listed = app
        .list_all(&format!("/api/v1/contacts?folder_id={fid}"), &alice)
        .await;
    assert_eq!(ids(listed), vec![a["id"].clone(), b["id"].clone()]);

    let r = app
        .post(
            &members,
            &alice,
            json!({"contact_ids": [a["id"], hidden["id"]]}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["contact_ids[1]"]);

    let rm = app
        .delete(&format!("{members}/{}", b["id"].as_str().unwrap()), &alice)
        .await;
    assert_eq!(rm.status, 204);
    app.delete(&format!("{members}/{}", b["id"].as_str().unwrap()), &alice)
        .await
        .assert_problem(404, "not_found");
    let listed = app
        .list_all(&format!("/api/v1/contacts?folder_id={fid}"), &alice)
        .await;
    assert_eq!(ids(listed), vec![a["id"].clone()]);

    // A deleted contact leaves the folder.
    app.delete(
        &format!("/api/v1/contacts/{}", a["id"].as_str().unwrap()),
        &alice,
    )
    .await;
    assert!(
        app.list_all(&format!("/api/v1/contacts?folder_id={fid}"), &alice)
            .await
            .is_empty()
    );
    // Strangers don't see the folder.
    app.get(&format!("/api/v1/contacts?folder_id={fid}"), &bob)
        .await
        .assert_problem(404, "not_found");
    app.post(&members, &bob, json!({"contact_ids": [hidden["id"]]}))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn dynamic_folder_matches_visible_contacts_now() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let acme = app
        .create("/api/v1/accounts", &alice, json!({"name": "Acme"}))
        .await;
    let emp = app
        .create("/api/v1/contacts", &alice, json!({"full_name": "Emp", "type_id": EMPLOYEE, "email1": "e@acme.test", "account_id": acme["id"]}))
        .await;
    let _no_mail = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "Emp2", "type_id": EMPLOYEE}),
        )
        .await;
    let _other = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "Other", "email1": "o@x.test"}),
        )
        .await;
    let _bobs = app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"full_name": "Bob emp", "type_id": EMPLOYEE, "email1": "b@x.test"}),
        )
        .await;
    let f = app
        .create(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "Employees with mail", "kind": "dynamic", "filter": {"type_ids": [EMPLOYEE], "has_email": true}}),
        )
        .await;
    let fid = f["id"].as_str().unwrap();
    let listed = app
        .list_all(&format!("/api/v1/contacts?folder_id={fid}"), &alice)
        .await;
    assert_eq!(
        ids(listed),
        vec![emp["id"].clone()],
        "bob's contact is invisible to alice"
    );

    // Membership is evaluated now: a contact that stops matching leaves.
    app.patch(
        &format!("/api/v1/contacts/{}", emp["id"].as_str().unwrap()),
        &alice,
        json!({"email1": ""}),
    )
    .await;
    assert!(
        app.list_all(&format!("/api/v1/contacts?folder_id={fid}"), &alice)
            .await
            .is_empty()
    );

    // Refilter by account and text.
    let r = app
        .patch(
            &format!("/api/v1/contact-folders/{fid}"),
            &alice,
            json!({"filter": {"account_ids": [acme["id"]], "q": "emp"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["version"], 2);
    let listed = app
        .list_all(&format!("/api/v1/contacts?folder_id={fid}"), &alice)
        .await;
    assert_eq!(ids(listed), vec![emp["id"].clone()]);

    // Members of a dynamic folder cannot be added by hand.
    let r = app
        .post(
            &format!("/api/v1/contact-folders/{fid}/members"),
            &alice,
            json!({"contact_ids": [emp["id"]]}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn folder_crud_validation_and_visibility() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let r = app
        .post("/api/v1/contact-folders", &alice, json!({"name": ""}))
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["name"]);
    let r = app
        .post(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "D", "kind": "dynamic"}),
        )
        .await;
    assert_eq!(r.error_fields(), ["filter"]);
    let r = app
        .post(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "S", "kind": "static", "filter": {}}),
        )
        .await;
    assert_eq!(r.error_fields(), ["filter"]);
    assert_eq!(app.count_rows("contact_folders").await, 0);

    let f = app
        .create("/api/v1/contact-folders", &alice, json!({"name": "Mine", "kind": "static", "grants": [{"user_id": "bob", "access": "read"}]}))
        .await;
    let path = format!("/api/v1/contact-folders/{}", f["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &bob).await.status, 200);
    assert_eq!(app.list_all("/api/v1/contact-folders", &bob).await.len(), 1);
    app.patch(&path, &bob, json!({"name": "x"}))
        .await
        .assert_problem(403, "forbidden");
    let r = app.patch(&path, &alice, json!({"kind": "dynamic"})).await;
    assert_eq!(r.error_fields(), ["kind"]);
    assert_eq!(
        app.patch(&path, &alice, json!({"name": "Renamed"}))
            .await
            .body["name"],
        "Renamed"
    );
    app.get(&path, &app.token("eve"))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.delete(&path, &alice).await.status, 204);
    app.get(&path, &alice)
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn a_folder_created_without_kind_is_static() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let r = app
        .post(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "Customers"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["kind"], "static");
    let id = r.body["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/contact-folders/{id}"), &alice)
        .await;
    assert_eq!(r.body["kind"], "static");
    assert_eq!(r.body["name"], "Customers");
}

#[tokio::test]
async fn own_and_shared_folders_interleave_in_creation_order_across_pages() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let mut visible = Vec::new();
    for i in 0..5 {
        for (token, grants, seen) in [
            (&alice, json!([]), true),
            (&bob, json!([{"user_id": "alice", "access": "read"}]), true),
            (&bob, json!([{"user_id": "*", "access": "read"}]), true),
            (&bob, json!([]), false),
        ] {
            let f = app
                .create(
                    "/api/v1/contact-folders",
                    token,
                    json!({"name": format!("F{i}"), "kind": "static", "grants": grants}),
                )
                .await;
            if seen {
                visible.push(f["id"].clone());
            }
        }
    }
    for limit in [1, 2, 4, 7, 15, 50] {
        let listed = ids(app
            .list_all(&format!("/api/v1/contact-folders?limit={limit}"), &alice)
            .await);
        assert_eq!(listed, visible, "pages of {limit}");
    }
    assert_eq!(
        app.list_all("/api/v1/contact-folders?limit=3", &bob)
            .await
            .len(),
        15,
        "Bob sees his own, none of Alice's"
    );
}
