//! SPEC §5 "Rules that hold over weeks of use", each against the simulator (issue 10):
//! profile changes after the first runs, contacts that leave and re-enter the export
//! scope, derived values.
use serde_json::{Value, json};

use crate::sync_support::{ALICE, CUSTOMER, EMPLOYEE, World, person};

fn surnames(w: &World, folder: &str) -> Vec<String> {
    let mut v: Vec<String> = w
        .exchange(folder)
        .into_iter()
        .map(|i| i.data.surname.unwrap_or_default())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn with_import_off_a_crm_contact_is_matched_with_the_item_already_in_outlook() {
    let w = World::new().await;
    w.seed(
        "contacts",
        vec![person("Ann", "Lee", "ann@acme.test", None)],
    );
    w.create_crm(json!({"given_name": "Ann", "surname": "Lee", "email1": "ann@acme.test"}))
        .await;
    w.profile(json!({"export": {"enabled": true, "scope": "all"}}))
        .await;
    let counts = w.sync().await;
    assert_eq!(
        counts.exchange_created, 0,
        "matched, not created: {counts:?}"
    );
    assert_eq!(counts.linked, 1, "{counts:?}");
    w.assert_converged().await;
    assert_eq!(surnames(&w, "contacts"), ["Lee"]);
}

#[tokio::test]
async fn a_crm_contact_created_after_the_first_run_matches_an_unchanged_item() {
    let w = World::new().await;
    w.seed("contacts", vec![person("Bo", "Ek", "bo@x.test", None)]);
    w.profile(json!({"export": {"enabled": true, "scope": "all"}}))
        .await;
    w.sync().await;
    w.create_crm(json!({"given_name": "Bo", "surname": "Ek", "email1": "bo@x.test"}))
        .await;
    let counts = w.sync().await;
    assert_eq!(counts.exchange_created, 0, "{counts:?}");
    assert_eq!(surnames(&w, "contacts"), ["Ek"]);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_contact_leaving_the_export_scope_and_coming_back_is_linked_again() {
    let w = World::new().await;
    let c = w
        .create_crm(json!({"given_name": "Cy", "surname": "Po", "email1": "cy@y.test", "type_id": EMPLOYEE}))
        .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let employees =
        json!({"export": {"enabled": true, "scope": "specific", "contact_type_ids": [EMPLOYEE]}});
    w.profile(employees.clone()).await;
    assert_eq!(w.sync().await.exchange_created, 1);
    // Leaves the scope: the item stays (on_crm_delete = keep_in_exchange), unlinked.
    w.app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &w.token,
            json!({"type_id": CUSTOMER}),
        )
        .await;
    w.sync().await;
    // Comes back, edited meanwhile.
    w.app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &w.token,
            json!({"type_id": EMPLOYEE, "job_title": "Back"}),
        )
        .await;
    let counts = w.sync().await;
    assert_eq!(
        counts.exchange_created, 0,
        "never exported twice: {counts:?}"
    );
    let items = w.exchange("contacts");
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].data.job_title.as_deref(),
        Some("Back"),
        "syncs again"
    );
    w.assert_converged().await;
}

/// A contact back in the export scope whose old item cannot be read this run waits for
/// the next one: the item is elsewhere (the export target changed meanwhile), so neither
/// the target's listing nor a match by content would find it, and exporting the contact
/// would give it a second item.
#[tokio::test]
async fn a_contact_coming_back_whose_item_cannot_be_read_waits_and_is_never_exported_twice() {
    use contactsync::domain::run::{RunMode, RunStatus};
    let w = World::new().await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    let c = w
        .create_crm(json!({"given_name": "Di", "surname": "Wu", "email1": "di@y.test", "type_id": EMPLOYEE}))
        .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let export = |target: Option<&str>| json!({"export": {"enabled": true, "scope": "specific", "contact_type_ids": [EMPLOYEE], "target_folder_id": target}});
    w.profile(export(None)).await;
    assert_eq!(w.sync().await.exchange_created, 1);
    let item = w.exchange("contacts")[0].id.clone();
    let path = format!("/api/v1/contacts/{id}");
    w.app
        .patch(&path, &w.token, json!({"type_id": CUSTOMER}))
        .await;
    w.sync().await;
    w.profile(export(Some(&clients))).await;
    w.app
        .patch(
            &path,
            &w.token,
            json!({"type_id": EMPLOYEE, "job_title": "Back"}),
        )
        .await;
    w.sim.add_fault(
        serde_json::from_value(json!({"operation": "GetItem", "kind": "item_error", "item_ids": [item], "code": "ErrorCorruptData"})).unwrap(),
    );
    let (r, items) = w.run_with(RunMode::TwoWay, false, false).await;
    assert_eq!(r.status, RunStatus::PartiallyFailed, "{r:?} {items:#?}");
    assert_eq!(r.counts.exchange_created, 0, "{r:?}");
    assert_eq!(w.exchange("contacts").len() + w.exchange(&clients).len(), 1);
    w.sim.clear_faults();
    let counts = w.sync().await;
    assert_eq!(counts.exchange_created, 0, "{counts:?}");
    let items = [w.exchange("contacts"), w.exchange(&clients)].concat();
    assert_eq!(items.len(), 1, "never exported twice: {items:#?}");
    assert_eq!(items[0].data.job_title.as_deref(), Some("Back"));
    w.assert_converged().await;
}

/// A scope of contact types is compared in the database: a run looks at the contacts
/// that changed in or out of it, never at every linked contact nor at the contacts of
/// other types (most of a CRM, when the scope is "our employees").
#[tokio::test]
async fn a_scope_of_types_reads_what_changed_not_the_crm() {
    use contactsync::domain::Caller;
    use contactsync::store::sync_state::ScopeInSql;
    let w = World::new().await;
    let mut made = Vec::new();
    for (i, type_id) in [EMPLOYEE, EMPLOYEE, CUSTOMER, CUSTOMER, CUSTOMER]
        .into_iter()
        .enumerate()
    {
        let c = w
            .create_crm(json!({"given_name": format!("P{i}"), "surname": format!("S{i}"), "type_id": type_id}))
            .await;
        made.push(c["id"].as_str().unwrap().to_owned());
    }
    w.profile(
        json!({"export": {"enabled": true, "scope": "specific", "contact_type_ids": [EMPLOYEE]}}),
    )
    .await;
    assert_eq!(w.sync().await.exchange_created, 2);
    let owner = Caller {
        user_id: "alice".into(),
        is_admin: false,
    };
    let employees = [EMPLOYEE.parse().unwrap()];
    let moves = || async {
        let mut ids: Vec<String> = w
            .app
            .store
            .crm_moves(&owner, w.mailbox, ScopeInSql::Types(&employees), true)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id.to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(moves().await, Vec::<String>::new(), "nothing moved");
    let patch = |id: &str, body: Value| {
        let path = format!("/api/v1/contacts/{id}");
        let (app, token) = (&w.app, &w.token);
        async move { app.patch(&path, token, body).await }
    };
    // A customer edited is nothing to this mailbox; an employee edited is.
    patch(&made[2], json!({"job_title": "Buyer"})).await;
    patch(&made[0], json!({"job_title": "Lead"})).await;
    assert_eq!(moves().await, [made[0].clone()]);
    w.sync().await;
    assert_eq!(moves().await, Vec::<String>::new());
    // A customer who becomes an employee comes in; an employee who becomes a customer
    // leaves.
    patch(&made[3], json!({"type_id": EMPLOYEE})).await;
    patch(&made[1], json!({"type_id": CUSTOMER})).await;
    let mut both = vec![made[1].clone(), made[3].clone()];
    both.sort();
    assert_eq!(moves().await, both);
    let counts = w.sync().await;
    assert_eq!(counts.exchange_created, 1, "{counts:?}");
    assert_eq!(moves().await, Vec::<String>::new());
    let mut names: Vec<String> = w
        .exchange("contacts")
        .into_iter()
        .filter_map(|i| i.data.surname)
        .collect();
    names.sort();
    // S1 left the scope: its item stays, no longer synced (on_crm_delete keeps it).
    assert_eq!(names, ["S0", "S1", "S3"]);
    w.assert_converged().await;
}

#[tokio::test]
async fn switching_import_on_later_brings_in_what_was_already_in_outlook() {
    let w = World::new().await;
    w.seed("contacts", vec![person("Di", "Ro", "di@z.test", None)]);
    w.profile(json!({"export": {"enabled": true, "scope": "all"}}))
        .await;
    w.sync().await;
    assert!(w.crm_contacts().await.is_empty());
    w.profile(json!({"import": {"enabled": true, "scope": "all"},
                     "export": {"enabled": true, "scope": "all"}}))
        .await;
    let counts = w.sync().await;
    assert_eq!(counts.crm_created, 1, "{counts:?}");
    assert_eq!(w.crm_contacts().await[0]["surname"], "Ro");
    w.assert_converged().await;
}

#[tokio::test]
async fn full_name_follows_a_surname_changed_in_outlook() {
    let w = World::new().await;
    let ids = w.seed("contacts", vec![person("Ed", "Old", "ed@x.test", None)]);
    w.profile(json!({"import": {"enabled": true, "scope": "all"},
                     "export": {"enabled": true, "scope": "all"}}))
        .await;
    w.sync().await;
    assert_eq!(w.crm_contacts().await[0]["full_name"], "Ed Old");
    // Outlook's user changes the surname; the DisplayName stays as it was.
    w.edit(&ids[0], json!({"surname": "New"}));
    w.sync().await;
    let crm = w.crm_contacts().await;
    assert_eq!(crm[0]["surname"], "New");
    assert_eq!(crm[0]["full_name"], "Ed New");
    // And the new full name reaches Outlook's DisplayName.
    w.sync().await;
    let items = w.sim.contacts(ALICE, "contacts");
    assert_eq!(items[0].data.display_name.as_deref(), Some("Ed New"));
    w.assert_converged().await;
}

#[tokio::test]
async fn first_import_matches_a_contact_shared_with_the_owner_never_one_hidden_from_her() {
    let w = World::new().await;
    let bob = w.app.token("bob");
    // Bob's contacts carry the addresses of alice's Outlook items; one is shared with her.
    let shared = w
        .app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"given_name": "Sh", "surname": "Ared", "email1": "shared@x.test",
                   "grants": [{"user_id": "alice", "access": "edit"}]}),
        )
        .await;
    let hidden = w
        .app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"given_name": "Hi", "surname": "Dden", "email1": "hidden@x.test"}),
        )
        .await;
    w.seed(
        "contacts",
        vec![
            person("Sh", "Ared", "shared@x.test", None),
            person("Hi", "Dden", "hidden@x.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    let counts = w.sync().await;
    assert_eq!(
        counts.crm_created, 1,
        "only the hidden one's item is new to alice: {counts:?}"
    );
    let mine: Vec<String> = w
        .crm_contacts()
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(mine.len(), 2, "{mine:?}");
    assert!(mine.contains(&shared["id"].as_str().unwrap().to_owned()));
    assert!(!mine.contains(&hidden["id"].as_str().unwrap().to_owned()));
    w.assert_converged().await;
}

#[tokio::test]
async fn import_never_links_an_account_the_owner_cannot_see() {
    let w = World::new().await;
    let admin = w.app.admin_token("root");
    // The only "Hidden AG" belongs to bob and is not shared with alice.
    w.app
        .create(
            "/api/v1/accounts",
            &admin,
            json!({"name": "Hidden AG", "owner_id": "bob"}),
        )
        .await;
    w.seed(
        "contacts",
        vec![person("Fa", "Hu", "fa@x.test", Some("Hidden AG"))],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    w.sync().await;
    let crm = w.crm_contacts().await;
    assert_eq!(crm[0]["account_id"], serde_json::Value::Null);
    assert_eq!(crm[0]["company"], "Hidden AG");
    // And alice can edit the contact she got.
    let id = crm[0]["id"].as_str().unwrap();
    let r = w
        .app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &w.token,
            json!({"job_title": "Boss"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn values_the_crm_refuses_are_fitted_with_a_warning_and_never_written_back() {
    let w = World::new().await;
    let long_title = "t".repeat(300);
    let x500 = "/o=Org/ou=Exchange/cn=Recipients/cn=gi";
    let mut item = person("Gi", "Wo", x500, None);
    item["job_title"] = json!(long_title);
    w.seed("contacts", vec![item]);
    w.profile(json!({"import": {"enabled": true, "scope": "all"},
                     "export": {"enabled": true, "scope": "all"}}))
        .await;
    let (report, items) = w
        .run_with(contactsync::domain::run::RunMode::TwoWay, false, false)
        .await;
    assert_eq!(report.counts.crm_created, 1, "{report:?}");
    let created = items
        .iter()
        .find(|i| i.op == contactsync::domain::run::OpKind::CrmCreate)
        .unwrap();
    assert_eq!(created.code.as_deref(), Some("normalised"));
    assert!(
        created.message.as_deref().unwrap().contains("email1"),
        "{created:?}"
    );
    let crm = w.crm_contacts().await;
    assert_eq!(crm[0]["job_title"].as_str().unwrap().chars().count(), 250);
    assert_eq!(crm[0]["email1"], "");
    // The owner can edit the contact.
    let id = crm[0]["id"].as_str().unwrap();
    let r = w
        .app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &w.token,
            json!({"department": "Ops"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Outlook keeps its values: not rewritten from the fitted CRM values.
    w.sync().await;
    let ex = w.exchange("contacts");
    assert_eq!(ex[0].data.job_title.as_deref(), Some(long_title.as_str()));
    w.assert_converged().await;
    let ex = w.exchange("contacts");
    assert_eq!(ex[0].data.job_title.as_deref(), Some(long_title.as_str()));
}

#[tokio::test]
async fn a_deleted_import_folder_unlinks_its_pairs_and_the_run_succeeds() {
    let w = World::new().await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    w.seed(&clients, vec![person("Ha", "Ji", "ha@x.test", None)]);
    w.profile(
        json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [clients]},
                     "on_exchange_delete": "delete_in_crm"}),
    )
    .await;
    w.sync().await;
    assert_eq!(w.crm_contacts().await.len(), 1);
    w.sim
        .with_store(|s| {
            s.mailbox_mut(ALICE).unwrap().delete_folder(
                &ews_sim::store::FolderRef::Id(clients.clone()),
                ews_sim::store::DeleteType::HardDelete,
            )
        })
        .unwrap();
    let counts = w.sync().await;
    assert_eq!(counts.unlinked, 1, "{counts:?}");
    assert_eq!(counts.crm_deleted, 0, "never deleted in bulk: {counts:?}");
    assert_eq!(w.crm_contacts().await.len(), 1);
    let profile = w
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/contact-sync", w.mailbox),
            &w.token,
        )
        .await;
    assert_eq!(
        profile.body["import"]["folder_ids"],
        json!([]),
        "{}",
        profile.text
    );
    let notes = w.app.get("/api/v1/notifications", &w.token).await;
    assert!(
        notes.text.contains("exchange_folder_gone"),
        "{}",
        notes.text
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn a_crm_write_by_sync_is_conditional_on_the_version_it_read() {
    use contactsync::store::StoreError;
    use contactsync::store::sync_state::CrmWrite;
    let w = World::new().await;
    let c = w
        .create_crm(json!({"given_name": "Io", "surname": "Ka", "email1": "io@x.test"}))
        .await;
    let id: uuid::Uuid = c["id"].as_str().unwrap().parse().unwrap();
    let read = w
        .app
        .store
        .contacts_for_sync(&[id])
        .await
        .unwrap()
        .pop()
        .unwrap();
    // The user edits the contact while the run holds what it read.
    let r = w
        .app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &w.token,
            json!({"job_title": "User"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let mut fields = read.fields.clone();
    fields.job_title = "Sync".into();
    let out = w
        .app
        .store
        .apply_crm_writes(
            "alice",
            vec![CrmWrite::Update {
                id,
                fields,
                expected: Some(read.version),
            }],
        )
        .await
        .unwrap();
    assert!(
        matches!(out[0], Err(StoreError::PreconditionFailed { .. })),
        "{out:?}"
    );
    assert_eq!(w.crm_contact(&id.to_string()).await["job_title"], "User");
}

#[tokio::test]
async fn a_renamed_account_reaches_company_name() {
    let w = World::new().await;
    let acme = w
        .app
        .create("/api/v1/accounts", &w.token, json!({"name": "Acme"}))
        .await;
    w.create_crm(
        json!({"given_name": "Jo", "surname": "Lo", "email1": "jo@x.test",
                        "account_id": acme["id"]}),
    )
    .await;
    w.profile(json!({"export": {"enabled": true, "scope": "all"}}))
        .await;
    w.sync().await;
    assert_eq!(
        w.exchange("contacts")[0].data.company_name.as_deref(),
        Some("Acme")
    );
    let r = w
        .app
        .patch(
            &format!("/api/v1/accounts/{}", acme["id"].as_str().unwrap()),
            &w.token,
            json!({"name": "Acme Renamed"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let counts = w.sync().await;
    assert_eq!(counts.exchange_updated, 1, "{counts:?}");
    assert_eq!(
        w.exchange("contacts")[0].data.company_name.as_deref(),
        Some("Acme Renamed")
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn an_import_folder_moved_under_deleted_items_is_gone_and_nothing_is_deleted() {
    let w = World::new().await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    w.seed(&clients, vec![person("Ka", "Le", "ka@x.test", None)]);
    w.profile(
        json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [clients]},
                     "on_exchange_delete": "delete_in_crm"}),
    )
    .await;
    w.sync().await;
    w.sim
        .with_store(|s| {
            s.mailbox_mut(ALICE).unwrap().delete_folder(
                &ews_sim::store::FolderRef::Id(clients.clone()),
                ews_sim::store::DeleteType::MoveToDeletedItems,
            )
        })
        .unwrap();
    let folders = w
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/exchange-folders", w.mailbox),
            &w.token,
        )
        .await;
    assert!(!folders.text.contains(&clients), "{}", folders.text);
    let counts = w.sync().await;
    assert_eq!(counts.unlinked, 1, "{counts:?}");
    assert_eq!(counts.crm_deleted, 0, "{counts:?}");
    assert_eq!(w.crm_contacts().await.len(), 1);
    w.assert_converged().await;
}

#[tokio::test]
async fn a_failing_item_is_retried_after_its_feed_moved_on_and_given_up_after_five_runs() {
    use contactsync::domain::run::{RunMode, RunStatus};
    let w = World::new().await;
    let ids = w.seed("contacts", vec![person("Lu", "Ma", "lu@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}})).await;
    w.sim.add_fault(
        serde_json::from_value(json!({"operation": "GetItem", "kind": "item_error", "item_ids": [ids[0]], "code": "ErrorCorruptData"})).unwrap(),
    );
    // Five failed runs in a row: each reads the item again, though the feed moved on.
    for n in 1..=5 {
        let (r, items) = w.run_with(RunMode::TwoWay, false, false).await;
        assert_eq!(r.status, RunStatus::PartiallyFailed, "run {n}: {r:?}");
        assert!(
            items
                .iter()
                .any(|i| i.code.as_deref() == Some("ErrorCorruptData"))
        );
    }
    let notes = w.app.get("/api/v1/notifications", &w.token).await;
    assert!(notes.text.contains("items_given_up"), "{}", notes.text);
    // Given up: the next run leaves it alone.
    let (r, items) = w.run_with(RunMode::TwoWay, false, false).await;
    assert_eq!(r.status, RunStatus::Succeeded, "{r:?} {items:#?}");
    // A later change tries it again (and, healed, it is imported).
    w.sim.clear_faults();
    w.edit(&ids[0], json!({"job_title": "Fixed"}));
    let counts = w.sync().await;
    assert_eq!(counts.crm_created, 1, "{counts:?}");
    w.assert_converged().await;
}

/// An item of the export target that Exchange cannot give (corrupt) keeps new exports
/// waiting, since it may be the person's own item, but only until it is given up: it
/// failed every such run for good when it failed the target's listing.
#[tokio::test]
async fn a_corrupt_item_in_the_export_target_holds_exports_back_only_until_given_up() {
    use contactsync::domain::run::{RunMode, RunStatus};
    let w = World::new().await;
    let ids = w.seed("contacts", vec![person("Lu", "Ma", "lu@x.test", None)]);
    w.profile(json!({"export": {"enabled": true, "scope": "all"}}))
        .await;
    w.sim.add_fault(
        serde_json::from_value(json!({"operation": "GetItem", "kind": "item_error", "item_ids": [ids[0]], "code": "ErrorCorruptData"})).unwrap(),
    );
    w.create_crm(json!({"given_name": "Ann", "surname": "Lee", "email1": "ann@acme.test"}))
        .await;
    for n in 1..=5 {
        let (r, items) = w.run_with(RunMode::TwoWay, false, false).await;
        assert_eq!(
            r.status,
            RunStatus::PartiallyFailed,
            "run {n}: {r:?} {items:#?}"
        );
        assert_eq!(r.counts.exchange_created, 0, "run {n}: {r:?}");
        assert_eq!(r.counts.deferred, 1, "Ann waits, and says so: {r:?}");
        assert!(
            items
                .iter()
                .any(|i| i.code.as_deref() == Some("ErrorCorruptData")),
            "run {n}: {items:#?}"
        );
    }
    let (r, items) = w.run_with(RunMode::TwoWay, false, false).await;
    assert_eq!(r.status, RunStatus::Succeeded, "{r:?} {items:#?}");
    assert_eq!(r.counts.exchange_created, 1, "{r:?}");
    assert_eq!(r.counts.deferred, 0, "{r:?}");
    w.sim.clear_faults();
    let counts = w.sync().await;
    assert_eq!(counts.exchange_created, 0, "{counts:?}");
    assert_eq!(surnames(&w, "contacts"), ["Lee", "Ma"]);
}

/// Starts a run through the HTTP API and executes it with a queue worker; answers the run
/// and its items as the API returns them.
async fn run_through_the_api(w: &World, body: serde_json::Value) -> (Value, Vec<Value>) {
    use contactsync::worker::clock::SystemClock;
    use contactsync::worker::queue::Outcome;
    let r = w
        .app
        .post(
            &format!("/api/v1/mailboxes/{}/contact-sync/runs", w.mailbox),
            &w.token,
            body,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let worker = w.app.worker(
        "preview",
        std::sync::Arc::new(SystemClock),
        chrono::Duration::seconds(60),
    );
    assert!(matches!(
        worker.try_execute_one().await.unwrap(),
        Outcome::Finished { .. }
    ));
    let run = w
        .app
        .get(&format!("/api/v1/contact-sync/runs/{id}"), &w.token)
        .await
        .body;
    let items = w
        .app
        .list_all(&format!("/api/v1/contact-sync/runs/{id}/items"), &w.token)
        .await;
    (run, items)
}

#[tokio::test]
async fn a_dry_run_previews_an_unsaved_profile_and_writes_nothing() {
    let w = World::new().await;
    let work = w
        .sim
        .create_folder(ALICE, "contacts", "Work", Some("IPF.Contact"))
        .unwrap();
    w.create_crm(json!({"given_name": "Di", "surname": "Ray", "email1": "di@x.test"}))
        .await;
    w.seed(&work, vec![person("Ed", "Fox", "ed@x.test", None)]);
    let saved = json!({"import": {"enabled": false}, "export": {"enabled": false}});
    w.profile(saved).await;
    let saved_before = w
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/contact-sync", w.mailbox),
            &w.token,
        )
        .await;

    let key_before = w.exchange(&work)[0].change_key.clone();
    // What saving "both ways, import from Work" would do.
    let preview = json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [work]},
                         "export": {"enabled": true}});
    let (run, items) =
        run_through_the_api(&w, json!({"dry_run": true, "profile": preview.clone()})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        run["profile"]["import"]["folder_ids"],
        json!([work]),
        "{run}"
    );
    assert_eq!(run["counts"]["crm_created"], 1, "{run}");
    assert_eq!(run["counts"]["exchange_created"], 1, "{run}");
    assert!(items.iter().all(|i| i["outcome"] == "planned"), "{items:?}");
    let ops: Vec<&str> = items.iter().map(|i| i["op"].as_str().unwrap()).collect();
    assert!(
        ops.contains(&"crm_create") && ops.contains(&"exchange_create"),
        "{ops:?}"
    );

    // Nothing written on either side, the saved profile untouched.
    assert_eq!(w.crm_contacts().await.len(), 1);
    assert_eq!(w.exchange("contacts").len(), 0);
    assert_eq!(w.exchange(&work).len(), 1);
    assert_eq!(
        w.exchange(&work)[0].change_key,
        key_before,
        "not even stamped"
    );
    let saved_after = w
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/contact-sync", w.mailbox),
            &w.token,
        )
        .await;
    assert_eq!(saved_after.body, saved_before.body);
    assert_eq!(saved_after.header("etag"), saved_before.header("etag"));

    // A run without a preview plans against the saved profile: nothing enabled.
    let (run, items) = run_through_the_api(&w, json!({"dry_run": true})).await;
    assert_eq!(run["profile"], serde_json::Value::Null);
    assert!(items.is_empty(), "{items:?}");

    // Once saved, the real run does what the preview showed.
    w.profile(preview).await;
    let counts = w.sync().await;
    assert_eq!((counts.crm_created, counts.exchange_created), (1, 1));
    w.assert_converged().await;
}

#[tokio::test]
async fn an_unsaved_profile_is_checked_like_a_profile_save() {
    let w = World::new().await;
    let path = format!("/api/v1/mailboxes/{}/contact-sync/runs", w.mailbox);
    let field_of = |r: &crate::support::Resp| -> Vec<String> {
        r.body["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["field"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Only a dry run previews a profile.
    let r = w
        .app
        .post(
            &path,
            &w.token,
            json!({"profile": {"export": {"enabled": true}}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(field_of(&r), ["profile"]);
    // Its rules, its CRM references and its Exchange folder ids, each named.
    let r = w
        .app
        .post(
            &path,
            &w.token,
            json!({"dry_run": true, "profile": {
                "auto_sync": {"enabled": true, "interval_minutes": 1},
                "export": {"enabled": true, "scope": "specific",
                           "contact_type_ids": ["00000000-0000-7000-8000-00000000ffff"],
                           "target_folder_id": "no-such-folder"}}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let mut fields = field_of(&r);
    fields.sort();
    assert_eq!(
        fields,
        [
            "profile.auto_sync.interval_minutes",
            "profile.export.contact_type_ids[0]",
            "profile.export.target_folder_id"
        ],
        "{}",
        r.text
    );
    // An unknown setting is refused by name, as in a save.
    let r = w
        .app
        .post(
            &path,
            &w.token,
            json!({"dry_run": true, "profile": {"exprot": {}}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("exprot"), "{}", r.text);
    // Previews are per mailbox.
    let r = w
        .app
        .post(
            "/api/v1/contact-sync/runs",
            &w.token,
            json!({"dry_run": true, "profile": {}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(field_of(&r), ["profile"]);
    // Nothing was queued by any of these.
    let runs = w.app.list_all("/api/v1/contact-sync/runs", &w.token).await;
    assert!(runs.is_empty(), "{runs:?}");
}

#[tokio::test]
async fn a_deleted_export_target_falls_back_to_contacts_and_the_run_succeeds() {
    let w = World::new().await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    w.create_crm(json!({"given_name": "Io", "surname": "Ka", "email1": "io@x.test"}))
        .await;
    w.profile(json!({"export": {"enabled": true, "target_folder_id": clients}}))
        .await;
    assert_eq!(w.sync().await.exchange_created, 1);
    w.sim
        .with_store(|s| {
            s.mailbox_mut(ALICE).unwrap().delete_folder(
                &ews_sim::store::FolderRef::Id(clients.clone()),
                ews_sim::store::DeleteType::HardDelete,
            )
        })
        .unwrap();
    w.create_crm(json!({"given_name": "Jo", "surname": "La", "email1": "jo@x.test"}))
        .await;
    // The run succeeds: the old pair unlinked (never deleted), the new contact exported to
    // the Contacts folder, the profile no longer names the gone folder.
    let counts = w.sync().await;
    assert_eq!(counts.unlinked, 1, "{counts:?}");
    assert_eq!(counts.exchange_created, 1, "{counts:?}");
    assert_eq!(counts.crm_deleted, 0, "{counts:?}");
    assert_eq!(surnames(&w, "contacts"), ["La"]);
    assert_eq!(w.crm_contacts().await.len(), 2);
    let profile = w
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/contact-sync", w.mailbox),
            &w.token,
        )
        .await;
    assert_eq!(
        profile.body["export"]["target_folder_id"],
        Value::Null,
        "{}",
        profile.text
    );
    w.assert_converged().await;
}

#[tokio::test]
async fn an_administrators_mailbox_exports_every_users_contacts_and_follows_their_edits_and_purges()
{
    let w = World::new().await;
    let bob = w.app.token("bob");
    let bo = w
        .app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"given_name": "Bo", "surname": "Bee", "email1": "bo@b.test"}),
        )
        .await;
    let cy = w
        .app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"given_name": "Cy", "surname": "Sea", "email1": "cy@b.test"}),
        )
        .await;
    w.profile(json!({"export": {"enabled": true, "scope": "all"},
                     "on_crm_delete": "delete_in_exchange"}))
        .await;
    // Alice's role is the one her last request carried: from now on, an administrator,
    // who sees every user's contacts.
    let admin = w.app.admin_token("alice");
    let all = w.app.list_all("/api/v1/contacts", &admin).await;
    assert_eq!(all.len(), 2);
    let counts = w.sync().await;
    assert_eq!(counts.exchange_created, 2, "{counts:?}");
    assert_eq!(surnames(&w, "contacts"), ["Bee", "Sea"]);
    w.assert_converged().await;

    // Bob edits one and deletes the other, whose tombstone is then purged before the next
    // run: the edit goes out, and the purged contact's item goes as a deletion would.
    let bo_id = bo["id"].as_str().unwrap();
    let r = w
        .app
        .patch(
            &format!("/api/v1/contacts/{bo_id}"),
            &bob,
            json!({"surname": "Bee-Edited"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cy_id = cy["id"].as_str().unwrap();
    let r = w
        .app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/contacts/{cy_id}"),
            Some(&bob),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let purged = w
        .app
        .store
        .purge_tombstones(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let counts = w.sync().await;
    assert_eq!(counts.exchange_updated, 1, "{counts:?}");
    assert_eq!(counts.exchange_deleted, 1, "{counts:?}");
    assert_eq!(surnames(&w, "contacts"), ["Bee-Edited"]);
    w.assert_converged().await;
}

/// A run with nothing to do skips comparing every contact with its link while nothing
/// that comparison reads has changed; each kind of change it reads brings it back: a
/// contact shared with everyone, a CRM folder's members, a renamed account, an unshare,
/// a profile saved.
#[tokio::test]
async fn a_quiet_run_skips_the_comparison_until_something_it_reads_changes() {
    let w = World::new().await;
    let bob = w.app.token("bob");
    let acme = w
        .app
        .create("/api/v1/accounts", &bob, json!({"name": "Acme"}))
        .await;
    let bo = w
        .app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"given_name": "Bo", "surname": "Bee", "email1": "bo@b.test",
                   "account_id": acme["id"]}),
        )
        .await;
    let bo_id = bo["id"].as_str().unwrap();
    let al = w
        .create_crm(json!({"given_name": "Al", "surname": "Ay", "email1": "al@a.test"}))
        .await;
    let folder = w
        .app
        .create(
            "/api/v1/contact-folders",
            &w.token,
            json!({"name": "Export", "kind": "static"}),
        )
        .await;
    let members = format!(
        "/api/v1/contact-folders/{}/members",
        folder["id"].as_str().unwrap()
    );
    let r = w
        .app
        .post(&members, &w.token, json!({"contact_ids": [al["id"]]}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    w.profile(json!({"export": {"enabled": true, "scope": "specific",
                                "folder_ids": [folder["id"]]},
                     "on_crm_delete": "delete_in_exchange"}))
        .await;
    w.sync().await;
    assert_eq!(surnames(&w, "contacts"), ["Ay"]);
    assert_eq!(w.crm_mark().await, None, "a run that wrote leaves no mark");
    w.assert_converged().await;
    let mark = w
        .crm_mark()
        .await
        .expect("a comparison that found nothing is marked");
    w.assert_converged().await;
    assert_eq!(
        w.crm_mark().await.as_ref(),
        Some(&mark),
        "a skipped comparison keeps its mark"
    );

    // Bob shares his contact with everyone: alice sees it, but it is in no folder of hers.
    let r = w
        .app
        .patch(
            &format!("/api/v1/contacts/{bo_id}"),
            &bob,
            json!({"grants": [{"user_id": "*", "access": "read"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    w.assert_converged().await;
    assert_ne!(
        w.crm_mark().await.as_ref(),
        Some(&mark),
        "the share moved alice's view"
    );

    // Alice puts it in her export folder: it goes out.
    let r = w
        .app
        .post(&members, &w.token, json!({"contact_ids": [bo_id]}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let counts = w.sync().await;
    assert_eq!(counts.exchange_created, 1, "{counts:?}");
    assert_eq!(surnames(&w, "contacts"), ["Ay", "Bee"]);
    w.assert_converged().await;
    assert!(w.crm_mark().await.is_some());

    // Bob renames the account: the company of its contact follows, in Outlook too.
    let r = w
        .app
        .patch(
            &format!("/api/v1/accounts/{}", acme["id"].as_str().unwrap()),
            &bob,
            json!({"name": "Acme Two"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let counts = w.sync().await;
    assert_eq!(counts.exchange_updated, 1, "{counts:?}");
    let companies: Vec<Option<String>> = w
        .exchange("contacts")
        .into_iter()
        .map(|i| i.data.company_name)
        .collect();
    assert!(
        companies.contains(&Some("Acme Two".into())),
        "{companies:?}"
    );
    w.assert_converged().await;

    // Bob stops sharing it: it leaves alice's view, and her Outlook.
    let r = w
        .app
        .patch(
            &format!("/api/v1/contacts/{bo_id}"),
            &bob,
            json!({"grants": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let counts = w.sync().await;
    assert_eq!(counts.exchange_deleted, 1, "{counts:?}");
    assert_eq!(surnames(&w, "contacts"), ["Ay"]);
    w.assert_converged().await;

    // A profile saved removes the mark: the next run compares again.
    assert!(w.crm_mark().await.is_some());
    w.profile(json!({"export": {"enabled": true, "scope": "all"},
                     "on_crm_delete": "delete_in_exchange"}))
        .await;
    assert_eq!(w.crm_mark().await, None);
    w.assert_converged().await;
    assert!(w.crm_mark().await.is_some());
}
