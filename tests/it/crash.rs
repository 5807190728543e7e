//! A worker process killed (SIGKILL) in the middle of a two-way sync of 5,000 contacts:
//! another process takes the run over when the lease expires and finishes it, with no
//! duplicate on either side, no lost edit, and a next run that plans zero writes.
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};

use contactsync::domain::contact::ContactFields;
use contactsync::domain::run::{RunMode, RunRequest, RunStatus};
use contactsync::store::sync_state::CrmWrite;
use serde_json::json;
use uuid::Uuid;

use crate::support::{TestApp, eventually, spawn_sim};
use crate::sync_support::{ALICE, Collect, person};

const BASE: usize = 250;
const EDITED: usize = 100;
const NEW_EACH_SIDE: usize = 2_250;

fn worker_process(app: &TestApp) -> Child {
    Command::new(env!("CARGO_BIN_EXE_contactsync"))
        .arg("worker")
        .env_clear()
        .env("DATABASE_URL", app.database_url_for_processes())
        .env("CONTACTSYNC_DATA_DIR", &app.settings.data_dir)
        .env("CONTACTSYNC_EWS_ALLOWED_HOSTS", "127.0.0.1")
        .env("CONTACTSYNC_WORKERS", "1")
        .env("CONTACTSYNC_LEASE_SECONDS", "2")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker process starts")
}

/// Alice's live CRM contacts.
async fn crm_contacts(app: &TestApp) -> Vec<ContactFields> {
    let caller = contactsync::domain::Caller {
        user_id: "alice".into(),
        is_admin: false,
    };
    app.store
        .match_candidates(&caller, Uuid::nil())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.fields)
        .collect()
}

fn crm_writes(prefix: &str, n: usize) -> Vec<CrmWrite> {
    (0..n)
        .map(|i| {
            let mut f = ContactFields {
                given_name: format!("{prefix}{i}"),
                surname: "Crm".into(),
                email1: format!("{prefix}{i}@crm.test"),
                ..Default::default()
            };
            f.normalize();
            CrmWrite::Create(f)
        })
        .collect()
}

#[tokio::test]
async fn a_worker_killed_mid_run_is_taken_over_without_loss_or_duplicates() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let mailbox = app
        .connect_mailbox(&alice, &sim, ALICE, "alice-pw-S3cret")
        .await;
    let r = app
        .put(
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync"),
            &alice,
            json!({"import": {"enabled": true}, "export": {"enabled": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A synced base of pairs, by the engine in this process.
    app.store
        .apply_crm_writes("alice", crm_writes("base", BASE))
        .await
        .unwrap();
    let base_items = sim
        .seed_contacts(
            ALICE,
            "contacts",
            (0..BASE)
                .map(|i| {
                    serde_json::from_value(person(
                        &format!("exbase{i}"),
                        "Ex",
                        &format!("exbase{i}@ex.test"),
                        None,
                    ))
                    .unwrap()
                })
                .collect(),
        )
        .unwrap();
    let req = RunRequest {
        run_id: Uuid::now_v7(),
        mailbox_id: mailbox.parse().unwrap(),
        mode: RunMode::TwoWay,
        dry_run: false,
        full: false,
    };
    let report = contactsync::worker::run_mailbox(&app.engine(), &req, &Collect::default()).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");

    // Edits on both sides, then thousands of new contacts on both sides.
    let crm_base: Vec<_> = app
        .store
        .match_candidates(
            &contactsync::domain::Caller {
                user_id: "alice".into(),
                is_admin: false,
            },
            Uuid::nil(),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.fields.given_name.starts_with("base"))
        .take(EDITED)
        .collect();
    let edits: Vec<CrmWrite> = crm_base
        .iter()
        .map(|r| {
            let mut f = r.fields.clone();
            f.job_title = format!("crm-edit {}", f.given_name);
            CrmWrite::Update {
                id: r.id,
                fields: f,
                expected: None,
            }
        })
        .collect();
    app.store.apply_crm_writes("alice", edits).await.unwrap();
    for (i, (item, _)) in base_items.iter().take(EDITED).enumerate() {
        let patch: ews_sim::ContactData =
            serde_json::from_value(json!({"job_title": format!("ex-edit {i}")})).unwrap();
        sim.edit_contact(ALICE, item, &patch).unwrap();
    }
    for chunk in crm_writes("new", NEW_EACH_SIDE).chunks(500) {
        app.store
            .apply_crm_writes("alice", chunk.to_vec())
            .await
            .unwrap();
    }
    sim.seed_contacts(
        ALICE,
        "contacts",
        (0..NEW_EACH_SIDE)
            .map(|i| {
                serde_json::from_value(person(
                    &format!("exnew{i}"),
                    "Ex",
                    &format!("exnew{i}@ex.test"),
                    None,
                ))
                .unwrap()
            })
            .collect(),
    )
    .unwrap();
    // Slow Exchange down a little so that the run is surely mid-way when it is killed.
    sim.set_latency_ms(5);

    let started = app
        .post(
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync/runs"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.text);
    let run_id = started.body["id"].as_str().unwrap().to_owned();
    let run_path = format!("/api/v1/contact-sync/runs/{run_id}");

    let mut first = worker_process(&app);
    eventually(120, "the first worker to be well into the run", || async {
        app.count_rows("sync_run_items").await >= 400
    })
    .await;
    first.kill().expect("SIGKILL");
    first.wait().ok();
    let at_kill = app.get(&run_path, &alice).await.body;
    assert_eq!(at_kill["status"], "running", "killed mid-run: {at_kill}");

    let mut second = worker_process(&app);
    eventually(
        180,
        "the second worker to take the run over and finish it",
        || async {
            let s = app.get(&run_path, &alice).await.body["status"].clone();
            s != "running" && s != "queued"
        },
    )
    .await;
    second.kill().ok();
    second.wait().ok();
    let done = app.get(&run_path, &alice).await.body;
    assert_eq!(done["status"], "succeeded", "{done}");
    sim.set_latency_ms(0);

    // No duplicate on either side: one CRM contact per person, one item per person,
    // every item stamped with a distinct live CRM contact.
    let total = BASE * 2 + NEW_EACH_SIDE * 2;
    let crm = crm_contacts(&app).await;
    assert_eq!(crm.len(), total, "CRM contacts");
    let crm_emails: HashSet<&str> = crm.iter().map(|f| f.email1.as_str()).collect();
    assert_eq!(crm_emails.len(), total, "no duplicate in the CRM");
    let items = sim.contacts(ALICE, "contacts");
    assert_eq!(items.len(), total, "Exchange items");
    let item_emails: HashSet<String> = items
        .iter()
        .filter_map(|i| i.data.email_addresses.get("EmailAddress1").cloned())
        .collect();
    assert_eq!(item_emails.len(), total, "no duplicate in Exchange");
    let stamps: HashSet<String> = items
        .iter()
        .filter_map(|i| {
            i.data
                .extended_properties
                .iter()
                .find(|p| p.uri.property_name.as_deref() == Some("CrmContactId"))
                .map(|p| p.value.clone())
        })
        .collect();
    assert_eq!(stamps.len(), total, "every item carries its own CRM id");

    // No lost edit, on either side.
    let by_email: HashMap<&str, &ContactFields> =
        crm.iter().map(|f| (f.email1.as_str(), f)).collect();
    for i in 0..EDITED {
        let f = by_email[format!("exbase{i}@ex.test").as_str()];
        assert_eq!(
            f.job_title,
            format!("ex-edit {i}"),
            "Exchange edit reached the CRM"
        );
    }
    for r in &crm_base {
        let item = items
            .iter()
            .find(|i| i.data.email_addresses.get("EmailAddress1") == Some(&r.fields.email1))
            .expect("exported");
        assert_eq!(
            item.data.job_title.as_deref(),
            Some(format!("crm-edit {}", r.fields.given_name).as_str())
        );
    }

    // And the next run plans zero writes.
    let req = RunRequest {
        run_id: Uuid::now_v7(),
        ..req
    };
    let report = contactsync::worker::run_mailbox(&app.engine(), &req, &Collect::default()).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert_eq!(report.counts.writes(), 0, "{report:?}");
}
