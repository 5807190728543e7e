//! Mailboxes and contact sync profiles against the EWS simulator.
use serde_json::{Value, json};

use crate::support::{TestApp, logs, spawn_sim};

const EMPLOYEE: &str = "00000000-0000-7000-8000-000000000001";
const CUSTOMER: &str = "00000000-0000-7000-8000-000000000002";

fn basic(url: &str, user: &str, password: &str) -> Value {
    json!({"email": "alice@example.com", "display_name": "Alice", "ews_url": url,
           "auth": {"kind": "basic", "username": user, "password": password}})
}

async fn connect(app: &TestApp, token: &str, body: Value) -> Value {
    app.create("/api/v1/mailboxes", token, body).await
}

#[tokio::test]
async fn mailbox_crud_never_returns_or_stores_the_secret_in_clear() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let created = app
        .post(
            "/api/v1/mailboxes",
            &alice,
            basic(&sim.ews_url(), "alice@example.com", "alice-pw-S3cret"),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.text.contains("alice-pw-S3cret"));
    let m = &created.body;
    assert_eq!(
        m["auth"],
        json!({"kind": "basic", "username": "alice@example.com"})
    );
    assert_eq!(m["status"], "active");
    assert_eq!(m["server_version"], "Exchange2013_SP1");
    assert_eq!(m["owner_id"], "alice");
    let path = format!("/api/v1/mailboxes/{}", m["id"].as_str().unwrap());
    let got = app.get(&path, &alice).await;
    assert_eq!(got.body, *m);
    let list = app.get("/api/v1/mailboxes", &alice).await;
    assert!(!list.text.contains("S3cret"));
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);

    // The raw row holds no secret in clear text, in any column.
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.store.connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT * FROM mailboxes",
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let mut dump = String::new();
    for col in [
        "owner_id",
        "email",
        "display_name",
        "ews_url",
        "auth_kind",
        "auth_public",
        "auth_secret",
        "server_version",
        "status",
    ] {
        dump.push_str(&rows[0].try_get::<String>("", col).unwrap());
        dump.push('|');
    }
    assert!(
        dump.contains("alice@example.com"),
        "the dump shows the row: {dump}"
    );
    assert!(!dump.contains("alice-pw-S3cret"), "{dump}");
    let sealed = rows[0].try_get::<String>("", "auth_secret").unwrap();
    assert!(
        sealed.len() >= 40,
        "nonce and ciphertext are stored: {sealed}"
    );

    // What does not say where the secret goes changes without resending it (PATCH).
    let patched = app
        .patch(
            &path,
            &alice,
            json!({"display_name": "Alice L", "server_version": "Exchange2016"}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["display_name"], "Alice L");
    assert_eq!(patched.body["version"], 2);
    let test = app.post(&format!("{path}/test"), &alice, json!({})).await;
    assert_eq!(test.body["ok"], true, "secret kept: {}", test.text);
    // A new kind needs its secret.
    let r = app
        .patch(&path, &alice, json!({"auth": {"kind": "bearer"}}))
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.error_fields(), ["auth.token"]);

    assert_eq!(app.delete(&path, &alice).await.status, 204);
    app.get(&path, &alice)
        .await
        .assert_problem(404, "not_found");
    assert!(
        !logs().contains("alice-pw-S3cret"),
        "a log line holds the secret"
    );
}

#[tokio::test]
async fn changing_where_or_as_whom_the_secret_goes_requires_the_secret_again() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let m = connect(
        &app,
        &alice,
        basic(&sim.ews_url(), "alice@example.com", "secret"),
    )
    .await;
    let path = format!("/api/v1/mailboxes/{}", m["id"].as_str().unwrap());
    let elsewhere = sim.ews_url().replace("/EWS/", "/elsewhere/EWS/");
    for (body, moved) in [
        (json!({"ews_url": elsewhere}), "ews_url"),
        (json!({"email": "bob@example.com"}), "email"),
        (json!({"impersonate": true}), "impersonate"),
        (
            json!({"auth": {"kind": "basic", "username": "admin@example.com"}}),
            "auth.username",
        ),
    ] {
        let r = app.patch(&path, &alice, body.clone()).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), ["auth.password"], "{body}: {}", r.text);
        assert!(r.text.contains(moved), "{body}: {}", r.text);
    }
    let unchanged = app.get(&path, &alice).await;
    assert_eq!(unchanged.body["version"], 1, "nothing was written");
    assert_eq!(unchanged.body["ews_url"], sim.ews_url());
    // With the secret sent again, the same change is accepted.
    let r = app
        .patch(
            &path,
            &alice,
            json!({"ews_url": elsewhere, "auth": {"kind": "basic", "password": "secret"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["ews_url"], elsewhere);
    // OAuth2: the token endpoint and client id bind the client secret the same way.
    let o = connect(
        &app,
        &alice,
        json!({"email": "carol@example.com", "ews_url": sim.ews_url(),
               "auth": {"kind": "oauth2_client_credentials", "token_url": "https://login.example.com/t",
                        "client_id": "app", "client_secret": "cs", "scope": "s"}}),
    )
    .await;
    let opath = format!("/api/v1/mailboxes/{}", o["id"].as_str().unwrap());
    for auth in [
        json!({"kind": "oauth2_client_credentials", "token_url": "https://evil.example.net/t"}),
        json!({"kind": "oauth2_client_credentials", "client_id": "other"}),
    ] {
        let r = app.patch(&opath, &alice, json!({ "auth": auth })).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(r.error_fields(), ["auth.client_secret"], "{}", r.text);
    }
}

#[tokio::test]
async fn the_token_endpoint_follows_the_ews_url_rules() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    for (token_url, why) in [
        ("http://login.example.com/t", "https"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.0.0.5/t", "private"),
        ("https://[64:ff9b::a9fe:a9fe]/t", "loopback, private"),
        ("https://u:p@login.example.com/t", "credentials"),
    ] {
        let r = app
            .post(
                "/api/v1/mailboxes",
                &alice,
                json!({"email": "alice@example.com", "ews_url": sim.ews_url(),
                       "auth": {"kind": "oauth2_client_credentials", "token_url": token_url,
                                "client_id": "app", "client_secret": "cs", "scope": "s"}}),
            )
            .await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.error_fields(),
            ["auth.token_url"],
            "{token_url}: {}",
            r.text
        );
        assert!(r.text.contains(why), "{token_url}: {}", r.text);
    }
    assert_eq!(app.count_rows("mailboxes").await, 0);
}

#[tokio::test]
async fn mailbox_validation_names_each_field() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let r = app
        .post(
            "/api/v1/mailboxes",
            &alice,
            json!({"email": "nope", "ews_url": "ftp://x", "server_version": "Exchange1999"}),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.error_fields(),
        ["email", "server_version", "ews_url", "auth"]
    );
    let cases = [
        ("http://mail.example.com/EWS/Exchange.asmx", "ews_url"),
        ("https://10.0.0.5/EWS/Exchange.asmx", "ews_url"),
        ("https://169.254.169.254/EWS/Exchange.asmx", "ews_url"),
        (
            "https://user:pw@mail.example.com/EWS/Exchange.asmx",
            "ews_url",
        ),
    ];
    for (url, field) in cases {
        let r = app
            .post("/api/v1/mailboxes", &alice, basic(url, "a", "b"))
            .await;
        assert_eq!(r.error_fields(), [field], "{url}");
    }
    let r = app
        .post("/api/v1/mailboxes", &alice, json!({"email": "a@example.com", "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
            "auth": {"kind": "oauth2_client_credentials", "client_id": "app"}}))
        .await;
    assert_eq!(
        r.error_fields(),
        ["auth.token_url", "auth.scope", "auth.client_secret"]
    );
    let r = app
        .post("/api/v1/mailboxes", &alice, json!({"email": "a@example.com", "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
            "auth": {"kind": "kerberos"}}))
        .await;
    r.assert_problem(400, "invalid_body");
    assert_eq!(r.error_fields(), ["auth.kind"]);
    let r = app
        .post("/api/v1/mailboxes", &alice, json!({"email": "a@example.com", "ews_url": "https://mail.example.com/EWS/Exchange.asmx",
            "auth": {"kind": "basic", "username": "a", "password": "b", "pin": 1}}))
        .await;
    r.assert_problem(400, "invalid_body");
    // The same mailbox twice.
    connect(
        &app,
        &alice,
        basic("https://mail.example.com/EWS/Exchange.asmx", "a", "b"),
    )
    .await;
    let r = app
        .post(
            "/api/v1/mailboxes",
            &alice,
            basic("https://mail.example.com/EWS/Exchange.asmx", "a", "b"),
        )
        .await;
    assert_eq!(r.error_fields(), ["email"]);
    assert_eq!(app.count_rows("mailboxes").await, 1);
}

#[tokio::test]
async fn connection_test_reports_each_step() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let steps = |d: &Value| -> Vec<(String, String)> {
        d["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["step"].as_str().unwrap().to_owned(),
                    s["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    let ok = connect(
        &app,
        &alice,
        basic(&sim.ews_url(), "alice", "alice-pw-S3cret"),
    )
    .await;
    let d = app
        .post(
            &format!("/api/v1/mailboxes/{}/test", ok["id"].as_str().unwrap()),
            &alice,
            json!({}),
        )
        .await
        .body;
    assert_eq!(d["ok"], true, "{d}");
    assert_eq!(d["failed_step"], Value::Null);
    assert!(d["server_version"].is_string(), "{d}");
    assert_eq!(
        steps(&d),
        [
            ("dns", "ok"),
            ("connect", "ok"),
            ("tls", "skipped"),
            ("auth", "ok"),
            ("access", "ok"),
            ("contacts_folder", "ok")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    let mut wrong = basic(&sim.ews_url(), "alice", "wrong");
    wrong["email"] = json!("alice2@example.com");
    let bad = connect(&app, &alice, wrong).await;
    let d = app
        .post(
            &format!("/api/v1/mailboxes/{}/test", bad["id"].as_str().unwrap()),
            &alice,
            json!({}),
        )
        .await
        .body;
    assert_eq!(d["ok"], false);
    assert_eq!(d["failed_step"], "auth", "{d}");
    let auth = &d["steps"][3];
    assert_eq!(auth["code"], "HTTP 401");
    assert_eq!(steps(&d)[4].1, "skipped");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut closed = basic(
        &format!("http://127.0.0.1:{port}/EWS/Exchange.asmx"),
        "alice",
        "x",
    );
    closed["email"] = json!("alice3@example.com");
    let unreachable = connect(&app, &alice, closed).await;
    let d = app
        .post(
            &format!(
                "/api/v1/mailboxes/{}/test",
                unreachable["id"].as_str().unwrap()
            ),
            &alice,
            json!({}),
        )
        .await
        .body;
    assert_eq!(d["failed_step"], "connect", "{d}");
    assert_eq!(steps(&d)[0].1, "ok");

    // bob's credentials acting as alice: bob holds no impersonation right.
    let svc_user = app.token("svc-owner");
    let denied = connect(
        &app,
        &svc_user,
        json!({"email": "alice@example.com", "ews_url": sim.ews_url(), "impersonate": true,
        "auth": {"kind": "basic", "username": "bob@example.com", "password": "bob-pw-S3cret"}}),
    )
    .await;
    let d = app
        .post(
            &format!("/api/v1/mailboxes/{}/test", denied["id"].as_str().unwrap()),
            &svc_user,
            json!({}),
        )
        .await
        .body;
    assert_eq!(d["failed_step"], "access", "{d}");
    assert_eq!(d["steps"][4]["code"], "ErrorImpersonateUserDenied");
    assert_eq!(steps(&d)[3].1, "ok");

    let svc_user2 = app.token("svc-owner-2");
    let allowed = connect(
        &app,
        &svc_user2,
        json!({"email": "alice@example.com", "ews_url": sim.ews_url(), "impersonate": true,
        "auth": {"kind": "basic", "username": "svc@example.com", "password": "svc-pw-S3cret"}}),
    )
    .await;
    let d = app
        .post(
            &format!("/api/v1/mailboxes/{}/test", allowed["id"].as_str().unwrap()),
            &svc_user2,
            json!({}),
        )
        .await
        .body;
    assert_eq!(d["ok"], true, "{d}");
    assert_eq!(d["steps"][4]["detail"], "acting as alice@example.com");
    for secret in ["alice-pw-S3cret", "bob-pw-S3cret", "svc-pw-S3cret"] {
        assert!(!logs().contains(secret), "a log line holds {secret}");
    }
}

#[tokio::test]
async fn exchange_folder_tree_includes_nested_folders() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let clients = sim
        .create_folder(
            "alice@example.com",
            "contacts",
            "Clients",
            Some("IPF.Contact"),
        )
        .unwrap();
    // Through the control API, as a tester with curl would.
    let created = reqwest::Client::new()
        .post(format!(
            "{}/_sim/mailboxes/alice@example.com/folders",
            sim.base_url()
        ))
        .json(&json!({"parent": clients, "display_name": "VIP", "folder_class": "IPF.Contact"}))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let suppliers = sim
        .create_folder(
            "alice@example.com",
            "msgfolderroot",
            "Suppliers",
            Some("IPF.Contact"),
        )
        .unwrap();
    sim.create_folder(
        "alice@example.com",
        "msgfolderroot",
        "Sticky",
        Some("IPF.StickyNote"),
    )
    .unwrap();
    let alice = app.token("alice");
    let m = connect(
        &app,
        &alice,
        basic(&sim.ews_url(), "alice", "alice-pw-S3cret"),
    )
    .await;
    let r = app
        .get(
            &format!(
                "/api/v1/mailboxes/{}/exchange-folders",
                m["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let roots = r.body["items"].as_array().unwrap();
    let names: Vec<_> = roots.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"Contacts") && names.contains(&"Suppliers") && !names.contains(&"Sticky"),
        "{names:?}"
    );
    let contacts = roots
        .iter()
        .find(|f| f["distinguished"] == "contacts")
        .expect("Contacts folder");
    let child = &contacts["children"][0];
    assert_eq!(child["id"], clients.as_str());
    assert_eq!(child["name"], "Clients");
    assert_eq!(child["parent_id"], contacts["id"]);
    assert_eq!(child["children"][0]["name"], "VIP");
    assert_eq!(child["children"][0]["parent_id"], clients.as_str());
    assert!(roots.iter().any(|f| f["id"] == suppliers.as_str()));

    // Exchange down → 502 problem, not a 500.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut down = basic(
        &format!("http://127.0.0.1:{closed_port}/EWS/Exchange.asmx"),
        "a",
        "b",
    );
    down["email"] = json!("down@example.com");
    let d = connect(&app, &alice, down).await;
    app.get(
        &format!(
            "/api/v1/mailboxes/{}/exchange-folders",
            d["id"].as_str().unwrap()
        ),
        &alice,
    )
    .await
    .assert_problem(502, "exchange_error");
}

#[tokio::test]
async fn profiles_of_every_shape_round_trip() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let clients = sim
        .create_folder(
            "alice@example.com",
            "contacts",
            "Clients",
            Some("IPF.Contact"),
        )
        .unwrap();
    let alice = app.token("alice");
    let m = connect(
        &app,
        &alice,
        basic(&sim.ews_url(), "alice", "alice-pw-S3cret"),
    )
    .await;
    let path = format!(
        "/api/v1/mailboxes/{}/contact-sync",
        m["id"].as_str().unwrap()
    );
    let defaults = app.get(&path, &alice).await;
    assert_eq!(defaults.header("etag"), Some("\"0\""));
    assert_eq!(defaults.body["import"]["enabled"], false);
    assert_eq!(defaults.body["auto_sync"]["interval_minutes"], 60);
    assert_eq!(defaults.body["conflict_policy"], "newest_wins");
    assert_eq!(defaults.body["match_existing"], "email_then_name");
    assert_eq!(defaults.body["on_exchange_delete"], "unlink");
    assert_eq!(defaults.body["on_crm_delete"], "keep_in_exchange");

    let folder = app
        .create(
            "/api/v1/contact-folders",
            &alice,
            json!({"name": "Employees", "kind": "static"}),
        )
        .await;
    let shapes = [
        json!({"import": {"enabled": true, "scope": "all"}}),
        json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [clients]}}),
        json!({"export": {"enabled": true, "scope": "all"}}),
        json!({"export": {"enabled": true, "scope": "specific", "contact_type_ids": [EMPLOYEE]}}),
        json!({"export": {"enabled": true, "scope": "specific", "contact_type_ids": [CUSTOMER]}}),
        json!({"export": {"enabled": true, "scope": "specific", "folder_ids": [folder["id"]]}}),
        json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [clients]},
               "export": {"enabled": true, "scope": "specific", "contact_type_ids": [EMPLOYEE, CUSTOMER], "folder_ids": [folder["id"]], "target_folder_id": clients},
               "auto_sync": {"enabled": true, "interval_minutes": 15}, "conflict_policy": "crm_wins", "match_existing": "none",
               "on_exchange_delete": "delete_in_crm", "on_crm_delete": "delete_in_exchange", "fields": {"job_title": "to_crm", "department": "none"}}),
    ];
    let mut version = 0;
    for shape in shapes {
        let r = app
            .send(reqwest::Method::PUT, &path, Some(&alice), Some(&shape), &[])
            .await;
        assert_eq!(r.status, 200, "{shape}: {}", r.text);
        version += 1;
        assert_eq!(r.header("etag"), Some(format!("\"{version}\"").as_str()));
        let back = app.get(&path, &alice).await.body;
        for (k, v) in shape.as_object().unwrap() {
            for (k2, v2) in v
                .as_object()
                .map(|o| o.clone().into_iter().collect::<Vec<_>>())
                .unwrap_or_else(|| vec![(String::new(), v.clone())])
            {
                let got = if k2.is_empty() {
                    &back[k]
                } else {
                    &back[k][&k2]
                };
                assert_eq!(got, &v2, "{k}.{k2}");
            }
        }
    }
    let stale = app
        .send(
            reqwest::Method::PUT,
            &path,
            Some(&alice),
            Some(&json!({})),
            &[("If-Match", "\"1\"")],
        )
        .await;
    stale.assert_problem(412, "precondition_failed");
    let fresh = app
        .send(
            reqwest::Method::PUT,
            &path,
            Some(&alice),
            Some(&json!({})),
            &[("If-Match", format!("\"{version}\"").as_str())],
        )
        .await;
    assert_eq!(fresh.status, 200);
    assert_eq!(
        fresh.body["export"]["enabled"], false,
        "PUT replaces the whole profile"
    );
}

#[tokio::test]
async fn profile_validation_names_each_bad_field() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let m = connect(
        &app,
        &alice,
        basic(&sim.ews_url(), "alice", "alice-pw-S3cret"),
    )
    .await;
    let path = format!(
        "/api/v1/mailboxes/{}/contact-sync",
        m["id"].as_str().unwrap()
    );
    let bobs_folder = app
        .create(
            "/api/v1/contact-folders",
            &bob,
            json!({"name": "Bob's", "kind": "static"}),
        )
        .await;
    let put = |body: Value| {
        let app = &app;
        let alice = alice.clone();
        let path = path.clone();
        async move {
            app.send(reqwest::Method::PUT, &path, Some(&alice), Some(&body), &[])
                .await
        }
    };
    let r = put(json!({
        "import": {"enabled": true, "scope": "folders", "folder_ids": ["AAMkNotAFolder"]},
        "export": {"enabled": true, "scope": "specific", "contact_type_ids": ["00000000-0000-7000-8000-0000000000ff"], "folder_ids": [bobs_folder["id"]]},
    }))
    .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(
        r.error_fields(),
        ["import.folder_ids[0]"],
        "Exchange ids are checked first: {}",
        r.text
    );
    let r = put(json!({
        "import": {"enabled": true, "scope": "all"},
        "export": {"enabled": true, "scope": "specific", "contact_type_ids": ["00000000-0000-7000-8000-0000000000ff"], "folder_ids": [bobs_folder["id"]]},
    }))
    .await;
    assert_eq!(
        r.error_fields(),
        ["export.contact_type_ids[0]", "export.folder_ids[0]"]
    );
    let r = put(json!({"import": {"scope": "folders"}, "export": {"scope": "specific"}, "auto_sync": {"interval_minutes": 4},
        "fields": {"shoe_size": "both"}}))
    .await;
    assert_eq!(
        r.error_fields(),
        [
            "import.folder_ids",
            "export.scope",
            "auto_sync.interval_minutes",
            "fields.shoe_size"
        ]
    );
    let r = put(json!({"auto_sync": {"interval_minutes": 1441}})).await;
    assert_eq!(r.error_fields(), ["auto_sync.interval_minutes"]);
    let r = put(json!({"conflict_policy": "loudest_wins"})).await;
    r.assert_problem(400, "invalid_body");
    assert_eq!(r.error_fields(), ["conflict_policy"]);
    let r = put(json!({"export": {"target_folder_id": "AAMkNope"}})).await;
    assert_eq!(r.error_fields(), ["export.target_folder_id"]);
    let r = put(json!({"import": {"enabled": true, "colour": "red"}})).await;
    assert_eq!(r.error_fields(), ["import.colour"]);
    assert_eq!(
        app.count_rows("contact_sync_profiles").await,
        0,
        "nothing stored"
    );
    let fields = app.get("/api/v1/contact-sync/fields", &alice).await;
    let items = fields.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 19);
    assert!(
        items
            .iter()
            .any(|f| f["field"] == "department" && f["default_direction"] == "to_exchange")
    );
}

#[tokio::test]
async fn only_the_owner_and_admins_reach_a_mailbox() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let admin = app.admin_token("root");
    let m = connect(
        &app,
        &alice,
        basic(&sim.ews_url(), "alice", "alice-pw-S3cret"),
    )
    .await;
    let id = m["id"].as_str().unwrap();
    let base = format!("/api/v1/mailboxes/{id}");
    app.get(&base, &bob).await.assert_problem(404, "not_found");
    app.patch(&base, &bob, json!({"display_name": "x"}))
        .await
        .assert_problem(404, "not_found");
    app.post(&format!("{base}/test"), &bob, json!({}))
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{base}/exchange-folders"), &bob)
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("{base}/contact-sync"), &bob)
        .await
        .assert_problem(404, "not_found");
    app.send(
        reqwest::Method::PUT,
        &format!("{base}/contact-sync"),
        Some(&bob),
        Some(&json!({})),
        &[],
    )
    .await
    .assert_problem(404, "not_found");
    app.delete(&base, &bob)
        .await
        .assert_problem(404, "not_found");
    assert!(
        app.get("/api/v1/mailboxes", &bob).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    assert_eq!(app.get(&base, &admin).await.status, 200);
    assert_eq!(
        app.post(&format!("{base}/test"), &admin, json!({}))
            .await
            .body["ok"],
        true
    );
    assert_eq!(
        app.get(&format!("{base}/exchange-folders"), &admin)
            .await
            .status,
        200
    );
    let put = app
        .send(
            reqwest::Method::PUT,
            &format!("{base}/contact-sync"),
            Some(&admin),
            Some(&json!({"import": {"enabled": true}})),
            &[],
        )
        .await;
    assert_eq!(put.status, 200);
    assert_eq!(
        app.get("/api/v1/mailboxes", &admin).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Synchronize now: not for bob, yes for an administrator.
    app.post(&format!("{base}/contact-sync/runs"), &bob, json!({}))
        .await
        .assert_problem(404, "not_found");
    let run = app
        .post(&format!("{base}/contact-sync/runs"), &admin, json!({}))
        .await;
    assert_eq!(run.status, 202, "{}", run.text);

    // Deleting the mailbox removes its profile, never CRM contacts.
    app.create("/api/v1/contacts", &alice, json!({"full_name": "Stays"}))
        .await;
    assert_eq!(app.delete(&base, &admin).await.status, 204);
    assert_eq!(app.count_rows("contact_sync_profiles").await, 0);
    assert_eq!(
        app.count_rows("sync_runs").await,
        0,
        "queued runs go with the mailbox"
    );
    assert_eq!(app.count_rows("contacts").await, 1);
}
