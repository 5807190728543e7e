//! The sync engine against the simulator: the seed's scenarios (issue 6).
use serde_json::json;

use crate::sync_support::{ALICE, CUSTOMER, EMPLOYEE, World, person};

#[tokio::test]
async fn import_all_folders_then_converge() {
    let w = World::new().await;
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
    // Every imported item carries its CRM id.
    for item in w.exchange("contacts") {
        assert!(
            !item.data.extended_properties.is_empty(),
            "stamped: {:?}",
            item.data
        );
    }
    w.assert_converged().await;
    w.assert_converged().await;
}

#[tokio::test]
async fn import_from_chosen_folders_only() {
    let w = World::new().await;
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
    w.profile(json!({"import": {"enabled": true, "scope": "folders", "folder_ids": [clients]}}))
        .await;
    assert_eq!(w.sync().await.crm_created, 1);
    let crm = w.crm_contacts().await;
    assert_eq!(crm.len(), 1);
    assert_eq!(crm[0]["full_name"], "Yes Me");
    w.assert_converged().await;
}

#[tokio::test]
async fn account_linking_by_company_name() {
    let w = World::new().await;
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

#[tokio::test]
async fn export_all_visible_never_what_the_owner_cannot_see() {
    let w = World::new().await;
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

#[tokio::test]
async fn export_by_contact_type_and_folder() {
    for (scope, expected) in [
        (json!({"contact_type_ids": [EMPLOYEE]}), vec!["Emp"]),
        (json!({"contact_type_ids": [CUSTOMER]}), vec!["Cust"]),
        (json!({"folder_ids": ["FOLDER"]}), vec!["InFolder"]),
        (
            json!({"contact_type_ids": [EMPLOYEE, CUSTOMER], "folder_ids": ["FOLDER"]}),
            vec!["Cust", "Emp", "InFolder"],
        ),
    ] {
        let w = World::new().await;
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

#[tokio::test]
async fn dynamic_folder_scope_and_leaving_it() {
    let w = World::new().await;
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

#[tokio::test]
async fn two_way_edits_flow_each_way() {
    let w = World::new().await;
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
