//! Accounts: CRUD, visibility, pagination, filters, If-Match.
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn account_crud_round_trip() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let created = app
        .post(
            "/api/v1/accounts",
            &alice,
            json!({"name": " Acme Corp ", "website": "https://acme.test"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/accounts/{id}").as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["name"], "Acme Corp");
    assert_eq!(created.body["owner_id"], "alice");

    let got = app.get(&format!("/api/v1/accounts/{id}"), &alice).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created.body);

    let patched = app
        .patch(
            &format!("/api/v1/accounts/{id}"),
            &alice,
            json!({"name": "Acme Inc"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["name"], "Acme Inc");
    assert_eq!(patched.body["website"], "https://acme.test");
    assert_eq!(patched.body["version"], 2);
    assert_eq!(patched.header("etag"), Some("\"2\""));

    let deleted = app.delete(&format!("/api/v1/accounts/{id}"), &alice).await;
    assert_eq!(deleted.status, 204);
    app.get(&format!("/api/v1/accounts/{id}"), &alice)
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.count_rows("accounts").await, 0);
}

#[tokio::test]
async fn deleting_an_account_unlinks_its_contacts() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let acc = app
        .create("/api/v1/accounts", &alice, json!({"name": "Acme"}))
        .await;
    let c = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"full_name": "Ann", "account_id": acc["id"]}),
        )
        .await;
    assert_eq!(c["company"], "Acme");
    assert_eq!(
        app.delete(
            &format!("/api/v1/accounts/{}", acc["id"].as_str().unwrap()),
            &alice
        )
        .await
        .status,
        204
    );
    let after = app
        .get(
            &format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()),
            &alice,
        )
        .await;
    assert_eq!(after.body["account_id"], serde_json::Value::Null);
    assert_eq!(
        after.body["version"], 2,
        "sync must see the contact changed"
    );
}

#[tokio::test]
async fn account_filters_and_pagination() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let admin = app.admin_token("root");
    for i in 0..7 {
        app.create(
            "/api/v1/accounts",
            &alice,
            json!({"name": format!("Alpha {i}")}),
        )
        .await;
    }
    app.create("/api/v1/accounts", &alice, json!({"name": "Beta"}))
        .await;
    app.create(
        "/api/v1/accounts",
        &admin,
        json!({"name": "Alpha of bob", "owner_id": "bob"}),
    )
    .await;

    let page = app.get("/api/v1/accounts?limit=3", &alice).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 3);
    assert!(page.body["next_cursor"].is_string());
    let all = app.list_all("/api/v1/accounts?limit=3", &alice).await;
    assert_eq!(all.len(), 8, "alice sees her 8, not bob's");
    let mut names: Vec<_> = all
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    names.dedup();
    assert_eq!(names.len(), 8, "no duplicates across pages");

    let alpha = app.list_all("/api/v1/accounts?q=ALPHA", &alice).await;
    assert_eq!(alpha.len(), 7);
    let bobs = app.list_all("/api/v1/accounts?owner_id=bob", &admin).await;
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0]["owner_id"], "bob");
}

#[tokio::test]
async fn if_match_guards_account_updates() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let acc = app
        .create("/api/v1/accounts", &alice, json!({"name": "Acme"}))
        .await;
    let path = format!("/api/v1/accounts/{}", acc["id"].as_str().unwrap());
    let body = json!({"name": "Stale"});
    let stale = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&alice),
            Some(&body),
            &[("If-Match", "\"7\"")],
        )
        .await;
    stale.assert_problem(412, "precondition_failed");
    assert_eq!(
        app.get(&path, &alice).await.body["name"],
        "Acme",
        "nothing written"
    );
    let ok = app
        .send(
            reqwest::Method::PATCH,
            &path,
            Some(&alice),
            Some(&json!({"name": "Fresh"})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    assert_eq!(ok.status, 200);
    let stale_delete = app
        .send(
            reqwest::Method::DELETE,
            &path,
            Some(&alice),
            None,
            &[("If-Match", "\"1\"")],
        )
        .await;
    stale_delete.assert_problem(412, "precondition_failed");
}

#[tokio::test]
async fn account_visibility_owner_grant_everyone_admin_stranger() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let carol = app.token("carol");
    let eve = app.token("eve");
    let admin = app.admin_token("root");
    let acc = app
        .create(
            "/api/v1/accounts",
            &alice,
            json!({"name": "Shared", "grants": [{"user_id": "bob", "access": "read"}, {"user_id": "carol", "access": "edit"}]}),
        )
        .await;
    let path = format!("/api/v1/accounts/{}", acc["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &alice).await.status, 200);
    assert_eq!(app.get(&path, &bob).await.status, 200);
    assert_eq!(app.get(&path, &carol).await.status, 200);
    assert_eq!(app.get(&path, &admin).await.status, 200);
    app.get(&path, &eve).await.assert_problem(404, "not_found");
    app.patch(&path, &eve, json!({"name": "x"}))
        .await
        .assert_problem(404, "not_found");
    app.patch(&path, &bob, json!({"name": "x"}))
        .await
        .assert_problem(403, "forbidden");
    assert_eq!(
        app.patch(&path, &carol, json!({"name": "Edited"}))
            .await
            .status,
        200
    );
    app.patch(&path, &carol, json!({"grants": []}))
        .await
        .assert_problem(403, "forbidden");
    app.delete(&path, &carol)
        .await
        .assert_problem(403, "forbidden");
    assert!(app.list_all("/api/v1/accounts", &eve).await.is_empty());

    let everyone = app
        .patch(
            &path,
            &alice,
            json!({"grants": [{"user_id": "*", "access": "read"}]}),
        )
        .await;
    assert_eq!(everyone.status, 200, "{}", everyone.text);
    assert_eq!(app.get(&path, &eve).await.status, 200);
    assert_eq!(app.list_all("/api/v1/accounts", &eve).await.len(), 1);
    app.get(&path, &bob).await; // bob now sees it through everyone
    assert_eq!(app.delete(&path, &admin).await.status, 204);
}

#[tokio::test]
async fn own_and_shared_accounts_interleave_in_creation_order_across_pages() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    // Alice's own, Bob's shared with her, Bob's shared with everyone and Bob's private
    // one in turn, so that every page mixes what she owns and what she is shown.
    let mut visible = Vec::new();
    for i in 0..5 {
        for (token, name, grants, seen) in [
            (&alice, format!("Own {i}"), json!([]), true),
            (
                &bob,
                format!("Shared {i}"),
                json!([{"user_id": "alice", "access": "read"}]),
                true,
            ),
            (
                &bob,
                format!("Public {i}"),
                json!([{"user_id": "*", "access": "read"}]),
                true,
            ),
            (&bob, format!("Private {i}"), json!([]), false),
        ] {
            let a = app
                .create(
                    "/api/v1/accounts",
                    token,
                    json!({"name": name, "grants": grants}),
                )
                .await;
            if seen {
                visible.push(a["id"].clone());
            }
        }
    }
    for limit in [1, 2, 4, 7, 15, 50] {
        let listed: Vec<_> = app
            .list_all(&format!("/api/v1/accounts?limit={limit}"), &alice)
            .await
            .into_iter()
            .map(|a| a["id"].clone())
            .collect();
        assert_eq!(listed, visible, "pages of {limit}");
    }
    let exact = app.get("/api/v1/accounts?limit=15", &alice).await;
    assert_eq!(exact.body["next_cursor"], serde_json::Value::Null);
    // Filters apply to both kinds.
    let named: Vec<_> = app
        .list_all("/api/v1/accounts?q=SHARED%203", &alice)
        .await
        .into_iter()
        .map(|a| a["name"].clone())
        .collect();
    assert_eq!(named, vec![json!("Shared 3")]);
    assert_eq!(
        app.list_all("/api/v1/accounts?owner_id=bob&limit=2", &alice)
            .await
            .len(),
        10
    );
    assert_eq!(
        app.list_all("/api/v1/accounts?limit=3", &bob).await.len(),
        15,
        "Bob sees his own, none of Alice's"
    );
}
