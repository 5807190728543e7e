//! The sync engine against the simulator: the seed's scenarios (issue 6), each over EWS
//! and over Microsoft Graph (`name::ews`, `name::graph`).
use serde_json::json;

use crate::over_both_transports;
use crate::sync_support::{
    ALICE, CUSTOMER, EMPLOYEE, Failure, ItemOp, Proto, World, graph_json, person,
};

async fn import_all_folders_then_converge(p: Proto) {
    let w = World::on(p).await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    w.seed(
        "contacts",
        vec![
            person("Ann", "Lee", "ann@acme.test", Some("Acme")),
            person("Bo", "Ek", "bo@x.test", None),
        ],
    );
    w.seed(&clients, vec![person("Cy", "Po", "cy@y.test", None)]);
    w.profile(json!({"import": {"enabled": true, "scope": "all"}}))
        .await;
    let counts = w.sync().await;
    assert_eq!(counts.crm_created, 3, "{counts:?}");
    let crm = w.crm_contacts().await;
    let mut names: Vec<_> = crm
        .iter()
        .map(|c| c["full_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["Ann Lee", "Bo Ek", "Cy Po"]);
    assert!(crm.iter().all(|c| c["owner_id"] == "alice"));
    let ann = crm.iter().find(|c| c["full_name"] == "Ann Lee").unwrap();
    assert_eq!(ann["email1"], "ann@acme.test");
    assert_eq!(ann["company"], "Acme");
    // Over Graph (immutable ids) the import leaves the stamps to the next run.
    let stamped = |w: &World| {
        w.exchange("contacts")
            .iter()
            .filter(|i| !i.data.extended_properties.is_empty())
            .count()
    };
    let here = w.exchange("contacts").len();
    assert_eq!(stamped(&w), if p == Proto::Graph { 0 } else { here });
    w.assert_converged().await;
    // Every imported item carries its CRM id.
    assert_eq!(stamped(&w), here);
    w.assert_converged().await;
}

async fn import_from_chosen_folders_only(p: Proto) {
    let w = World::on(p).await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    let other = w
        .sim
        .create_folder(ALICE, "contacts", "Other", Some("IPF.Contact"))
        .unwrap();
    w.seed("contacts", vec![person("Not", "Me", "n@x.test", None)]);
    w.seed(&clients, vec![person("Yes", "Me", "y@x.test", None)]);
    w.seed(&other, vec![person("Nope", "Me", "np@x.test", None)]);
    w.profile(json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [w.folder(&clients)]}}))
        .await;
    assert_eq!(w.sync().await.crm_created, 1);
    let crm = w.crm_contacts().await;
    assert_eq!(crm.len(), 1);
    assert_eq!(crm[0]["full_name"], "Yes Me");
    w.assert_converged().await;
}

async fn account_linking_by_company_name(p: Proto) {
    let w = World::on(p).await;
    let admin = w.app.admin_token("root");
    let one = w
        .app
        .create("/api/v1/accounts", &w.token, json!({"name": "Solo Corp"}))
        .await;
    // Two "Twin Ltd": alice sees exactly one of them.
    let twin_mine = w
        .app
        .create("/api/v1/accounts", &w.token, json!({"name": "Twin Ltd"}))
        .await;
    w.app
        .create(
            "/api/v1/accounts",
            &admin,
            json!({"name": "twin ltd ", "owner_id": "bob"}),
        )
        .await;
    // Two "Many Inc" alice can see: ambiguous.
    w.app
        .create("/api/v1/accounts", &w.token, json!({"name": "Many Inc"}))
        .await;
    w.app
        .create("/api/v1/accounts", &w.token, json!({"name": "MANY INC"}))
        .await;
    w.seed(
        "contacts",
        vec![
            person("A", "One", "a@x.test", Some(" solo corp ")),
            person("B", "Two", "b@x.test", Some("Twin Ltd")),
            person("C", "Three", "c@x.test", Some("Many Inc")),
            person("D", "Four", "d@x.test", Some("Nobody GmbH")),
        ],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    w.sync().await;
    let crm = w.crm_contacts().await;
    let by = |n: &str| crm.iter().find(|c| c["full_name"] == n).unwrap().clone();
    assert_eq!(by("A One")["account_id"], one["id"]);
    assert_eq!(by("B Two")["account_id"], twin_mine["id"]);
    assert_eq!(by("C Three")["account_id"], serde_json::Value::Null);
    assert_eq!(by("C Three")["company"], "Many Inc");
    assert_eq!(by("D Four")["account_id"], serde_json::Value::Null);
    assert_eq!(by("D Four")["company"], "Nobody GmbH");
}

async fn export_all_visible_never_what_the_owner_cannot_see(p: Proto) {
    let w = World::on(p).await;
    let bob = w.app.token("bob");
    let acme = w
        .app
        .create("/api/v1/accounts", &w.token, json!({"name": "Acme"}))
        .await;
    w.create_crm(json!({"given_name": "Ann", "surname": "Lee", "email1": "ann@acme.test", "account_id": acme["id"],
        "job_title": "CTO", "birthday": "1980-02-29", "salutation": "Dr.", "gender": "female",
        "business_address": {"street": "1 Main", "city": "Oslo", "postal_code": "0150", "country": "Norway"}}))
        .await;
    w.app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"full_name": "Bob Private", "email1": "p@bob.test"}),
        )
        .await;
    w.app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"full_name": "Bob Shared", "grants": [{"user_id": "alice", "access": "read"}]}),
        )
        .await;
    w.profile(json!({"export": {"enabled": true, "scope": "all"}}))
        .await;
    let counts = w.sync().await;
    assert_eq!(counts.exchange_created, 2, "{counts:?}");
    let items = w.exchange("contacts");
    let mut names: Vec<_> = items
        .iter()
        .map(|i| i.data.display_name.clone().unwrap_or_default())
        .collect();
    names.sort();
    assert_eq!(names, ["Ann Lee", "Bob Shared"]);
    let ann = items
        .iter()
        .find(|i| i.data.display_name.as_deref() == Some("Ann Lee"))
        .unwrap();
    assert_eq!(ann.data.company_name.as_deref(), Some("Acme"));
    assert_eq!(ann.data.job_title.as_deref(), Some("CTO"));
    assert_eq!(
        ann.data
            .email_addresses
            .get("EmailAddress1")
            .map(String::as_str),
        Some("ann@acme.test")
    );
    assert!(
        ann.data
            .birthday
            .as_deref()
            .is_some_and(|b| b.starts_with("1980-02-29")),
        "{:?}",
        ann.data.birthday
    );
    assert_eq!(
        ann.data
            .physical_addresses
            .get("Business")
            .and_then(|a| a.city.clone())
            .as_deref(),
        Some("Oslo")
    );
    assert_eq!(
        ann.data.extended_properties.len(),
        3,
        "CrmContactId, salutation, gender: {:?}",
        ann.data.extended_properties
    );
    w.assert_converged().await;
}

async fn exported_names(w: &World) -> Vec<String> {
    let mut names: Vec<_> = w
        .exchange("contacts")
        .iter()
        .map(|i| i.data.display_name.clone().unwrap_or_default())
        .collect();
    names.sort();
    names
}

async fn export_by_contact_type_and_folder(p: Proto) {
    for (scope, expected) in [
        (json!({"contact_type_ids": [EMPLOYEE]}), vec!["Emp"]),
        (json!({"contact_type_ids": [CUSTOMER]}), vec!["Cust"]),
        (json!({"folder_ids": ["FOLDER"]}), vec!["InFolder"]),
        (
            json!({"contact_type_ids": [EMPLOYEE, CUSTOMER], "folder_ids": ["FOLDER"]}),
            vec!["Cust", "Emp", "InFolder"],
        ),
    ] {
        let w = World::on(p).await;
        w.create_crm(json!({"full_name": "Emp", "type_id": EMPLOYEE}))
            .await;
        w.create_crm(json!({"full_name": "Cust", "type_id": CUSTOMER}))
            .await;
        w.create_crm(json!({"full_name": "Plain"})).await;
        let in_folder = w.create_crm(json!({"full_name": "InFolder"})).await;
        let folder = w
            .app
            .create(
                "/api/v1/contact-folders",
                &w.token,
                json!({"name": "Employees", "kind": "static"}),
            )
            .await;
        let fid = folder["id"].as_str().unwrap();
        w.app
            .post(
                &format!("/api/v1/contact-folders/{fid}/members"),
                &w.token,
                json!({"contact_ids": [in_folder["id"]]}),
            )
            .await;
        let scope =
            serde_json::from_str::<serde_json::Value>(&scope.to_string().replace("FOLDER", fid))
                .unwrap();
        let mut export = json!({"enabled": true, "scope": "specific"});
        export
            .as_object_mut()
            .unwrap()
            .extend(scope.as_object().unwrap().clone());
        w.profile(json!({"export": export})).await;
        w.sync().await;
        assert_eq!(exported_names(&w).await, expected, "scope {scope}");
        w.assert_converged().await;
    }
}

async fn dynamic_folder_scope_and_leaving_it(p: Proto) {
    let w = World::on(p).await;
    let keep = w
        .create_crm(json!({"full_name": "Keeps Mail", "email1": "k@x.test"}))
        .await;
    let leaves = w
        .create_crm(json!({"full_name": "Loses Mail", "email1": "l@x.test"}))
        .await;
    w.create_crm(json!({"full_name": "No Mail"})).await;
    let folder = w
        .app
        .create(
            "/api/v1/contact-folders",
            &w.token,
            json!({"name": "With mail", "kind": "dynamic", "filter": {"has_email": true}}),
        )
        .await;
    w.profile(
        json!({"export": {"enabled": true, "scope": "specific", "folder_ids": [folder["id"]]},
                     "on_crm_delete": "delete_in_exchange"}),
    )
    .await;
    w.sync().await;
    assert_eq!(exported_names(&w).await, ["Keeps Mail", "Loses Mail"]);
    w.app
        .patch(
            &format!("/api/v1/contacts/{}", leaves["id"].as_str().unwrap()),
            &w.token,
            json!({"email1": ""}),
        )
        .await;
    let counts = w.sync().await;
    assert_eq!(counts.exchange_deleted, 1, "left the scope: {counts:?}");
    assert_eq!(exported_names(&w).await, ["Keeps Mail"]);
    assert_eq!(
        w.crm_contact(keep["id"].as_str().unwrap()).await["full_name"],
        "Keeps Mail"
    );
    w.assert_converged().await;
}

async fn two_way_edits_flow_each_way(p: Proto) {
    let w = World::on(p).await;
    let c = w.create_crm(json!({"given_name": "Ann", "surname": "Lee", "email1": "ann@x.test", "job_title": "Dev"})).await;
    let ids = w.seed("contacts", vec![person("Bo", "Ek", "bo@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    w.sync().await;
    w.assert_converged().await;
    // CRM edit → Exchange.
    let cid = c["id"].as_str().unwrap();
    w.app
        .patch(
            &format!("/api/v1/contacts/{cid}"),
            &w.token,
            json!({"job_title": "CTO", "mobile_phone": "+47 99"}),
        )
        .await;
    let counts = w.sync().await;
    assert_eq!(counts.exchange_updated, 1, "{counts:?}");
    let ann = w
        .exchange("contacts")
        .into_iter()
        .find(|i| i.data.display_name.as_deref() == Some("Ann Lee"))
        .unwrap();
    assert_eq!(ann.data.job_title.as_deref(), Some("CTO"));
    assert_eq!(
        ann.data
            .phone_numbers
            .get("MobilePhone")
            .map(String::as_str),
        Some("+47 99")
    );
    // Exchange edit → CRM (and clearing a field clears it).
    w.edit(&ids[0], json!({"job_title": "Buyer"}));
    w.edit(
        &ann.id,
        json!({"surname": "Lee-Berg", "display_name": "Ann Lee-Berg"}),
    );
    let counts = w.sync().await;
    assert_eq!(counts.crm_updated, 2, "{counts:?}");
    let crm = w.crm_contacts().await;
    assert!(
        crm.iter()
            .any(|c| c["full_name"] == "Bo Ek" && c["job_title"] == "Buyer")
    );
    let ann_crm = w.crm_contact(cid).await;
    assert_eq!(ann_crm["surname"], "Lee-Berg");
    w.app
        .patch(
            &format!("/api/v1/contacts/{cid}"),
            &w.token,
            json!({"mobile_phone": ""}),
        )
        .await;
    w.sync().await;
    let ann = w.sim.contact(ALICE, &ann.id).unwrap();
    assert_eq!(
        ann.data.phone_numbers.get("MobilePhone"),
        None,
        "cleared in Exchange"
    );
    w.assert_converged().await;
}

/// A synced pair: alice's CRM contact "Ann Lee" and its Exchange item.
async fn synced_pair(w: &World, profile: serde_json::Value) -> (String, String) {
    let c = w.create_crm(json!({"given_name": "Ann", "surname": "Lee", "email1": "ann@x.test", "job_title": "Dev"})).await;
    w.profile(profile).await;
    w.sync().await;
    let item = w.exchange("contacts").pop().expect("exported");
    (c["id"].as_str().unwrap().to_owned(), item.id)
}

async fn conflicts_follow_the_policy_and_merge_other_fields(p: Proto) {
    for (policy, crm_first, expected) in [
        ("crm_wins", false, "CRM title"),
        ("exchange_wins", true, "EX title"),
        ("newest_wins", true, "EX title"),
        ("newest_wins", false, "CRM title"),
    ] {
        let w = World::on(p).await;
        let (cid, item) =
            synced_pair(&w, json!({"import": {"enabled": true}, "export": {"enabled": true}, "conflict_policy": policy})).await;
        let path = format!("/api/v1/contacts/{cid}");
        let crm_edit = || {
            w.app.patch(
                &path,
                &w.token,
                json!({"job_title": "CRM title", "home_phone": "+1 1"}),
            )
        };
        if crm_first {
            crm_edit().await;
            // Exchange keeps LastModifiedTime to the second.
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            w.edit(
                &item,
                json!({"job_title": "EX title", "company_name": "Ex Co"}),
            );
        } else {
            w.edit(
                &item,
                json!({"job_title": "EX title", "company_name": "Ex Co"}),
            );
            // Exchange keeps LastModifiedTime to the second.
            tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
            crm_edit().await;
        }
        w.sync().await;
        let crm = w.crm_contact(&cid).await;
        let ex = w.sim.contact(ALICE, &item).unwrap();
        assert_eq!(crm["job_title"], expected, "{policy} crm_first={crm_first}");
        assert_eq!(
            ex.data.job_title.as_deref(),
            Some(expected),
            "{policy} crm_first={crm_first}"
        );
        // Fields changed on one side only merge whatever the policy.
        assert_eq!(crm["company"], "Ex Co");
        assert_eq!(
            ex.data.phone_numbers.get("HomePhone").map(String::as_str),
            Some("+1 1")
        );
        w.assert_converged().await;
    }
}

async fn deletes_follow_each_policy(p: Proto) {
    // Deleted in Exchange: unlink keeps the CRM contact; delete_in_crm tombstones it.
    for (policy, crm_kept) in [("unlink", true), ("delete_in_crm", false)] {
        let w = World::on(p).await;
        let (cid, item) = synced_pair(&w, json!({"import": {"enabled": true}, "export": {"enabled": true}, "on_exchange_delete": policy})).await;
        w.sim.delete_contact(ALICE, &item).unwrap();
        let counts = w.sync().await;
        let got = w
            .app
            .get(&format!("/api/v1/contacts/{cid}"), &w.token)
            .await;
        assert_eq!(got.status == 200, crm_kept, "{policy}: {counts:?}");
        if !crm_kept {
            assert_eq!(counts.crm_deleted, 1);
            // Nothing is lost: the run recorded the values it deleted.
        }
        // An unlinked contact is not exported again.
        w.assert_converged().await;
        assert!(w.exchange("contacts").is_empty(), "{policy}");
    }
    // Deleted in the CRM: keep_in_exchange leaves the item; delete_in_exchange removes it.
    for (policy, item_kept) in [("keep_in_exchange", true), ("delete_in_exchange", false)] {
        let w = World::on(p).await;
        let (cid, item) = synced_pair(&w, json!({"import": {"enabled": true}, "export": {"enabled": true}, "on_crm_delete": policy})).await;
        assert_eq!(
            w.app
                .delete(&format!("/api/v1/contacts/{cid}"), &w.token)
                .await
                .status,
            204
        );
        w.sync().await;
        assert_eq!(w.sim.contact(ALICE, &item).is_some(), item_kept, "{policy}");
        w.assert_converged().await;
        assert!(
            w.crm_contacts().await.is_empty(),
            "{policy}: the kept item is not imported back"
        );
    }
}

async fn crm_writes_keep_the_values_they_replaced_in_the_run_record(p: Proto) {
    let w = World::on(p).await;
    let (cid, item) = synced_pair(&w, json!({"import": {"enabled": true}, "export": {"enabled": true}, "on_exchange_delete": "delete_in_crm"})).await;
    // An update keeps only what it overwrote; the rest is still on the contact.
    w.edit(&item, json!({"job_title": "Lead"}));
    let (report, items) = w
        .run_with(contactsync::domain::run::RunMode::TwoWay, false, false)
        .await;
    assert_eq!(report.counts.crm_updated, 1);
    let updated = items
        .iter()
        .find(|i| i.op == contactsync::domain::run::OpKind::CrmUpdate)
        .expect("recorded");
    assert_eq!(updated.before, Some(json!({"job_title": "Dev"})));
    // A deletion keeps the whole contact.
    let item = w.sim.contact(ALICE, &item).expect("still there").id;
    w.sim.delete_contact(ALICE, &item).unwrap();
    let (report, items) = w
        .run_with(contactsync::domain::run::RunMode::TwoWay, false, false)
        .await;
    assert_eq!(report.counts.crm_deleted, 1);
    let deleted = items
        .iter()
        .find(|i| i.op == contactsync::domain::run::OpKind::CrmDelete)
        .expect("recorded");
    assert_eq!(deleted.crm_id.map(|u| u.to_string()), Some(cid));
    let before = deleted.before.as_ref().expect("previous values kept");
    assert_eq!(before["job_title"], "Lead");
    assert_eq!(before["email1"], "ann@x.test");
}

async fn first_sync_against_the_same_people_creates_no_duplicates(p: Proto) {
    let w = World::on(p).await;
    w.create_crm(
        json!({"given_name": "Ann", "surname": "Lee", "email1": "ANN@x.test", "job_title": "Dev"}),
    )
    .await;
    w.create_crm(json!({"full_name": "Bo Ek", "company": "Ek AB"}))
        .await;
    w.create_crm(json!({"full_name": "Only Crm", "email1": "only@crm.test"}))
        .await;
    w.seed(
        "contacts",
        vec![
            json!({"display_name": "Ann Lee", "given_name": "Ann", "surname": "Lee", "email_addresses": {"EmailAddress2": "ann@x.test"}, "department": "R&D"}),
            json!({"display_name": "Bo Ek", "company_name": "ek ab", "job_title": "Boss"}),
            person("Only", "Exchange", "only@ex.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    let counts = w.sync().await;
    assert_eq!(counts.linked, 2, "{counts:?}");
    assert_eq!(counts.crm_created, 1);
    assert_eq!(counts.exchange_created, 1);
    assert_eq!(w.crm_contacts().await.len(), 4);
    assert_eq!(w.exchange("contacts").len(), 4);
    let bo = w
        .crm_contacts()
        .await
        .into_iter()
        .find(|c| c["full_name"] == "Bo Ek")
        .unwrap();
    assert_eq!(bo["job_title"], "Boss", "matched pairs merge");
    w.assert_converged().await;
}

/// Candidates are looked up in the database by e-mail and full name; values beyond
/// ASCII (which SQL folds differently from Rust) and names saved without a full name
/// still match, and nothing else of the owner's CRM is read for them.
async fn import_matches_names_and_addresses_beyond_ascii_in_any_case(p: Proto) {
    let w = World::on(p).await;
    w.create_crm(json!({"given_name": "Åse", "surname": "Ærø", "company": "Fjord AS"}))
        .await;
    w.create_crm(json!({"full_name": "Zoë Ng", "email1": "ZOË@Example.test"}))
        .await;
    w.create_crm(json!({"full_name": "Pat Kim", "email1": "  PAT@x.test "}))
        .await;
    w.create_crm(json!({"full_name": "Not In Outlook", "email1": "no@crm.test"}))
        .await;
    w.seed(
        "contacts",
        vec![
            json!({"display_name": "ÅSE ÆRØ", "company_name": "fjord as", "job_title": "Skipper"}),
            person("Zoe", "Ng", "zoë@example.test", None),
            person("Patricia", "Kim", "pat@X.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    let counts = w.sync().await;
    assert_eq!(counts.linked, 3, "{counts:?}");
    assert_eq!(counts.crm_created, 0, "{counts:?}");
    assert_eq!(w.crm_contacts().await.len(), 4);
    w.assert_converged().await;
}

/// Contacts written before the match keys existed (the keys NULL, as the migration
/// leaves them) get their keys when the service starts, and a first sync finds them.
#[tokio::test]
async fn contacts_from_before_the_match_keys_are_matched_after_a_restart() {
    use sea_orm::ConnectionTrait;
    let w = World::new().await;
    w.create_crm(json!({"full_name": "Åse Ærø", "company": "Fjord AS"}))
        .await;
    w.create_crm(json!({"full_name": "Pat Kim", "email1": "PAT@x.test"}))
        .await;
    w.app
        .store
        .connection()
        .execute_unprepared(
            "UPDATE contacts SET email1_key = NULL, email2_key = NULL, email3_key = NULL, name_key = NULL",
        )
        .await
        .unwrap();
    w.app.store.migrate().await.unwrap();
    w.seed(
        "contacts",
        vec![
            json!({"display_name": "åse ærø", "company_name": "fjord as"}),
            person("Patricia", "Kim", "pat@x.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    let counts = w.sync().await;
    assert_eq!(counts.linked, 2, "{counts:?}");
    assert_eq!(counts.crm_created, 0, "{counts:?}");
    w.assert_converged().await;
}

async fn lost_sync_state_creates_no_duplicates(p: Proto) {
    let w = World::on(p).await;
    w.create_crm(json!({"full_name": "From Crm", "email1": "c@x.test"}))
        .await;
    w.seed(
        "contacts",
        vec![person("From", "Exchange", "e@x.test", None)],
    );
    w.profile(
        json!({"import": {"enabled": true}, "export": {"enabled": true}, "match_existing": "none"}),
    )
    .await;
    w.sync().await;
    assert_eq!(w.crm_contacts().await.len(), 2);
    assert_eq!(w.exchange("contacts").len(), 2);
    // Exchange forgets our state: the next run starts the folder again.
    w.expire_feed_state();
    let counts = w.sync().await;
    assert_eq!(counts.writes(), 0, "{counts:?}");
    // And a full run from scratch (lost state on our side) relinks by the CrmContactId stamps.
    let (report, _) = w
        .run_with(contactsync::domain::run::RunMode::TwoWay, false, true)
        .await;
    assert_eq!(report.counts.writes(), 0, "{report:?}");
    assert_eq!(w.crm_contacts().await.len(), 2);
    assert_eq!(w.exchange("contacts").len(), 2);
}

async fn failing_items_do_not_fail_the_run_and_the_next_run_heals(p: Proto) {
    let w = World::on(p).await;
    for i in 0..5 {
        w.create_crm(json!({"full_name": format!("Person {i}"), "email1": format!("p{i}@x.test")}))
            .await;
    }
    w.profile(json!({"export": {"enabled": true}})).await;
    w.sync().await;
    let items = w.exchange("contacts");
    assert_eq!(items.len(), 5);
    // Edit all five in the CRM; two of their items fail on update.
    for c in w.crm_contacts().await {
        w.app
            .patch(
                &format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()),
                &w.token,
                json!({"job_title": "Updated"}),
            )
            .await;
    }
    let failing: Vec<String> = items.iter().take(2).map(|i| i.id.clone()).collect();
    let code = w.fail_items(ItemOp::Update, &failing, Failure::Retry, Some(1));
    let (report, run_items) = w
        .run_with(contactsync::domain::run::RunMode::TwoWay, false, false)
        .await;
    assert_eq!(
        report.status,
        contactsync::domain::run::RunStatus::PartiallyFailed,
        "{report:?}"
    );
    assert_eq!(
        report.counts.exchange_updated, 3,
        "{report:?} {run_items:#?}"
    );
    assert_eq!(report.counts.failed, 2);
    let failed: Vec<_> = run_items
        .iter()
        .filter(|i| i.outcome == contactsync::domain::run::ItemOutcome::Failed)
        .collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed.iter().all(|i| i.code.as_deref() == Some(code)),
        "{failed:?}"
    );
    let counts = w.sync().await;
    assert_eq!(counts.exchange_updated, 2, "healed: {counts:?}");
    assert!(
        w.exchange("contacts")
            .iter()
            .all(|i| i.data.job_title.as_deref() == Some("Updated"))
    );
    w.assert_converged().await;
}

async fn dry_run_plans_without_writing_and_modes_limit_directions(p: Proto) {
    use contactsync::domain::run::RunMode;
    let w = World::on(p).await;
    w.create_crm(json!({"full_name": "Crm One"})).await;
    w.seed("contacts", vec![person("Ex", "One", "e@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    let (report, items) = w.run_with(RunMode::TwoWay, true, false).await;
    assert_eq!(report.counts.crm_created, 1);
    assert_eq!(report.counts.exchange_created, 1);
    assert!(
        items
            .iter()
            .all(|i| i.outcome == contactsync::domain::run::ItemOutcome::Planned)
    );
    assert_eq!(w.crm_contacts().await.len(), 1, "nothing written");
    assert_eq!(w.exchange("contacts").len(), 1);
    let (report, _) = w.run_with(RunMode::ImportOnly, false, false).await;
    assert_eq!(
        (report.counts.crm_created, report.counts.exchange_created),
        (1, 0)
    );
    let (report, _) = w.run_with(RunMode::ExportOnly, false, false).await;
    assert_eq!(
        (report.counts.crm_created, report.counts.exchange_created),
        (0, 1)
    );
    w.assert_converged().await;
}

/// How the Outlook user moves an item between two import folders.
#[derive(Clone, Copy)]
enum MoveBy {
    /// Deleted in one folder and made again (new ItemId, same stamp) in the other.
    Recreating,
    /// Moved: over EWS the item gets a new ItemId (its stamp relinks it); over Graph its
    /// immutable id stays, the old folder's delta reports it removed and the new one's
    /// delivers it — a move, not a deletion.
    Moving,
}

async fn an_item_moved_between_import_folders_keeps_its_contact(p: Proto, by: MoveBy) {
    let w = World::on(p).await;
    let archive = w
        .sim
        .create_folder(ALICE, "contacts", "Archive", Some("IPF.Contact"))
        .unwrap();
    let ids = w.seed("contacts", vec![person("Mo", "Ved", "m@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}, "on_exchange_delete": "delete_in_crm"}))
        .await;
    w.sync().await;
    // Over Graph the import left the item's stamp to the next run: a recreated item is
    // known by its stamp only once that run wrote it.
    w.sync().await;
    let before = w.crm_contacts().await;
    assert_eq!(before.len(), 1);
    match by {
        MoveBy::Recreating => {
            let item = w.sim.contact(ALICE, &ids[0]).unwrap();
            w.sim.delete_contact(ALICE, &ids[0]).unwrap();
            w.sim
                .seed_contacts(ALICE, &archive, vec![item.data.clone()])
                .unwrap();
        }
        MoveBy::Moving => {
            w.sim.move_contact(ALICE, &ids[0], &archive).unwrap();
        }
    }
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_deleted, counts.crm_created, counts.unlinked),
        (0, 0, 0),
        "{counts:?}"
    );
    let after = w.crm_contacts().await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["id"], before[0]["id"]);
    assert_eq!(w.exchange(&archive).len(), 1);
    w.assert_converged().await;
}

async fn an_item_moved_between_folders_keeps_its_contact(p: Proto) {
    an_item_moved_between_import_folders_keeps_its_contact(p, MoveBy::Recreating).await;
}

async fn an_item_really_moved_between_import_folders_keeps_its_contact(p: Proto) {
    an_item_moved_between_import_folders_keeps_its_contact(p, MoveBy::Moving).await;
}

/// A move is known by a read of the old item when no feed read so far reported it gone
/// (the item moved into an import folder whose first chunk of new items is applied
/// before the feed of the export target it left is read): a read that fails decides
/// nothing. The moved item waits for a later run; taken for a copy, it became a second
/// CRM contact, and the old item's deletion, read next, deleted the first one
/// (`delete_in_crm`): the contact was replaced, its history and links lost.
#[tokio::test]
async fn a_moved_item_whose_old_item_cannot_be_read_waits_and_keeps_its_contact() {
    use contactsync::domain::run::RunMode;
    let w = World::new().await;
    let archive = w
        .sim
        .create_folder(ALICE, "contacts", "Archive", Some("IPF.Contact"))
        .unwrap();
    let c = w
        .create_crm(json!({"given_name": "Mo", "surname": "Ved", "email1": "m@x.test"}))
        .await;
    w.profile(json!({
        "import": {"enabled": true, "scope": "folders", "folder_ids": [archive]},
        "export": {"enabled": true, "scope": "all"},
        "on_exchange_delete": "delete_in_crm"}))
        .await;
    assert_eq!(w.sync().await.exchange_created, 1);
    let old = w.exchange("contacts")[0].id.clone();
    w.sim.move_contact(ALICE, &old, &archive).unwrap();
    // Two chunks' worth of new items behind it: its chunk is paired while the next one
    // is read, before the export target's feed is.
    let others: Vec<_> = (0..1600)
        .map(|i| person("New", &format!("Person{i}"), &format!("n{i}@x.test"), None))
        .collect();
    w.seed(&archive, others);
    w.fail_items(ItemOp::Get, &[old], Failure::Retry, None);
    let (report, items) = w.run_with(RunMode::TwoWay, false, false).await;
    let counts = report.counts;
    assert_eq!(
        (counts.crm_created, counts.crm_deleted),
        (1600, 0),
        "{report:?} {:#?}",
        items
            .iter()
            .filter(|i| i.outcome != contactsync::domain::run::ItemOutcome::Applied)
            .collect::<Vec<_>>()
    );
    w.sim.clear_faults();
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_created, counts.crm_deleted),
        (0, 0),
        "{counts:?}"
    );
    let moved: Vec<serde_json::Value> = w
        .crm_contacts()
        .await
        .into_iter()
        .filter(|x| x["surname"] == "Ved")
        .collect();
    assert_eq!(moved.len(), 1, "{moved:#?}");
    assert_eq!(moved[0]["id"], c["id"]);
    assert_eq!(w.exchange(&archive).len(), 1601);
    w.assert_converged().await;
}

async fn the_export_target_is_not_an_import_folder(p: Proto) {
    let w = World::on(p).await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    w.seed(
        "contacts",
        vec![person("Private", "Person", "p@x.test", None)],
    );
    w.seed(&clients, vec![person("Client", "One", "c@x.test", None)]);
    w.create_crm(json!({"full_name": "Exported", "email1": "e@x.test"}))
        .await;
    w.profile(
        json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [w.folder(&clients)]},
                     "export": {"enabled": true}}),
    )
    .await;
    w.sync().await;
    let mut names: Vec<_> = w
        .crm_contacts()
        .await
        .iter()
        .map(|c| c["full_name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["Client One", "Exported"],
        "the private contact of Contacts stays out"
    );
    assert_eq!(
        w.exchange("contacts").len(),
        2,
        "exported next to the private one"
    );
    w.assert_converged().await;
}

async fn a_copied_item_is_a_new_contact_and_the_original_stays_linked(p: Proto) {
    let w = World::on(p).await;
    let ids = w.seed("contacts", vec![person("Orig", "Inal", "o@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    w.sync().await;
    let original = w.sim.contact(ALICE, &ids[0]).unwrap();
    // Outlook copies the item, stamp included; the copy gets its own address.
    let mut copy = original.data.clone();
    copy.email_addresses
        .insert("EmailAddress1".into(), "copy@x.test".into());
    w.sim.seed_contacts(ALICE, "contacts", vec![copy]).unwrap();
    let counts = w.sync().await;
    assert_eq!(counts.crm_created, 1, "{counts:?}");
    let crm = w.crm_contacts().await;
    assert_eq!(crm.len(), 2);
    // A CRM edit of the original still reaches the original item.
    let orig = crm.iter().find(|c| c["email1"] == "o@x.test").unwrap();
    w.app
        .patch(
            &format!("/api/v1/contacts/{}", orig["id"].as_str().unwrap()),
            &w.token,
            json!({"job_title": "Still linked"}),
        )
        .await;
    w.sync().await;
    assert_eq!(
        w.sim
            .contact(ALICE, &ids[0])
            .unwrap()
            .data
            .job_title
            .as_deref(),
        Some("Still linked")
    );
    w.assert_converged().await;
}

/// The item moved to another import folder and copied back into the first, between two
/// runs. Over Graph the moved item keeps its id, and the first folder's delta reports it
/// removed: that deletion is a move, not the item gone, so the stamped copy is a copy (a
/// new contact), not the item moved — two pairs naming one contact failed every run.
async fn an_item_moved_and_copied_between_two_runs_keeps_its_contact(p: Proto) {
    let w = World::on(p).await;
    let archive = w
        .sim
        .create_folder(ALICE, "contacts", "Archive", Some("IPF.Contact"))
        .unwrap();
    let ids = w.seed("contacts", vec![person("Mo", "Ved", "m@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    w.sync().await;
    // Over Graph the run after the import writes the stamp.
    w.sync().await;
    let original = w.sim.contact(ALICE, &ids[0]).unwrap();
    let mut copy = original.data.clone();
    copy.email_addresses
        .insert("EmailAddress1".into(), "copy@x.test".into());
    w.sim.move_contact(ALICE, &ids[0], &archive).unwrap();
    w.sim.seed_contacts(ALICE, "contacts", vec![copy]).unwrap();
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_created, counts.crm_deleted, counts.unlinked),
        (1, 0, 0),
        "{counts:?}"
    );
    let crm = w.crm_contacts().await;
    assert_eq!(crm.len(), 2);
    let moved = crm.iter().find(|c| c["email1"] == "m@x.test").unwrap();
    // A CRM edit of the original reaches the moved item.
    w.app
        .patch(
            &format!("/api/v1/contacts/{}", moved["id"].as_str().unwrap()),
            &w.token,
            json!({"job_title": "Followed"}),
        )
        .await;
    w.sync().await;
    let items = w.exchange(&archive);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].data.job_title.as_deref(), Some("Followed"));
    w.assert_converged().await;
}

/// The item copied, then deleted in Outlook (into Deleted Items, where Graph's immutable
/// id follows it): the copy, which carries the stamp, is the item recreated and keeps the
/// contact — the old id read finds no contacts folder holding it.
async fn an_item_copied_then_deleted_hands_its_contact_to_the_copy(p: Proto) {
    let w = World::on(p).await;
    let ids = w.seed("contacts", vec![person("Co", "Py", "c@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    w.sync().await;
    // Over Graph the run after the import writes the stamp.
    w.sync().await;
    let original = w.sim.contact(ALICE, &ids[0]).unwrap();
    let mut copy = original.data.clone();
    copy.job_title = Some("The copy".into());
    w.sim.seed_contacts(ALICE, "contacts", vec![copy]).unwrap();
    w.sim.move_contact(ALICE, &ids[0], "deleteditems").unwrap();
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_created, counts.crm_deleted, counts.unlinked),
        (0, 0, 0),
        "{counts:?}"
    );
    let crm = w.crm_contacts().await;
    assert_eq!(crm.len(), 1);
    assert_eq!(crm[0]["job_title"], "The copy");
    w.assert_converged().await;
}

async fn a_failed_stamp_creates_no_duplicate_later(p: Proto) {
    let w = World::on(p).await;
    let ids = w.seed(
        "contacts",
        vec![
            person("A", "One", "a@x.test", None),
            person("B", "Two", "b@x.test", None),
        ],
    );
    w.profile(
        json!({"import": {"enabled": true}, "export": {"enabled": true}, "match_existing": "none"}),
    )
    .await;
    w.fail_items(ItemOp::Update, &ids[..1], Failure::Retry, Some(1));
    let (report, _) = w
        .run_with(contactsync::domain::run::RunMode::TwoWay, false, false)
        .await;
    // Over EWS the import stamps its items and that stamp fails the item; over Graph the
    // import leaves its stamps to the next run, whose failed stamp stays owed (a stamp is
    // insurance for a lost link: the run succeeds).
    let expected = match p {
        Proto::Ews => contactsync::domain::run::RunStatus::PartiallyFailed,
        Proto::Graph => contactsync::domain::run::RunStatus::Succeeded,
    };
    assert_eq!(report.status, expected, "{report:?}");
    assert_eq!(report.counts.crm_created, 2);
    // The next runs heal the stamp and create nothing twice, on either side.
    w.sync().await;
    w.assert_converged().await;
    assert_eq!(w.crm_contacts().await.len(), 2);
    assert_eq!(w.exchange("contacts").len(), 2);
    let stamped = w.sim.contact(ALICE, &ids[0]).unwrap();
    assert!(
        stamped
            .data
            .extended_properties
            .iter()
            .any(|p| p.uri.property_name.as_deref() == Some("CrmContactId"))
    );
}

async fn sync_never_changes_a_contact_the_owner_may_only_read(p: Proto) {
    let w = World::on(p).await;
    let bob = w.app.token("bob");
    let shared = w
        .app
        .create(
            "/api/v1/contacts",
            &bob,
            json!({"full_name": "Bob Shared", "email1": "s@bob.test", "job_title": "Boss",
            "grants": [{"user_id": "alice", "access": "read"}]}),
        )
        .await;
    let sid = shared["id"].as_str().unwrap().to_owned();
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}, "on_exchange_delete": "delete_in_crm"})).await;
    w.sync().await;
    let item = w
        .exchange("contacts")
        .pop()
        .expect("exported: alice may see it");
    w.edit(&item.id, json!({"job_title": "Changed in Outlook"}));
    w.sync().await;
    let got = w
        .app
        .get(&format!("/api/v1/contacts/{sid}"), &bob)
        .await
        .body;
    assert_eq!(got["job_title"], "Boss", "read-only for alice: not changed");
    w.sim.delete_contact(ALICE, &item.id).unwrap();
    w.sync().await;
    assert_eq!(
        w.app
            .get(&format!("/api/v1/contacts/{sid}"), &bob)
            .await
            .status,
        200,
        "not deleted"
    );
    w.assert_converged().await;
}

async fn one_way_runs_keep_the_other_sides_edits_for_later(p: Proto) {
    use contactsync::domain::run::{RunMode, RunStatus};
    let w = World::on(p).await;
    let (cid, item) = synced_pair(
        &w,
        json!({"import": {"enabled": true}, "export": {"enabled": true}}),
    )
    .await;
    let path = format!("/api/v1/contacts/{cid}");
    // An import-only run must not swallow a CRM edit...
    w.app
        .patch(&path, &w.token, json!({"job_title": "CRM edit"}))
        .await;
    let (r, _) = w.run_with(RunMode::ImportOnly, false, false).await;
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(r.counts.exchange_updated, 0);
    // ...nor an export-only run an Exchange edit.
    w.edit(
        &item,
        json!({"department": "ignored", "company_name": "EX edit"}),
    );
    let (r, _) = w.run_with(RunMode::ExportOnly, false, false).await;
    assert_eq!(r.status, RunStatus::Succeeded);
    // The export-only run carries the CRM edit the import-only run left pending...
    assert_eq!(
        (r.counts.crm_updated, r.counts.exchange_updated),
        (0, 1),
        "{r:?}"
    );
    // ...and the next two-way run the Exchange edit the export-only run left pending.
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_updated, counts.exchange_updated),
        (1, 0),
        "{counts:?}"
    );
    assert_eq!(w.crm_contact(&cid).await["company"], "EX edit");
    assert_eq!(
        w.sim
            .contact(ALICE, &item)
            .unwrap()
            .data
            .job_title
            .as_deref(),
        Some("CRM edit")
    );
    w.assert_converged().await;
}

async fn changing_the_export_target_keeps_watching_linked_items(p: Proto) {
    let w = World::on(p).await;
    let (cid, item) = synced_pair(&w, json!({"export": {"enabled": true}, "import": {"enabled": true, "scope": "folders",
        "folder_ids": [w.folder(&w.sim.create_folder(ALICE, "contacts", "Imports", Some("IPF.Contact")).unwrap())]}}))
    .await;
    let newer = w
        .sim
        .create_folder(ALICE, "contacts", "Exports", Some("IPF.Contact"))
        .unwrap();
    let profile = w
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/contact-sync", w.mailbox),
            &w.token,
        )
        .await
        .body;
    let mut profile = profile.clone();
    profile["export"]["target_folder_id"] = json!(w.folder(&newer));
    w.profile(profile).await;
    w.edit(&item, json!({"job_title": "Edited in the old target"}));
    w.sync().await;
    assert_eq!(
        w.crm_contact(&cid).await["job_title"],
        "Edited in the old target"
    );
    w.assert_converged().await;
}

async fn a_permanently_failing_item_does_not_hold_its_folder_back(p: Proto) {
    use contactsync::domain::run::{RunMode, RunStatus};
    let w = World::on(p).await;
    let ids = w.seed(
        "contacts",
        vec![
            person("Bad", "Item", "bad@x.test", None),
            person("Good", "Item", "good@x.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    // Exchange refuses to read one item, for good.
    let code = w.fail_items(ItemOp::Get, &ids[..1], Failure::Permanent, None);
    let (r, items) = w.run_with(RunMode::TwoWay, false, false).await;
    assert_eq!(r.status, RunStatus::PartiallyFailed, "{r:?}");
    assert_eq!(r.counts.crm_created, 1);
    assert!(
        items.iter().any(|i| i.code.as_deref() == Some(code)),
        "{items:?}"
    );
    // The folder's state moved on, the good item's edit flows; the bad item is retried
    // (SPEC §5), so the run is partially failed again.
    w.edit(&ids[1], json!({"job_title": "Edited"}));
    let (r, _) = w.run_with(RunMode::TwoWay, false, false).await;
    assert_eq!(r.status, RunStatus::PartiallyFailed, "{r:?}");
    assert_eq!(r.counts.crm_updated, 1);
}

over_both_transports!(
    an_item_moved_and_copied_between_two_runs_keeps_its_contact,
    an_item_copied_then_deleted_hands_its_contact_to_the_copy,
    import_all_folders_then_converge,
    import_from_chosen_folders_only,
    account_linking_by_company_name,
    export_all_visible_never_what_the_owner_cannot_see,
    export_by_contact_type_and_folder,
    dynamic_folder_scope_and_leaving_it,
    two_way_edits_flow_each_way,
    conflicts_follow_the_policy_and_merge_other_fields,
    deletes_follow_each_policy,
    crm_writes_keep_the_values_they_replaced_in_the_run_record,
    first_sync_against_the_same_people_creates_no_duplicates,
    import_matches_names_and_addresses_beyond_ascii_in_any_case,
    lost_sync_state_creates_no_duplicates,
    failing_items_do_not_fail_the_run_and_the_next_run_heals,
    dry_run_plans_without_writing_and_modes_limit_directions,
    an_item_moved_between_folders_keeps_its_contact,
    an_item_really_moved_between_import_folders_keeps_its_contact,
    the_export_target_is_not_an_import_folder,
    a_copied_item_is_a_new_contact_and_the_original_stays_linked,
    a_failed_stamp_creates_no_duplicate_later,
    sync_never_changes_a_contact_the_owner_may_only_read,
    one_way_runs_keep_the_other_sides_edits_for_later,
    changing_the_export_target_keeps_watching_linked_items,
    a_permanently_failing_item_does_not_hold_its_folder_back,
);

/// A run with nothing to do writes no feed state (a commit is a flush to disk); a run
/// that reads a change saves its folder's new state.
#[tokio::test]
async fn a_run_with_nothing_to_do_saves_no_feed_state() {
    let w = World::new().await;
    let ids = w.seed("contacts", vec![person("Ann", "Lee", "ann@x.test", None)]);
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    w.sync().await;
    // The import's stamp was written after its feed's last page: the run after it reads
    // the stamp's echo (no read of the item) and saves the state past it.
    w.assert_converged().await;
    let saved = w.feed_states().await;
    assert_eq!(saved.len(), 1, "{saved:?}");
    w.assert_converged().await;
    assert_eq!(
        w.feed_states().await,
        saved,
        "nothing to do, nothing written"
    );
    w.edit(&ids[0], json!({"job_title": "Edited"}));
    assert_eq!(w.sync().await.crm_updated, 1);
    let after = w.feed_states().await;
    assert_ne!(after[0].1, saved[0].1, "the state moved past the edit");
}

/// Throttling is waited out where the server says (EWS's back-off, Graph's `Retry-After`,
/// also inside a `$batch`), and the run succeeds.
async fn throttling_is_waited_out_and_the_run_succeeds(p: Proto) {
    let w = World::on(p).await;
    w.seed(
        "contacts",
        vec![
            person("Tia", "Rot", "t@x.test", None),
            person("Tom", "Rot", "tom@x.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    w.throttle_once(1000);
    let started = std::time::Instant::now();
    let counts = w.sync().await;
    assert_eq!(counts.crm_created, 2, "{counts:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "the server's wait was honoured: {:?}",
        started.elapsed()
    );
    w.assert_converged().await;
}

/// A write refused because the item changed (EWS's ChangeKey conflict, Graph's 412) is
/// re-read and re-planned, and lands in the same run.
async fn a_write_conflict_rereads_and_replans(p: Proto) {
    let w = World::on(p).await;
    let (cid, item) = synced_pair(
        &w,
        json!({"import": {"enabled": true}, "export": {"enabled": true}}),
    )
    .await;
    w.app
        .patch(
            &format!("/api/v1/contacts/{cid}"),
            &w.token,
            json!({"job_title": "After the conflict"}),
        )
        .await;
    w.fail_items(
        ItemOp::Update,
        std::slice::from_ref(&item),
        Failure::Conflict,
        Some(1),
    );
    let counts = w.sync().await;
    assert_eq!(counts.exchange_updated, 1, "{counts:?}");
    assert_eq!(
        w.sim
            .contact(ALICE, &item)
            .unwrap()
            .data
            .job_title
            .as_deref(),
        Some("After the conflict")
    );
    w.assert_converged().await;
}

/// Lost links (a restore): the stamps relink every pair, nothing is created twice.
/// The next run finds a contact and an item pair again each: nothing made twice.
async fn two_pairs_found_again(w: &World) {
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_created, counts.exchange_created),
        (0, 0),
        "{counts:?}"
    );
    assert_eq!(w.crm_contacts().await.len(), 2);
    assert_eq!(w.exchange("contacts").len(), 2);
    w.assert_converged().await;
}

async fn lost_links_are_found_again_by_their_stamps(p: Proto) {
    let w = World::on(p).await;
    w.seed("contacts", vec![person("Ex", "Change", "ex@x.test", None)]);
    w.create_crm(json!({"full_name": "Cee Rem", "email1": "crm@x.test"}))
        .await;
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    w.sync().await;
    w.lose_links().await;
    two_pairs_found_again(&w).await;
}

over_both_transports!(
    throttling_is_waited_out_and_the_run_succeeds,
    a_write_conflict_rereads_and_replans,
    lost_links_are_found_again_by_their_stamps,
);

/// Graph's delta carries the items' data where it serves `$expand` of the extended
/// properties, and only ids where it refuses it (a 400; the changed items are then read in
/// `$batch`es). On either path an item stamped with a CRM id relinks to it with no
/// duplicate, and salutation and gender (extended properties too) are not lost.
async fn the_stamp_is_honoured_whether_delta_carries_the_data_or_not(delta_expands: bool) {
    let w = World::on(Proto::Graph).await;
    w.sim.set_graph_delta_expand(delta_expands);
    w.seed("contacts", vec![person("Ex", "Change", "ex@x.test", None)]);
    w.create_crm(
        json!({"given_name": "Ann", "surname": "Lee", "email1": "ann@x.test",
        "salutation": "Dr.", "gender": "female"}),
    )
    .await;
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_created, counts.exchange_created),
        (1, 1),
        "{counts:?}"
    );
    // The run after the import writes the stamp the import left owed.
    w.sync().await;
    w.lose_links().await;
    w.sim.clear_requests();
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_created, counts.exchange_created, counts.writes()),
        (0, 0, 0),
        "relinked by the stamps: {counts:?}"
    );
    let requests = w.sim.requests();
    let refused = requests
        .iter()
        .filter(|r| r.operation == "graph:delta" && r.status == 400)
        .count();
    let batches = requests
        .iter()
        .filter(|r| r.operation == "graph:batch")
        .count();
    if delta_expands {
        assert_eq!((refused, batches), (0, 0), "the feed carried the items");
    } else {
        assert_eq!(refused, 1, "refused once, then rounds of ids");
        assert!(batches > 0, "the items were read in batches");
    }
    assert_eq!(w.crm_contacts().await.len(), 2);
    assert_eq!(w.exchange("contacts").len(), 2);
    let ann = w
        .crm_contacts()
        .await
        .into_iter()
        .find(|c| c["full_name"] == "Ann Lee")
        .unwrap();
    assert_eq!(
        (&ann["salutation"], &ann["gender"]),
        (&json!("Dr."), &json!("female"))
    );
    w.assert_converged().await;
}

mod the_stamp_is_honoured_whether_delta_carries_the_data_or_not {
    #[tokio::test]
    async fn delta_with_data() {
        super::the_stamp_is_honoured_whether_delta_carries_the_data_or_not(true).await
    }
    #[tokio::test]
    async fn delta_of_ids_then_batch_reads() {
        super::the_stamp_is_honoured_whether_delta_carries_the_data_or_not(false).await
    }
}

/// A mailbox moved from EWS to Microsoft Graph (SPEC §7b) keeps its contacts and links:
/// the profile's folder ids are carried over, the first Graph run relinks every item by its
/// stamp and creates nothing on either side, and edits flow both ways afterwards.
#[tokio::test]
async fn a_mailbox_moved_from_ews_to_graph_keeps_its_contacts() {
    let w = World::on(Proto::Ews).await;
    let clients = w
        .sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    let exports = w
        .sim
        .create_folder(ALICE, "contacts", "Exports", Some("IPF.Contact"))
        .unwrap();
    let seeded = w.seed(&clients, vec![person("Cli", "Ent", "cli@x.test", None)]);
    w.create_crm(json!({"full_name": "Crm Made", "email1": "made@x.test"}))
        .await;
    w.profile(
        json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [clients]},
                     "export": {"enabled": true, "target_folder_id": exports}}),
    )
    .await;
    w.sync().await;
    let crm_before = w.crm_contacts().await;
    assert_eq!(crm_before.len(), 2);

    // The tenant leaves EWS: the mailbox moves to Graph (its secret is Graph's own).
    let moved = w
        .app
        .patch(
            &format!("/api/v1/mailboxes/{}", w.mailbox),
            &w.token,
            json!({"transport": "graph", "graph": graph_json(&w.sim)}),
        )
        .await;
    let counts = w.sync().await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["transport"], "graph");
    assert!(moved.body.get("ews_url").is_none(), "{}", moved.text);
    assert!(moved.body["graph"].get("client_secret").is_none());

    assert_eq!(
        (
            counts.crm_created,
            counts.exchange_created,
            counts.crm_deleted,
            counts.exchange_deleted
        ),
        (0, 0, 0, 0),
        "{counts:?}"
    );
    let crm_after = w.crm_contacts().await;
    let ids = |v: &[serde_json::Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&crm_after), ids(&crm_before), "the same contacts");
    assert_eq!(w.exchange(&clients).len(), 1);
    assert_eq!(w.exchange(&exports).len(), 1, "no second export");
    // The profile now names the folders as Graph does.
    let profile = w
        .app
        .get(
            &format!("/api/v1/mailboxes/{}/contact-sync", w.mailbox),
            &w.token,
        )
        .await
        .body;
    assert_eq!(
        profile["import"]["folder_ids"],
        json!([w.sim.graph_folder_id(ALICE, &clients).unwrap()])
    );
    assert_eq!(
        profile["export"]["target_folder_id"],
        json!(w.sim.graph_folder_id(ALICE, &exports).unwrap())
    );
    w.assert_converged().await;

    // The pairs are linked: an Exchange edit reaches its CRM contact, a CRM edit its item.
    w.edit(&seeded[0], json!({"job_title": "Edited after the move"}));
    let made = crm_after
        .iter()
        .find(|c| c["email1"] == "made@x.test")
        .unwrap();
    w.app
        .patch(
            &format!("/api/v1/contacts/{}", made["id"].as_str().unwrap()),
            &w.token,
            json!({"job_title": "Also after"}),
        )
        .await;
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_updated, counts.exchange_updated),
        (1, 1),
        "{counts:?}"
    );
    assert_eq!(w.crm_contacts().await.len(), 2);
    assert_eq!(
        w.exchange(&exports)[0].data.job_title.as_deref(),
        Some("Also after")
    );
    w.assert_converged().await;
}

/// Over Graph (immutable ids) an import's requests are its feed alone: it leaves the
/// items' stamps to the run after it, and the links hold the pairs meanwhile — an item
/// moved before its stamp is written keeps its contact. That run writes every owed stamp,
/// on the ChangeKey the link knows, and reads none of their echoes.
#[tokio::test]
async fn a_graph_import_leaves_its_stamps_to_the_next_run() {
    let w = World::on(Proto::Graph).await;
    let archive = w
        .sim
        .create_folder(ALICE, "contacts", "Archive", Some("IPF.Contact"))
        .unwrap();
    let ids = w.seed(
        "contacts",
        (0..25)
            .map(|i| person("Owed", &format!("Stamp{i}"), &format!("o{i}@x.test"), None))
            .collect(),
    );
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    w.sim.clear_requests();
    let counts = w.sync().await;
    assert_eq!(counts.crm_created, 25, "{counts:?}");
    let batches = |w: &World| {
        w.sim
            .requests()
            .iter()
            .filter(|r| r.operation == "graph:batch")
            .count()
    };
    assert_eq!(batches(&w), 0, "the import wrote no stamp");
    let stamps = |w: &World| -> Vec<Option<String>> {
        let mut items = w.exchange("contacts");
        items.extend(w.exchange(&archive));
        items
            .iter()
            .map(|i| {
                i.data
                    .extended_properties
                    .iter()
                    .find(|p| p.uri.property_name.as_deref() == Some("CrmContactId"))
                    .map(|p| p.value.clone())
            })
            .collect()
    };
    assert!(stamps(&w).iter().all(Option::is_none));

    // Moved before its stamp is written: the same Graph id, the same contact.
    w.sim.move_contact(ALICE, &ids[0], &archive).unwrap();
    w.sim.clear_requests();
    let counts = w.sync().await;
    assert_eq!(
        (counts.crm_created, counts.crm_deleted, counts.unlinked),
        (0, 0, 0),
        "{counts:?}"
    );
    // 24 owed stamps in two `$batch`es of 20. The moved item's, on the ChangeKey the move
    // changed, is refused and left to the feed, which brings the item: its plan stamps it
    // (a third). No item is read: the delta carries them, and the echoes are known.
    assert_eq!(batches(&w), 3, "{:#?}", w.sim.requests());
    let crm_ids: std::collections::BTreeSet<String> = w
        .crm_contacts()
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let stamped: std::collections::BTreeSet<String> = stamps(&w)
        .into_iter()
        .map(|s| s.expect("stamped"))
        .collect();
    assert_eq!(stamped, crm_ids, "each item carries its own contact's id");
    w.sim.clear_requests();
    w.assert_converged().await;
    assert_eq!(batches(&w), 0, "nothing owed any more");
}

/// An owed stamp is tried once: refused for good, it is no longer owed (the plan stamps
/// the item when its feed next brings it); throttled, it stays owed to the next run.
#[tokio::test]
async fn an_owed_stamp_refused_is_not_tried_again() {
    let w = World::on(Proto::Graph).await;
    let ids = w.seed(
        "contacts",
        vec![
            person("Re", "Fused", "r@x.test", None),
            person("Thr", "Ottled", "t@x.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}})).await;
    w.sync().await;
    let batches = |w: &World| {
        w.sim
            .requests()
            .iter()
            .filter(|r| r.operation == "graph:batch")
            .count()
    };
    w.fail_items(ItemOp::Update, &ids[..1], Failure::Permanent, Some(1));
    w.fail_items(ItemOp::Update, &ids[1..], Failure::Retry, None);
    w.sim.clear_requests();
    w.sync().await;
    assert_eq!(batches(&w), 1, "both stamps in one batch");
    let stamped = |w: &World, id: &str| {
        w.sim
            .contact(ALICE, id)
            .unwrap()
            .data
            .extended_properties
            .iter()
            .any(|p| p.uri.property_name.as_deref() == Some("CrmContactId"))
    };
    assert!(!stamped(&w, &ids[0]) && !stamped(&w, &ids[1]));
    // The throttled one is owed still, and written once the mailbox lets it.
    w.sim.clear_faults();
    w.sim.clear_requests();
    w.sync().await;
    assert_eq!(batches(&w), 1, "the throttled stamp alone, again");
    assert!(stamped(&w, &ids[1]));
    assert!(!stamped(&w, &ids[0]), "the refused one is left to its feed");
    w.sim.clear_requests();
    w.sync().await;
    assert_eq!(batches(&w), 0, "nothing owed any more");
    // An edit brings the refused one back: its plan stamps it.
    w.edit(&ids[0], json!({"job_title": "Edited"}));
    w.sync().await;
    assert!(stamped(&w, &ids[0]));
    w.assert_converged().await;
}

/// A mailbox moved from Graph back to EWS while stamps of its import were still owed: those
/// items carry no stamp to relink them by, so their links are dropped with the carry-over
/// and their contacts matched again by content, as in a first sync — nothing twice.
#[tokio::test]
async fn a_mailbox_moved_back_to_ews_with_stamps_owed_creates_nothing_twice() {
    let w = World::on(Proto::Graph).await;
    w.seed(
        "contacts",
        vec![
            person("Ow", "Ed", "owed@x.test", None),
            person("Al", "So", "also@x.test", None),
        ],
    );
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    assert_eq!(w.sync().await.crm_created, 2);
    let moved = w
        .app
        .patch(&format!("/api/v1/mailboxes/{}", w.mailbox), &w.token, {
            let mut ews = crate::sync_support::mailbox_json(&w.sim, Proto::Ews);
            ews["transport"] = json!("ews");
            ews
        })
        .await;
    assert_eq!(moved.status, 200, "{}", moved.text);
    assert_eq!(moved.body["transport"], "ews", "{}", moved.text);
    two_pairs_found_again(&w).await;
}
