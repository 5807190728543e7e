//! Listings render each record once per version and grants (`api::rendered`): whatever
//! changed a record, and whoever changed it, a listing shows it as `GET` does.
use contactsync::domain::Caller;
use contactsync::domain::contact::ContactWrite;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::support::TestApp;

/// Every listed record equals its `GET`, for contacts (live, and with tombstones),
/// accounts and folders; returns the listings.
async fn listings_match_gets(app: &TestApp, token: &str) -> [Vec<Value>; 4] {
    let contacts = app.list_all("/api/v1/contacts?limit=2", token).await;
    let with_tombstones = app
        .list_all("/api/v1/contacts?limit=2&include_deleted=true", token)
        .await;
    let accounts = app.list_all("/api/v1/accounts?limit=2", token).await;
    let folders = app.list_all("/api/v1/contact-folders?limit=2", token).await;
    for (path, items) in [
        ("contacts", &contacts),
        ("accounts", &accounts),
        ("contact-folders", &folders),
    ] {
        for listed in items {
            let one = app
                .get(
                    &format!("/api/v1/{path}/{}", listed["id"].as_str().unwrap()),
                    token,
                )
                .await;
            assert_eq!(one.status, 200, "{}", one.text);
            assert_eq!(&one.body, listed, "{path}: listed as GET shows it");
        }
    }
    for listed in &with_tombstones {
        if listed["deleted_at"].is_null() {
            assert!(contacts.contains(listed), "{listed}");
        }
    }
    [contacts, with_tombstones, accounts, folders]
}

fn by_id<'a>(items: &'a [Value], id: &Value) -> Option<&'a Value> {
    items.iter().find(|v| v["id"] == *id)
}

#[tokio::test]
async fn a_listing_shows_each_record_as_it_is_now_whoever_changed_it() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let acme = app
        .create("/api/v1/accounts", &alice, json!({"name": "Acme"}))
        .await;
    let mut people = Vec::new();
    for name in ["Ann", "Ben", "Cy"] {
        people.push(
            app.create(
                "/api/v1/contacts",
                &alice,
                json!({"given_name": name, "account_id": acme["id"]}),
            )
            .await,
        );
    }
    let folder = app
        .create(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "Acme people", "kind": "dynamic", "filter": {"q": "Acme"}}),
        )
        .await;
    // Rendered once here; every listing below must see past what was rendered.
    listings_match_gets(&app, &alice).await;

    // Through the API.
    let ann = format!("/api/v1/contacts/{}", people[0]["id"].as_str().unwrap());
    let r = app.patch(&ann, &alice, json!({"job_title": "CTO"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let [contacts, ..] = listings_match_gets(&app, &alice).await;
    assert_eq!(
        by_id(&contacts, &people[0]["id"]).unwrap()["job_title"],
        "CTO"
    );

    // Beside the API, as sync or another replica writes.
    let caller = Caller {
        user_id: "alice".into(),
        is_admin: false,
    };
    let ben = uuid::Uuid::parse_str(people[1]["id"].as_str().unwrap()).unwrap();
    app.store
        .update_contact(
            &caller,
            ben,
            ContactWrite {
                surname: Some("Beside".into()),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    let [contacts, ..] = listings_match_gets(&app, &alice).await;
    assert_eq!(
        by_id(&contacts, &people[1]["id"]).unwrap()["surname"],
        "Beside"
    );

    // A grant written straight into the table: the version stays, the grants do not.
    app.store
        .connection()
        .execute_unprepared(
            "INSERT INTO grants (record_id, grantee, record_kind, access) \
             SELECT id, 'bob', 'contact', 'read' FROM contacts WHERE full_name = 'Cy'",
        )
        .await
        .unwrap();
    let [contacts, ..] = listings_match_gets(&app, &alice).await;
    assert_eq!(
        by_id(&contacts, &people[2]["id"]).unwrap()["grants"],
        json!([{"user_id": "bob", "access": "read"}])
    );
    let bob = app.token("bob");
    let [seen_by_bob, ..] = listings_match_gets(&app, &bob).await;
    assert_eq!(seen_by_bob.len(), 1);

    // Derived values: a rename carries the company to its contacts, a deletion unlinks.
    let acme_path = format!("/api/v1/accounts/{}", acme["id"].as_str().unwrap());
    let r = app
        .patch(&acme_path, &alice, json!({"name": "Acme AS"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let [contacts, _, accounts, _] = listings_match_gets(&app, &alice).await;
    assert!(
        contacts.iter().all(|c| c["company"] == "Acme AS"),
        "{contacts:?}"
    );
    assert_eq!(accounts[0]["name"], "Acme AS");
    let folder_path = format!("/api/v1/contact-folders/{}", folder["id"].as_str().unwrap());
    let r = app
        .patch(&folder_path, &alice, json!({"filter": {"q": "Acme AS"}}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let [.., folders] = listings_match_gets(&app, &alice).await;
    assert_eq!(folders[0]["filter"]["q"], "Acme AS");
    let r = app.delete(&acme_path, &alice).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let [contacts, _, accounts, _] = listings_match_gets(&app, &alice).await;
    assert!(accounts.is_empty());
    assert!(
        contacts.iter().all(|c| c["account_id"].is_null()),
        "{contacts:?}"
    );

    // A deletion: gone from the listing, a tombstone with them.
    let r = app.delete(&ann, &alice).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let [contacts, with_tombstones, ..] = listings_match_gets(&app, &alice).await;
    assert!(by_id(&contacts, &people[0]["id"]).is_none());
    assert!(
        !by_id(&with_tombstones, &people[0]["id"]).unwrap()["deleted_at"].is_null(),
        "{with_tombstones:?}"
    );
    assert_eq!(contacts.len(), 2);
}
