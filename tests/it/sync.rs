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
