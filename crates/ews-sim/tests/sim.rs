//! The simulator against real clients: the requests a third-party EWS client sent
//! (replayed verbatim; every answer schema-checked with xmllint when `EWS_SCHEMA_DIR` is
//! set), and the `ews` crate.

use std::path::PathBuf;
use std::process::Command;

use ews_sim::{Credential, SimConfig, SimHandle};

const PROBE: &str = "probe@example.com";
const PROBE_PASSWORD: &str = "probe-secret";
const SERVICE: &str = "svc@example.com";
const SERVICE_PASSWORD: &str = "svc-secret";

/// The captured client requests, kept with the `ews` crate's fixtures.
fn client_requests() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ews/tests/fixtures/client-requests"
    ))
}

/// The official EWS schema folder when `EWS_SCHEMA_DIR` names it (CI does); without it
/// answers are not schema-checked (a fresh clone has no schema beside it).
fn schema_dir() -> Option<PathBuf> {
    std::env::var_os("EWS_SCHEMA_DIR").map(PathBuf::from)
}

async fn sim() -> SimHandle {
    ews_sim::spawn(SimConfig {
        control_listen: None,
        mailboxes: vec![
            Credential::new(PROBE, PROBE_PASSWORD),
            "alice@example.com:alice-secret".parse().unwrap(),
            "bob@example.com:bob-secret".parse().unwrap(),
        ],
        service_accounts: vec![Credential::new(SERVICE, SERVICE_PASSWORD)],
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Validates one answer with xmllint: envelopes against the strict EWS schema, SOAP
/// faults (HTTP 500) against the SOAP 1.1 schema. Fails when xmllint is missing; does
/// nothing when `EWS_SCHEMA_DIR` is not set.
fn validate(status: u16, body: &str, what: &str) {
    let Some(dir) = schema_dir() else {
        return;
    };
    let schema = if status == 500 {
        "soap11-envelope.xsd"
    } else {
        "ews-envelope.xsd"
    };
    let schema = dir.join(schema);
    let file = std::env::temp_dir().join(format!(
        "ews-sim-{}-{}.xml",
        std::process::id(),
        uuid_like()
    ));
    std::fs::write(&file, body).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("EWS_SCHEMA_DIR is set: xmllint must be installed (Debian package libxml2-utils)");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{what}: answer does not validate against {}:\n{}\n{body}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Every `m:ResponseCode` of an answer, in order.
fn codes(body: &str) -> Vec<String> {
    body.split("<m:ResponseCode>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().trim().to_string())
        .collect()
}

/// The text of the first `<tag>` element.
fn first(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let rest = body.split(&open).nth(1)?;
    Some(rest.split('<').next()?.to_string())
}

/// The `Id` and `ChangeKey` of every `t:ItemId` / `t:FolderId` of an answer.
fn ids(body: &str, element: &str) -> Vec<(String, String)> {
    body.split(&format!("<{element} "))
        .skip(1)
        .map(|s| {
            let attr = |name: &str| {
                s.split(&format!("{name}=\""))
                    .nth(1)
                    .map(|v| v.split('"').next().unwrap().to_string())
                    .unwrap_or_default()
            };
            (attr("Id"), attr("ChangeKey"))
        })
        .collect()
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    fn new(sim: &SimHandle) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: sim.ews_url(),
        }
    }

    async fn post_as(&self, user: &str, password: &str, body: String, what: &str) -> (u16, String) {
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(user, Some(password))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("X-AnchorMailbox", PROBE)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        if status != 401 {
            validate(status, &text, what);
        }
        (status, text)
    }

    async fn post(&self, body: String, what: &str) -> (u16, String) {
        self.post_as(PROBE, PROBE_PASSWORD, body, what).await
    }
}

fn captured(name: &str) -> String {
    let dir = client_requests();
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(name))
        .unwrap_or_else(|| panic!("no captured request {name} in {}", dir.display()));
    std::fs::read_to_string(file).unwrap()
}

/// Replaces the id (and the ChangeKey that follows it) of a captured request.
fn with_id(xml: &str, fake: &str, real: &(String, String)) -> String {
    let mut out = xml.replace(&format!("Id=\"{fake}\""), &format!("Id=\"{}\"", real.0));
    for ck in [
        "Q0swMDAwMDAwNQ==",
        "Q0swMDAwMDAwNg==",
        "Q0swMDAwMDAwOQ==",
        "Q0swMDAwMDAwNA==",
        "Q0swMDAwMDAwMg==",
    ] {
        out = out.replace(
            &format!("Id=\"{}\" ChangeKey=\"{ck}\"", real.0),
            &format!("Id=\"{}\" ChangeKey=\"{}\"", real.0, real.1),
        );
    }
    out
}

fn all_success(codes: &[String]) -> bool {
    !codes.is_empty() && codes.iter().all(|c| c == "NoError")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_client_requests_get_exchange_answers_that_validate() {
    let sim = sim().await;
    let c = Client::new(&sim);

    for name in ["01-", "02-", "03-", "05-"] {
        let (status, body) = c.post(captured(name), name).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(all_success(&codes(&body)), "{name}: {body}");
    }

    // 04: ~40 well-known folders at once; the ones the mailbox lacks fail one by one.
    let (status, body) = c.post(captured("04-"), "04").await;
    assert_eq!(status, 200);
    let got = codes(&body);
    assert_eq!(got.len(), 31, "one message per folder id");
    assert!(got.iter().any(|c| c == "ErrorFolderNotFound"), "{got:?}");
    assert!(
        got.iter().filter(|c| *c == "NoError").count() >= 10,
        "{got:?}"
    );
    assert!(body.contains("<t:ContactsFolder>"));

    // 06: the captured FolderId is not one of ours; a real one works.
    let (_, body) = c.post(captured("06-"), "06 verbatim").await;
    assert_eq!(codes(&body), ["ErrorInvalidIdMalformed", "NoError"]);
    let root = sim.with_store(|s| {
        let mb = s.mailbox(PROBE).unwrap();
        let f = mb.folder_by_any("msgfolderroot").unwrap();
        (f.id.clone(), f.change_key.clone())
    });
    let (_, body) = c
        .post(
            with_id(&captured("06-"), "ZmFrZS1mb2xkZXItMDAwMDAy", &root),
            "06",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");

    // 07: CreateFolder below contacts.
    let (_, body) = c.post(captured("07-"), "07").await;
    assert!(all_success(&codes(&body)), "{body}");
    let new_folder = ids(&body, "t:FolderId").remove(0);
    assert!(sim.with_store(|s| {
        s.mailbox(PROBE)
            .unwrap()
            .folder_by_any("Contacts/Capture Subfolder")
            .is_some()
    }));
    // The same name again is refused per folder.
    let (_, body) = c.post(captured("07-"), "07 again").await;
    assert_eq!(codes(&body), ["ErrorFolderExists"]);

    // 08: one contact with many fields.
    let (_, body) = c.post(captured("08-"), "08").await;
    assert!(all_success(&codes(&body)), "{body}");
    let ada = ids(&body, "t:ItemId").remove(0);
    let stored = sim.contact(PROBE, &ada.0).unwrap();
    assert_eq!(stored.data.given_name.as_deref(), Some("Ada"));
    assert_eq!(
        stored.data.email_addresses["EmailAddress3"],
        "ada.other@example.net"
    );
    assert_eq!(
        stored.data.physical_addresses["Home"].city.as_deref(),
        Some("Mockford")
    );
    assert_eq!(stored.data.birthday.as_deref(), Some("1985-07-14"));

    // 09, 10: GetItem with the contact and the all-item-types field sets.
    for name in ["09-", "10-"] {
        let (_, body) = c.post(captured(name), name).await;
        assert_eq!(codes(&body), ["ErrorInvalidIdMalformed"], "{name} verbatim");
        let (_, body) = c
            .post(
                with_id(&captured(name), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
                name,
            )
            .await;
        assert!(all_success(&codes(&body)), "{name}: {body}");
    }
    let (_, body) = c
        .post(
            with_id(&captured("09-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "09",
        )
        .await;
    for text in [
        "Ada Q. Lovelace",
        "Principal Tester",
        "ada.home@example.org",
        "+1 555 0102",
        "22 Harness Road",
    ] {
        assert!(body.contains(text), "GetItem shows {text}: {body}");
    }

    // 11: UpdateItem that deletes and re-sets indexed entries, in order.
    let (_, body) = c
        .post(
            with_id(&captured("11-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "11",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    let updated = sim.contact(PROBE, &ada.0).unwrap();
    assert_ne!(updated.change_key, ada.1, "a write changes the ChangeKey");
    assert_eq!(updated.data.job_title.as_deref(), Some("Chief Tester"));
    assert_eq!(updated.data.office_location.as_deref(), Some("Room 42"));
    assert_eq!(updated.data.phone_numbers["MobilePhone"], "+1 555 0199");
    assert_eq!(updated.data.phone_numbers["BusinessPhone"], "+1 555 0100");
    assert!(
        !updated.data.phone_numbers.contains_key("HomePhone"),
        "{:?}",
        updated.data.phone_numbers
    );
    assert_eq!(
        updated.data.physical_addresses["Business"].city.as_deref(),
        Some("Newtown")
    );
    let ada = (ada.0.clone(), updated.change_key.clone());

    // 12: first SyncFolderItems.
    let (_, body) = c.post(captured("12-"), "12").await;
    assert!(all_success(&codes(&body)), "{body}");
    assert_eq!(
        first(&body, "m:IncludesLastItemInRange").as_deref(),
        Some("true")
    );
    let state = first(&body, "m:SyncState").unwrap();
    assert!(body.contains(&ada.0));

    // 13: two contacts in one CreateItem.
    let (_, body) = c.post(captured("13-"), "13").await;
    assert_eq!(codes(&body), ["NoError", "NoError"]);
    let bulk = ids(&body, "t:ItemId");

    // 14: the captured SyncState is another server's: invalid; ours gives the 2 creates.
    let (status, body) = c.post(captured("14-"), "14 verbatim").await;
    assert_eq!(status, 200);
    assert_eq!(codes(&body), ["ErrorInvalidSyncStateData"]);
    let fresh = captured("14-").replace(
        "eJyrVorKdSuKCjYsSHEPK/EJcSz3dXEs9wu0tVWyUlAKNCgG88Fi6UCxWgB5Sg8D",
        &state,
    );
    let (_, body) = c.post(fresh, "14").await;
    assert!(all_success(&codes(&body)), "{body}");
    assert_eq!(body.matches("<t:Create>").count(), 2, "{body}");
    for (id, _) in &bulk {
        assert!(body.contains(id.as_str()));
    }

    // 15-18: extended property create, find, get, update.
    let (_, body) = c.post(captured("15-"), "15").await;
    assert!(all_success(&codes(&body)), "{body}");
    let ext = ids(&body, "t:ItemId").remove(0);
    let (_, body) = c.post(captured("16-"), "16").await;
    assert!(all_success(&codes(&body)), "{body}");
    assert_eq!(ids(&body, "t:ItemId").len(), 1, "{body}");
    assert_eq!(ids(&body, "t:ItemId")[0].0, ext.0);
    let (_, body) = c
        .post(
            with_id(&captured("17-"), "ZmFrZS1pdGVtLTAwMDAwOA==", &ext),
            "17",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    assert!(body.contains("CRM-0042"), "{body}");
    let (_, body) = c
        .post(
            with_id(&captured("18-"), "ZmFrZS1pdGVtLTAwMDAwOA==", &ext),
            "18",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    let stored = sim.contact(PROBE, &ext.0).unwrap();
    assert_eq!(stored.data.extended_properties[0].value, "CRM-0042-v2");

    // 19: HardDelete; 20: DeleteFolder.
    let (_, body) = c.post(captured("19-"), "19 verbatim").await;
    assert_eq!(codes(&body), ["ErrorInvalidIdMalformed"]);
    let (_, body) = c
        .post(
            with_id(&captured("19-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "19",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    assert!(sim.contact(PROBE, &ada.0).is_none());
    let (_, body) = c
        .post(
            with_id(&captured("19-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "19 twice",
        )
        .await;
    assert_eq!(codes(&body), ["ErrorItemNotFound"]);
    let (_, body) = c
        .post(
            with_id(&captured("20-"), "ZmFrZS1mb2xkZXItMDAwMDA0", &new_folder),
            "20",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");

    // 21: wrong password.
    let (status, _) = c.post_as(PROBE, "wrong", captured("21-"), "21").await;
    assert_eq!(status, 401);

    // The local part works as a user name too.
    let (status, _) = c
        .post_as("probe", PROBE_PASSWORD, captured("01-"), "01 local part")
        .await;
    assert_eq!(status, 200);

    // What it cannot read is an ErrorSchemaValidation fault (validated as SOAP 1.1).
    let (status, body) = c
        .post("<s:Envelope xmlns:s=\"nope\"/>".into(), "garbage")
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("ErrorSchemaValidation"), "{body}");
    let truncated = captured("08-");
    let (status, body) = c
        .post(truncated[..truncated.len() / 2].to_string(), "truncated")
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("ErrorSchemaValidation"), "{body}");

    let log = sim.requests();
    assert!(
        log.iter()
            .any(|r| r.operation == "UpdateItem" && r.outcome == "NoError")
    );
    assert!(log.iter().any(|r| r.status == 401));
    sim.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------
// The `ews` crate's EwsClient against the simulator.

mod client {
    use std::time::Duration;

    use ews::ops::{
        ConflictResolution, DeleteType, FolderTraversal, ItemChange, ItemUpdate, SyncChange,
    };
    use ews::types::{
        AddressKey, AddressPart, BaseFolderId, BaseShape, Contact, EmailKey, ExtendedFieldUri,
        Item, ItemId, ItemShape, PhoneKey, PhysicalAddress, PropertyPath, Restriction,
    };
    use ews::{Auth, ClientConfig, Error, EwsClient, RetryPolicy};
    use ews_sim::{ContactData, FaultKind, FaultRule, SimHandle};

    use super::*;

    const CRM_SET: &str = "6f1d2c5e-3b7a-4e0f-9c21-5a8d4b3e7f10";

    fn crm_id() -> ExtendedFieldUri {
        ExtendedFieldUri::named(CRM_SET, "CrmContactId", "String")
    }

    fn salutation() -> ExtendedFieldUri {
        ExtendedFieldUri::tag(0x3A45, "String")
    }

    fn gender() -> ExtendedFieldUri {
        ExtendedFieldUri::tag(0x3A4D, "Short")
    }

    fn client_for(
        sim: &SimHandle,
        user: &str,
        password: &str,
        impersonate: Option<&str>,
    ) -> EwsClient {
        let mut config = ClientConfig::new(
            sim.ews_url(),
            Auth::Basic {
                username: user.into(),
                password: password.into(),
            },
        );
        config.impersonate = impersonate.map(str::to_string);
        config.request_timeout = Duration::from_secs(5);
        config.retry = RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            max_server_back_off: Duration::from_secs(5),
        };
        EwsClient::new(config).expect("client")
    }

    fn alice(sim: &SimHandle) -> EwsClient {
        client_for(sim, "alice@example.com", "alice-secret", None)
    }

    fn full_shape() -> ItemShape {
        ItemShape::new(
            BaseShape::AllProperties,
            [crm_id().into(), salutation().into(), gender().into()],
        )
    }

    fn full_contact() -> Contact {
        let mut c = Contact {
            given_name: Some("Ada".into()),
            middle_name: Some("Augusta".into()),
            surname: Some("Lovelace".into()),
            display_name: Some("Ada Lovelace".into()),
            file_as: Some("Lovelace, Ada".into()),
            company_name: Some("Analytical Engines".into()),
            job_title: Some("Mathematician".into()),
            department: Some("Research".into()),
            business_home_page: Some("https://example.com/ada".into()),
            birthday: chrono::NaiveDate::from_ymd_opt(1815, 12, 10),
            ..Contact::default()
        };
        c.set_email(EmailKey::EmailAddress1, Some("ada@example.com".into()));
        c.set_email(EmailKey::EmailAddress2, Some("ada@home.example".into()));
        c.set_email(EmailKey::EmailAddress3, Some("ada@other.example".into()));
        c.set_phone(PhoneKey::BusinessPhone, Some("+44 1".into()));
        c.set_phone(PhoneKey::HomePhone, Some("+44 2".into()));
        c.set_phone(PhoneKey::MobilePhone, Some("+44 3".into()));
        for (key, street) in [
            (AddressKey::Business, "1 Work St"),
            (AddressKey::Home, "2 Home Rd"),
        ] {
            c.set_address(
                key,
                Some(PhysicalAddress {
                    key,
                    street: Some(street.into()),
                    city: Some("London".into()),
                    state: Some("LDN".into()),
                    country_or_region: Some("United Kingdom".into()),
                    postal_code: Some("N1".into()),
                }),
            );
        }
        c.set_extended_property(crm_id(), "crm-42");
        c.set_extended_property(salutation(), "Countess");
        c.set_extended_property(gender(), "1");
        c
    }

    async fn get_one(client: &EwsClient, id: &ItemId) -> Result<Contact, Error> {
        let mut got = client
            .get_items(std::slice::from_ref(id), full_shape())
            .await?;
        got.remove(0).map(|i| i.into_contact().expect("a contact"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn folder_tree_with_nested_folders_seeded_through_the_control_api() {
        let sim = sim().await;
        let resp = reqwest::Client::new()
            .post(format!(
                "{}/_sim/mailboxes/alice@example.com/seed",
                sim.base_url()
            ))
            .json(&serde_json::json!({ "folders": ["Contacts/Clients/VIP", "Contacts/Suppliers"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let client = alice(&sim);
        let contacts = client.get_folder(BaseFolderId::contacts()).await.unwrap();
        assert!(contacts.is_contacts());
        assert_eq!(contacts.data().display_name.as_deref(), Some("Contacts"));
        let found = client
            .find_folders(
                BaseFolderId::msgfolderroot(),
                FolderTraversal::Deep,
                Some(Restriction::is_equal_to(
                    PropertyPath::field("folder:FolderClass"),
                    "IPF.Contact",
                )),
            )
            .await
            .unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|f| f.data().display_name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["Contacts", "Clients", "VIP", "Suppliers"]);
        let clients_id = found[1].data().folder_id.clone().unwrap().id;
        let vip_parent = found[2].data().parent_folder_id.clone().unwrap().id;
        assert_eq!(vip_parent, clients_id, "VIP sits below Clients");
        let shallow = client
            .find_folders(BaseFolderId::contacts(), FolderTraversal::Shallow, None)
            .await
            .unwrap();
        assert_eq!(shallow.len(), 2);
        let new = client
            .create_folder(BaseFolderId::id(clients_id.clone()), "Gold")
            .await
            .unwrap();
        assert!(sim.with_store(|s| {
            s.mailbox("alice@example.com")
                .unwrap()
                .folder_by_any("Contacts/Clients/Gold")
                .is_some()
        }));
        client
            .delete_folder(BaseFolderId::id(new.id), DeleteType::HardDelete)
            .await
            .unwrap();
        let err = client
            .delete_folder(BaseFolderId::contacts(), DeleteType::HardDelete)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ErrorDeleteDistinguishedFolder"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contacts_round_trip_every_field_and_extended_property() {
        let sim = sim().await;
        let client = alice(&sim);
        let sent = full_contact();
        let created = client
            .create_items(
                Some(BaseFolderId::contacts()),
                vec![Item::Contact(sent.clone())],
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let got = get_one(&client, &created).await.unwrap();
        assert_eq!(got.item_id.as_ref(), Some(&created));
        for (a, b) in [
            (&got.given_name, &sent.given_name),
            (&got.middle_name, &sent.middle_name),
            (&got.surname, &sent.surname),
            (&got.display_name, &sent.display_name),
            (&got.file_as, &sent.file_as),
            (&got.company_name, &sent.company_name),
            (&got.job_title, &sent.job_title),
            (&got.department, &sent.department),
            (&got.business_home_page, &sent.business_home_page),
        ] {
            assert_eq!(a, b);
        }
        assert_eq!(got.birthday, sent.birthday);
        for k in [
            EmailKey::EmailAddress1,
            EmailKey::EmailAddress2,
            EmailKey::EmailAddress3,
        ] {
            assert_eq!(got.email(k), sent.email(k));
        }
        for k in [
            PhoneKey::BusinessPhone,
            PhoneKey::HomePhone,
            PhoneKey::MobilePhone,
        ] {
            assert_eq!(got.phone(k), sent.phone(k));
        }
        for k in [AddressKey::Business, AddressKey::Home] {
            assert_eq!(got.address(k), sent.address(k));
        }
        for uri in [crm_id(), salutation(), gender()] {
            assert_eq!(got.extended_property(&uri), sent.extended_property(&uri));
        }
        assert!(got.last_modified_time.is_some());

        // Extended properties come only when asked for, as in Exchange.
        let plain = client
            .get_items(
                std::slice::from_ref(&created),
                ItemShape::new(BaseShape::AllProperties, []),
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap()
            .into_contact()
            .unwrap();
        assert!(plain.extended_properties.is_empty());

        // Update: set, clear indexed entries and address parts, change an extended property.
        let mut updates = vec![
            ItemUpdate::set_field(
                "contacts:JobTitle",
                Contact {
                    job_title: Some("Countess".into()),
                    ..Contact::default()
                },
            ),
            ItemUpdate::delete_phone(PhoneKey::HomePhone),
            ItemUpdate::delete_email(EmailKey::EmailAddress3),
            ItemUpdate::delete(PropertyPath::field("contacts:Birthday")),
            ItemUpdate::set_extended(crm_id(), "crm-43"),
            ItemUpdate::delete_extended(gender()),
            ItemUpdate::delete_phone(PhoneKey::MobilePhone),
            ItemUpdate::set_phone(PhoneKey::MobilePhone, "+44 9"),
        ];
        updates.extend(
            AddressPart::ALL
                .into_iter()
                .map(|p| ItemUpdate::delete_address_part(AddressKey::Home, p)),
        );
        let new_id = client
            .update_items(
                vec![ItemChange::new(created.clone(), updates)],
                ConflictResolution::NeverOverwrite,
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(new_id.id, created.id);
        assert_ne!(new_id.change_key, created.change_key);
        let got = get_one(&client, &new_id).await.unwrap();
        assert_eq!(got.job_title.as_deref(), Some("Countess"));
        assert_eq!(got.phone(PhoneKey::HomePhone), None);
        assert_eq!(got.phone(PhoneKey::MobilePhone), Some("+44 9"));
        assert_eq!(got.email(EmailKey::EmailAddress3), None);
        assert_eq!(got.email(EmailKey::EmailAddress1), Some("ada@example.com"));
        assert_eq!(got.birthday, None);
        assert_eq!(got.address(AddressKey::Home), None);
        assert!(got.address(AddressKey::Business).is_some());
        assert_eq!(got.extended_property(&crm_id()), Some("crm-43"));
        assert_eq!(got.extended_property(&gender()), None);
        assert_eq!(got.extended_property(&salutation()), Some("Countess"));

        // Found by its CRM id.
        let hits = client
            .find_items_by_extended_property(
                BaseFolderId::contacts(),
                &crm_id(),
                "crm-43",
                ItemShape::id_only(),
            )
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].item_id().unwrap().id, created.id);

        // Delete, then it is gone for reads and for a second delete.
        let deleted = client
            .delete_items(std::slice::from_ref(&new_id), DeleteType::HardDelete)
            .await
            .unwrap();
        assert!(deleted[0].is_ok());
        assert!(matches!(
            get_one(&client, &new_id).await,
            Err(Error::NotFound { .. })
        ));
        let again = client
            .delete_items(std::slice::from_ref(&new_id), DeleteType::HardDelete)
            .await
            .unwrap();
        assert_eq!(
            again[0].as_ref().unwrap_err().code(),
            Some("ErrorItemNotFound")
        );
    }

    async fn drain(
        client: &EwsClient,
        mut state: Option<String>,
    ) -> (Vec<SyncChange>, String, usize) {
        let mut changes = Vec::new();
        let mut pages = 0;
        loop {
            let page = client
                .sync_folder_items(BaseFolderId::contacts(), state.as_deref(), 512, Vec::new())
                .await
                .unwrap();
            pages += 1;
            assert!(page.changes.len() <= 512);
            changes.extend(page.changes);
            state = Some(page.sync_state);
            if page.includes_last_item_in_range {
                return (changes, state.unwrap(), pages);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sync_pages_1300_items_at_512_then_reports_incremental_changes() {
        let sim = sim().await;
        let seeded = sim
            .seed_contacts(
                "alice@example.com",
                "contacts",
                (0..1300)
                    .map(|i| ContactData {
                        given_name: Some(format!("c{i}")),
                        ..ContactData::default()
                    })
                    .collect(),
            )
            .unwrap();
        let client = alice(&sim);
        let (changes, state, pages) = drain(&client, None).await;
        assert_eq!(pages, 3);
        assert_eq!(changes.len(), 1300);
        assert!(changes.iter().all(|c| matches!(c, SyncChange::Create(_))));
        let mut ids: Vec<_> = changes
            .iter()
            .map(|c| c.item_id().unwrap().id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1300);

        let (nothing, state, _) = drain(&client, Some(state)).await;
        assert!(nothing.is_empty());

        let edited_ck = sim
            .edit_contact(
                "alice@example.com",
                &seeded[10].0,
                &ContactData {
                    job_title: Some("Edited in Outlook".into()),
                    ..ContactData::default()
                },
            )
            .unwrap();
        assert_ne!(edited_ck, seeded[10].1);
        sim.delete_contact("alice@example.com", &seeded[20].0)
            .unwrap();
        let new = client
            .create_items(
                None,
                vec![Item::Contact(Contact {
                    given_name: Some("new".into()),
                    ..Contact::default()
                })],
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let (changes, _, pages) = drain(&client, Some(state)).await;
        assert_eq!(pages, 1);
        assert_eq!(changes.len(), 3, "{changes:?}");
        match &changes[0] {
            SyncChange::Update(u) => {
                let id = u.item.item_id().unwrap();
                assert_eq!(id.id, seeded[10].0);
                assert_eq!(id.change_key.as_deref(), Some(edited_ck.as_str()));
            }
            other => panic!("expected an update, got {other:?}"),
        }
        assert!(matches!(&changes[1], SyncChange::Delete(d) if d.item_id.id == seeded[20].0));
        assert!(
            matches!(&changes[2], SyncChange::Create(c) if c.item.item_id().unwrap().id == new.id)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_change_key_with_never_overwrite_is_a_conflict() {
        let sim = sim().await;
        let client = alice(&sim);
        let (id, ck) = sim
            .seed_contacts(
                "alice@example.com",
                "contacts",
                vec![ContactData::default()],
            )
            .unwrap()
            .remove(0);
        sim.edit_contact(
            "alice@example.com",
            &id,
            &ContactData {
                surname: Some("changed by the user".into()),
                ..ContactData::default()
            },
        )
        .unwrap();
        let change = || {
            ItemChange::new(
                ItemId::new(id.clone(), ck.clone()),
                [ItemUpdate::set_field(
                    "contacts:JobTitle",
                    Contact {
                        job_title: Some("x".into()),
                        ..Contact::default()
                    },
                )],
            )
        };
        let r = client
            .update_items(vec![change()], ConflictResolution::NeverOverwrite)
            .await
            .unwrap();
        assert!(
            matches!(r[0], Err(Error::ChangeKeyConflict { .. })),
            "{r:?}"
        );
        let r = client
            .update_items(vec![change()], ConflictResolution::AlwaysOverwrite)
            .await
            .unwrap();
        assert!(r[0].is_ok(), "{r:?}");
        let no_key = ItemChange::new(
            ItemId::id_only(id.clone()),
            [ItemUpdate::delete_phone(PhoneKey::HomePhone)],
        );
        let r = client
            .update_items(vec![no_key], ConflictResolution::AlwaysOverwrite)
            .await
            .unwrap();
        assert_eq!(
            r[0].as_ref().unwrap_err().code(),
            Some("ErrorChangeKeyRequiredForWriteOperations")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invalid_sync_states_are_reported_as_such() {
        let sim = sim().await;
        let client = alice(&sim);
        let err = client
            .sync_folder_items(BaseFolderId::contacts(), Some("garbage"), 512, Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidSyncState { .. }), "{err:?}");
        let (_, state, _) = drain(&client, None).await;
        sim.add_fault(FaultRule {
            when: Default::default(),
            id: 0,
            operation: Some("SyncFolderItems".into()),
            mailbox: None,
            count: Some(1),
            fault: FaultKind::InvalidSyncState,
        });
        let err = client
            .sync_folder_items(BaseFolderId::contacts(), Some(&state), 512, Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidSyncState { .. }), "{err:?}");
        // The fault was used up: the same state works again.
        client
            .sync_folder_items(BaseFolderId::contacts(), Some(&state), 512, Vec::new())
            .await
            .unwrap();
        // A reset makes old states invalid, as a rebuilt mailbox would.
        sim.reset();
        let err = client
            .sync_folder_items(BaseFolderId::contacts(), Some(&state), 512, Vec::new())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidSyncState { .. }), "{err:?}");
    }

    fn fault(operation: &str, count: u32, fault: FaultKind) -> FaultRule {
        FaultRule {
            when: Default::default(),
            id: 0,
            operation: Some(operation.into()),
            mailbox: None,
            count: Some(count),
            fault,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_busy_back_off_is_honoured() {
        let sim = sim().await;
        let client = alice(&sim);
        sim.add_fault(fault(
            "GetFolder",
            1,
            FaultKind::ServerBusy { back_off_ms: 400 },
        ));
        client.get_folder(BaseFolderId::contacts()).await.unwrap();
        let log: Vec<_> = sim
            .requests()
            .into_iter()
            .filter(|r| r.operation == "GetFolder")
            .collect();
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(log[0].status, 500);
        assert_eq!(log[0].outcome, "fault:server_busy");
        assert_eq!(log[1].outcome, "NoError");
        let gap = log[1].at_ms - log[0].at_ms;
        assert!(gap >= 400, "the client waited only {gap} ms");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_500_and_connection_resets_are_retried() {
        let sim = sim().await;
        let client = alice(&sim);
        sim.add_fault(fault("GetFolder", 2, FaultKind::Http500));
        client.get_folder(BaseFolderId::contacts()).await.unwrap();
        sim.add_fault(fault("GetFolder", 1, FaultKind::ConnectionReset));
        client.get_folder(BaseFolderId::contacts()).await.unwrap();
        let outcomes: Vec<_> = sim
            .requests()
            .into_iter()
            .map(|r| (r.status, r.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                (500, "fault:http500".to_string()),
                (500, "fault:http500".to_string()),
                (200, "NoError".to_string()),
                (0, "fault:connection_reset".to_string()),
                (200, "NoError".to_string()),
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delay_beyond_the_client_timeout_is_retried() {
        let sim = sim().await;
        let mut config = ClientConfig::new(
            sim.ews_url(),
            Auth::Basic {
                username: "alice".into(),
                password: "alice-secret".into(),
            },
        );
        config.request_timeout = Duration::from_millis(300);
        config.retry.min_delay = Duration::from_millis(10);
        config.retry.max_delay = Duration::from_millis(50);
        let client = EwsClient::new(config).unwrap();
        sim.add_fault(fault("GetFolder", 1, FaultKind::Delay { delay_ms: 1000 }));
        client.get_folder(BaseFolderId::contacts()).await.unwrap();
        // The abandoned request is logged when the simulator finishes it.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let log: Vec<_> = sim
            .requests()
            .into_iter()
            .filter(|r| r.operation == "GetFolder")
            .collect();
        assert_eq!(log.len(), 2, "the timed-out call was sent again: {log:?}");
        assert!(log[0].duration_ms >= 1000, "{log:?}");
        // The retry left while the first call was still being served: the client gave up
        // on it (a timing bound here would fail on a loaded machine).
        let first_answered = log[0].at_ms + log[0].duration_ms as i64;
        assert!(log[1].at_ms < first_answered, "{log:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn malformed_xml_is_a_clear_error() {
        let sim = sim().await;
        let client = alice(&sim);
        sim.add_fault(fault("GetFolder", 10, FaultKind::MalformedXml));
        let err = client
            .get_folder(BaseFolderId::contacts())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::MalformedResponse(_)), "{err:?}");
        assert!(!err.to_string().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_password_is_an_auth_error() {
        let sim = sim().await;
        let client = client_for(&sim, "alice@example.com", "wrong", None);
        let err = client
            .get_folder(BaseFolderId::contacts())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{err:?}");
        let bearer = EwsClient::new(ClientConfig::new(
            sim.ews_url(),
            Auth::Bearer {
                token: "alice-secret".into(),
            },
        ))
        .unwrap();
        bearer.get_folder(BaseFolderId::contacts()).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn impersonation_is_allowed_for_service_accounts_only() {
        let sim = sim().await;
        let service = client_for(&sim, SERVICE, SERVICE_PASSWORD, Some("alice@example.com"));
        service
            .create_items(
                None,
                vec![Item::Contact(Contact {
                    given_name: Some("via service".into()),
                    ..Contact::default()
                })],
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(sim.contacts("alice@example.com", "contacts").len(), 1);
        assert!(sim.contacts("bob@example.com", "contacts").is_empty());

        let bob_as_alice = client_for(
            &sim,
            "bob@example.com",
            "bob-secret",
            Some("alice@example.com"),
        );
        let err = bob_as_alice
            .get_folder(BaseFolderId::contacts())
            .await
            .unwrap_err();
        // The client sees an authorization failure naming Exchange's code.
        assert!(matches!(err, Error::Auth { .. }), "{err:?}");
        assert!(
            err.to_string().contains("ErrorImpersonateUserDenied"),
            "{err}"
        );

        let nobody = client_for(&sim, SERVICE, SERVICE_PASSWORD, Some("nobody@example.com"));
        let err = nobody
            .get_folder(BaseFolderId::contacts())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("ErrorNonExistentMailbox"),
            "{err:?}"
        );
        let log = sim.requests();
        assert!(
            log.iter()
                .any(|r| r.outcome == "ErrorImpersonateUserDenied" && r.status == 500)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_state_file_survives_a_restart() {
        let file = std::env::temp_dir().join(format!("ews-sim-state-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let config = SimConfig {
            control_listen: None,
            mailboxes: vec![Credential::new("alice@example.com", "alice-secret")],
            state_file: Some(file.clone()),
            ..SimConfig::default()
        };
        let first = ews_sim::spawn(config.clone()).await.unwrap();
        let (id, ck) = first
            .seed_contacts(
                "alice@example.com",
                "contacts",
                vec![ContactData {
                    given_name: Some("kept".into()),
                    ..ContactData::default()
                }],
            )
            .unwrap()
            .remove(0);
        let state = alice(&first)
            .sync_folder_items(BaseFolderId::contacts(), None, 512, Vec::new())
            .await
            .unwrap()
            .sync_state;
        first.stop().await.unwrap();
        let second = ews_sim::spawn(config).await.unwrap();
        let got = second.contact("alice@example.com", &id).unwrap();
        assert_eq!(got.change_key, ck);
        let page = alice(&second)
            .sync_folder_items(BaseFolderId::contacts(), Some(&state), 512, Vec::new())
            .await
            .unwrap();
        assert!(page.changes.is_empty(), "the sync state is still valid");
        second.stop().await.unwrap();
        let _ = std::fs::remove_file(&file);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_seeds_inspects_edits_injects_and_resets() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let s = format!("{}/_sim", sim.base_url());
    let mb = format!("{s}/mailboxes/alice@example.com");

    let seeded: serde_json::Value = http
        .post(format!("{mb}/seed"))
        .json(&serde_json::json!({
            "folders": ["Contacts/Clients"],
            "folder": "Contacts/Clients",
            "contacts": [{ "given_name": "Ada", "email_addresses": { "EmailAddress1": "ada@example.com" } }],
            "generate": 3
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seeded["items"].as_array().unwrap().len(), 4);
    let id = seeded["items"][0]["id"].as_str().unwrap().to_string();
    let ck = seeded["items"][0]["change_key"]
        .as_str()
        .unwrap()
        .to_string();

    let folders: serde_json::Value = http
        .get(format!("{mb}/folders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clients = folders
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["display_name"] == "Clients")
        .unwrap();
    assert_eq!(clients["total_count"], 4);
    assert_eq!(clients["folder_class"], "IPF.Contact");

    let listed: serde_json::Value = http
        .get(format!("{mb}/contacts?folder=Contacts/Clients"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4);
    assert_eq!(
        listed[0]["email_addresses"]["EmailAddress1"],
        "ada@example.com"
    );

    // Edit as the Exchange user: merged, new ChangeKey.
    let edited: serde_json::Value = http
        .patch(format!("{mb}/contacts/{id}"))
        .json(&serde_json::json!({ "job_title": "Countess" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["given_name"], "Ada");
    assert_eq!(edited["job_title"], "Countess");
    assert_ne!(edited["change_key"].as_str().unwrap(), ck);
    let bad = http
        .patch(format!("{mb}/contacts/{id}"))
        .json(&serde_json::json!({ "no_such_field": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let resp = http
        .delete(format!("{mb}/contacts/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = http
        .get(format!("{mb}/contacts/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // Faults and latency through HTTP.
    let rule: serde_json::Value = http
        .post(format!("{s}/faults"))
        .json(&serde_json::json!({ "operation": "GetFolder", "kind": "delay", "delay_ms": 300, "count": 1 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rule["kind"], "delay");
    let faults: serde_json::Value = http
        .get(format!("{s}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults.as_array().unwrap().len(), 1);
    let c = Client::new(&sim);
    let started = std::time::Instant::now();
    let (status, _) = c
        .post_as(
            "alice@example.com",
            "alice-secret",
            captured("02-").replace(PROBE, "alice@example.com"),
            "delayed",
        )
        .await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    let resp = http
        .put(format!("{s}/latency"))
        .json(&serde_json::json!({ "latency_ms": 5 }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // gzip when the client accepts it.
    let resp = http
        .post(sim.ews_url())
        .basic_auth("alice", Some("alice-secret"))
        .header("Accept-Encoding", "gzip")
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(captured("02-").replace(PROBE, "alice@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");

    // Bearer tokens and 401s.
    let resp = http
        .post(sim.ews_url().to_uppercase().replace("HTTP://", "http://"))
        .bearer_auth("alice-secret")
        .body(captured("01-").replace(PROBE, "alice@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "bearer token on the upper-case path");
    let resp = http
        .post(sim.ews_url())
        .body(captured("01-"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );

    let log: serde_json::Value = http
        .get(format!("{s}/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = log.as_array().unwrap();
    assert!(log.len() >= 4);
    assert!(
        log.iter()
            .all(|r| r["at_ms"].as_i64().is_some() && r["operation"].is_string())
    );
    assert_eq!(log.last().unwrap()["status"], 401);

    let resp = http.post(format!("{s}/reset")).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert!(sim.contacts("alice@example.com", "contacts").is_empty());
    assert!(sim.requests().is_empty());
    let folders: serde_json::Value = http
        .get(format!("{mb}/folders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        folders
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["display_name"] != "Clients")
    );
}
