//! Mailboxes on Microsoft Graph (SPEC §3, §7b) against the simulator's Graph front end:
//! the secret sealed and never returned, the URL rules for both endpoints, the secret
//! required again when where it goes changes, the connection test and the folder tree.
use serde_json::{Value, json};

use crate::support::{TestApp, logs, spawn_sim};
use crate::sync_support::graph_json;

const SECRET: &str = "app-S3cret";

fn graph_mailbox(sim: &ews_sim::SimHandle) -> Value {
    json!({"email": "alice@example.com", "display_name": "Alice", "transport": "graph",
           "graph": graph_json(sim)})
}

#[tokio::test]
async fn a_graph_mailbox_keeps_its_secret_sealed_and_needs_it_again_when_its_destination_changes() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let created = app
        .post("/api/v1/mailboxes", &alice, graph_mailbox(&sim))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(!created.text.contains(SECRET), "{}", created.text);
    let m = &created.body;
    assert_eq!(m["transport"], "graph");
    assert!(m.get("ews_url").is_none() && m.get("auth").is_none(), "{m}");
    assert_eq!(
        m["graph"],
        json!({"tenant_id": "contoso", "client_id": "contactsync-app", "credential": "client_secret",
               "graph_url": sim.graph_url(), "authority_url": sim.authority_url()})
    );
    let path = format!("/api/v1/mailboxes/{}", m["id"].as_str().unwrap());

    // The raw row holds the secret sealed only.
    use sea_orm::{ConnectionTrait, Statement};
    let db = app.store.connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT auth_secret, graph_public, transport FROM mailboxes",
        ))
        .await
        .unwrap();
    let sealed = rows[0].try_get::<String>("", "auth_secret").unwrap();
    let public = rows[0].try_get::<String>("", "graph_public").unwrap();
    assert!(!sealed.contains(SECRET) && !public.contains(SECRET));
    assert_eq!(rows[0].try_get::<String>("", "transport").unwrap(), "graph");

    // Display changes keep the secret; the test signs in with it.
    let patched = app
        .patch(
            &path,
            &alice,
            json!({"display_name": "Alice L", "graph": {"user": "alice@example.com"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    let test = app.post(&format!("{path}/test"), &alice, json!({})).await;
    assert_eq!(test.body["ok"], true, "{}", test.text);

    // Where the token is asked for or used, or for which app: the secret again.
    for (change, field) in [
        (json!({"tenant_id": "fabrikam"}), "graph.tenant_id"),
        (json!({"client_id": "other-app"}), "graph.client_id"),
        (
            json!({"graph_url": format!("{}/beta", sim.base_url())}),
            "graph.graph_url",
        ),
        (
            json!({"authority_url": format!("{}/elsewhere", sim.authority_url())}),
            "graph.authority_url",
        ),
        (json!({"user": "bob@example.com"}), "graph.user"),
    ] {
        let r = app.patch(&path, &alice, json!({"graph": change})).await;
        r.assert_problem(422, "validation_failed");
        assert_eq!(
            r.error_fields(),
            ["graph.client_secret"],
            "{field}: {}",
            r.text
        );
        assert!(r.text.contains(field), "{field} named: {}", r.text);
    }
    // EWS settings on a Graph mailbox are refused by name; going back to EWS needs its secret.
    let r = app
        .patch(&path, &alice, json!({"ews_url": sim.ews_url()}))
        .await;
    assert_eq!(r.error_fields(), ["ews_url"]);
    let r = app
        .patch(
            &path,
            &alice,
            json!({"transport": "ews", "ews_url": sim.ews_url(),
                                     "auth": {"kind": "basic", "username": "alice@example.com"}}),
        )
        .await;
    assert_eq!(r.error_fields(), ["auth.password"], "{}", r.text);
    assert!(!logs().contains(SECRET), "a log line holds the secret");
}

#[tokio::test]
async fn graph_settings_are_validated_field_by_field() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let r = app
        .post("/api/v1/mailboxes", &alice, json!({"email": "alice@example.com", "transport": "graph",
            "graph": {"client_secret": "s", "certificate_pem": "x",
                      "graph_url": "http://10.1.2.3/v1.0", "authority_url": "ftp://login.example"}}))
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    fields.dedup();
    assert_eq!(
        fields,
        [
            "graph.authority_url",
            "graph.client_id",
            "graph.client_secret",
            "graph.graph_url",
            "graph.tenant_id"
        ]
    );
    let r = app
        .post(
            "/api/v1/mailboxes",
            &alice,
            json!({"email": "alice@example.com", "transport": "graph"}),
        )
        .await;
    assert_eq!(r.error_fields(), ["graph"]);
    let r = app
        .post(
            "/api/v1/mailboxes",
            &alice,
            json!({"email": "alice@example.com", "transport": "graph",
            "graph": {"tenant_id": "t", "client_id": "c", "client_secret": "s", "shoe": 1}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("graph"), "{}", r.text);
}

#[tokio::test]
async fn the_graph_connection_test_reports_token_user_and_contacts_folder() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let m = app
        .create("/api/v1/mailboxes", &alice, graph_mailbox(&sim))
        .await;
    let path = format!("/api/v1/mailboxes/{}", m["id"].as_str().unwrap());
    let d = app
        .post(&format!("{path}/test"), &alice, json!({}))
        .await
        .body;
    let steps: Vec<(&str, &str)> = d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("dns", "ok"),
            ("token", "ok"),
            ("user", "ok"),
            ("contacts_folder", "ok")
        ],
        "{d}"
    );
    assert_eq!(d["ok"], true);

    // A wrong secret fails at the token, with the OAuth code; later steps are skipped.
    let bad = app
        .patch(&path, &alice, json!({"graph": {"client_secret": "wrong"}}))
        .await;
    assert_eq!(bad.status, 200, "{}", bad.text);
    let d = app
        .post(&format!("{path}/test"), &alice, json!({}))
        .await
        .body;
    assert_eq!(d["ok"], false);
    assert_eq!(d["failed_step"], "token", "{d}");
    assert_eq!(d["steps"][3]["status"], "skipped");

    // An unknown user fails at the user step.
    app.patch(
        &path,
        &alice,
        json!({"graph": {"client_secret": SECRET, "user": "nobody@example.com"}}),
    )
    .await;
    let d = app
        .post(&format!("{path}/test"), &alice, json!({}))
        .await
        .body;
    assert_eq!(d["failed_step"], "user", "{d}");
}

#[tokio::test]
async fn the_folder_tree_over_graph_nests_child_folders() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let clients = sim
        .create_folder(
            "alice@example.com",
            "contacts",
            "Clients",
            Some("IPF.Contact"),
        )
        .unwrap();
    sim.create_folder(
        "alice@example.com",
        &clients,
        "Key accounts",
        Some("IPF.Contact"),
    )
    .unwrap();
    let m = app
        .create("/api/v1/mailboxes", &alice, graph_mailbox(&sim))
        .await;
    let tree = app
        .get(
            &format!(
                "/api/v1/mailboxes/{}/exchange-folders",
                m["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    assert_eq!(tree.status, 200, "{}", tree.text);
    let root = &tree.body["items"][0];
    assert_eq!(root["distinguished"], "contacts");
    let child = &root["children"][0];
    assert_eq!(child["name"], "Clients");
    assert_eq!(
        child["id"],
        json!(sim.graph_folder_id("alice@example.com", &clients).unwrap())
    );
    assert_eq!(child["children"][0]["name"], "Key accounts");
}
