//! The Graph front end against the `graph` client (and raw HTTP where the client would
//! refuse to misbehave), and one store read through both protocols.

use std::time::{Duration, Instant};

use ews::types::{
    AddressKey, BaseShape, EmailKey, ExtendedFieldUri, ExtendedProperty, Item, ItemId, ItemShape,
    PhoneKey, PhysicalAddress as EwsAddress, PropertyPath,
};
use ews_sim::{Credential, GraphFaultRule, SimConfig, SimHandle};
use graph::ops::ContactsDelta;
use graph::types::contact::birthday_value;
use graph::types::{
    Contact, ContactPatch, EmailAddress, ExtendedProperty as GraphProp, PhysicalAddress, PropertyId,
};
use graph::{ClientConfig, Credential as AppCredential, ErrorClass, GraphClient, RetryPolicy};

const ALICE: &str = "alice@example.com";
const STAMP_SET: &str = "6f1d3c2a-8b54-4e0f-9a7d-2c1b5e4f8a90";

async fn sim() -> SimHandle {
    ews_sim::spawn(SimConfig {
        control_listen: None,
        mailboxes: vec![Credential::new(ALICE, "alice-secret")],
        apps: vec!["contoso:app-1:app-secret".parse().unwrap()],
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

fn config(sim: &SimHandle, credential: AppCredential) -> ClientConfig {
    let mut c = ClientConfig::new("contoso", "app-1", credential, ALICE);
    c.graph_url = sim.graph_url();
    c.authority_url = sim.authority_url();
    c.retry = RetryPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    };
    c
}

fn client(sim: &SimHandle) -> GraphClient {
    GraphClient::new(config(sim, AppCredential::Secret("app-secret".into()))).unwrap()
}

fn stamp() -> PropertyId {
    PropertyId::named_string(STAMP_SET, "CrmContactId")
}

fn salutation() -> PropertyId {
    PropertyId::tag("String", 0x3A45)
}

fn gender() -> PropertyId {
    PropertyId::tag("Short", 0x3A4D)
}

fn delta(folder: Option<&str>) -> ContactsDelta {
    ContactsDelta {
        user: ALICE.into(),
        folder_id: folder.map(str::to_owned),
        select: Vec::new(),
        extended: Vec::new(),
        page_size: 200,
    }
}

fn ews(sim: &SimHandle) -> ews::EwsClient {
    ews::EwsClient::new(ews::ClientConfig::new(
        sim.ews_url(),
        ews::Auth::Basic {
            username: ALICE.into(),
            password: "alice-secret".into(),
        },
    ))
    .unwrap()
}

fn ews_extended() -> Vec<PropertyPath> {
    vec![
        ExtendedFieldUri::named(STAMP_SET, "CrmContactId", "String").into(),
        ExtendedFieldUri::tag(0x3A45, "String").into(),
        ExtendedFieldUri::tag(0x3A4D, "Short").into(),
    ]
}

async fn raw_token(sim: &SimHandle) -> String {
    client(sim).token().await.unwrap()
}

/// Every delta page of a round from `link` (None = a new round): the entries and the delta link.
async fn drain(
    c: &GraphClient,
    start: &ContactsDelta,
    mut link: Option<String>,
) -> (Vec<Contact>, String, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = c.delta_page(start, link.as_deref()).await.unwrap();
        pages += 1;
        all.extend(page.value);
        match (page.next_link, page.delta_link) {
            (Some(next), _) => link = Some(next),
            (None, Some(d)) => return (all, d, pages),
            (None, None) => panic!("a page with neither link"),
        }
    }
}

#[tokio::test]
async fn a_contact_written_through_ews_reads_back_through_graph_field_by_field() {
    let sim = sim().await;
    let mut c = ews::types::Contact {
        given_name: Some("Ada".into()),
        middle_name: Some("Augusta".into()),
        surname: Some("Lovelace".into()),
        display_name: Some("Ada Lovelace".into()),
        file_as: Some("Lovelace, Ada".into()),
        company_name: Some("Analytical Engines".into()),
        job_title: Some("Countess".into()),
        department: Some("Mathematics".into()),
        business_home_page: Some("https://example.com/ada".into()),
        birthday: chrono::NaiveDate::from_ymd_opt(1815, 12, 10),
        ..Default::default()
    };
    c.set_email(EmailKey::EmailAddress1, Some("ada@example.com".into()));
    c.set_email(EmailKey::EmailAddress2, Some("countess@example.org".into()));
    c.set_email(EmailKey::EmailAddress3, Some("a.l@example.net".into()));
    c.set_phone(PhoneKey::BusinessPhone, Some("+44 20 1".into()));
    c.set_phone(PhoneKey::HomePhone, Some("+44 20 2".into()));
    c.set_phone(PhoneKey::MobilePhone, Some("+44 77 3".into()));
    let mut home = EwsAddress::new(AddressKey::Home);
    home.street = Some("1 St James's Square".into());
    home.city = Some("London".into());
    home.postal_code = Some("SW1Y 4JU".into());
    home.country_or_region = Some("United Kingdom".into());
    c.set_address(AddressKey::Home, Some(home));
    let mut business = EwsAddress::new(AddressKey::Business);
    business.state = Some("Surrey".into());
    c.set_address(AddressKey::Business, Some(business));
    c.extended_properties = vec![
        ExtendedProperty::new(
            ExtendedFieldUri::named(STAMP_SET, "CrmContactId", "String"),
            "crm-42",
        ),
        ExtendedProperty::new(ExtendedFieldUri::tag(0x3A45, "String"), "Countess"),
        ExtendedProperty::new(ExtendedFieldUri::tag(0x3A4D, "Short"), "1"),
    ];
    let created = ews(&sim)
        .create_items(None, vec![Item::Contact(c)])
        .await
        .unwrap();
    assert!(created[0].is_ok());

    let g = client(&sim);
    let (entries, _, _) = drain(&g, &delta(None), None).await;
    assert_eq!(entries.len(), 1);
    let id = entries[0].id.clone().unwrap();
    let got = g
        .get_contact(&id, &[], &[stamp(), salutation(), gender()])
        .await
        .unwrap();
    assert_eq!(got.given_name.as_deref(), Some("Ada"));
    assert_eq!(got.middle_name.as_deref(), Some("Augusta"));
    assert_eq!(got.surname.as_deref(), Some("Lovelace"));
    assert_eq!(got.display_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(got.file_as.as_deref(), Some("Lovelace, Ada"));
    assert_eq!(got.company_name.as_deref(), Some("Analytical Engines"));
    assert_eq!(got.job_title.as_deref(), Some("Countess"));
    assert_eq!(got.department.as_deref(), Some("Mathematics"));
    assert_eq!(
        got.business_home_page.as_deref(),
        Some("https://example.com/ada")
    );
    assert_eq!(
        got.birthday_date(),
        chrono::NaiveDate::from_ymd_opt(1815, 12, 10)
    );
    let emails: Vec<_> = got
        .email_addresses
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| e.address.unwrap())
        .collect();
    assert_eq!(
        emails,
        ["ada@example.com", "countess@example.org", "a.l@example.net"]
    );
    assert_eq!(got.business_phones.clone().unwrap(), ["+44 20 1"]);
    assert_eq!(got.home_phones.clone().unwrap(), ["+44 20 2"]);
    assert_eq!(got.mobile_phone.as_deref(), Some("+44 77 3"));
    let h = got.home_address.clone().unwrap();
    assert_eq!(
        (
            h.street.as_deref(),
            h.city.as_deref(),
            h.postal_code.as_deref(),
            h.country_or_region.as_deref()
        ),
        (
            Some("1 St James's Square"),
            Some("London"),
            Some("SW1Y 4JU"),
            Some("United Kingdom")
        )
    );
    assert_eq!(
        got.business_address.clone().unwrap().state.as_deref(),
        Some("Surrey")
    );
    assert_eq!(got.extended(&stamp()), Some("crm-42"));
    assert_eq!(got.extended(&salutation()), Some("Countess"));
    assert_eq!(got.extended(&gender()), Some("1"));
    // Without $expand, Graph leaves the extended properties out.
    let plain = g
        .get_contact(&id, &["givenName".into()], &[])
        .await
        .unwrap();
    assert!(plain.single_value_extended_properties.is_none());
    assert!(plain.surname.is_none(), "$select cuts the answer");
}

#[tokio::test]
async fn a_contact_written_through_graph_reads_back_through_ews_field_by_field() {
    let sim = sim().await;
    let contact = Contact {
        given_name: Some("Grace".into()),
        middle_name: Some("Brewster".into()),
        surname: Some("Hopper".into()),
        company_name: Some("US Navy".into()),
        job_title: Some("Rear Admiral".into()),
        department: Some("Computing".into()),
        business_home_page: Some("https://example.com/grace".into()),
        birthday: Some(birthday_value(
            chrono::NaiveDate::from_ymd_opt(1906, 12, 9).unwrap(),
        )),
        email_addresses: Some(vec![
            EmailAddress {
                name: Some("Grace".into()),
                address: Some("grace@example.com".into()),
            },
            EmailAddress {
                name: None,
                address: Some("admiral@example.org".into()),
            },
        ]),
        business_phones: Some(vec!["+1 555 0100".into()]),
        home_phones: Some(vec!["+1 555 0101".into()]),
        mobile_phone: Some("+1 555 0102".into()),
        business_address: Some(PhysicalAddress {
            street: Some("1 Navy Way".into()),
            city: Some("Arlington".into()),
            state: Some("VA".into()),
            postal_code: Some("22202".into()),
            country_or_region: Some("USA".into()),
        }),
        single_value_extended_properties: Some(vec![
            GraphProp::new(&stamp(), "crm-7"),
            GraphProp::new(&salutation(), "Admiral"),
            GraphProp::new(&gender(), "1"),
        ]),
        ..Default::default()
    };
    let made = client(&sim).create_contacts(None, vec![contact]).await;
    let made = made.into_iter().next().unwrap().unwrap();
    assert_eq!(
        made.display_name.as_deref(),
        Some("Grace Brewster Hopper"),
        "Exchange composes it"
    );

    let items = sim.contacts(ALICE, "contacts");
    assert_eq!(items.len(), 1);
    let read = ews(&sim)
        .get_items(
            &[ItemId::id_only(items[0].id.clone())],
            ItemShape::new(BaseShape::AllProperties, ews_extended()),
        )
        .await
        .unwrap();
    let Ok(Item::Contact(c)) = &read[0] else {
        panic!("{read:?}")
    };
    assert_eq!(c.given_name.as_deref(), Some("Grace"));
    assert_eq!(c.middle_name.as_deref(), Some("Brewster"));
    assert_eq!(c.surname.as_deref(), Some("Hopper"));
    assert_eq!(c.company_name.as_deref(), Some("US Navy"));
    assert_eq!(c.job_title.as_deref(), Some("Rear Admiral"));
    assert_eq!(c.department.as_deref(), Some("Computing"));
    assert_eq!(
        c.business_home_page.as_deref(),
        Some("https://example.com/grace")
    );
    assert_eq!(c.birthday, chrono::NaiveDate::from_ymd_opt(1906, 12, 9));
    assert_eq!(c.email(EmailKey::EmailAddress1), Some("grace@example.com"));
    assert_eq!(
        c.email(EmailKey::EmailAddress2),
        Some("admiral@example.org")
    );
    assert_eq!(c.email(EmailKey::EmailAddress3), None);
    assert_eq!(c.phone(PhoneKey::BusinessPhone), Some("+1 555 0100"));
    assert_eq!(c.phone(PhoneKey::HomePhone), Some("+1 555 0101"));
    assert_eq!(c.phone(PhoneKey::MobilePhone), Some("+1 555 0102"));
    let a = c.address(AddressKey::Business).unwrap();
    assert_eq!(
        (
            a.street.as_deref(),
            a.city.as_deref(),
            a.state.as_deref(),
            a.postal_code.as_deref(),
            a.country_or_region.as_deref()
        ),
        (
            Some("1 Navy Way"),
            Some("Arlington"),
            Some("VA"),
            Some("22202"),
            Some("USA")
        )
    );
    let ext: Vec<(Option<u16>, &str)> = c
        .extended_properties
        .iter()
        .map(|p| {
            (
                p.field_uri.tag_value(),
                p.value.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    assert!(ext.contains(&(None, "crm-7")), "{ext:?}");
    assert!(ext.contains(&(Some(0x3A45), "Admiral")), "{ext:?}");
    assert!(ext.contains(&(Some(0x3A4D), "1")), "{ext:?}");
}

#[tokio::test]
async fn get_item_returns_the_complete_name_composed_from_the_name_parts() {
    let sim = sim().await;
    let ids = sim
        .seed_contacts(
            ALICE,
            "contacts",
            vec![ews_sim::ContactData {
                given_name: Some("Ada".into()),
                middle_name: Some("Augusta".into()),
                surname: Some("Lovelace".into()),
                ..Default::default()
            }],
        )
        .unwrap();
    let read = ews(&sim)
        .get_items(
            &[ItemId::id_only(ids[0].0.clone())],
            ItemShape::new(
                BaseShape::IdOnly,
                [PropertyPath::field("contacts:CompleteName")],
            ),
        )
        .await
        .unwrap();
    let Ok(Item::Contact(c)) = &read[0] else {
        panic!("{read:?}")
    };
    let name = c
        .complete_name
        .as_ref()
        .expect("CompleteName in the answer");
    assert_eq!(name.first_name.as_deref(), Some("Ada"));
    assert_eq!(name.middle_name.as_deref(), Some("Augusta"));
    assert_eq!(name.last_name.as_deref(), Some("Lovelace"));
    assert_eq!(name.full_name.as_deref(), Some("Ada Augusta Lovelace"));
    assert_eq!(name.initials.as_deref(), Some("A.A.L."));
    assert!(c.given_name.is_none(), "IdOnly plus CompleteName only");
}

#[tokio::test]
async fn folders_form_a_tree_under_the_default_contacts_folder() {
    let sim = sim().await;
    let clients = sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    sim.create_folder(ALICE, &clients, "VIP", Some("IPF.Contact"))
        .unwrap();
    sim.create_folder(ALICE, "contacts", "Notes", Some("IPF.Note"))
        .unwrap();
    let tree = client(&sim).folder_tree().await.unwrap();
    assert_eq!(tree.folder.display_name, "Contacts");
    assert_eq!(tree.folder.well_known_name.as_deref(), Some("contacts"));
    let names: Vec<_> = tree
        .children
        .iter()
        .map(|n| n.folder.display_name.as_str())
        .collect();
    assert_eq!(names, ["Clients"], "only contact folders");
    assert_eq!(tree.children[0].children[0].folder.display_name, "VIP");
    assert_eq!(
        tree.children[0].folder.parent_folder_id.as_deref(),
        Some(tree.folder.id.as_str())
    );
    // A contact's parentFolderId addresses its folder.
    let made = client(&sim)
        .create_contacts(
            None,
            vec![Contact {
                given_name: Some("x".into()),
                ..Default::default()
            }],
        )
        .await;
    let made = made.into_iter().next().unwrap().unwrap();
    assert_eq!(
        made.parent_folder_id.as_deref(),
        Some(tree.folder.id.as_str())
    );
}

#[tokio::test]
async fn delta_pages_follow_links_report_removals_and_restart_after_410() {
    let sim = sim().await;
    let folder = sim
        .create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    let seeded = sim
        .seed_contacts(
            ALICE,
            &folder,
            (0..450)
                .map(|i| ews_sim::ContactData {
                    given_name: Some(format!("c{i}")),
                    ..Default::default()
                })
                .collect(),
        )
        .unwrap();
    let g = client(&sim);
    let tree = g.folder_tree().await.unwrap();
    let fid = tree.children[0].folder.id.clone();
    let start = ContactsDelta {
        select: vec!["givenName".into()],
        ..delta(Some(&fid))
    };
    let (entries, delta_link, pages) = drain(&g, &start, None).await;
    assert_eq!((entries.len(), pages), (450, 3));
    assert!(
        entries
            .iter()
            .all(|c| c.given_name.is_some() && c.surname.is_none()),
        "$select kept across pages"
    );
    assert!(delta_link.starts_with(&sim.graph_url()));

    let gone_id = entries
        .iter()
        .find(|c| c.given_name.as_deref() == Some("c3"))
        .unwrap()
        .id
        .clone();
    sim.delete_contact(ALICE, &seeded[3].0).unwrap();
    sim.edit_contact(
        ALICE,
        &seeded[7].0,
        &ews_sim::ContactData {
            job_title: Some("Boss".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let (changes, next_delta, _) = drain(&g, &start, Some(delta_link.clone())).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0].id, gone_id);
    assert_eq!(changes[0].removed.as_ref().unwrap().reason, "deleted");
    assert_eq!(changes[1].given_name.as_deref(), Some("c7"));
    let (none, _, _) = drain(&g, &start, Some(next_delta.clone())).await;
    assert!(none.is_empty());

    sim.add_graph_fault(
        serde_json::from_value::<GraphFaultRule>(
            serde_json::json!({"kind": "delta_gone", "count": 1}),
        )
        .unwrap(),
    );
    let e = g.delta_page(&start, Some(&next_delta)).await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::SyncStateInvalid);
    assert_eq!(e.code(), Some("SyncStateNotFound"));
    // Not followed off the Graph host, whatever the link says.
    let foreign = next_delta.replace("127.0.0.1", "localhost");
    let e = g.delta_page(&start, Some(&foreign)).await.unwrap_err();
    assert_eq!(e.code(), Some("LinkNotOnGraphHost"));
    let garbage = format!(
        "{}/users/{ALICE}/contactFolders/{fid}/contacts/delta?$deltatoken=garbage",
        sim.graph_url()
    );
    assert_eq!(
        g.delta_page(&start, Some(&garbage))
            .await
            .unwrap_err()
            .class(),
        ErrorClass::SyncStateInvalid
    );
}

/// Delta serves `$expand` of extended properties on every page of a round (its links keep
/// it), and refuses it with a 400 the client recognises while the simulator is told to.
#[tokio::test]
async fn delta_expands_extended_properties_through_its_links_unless_refused() {
    let sim = sim().await;
    sim.seed_contacts(
        ALICE,
        "contacts",
        (0..250)
            .map(|i| ews_sim::ContactData {
                given_name: Some(format!("c{i}")),
                ..Default::default()
            })
            .collect(),
    )
    .unwrap();
    let g = client(&sim);
    let start = ContactsDelta {
        select: vec!["givenName".into()],
        extended: vec![stamp(), gender()],
        ..delta(None)
    };
    let (entries, _, pages) = drain(&g, &start, None).await;
    assert_eq!((entries.len(), pages), (250, 2));
    assert!(
        entries
            .iter()
            .all(|c| c.single_value_extended_properties.is_some()),
        "every page expands"
    );
    sim.set_graph_delta_expand(false);
    let e = g.delta_page(&start, None).await.unwrap_err();
    assert!(e.refuses_expand(), "{e:?}");
    let plain = ContactsDelta {
        extended: Vec::new(),
        ..start
    };
    assert!(g.delta_page(&plain, None).await.is_ok());
}

#[tokio::test]
async fn a_patch_with_a_stale_etag_is_a_conflict_and_null_clears() {
    let sim = sim().await;
    let g = client(&sim);
    let made = g
        .create_contacts(
            None,
            vec![Contact {
                given_name: Some("Ann".into()),
                job_title: Some("CEO".into()),
                ..Default::default()
            }],
        )
        .await
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    let id = made.id.clone().unwrap();
    let patch = ContactPatch {
        job_title: Some(None),
        surname: Some(Some("Lee".into())),
        ..Default::default()
    };
    let updated = g
        .update_contacts(vec![(id.clone(), made.if_match(), patch.clone())])
        .await;
    let updated = updated.into_iter().next().unwrap().unwrap();
    assert_eq!(updated.job_title, None);
    assert_eq!(updated.surname.as_deref(), Some("Lee"));
    assert_ne!(updated.etag, made.etag);
    let stale = g
        .update_contacts(vec![(id.clone(), made.if_match(), patch)])
        .await;
    let e = stale.into_iter().next().unwrap().unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict);
    assert_eq!(e.code(), Some("ErrorIrresolvableConflict"));
    // Delete moves it into Deleted Items, as Outlook does; its immutable id stays.
    let folder = made.parent_folder_id.clone();
    assert!(g.delete_contacts(std::slice::from_ref(&id)).await[0].is_ok());
    assert!(sim.contacts(ALICE, "contacts").is_empty());
    assert_eq!(sim.contacts(ALICE, "deleteditems").len(), 1);
    assert_ne!(
        g.get_contact(&id, &[], &[]).await.unwrap().parent_folder_id,
        folder
    );
    let gone = g
        .delete_contacts(&["U0lNR03xjJmGAAAAAQAAAAAAAAAb".into()])
        .await;
    assert_eq!(gone[0].as_ref().unwrap_err().class(), ErrorClass::NotFound);
}

#[tokio::test]
async fn batch_entries_are_judged_on_their_own_and_throttled_ones_are_sent_again() {
    let sim = sim().await;
    let g = client(&sim);
    let made: Vec<String> = g
        .create_contacts(
            None,
            (0..3)
                .map(|i| Contact {
                    given_name: Some(format!("b{i}")),
                    ..Default::default()
                })
                .collect(),
        )
        .await
        .into_iter()
        .map(|r| r.unwrap().id.unwrap())
        .collect();
    sim.clear_requests();
    let fault = |v: serde_json::Value| {
        sim.add_graph_fault(serde_json::from_value::<GraphFaultRule>(v).unwrap())
    };
    fault(
        serde_json::json!({"kind": "batch_item", "url_contains": made[1], "status": 429, "code": "MailboxConcurrency", "retry_after_s": 1, "count": 1}),
    );
    fault(serde_json::json!({"kind": "batch_item", "positions": [2], "status": 404, "count": 1}));
    let started = Instant::now();
    let got = g.get_contacts(&made, &[], &[]).await;
    assert_eq!(got[0].as_ref().unwrap().given_name.as_deref(), Some("b0"));
    assert_eq!(
        got[1].as_ref().unwrap().given_name.as_deref(),
        Some("b1"),
        "sent again after Retry-After"
    );
    assert_eq!(got[2].as_ref().unwrap_err().class(), ErrorClass::NotFound);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured inside the batch"
    );
    let batches = sim
        .requests()
        .iter()
        .filter(|r| r.operation == "graph:batch")
        .count();
    assert_eq!(batches, 2);

    // More than 20 entries are refused whole; the client never sends that many.
    let token = raw_token(&sim).await;
    let requests: Vec<_> = (0..21).map(|i| serde_json::json!({"id": i.to_string(), "method": "GET", "url": format!("/users/{ALICE}")})).collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/$batch", sim.graph_url()))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "requests": requests }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let ids: Vec<String> = (0..45).map(|_| made[0].clone()).collect();
    assert!(
        g.get_contacts(&ids, &["id".into()], &[])
            .await
            .iter()
            .all(Result::is_ok)
    );
}

#[tokio::test]
async fn throttling_waits_for_retry_after_up_to_the_cap() {
    let sim = sim().await;
    let g = client(&sim);
    let fault = |v: serde_json::Value| {
        sim.add_graph_fault(serde_json::from_value::<GraphFaultRule>(v).unwrap())
    };
    fault(
        serde_json::json!({"kind": "throttled", "operation": "folders", "retry_after_s": 1, "count": 1}),
    );
    fault(
        serde_json::json!({"kind": "unavailable", "operation": "folders", "retry_after_s": 1, "count": 1}),
    );
    let started = Instant::now();
    g.contact_folder("contacts").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    fault(
        serde_json::json!({"kind": "throttled", "operation": "folders", "retry_after_s": 600, "count": 1}),
    );
    let started = Instant::now();
    let e = g.contact_folder("contacts").await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Throttled);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a wait beyond the cap fails at once"
    );
}

#[tokio::test]
async fn immutable_ids_survive_a_move_and_rest_ids_do_not() {
    let sim = sim().await;
    sim.create_folder(ALICE, "contacts", "Clients", Some("IPF.Contact"))
        .unwrap();
    let g = client(&sim);
    let mut plain_config = config(&sim, AppCredential::Secret("app-secret".into()));
    plain_config.immutable_ids = false;
    let plain = GraphClient::new(plain_config).unwrap();
    let made = g
        .create_contacts(
            None,
            vec![Contact {
                given_name: Some("Mo".into()),
                ..Default::default()
            }],
        )
        .await;
    let immutable_id = made.into_iter().next().unwrap().unwrap().id.unwrap();
    let ews_id = sim.contacts(ALICE, "contacts")[0].id.clone();
    let (listed, _, _) = drain(&plain, &delta(None), None).await;
    let rest_id = listed[0].id.clone().unwrap();
    assert_ne!(rest_id, immutable_id);
    assert_eq!(
        plain
            .get_contact(&rest_id, &[], &[])
            .await
            .unwrap()
            .given_name
            .as_deref(),
        Some("Mo")
    );

    sim.move_contact(ALICE, &ews_id, "Contacts/Clients")
        .unwrap();
    let moved = g.get_contact(&immutable_id, &[], &[]).await.unwrap();
    assert_eq!(moved.id.as_deref(), Some(immutable_id.as_str()));
    let clients = g.folder_tree().await.unwrap().children[0].folder.id.clone();
    assert_eq!(moved.parent_folder_id.as_deref(), Some(clients.as_str()));
    assert_eq!(
        plain
            .get_contact(&rest_id, &[], &[])
            .await
            .unwrap_err()
            .class(),
        ErrorClass::NotFound
    );
}

#[tokio::test]
async fn the_mailbox_concurrency_limit_answers_429_and_the_client_stays_under_it() {
    let sim = sim().await;
    sim.add_graph_fault(
        serde_json::from_value::<GraphFaultRule>(
            serde_json::json!({"kind": "delay", "operation": "folders", "delay_ms": 300}),
        )
        .unwrap(),
    );
    let token = raw_token(&sim).await;
    let http = reqwest::Client::new();
    let url = format!("{}/users/{ALICE}/contactFolders/contacts", sim.graph_url());
    let statuses =
        futures_util::future::join_all((0..6).map(|_| http.get(&url).bearer_auth(&token).send()))
            .await;
    let throttled: Vec<_> = statuses
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|r| r.status() == 429)
        .collect();
    assert_eq!(
        throttled.len(),
        2,
        "4 run, the rest are over the mailbox's limit"
    );
    assert_eq!(throttled[0].headers()["retry-after"], "1");
    let body: serde_json::Value = futures_util::future::join_all(
        throttled.into_iter().map(|r| r.json::<serde_json::Value>()),
    )
    .await
    .remove(0)
    .unwrap();
    assert_eq!(body["error"]["code"], "MailboxConcurrency");

    sim.clear_requests();
    let g = client(&sim);
    let started = Instant::now();
    let all = futures_util::future::join_all((0..8).map(|_| g.contact_folder("contacts"))).await;
    assert!(all.iter().all(Result::is_ok));
    assert!(
        sim.requests().iter().all(|r| r.status != 429),
        "the client keeps at most 4 in flight"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "two rounds of four"
    );
}

#[tokio::test]
async fn tokens_are_cached_refreshed_once_after_a_401_and_bad_credentials_are_auth_errors() {
    let sim = sim().await;
    let g = client(&sim);
    g.contact_folder("contacts").await.unwrap();
    g.contact_folder("contacts").await.unwrap();
    sim.revoke_graph_tokens();
    g.contact_folder("contacts").await.unwrap();
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 401, 200]);

    let wrong = GraphClient::new(config(&sim, AppCredential::Secret("nope".into()))).unwrap();
    let e = wrong.contact_folder("contacts").await.unwrap_err();
    assert_eq!(e.class(), ErrorClass::Auth);
    assert_eq!(e.code(), Some("invalid_client"));
    assert!(!format!("{e}").contains("nope"));

    let cert = GraphClient::new(config(
        &sim,
        AppCredential::Certificate {
            certificate_pem: include_str!("../../graph/tests/fixtures/app-cert.pem").into(),
            private_key_pem: include_str!("../../graph/tests/fixtures/app-key.pem").into(),
        },
    ))
    .unwrap();
    cert.contact_folder("contacts").await.unwrap();

    let unknown_user = GraphClient::new(ClientConfig {
        user: "nobody@example.com".into(),
        ..config(&sim, AppCredential::Secret("app-secret".into()))
    })
    .unwrap();
    let e = unknown_user.contact_folder("contacts").await.unwrap_err();
    assert_eq!(e.code(), Some("ErrorInvalidUser"));
}
