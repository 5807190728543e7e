//! Protocol tests: golden requests validated with xmllint, every sample parsed.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ews::client::requests;
use ews::envelope::{self, Body, Header};
use ews::ops::*;
use ews::types::*;

/// The samples and captured requests kept in the repository.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The samples credited to other projects stay in the EWS reference pack; the tests that
/// read them run when `EWS_REFERENCE_SAMPLES` names its `samples` folder (CI does).
fn reference_dir() -> Option<PathBuf> {
    std::env::var_os("EWS_REFERENCE_SAMPLES").map(PathBuf::from)
}

/// The official EWS schema folder, when `EWS_SCHEMA_DIR` names it (CI does): what we
/// send and every sample is then validated with xmllint.
fn schema_dir() -> Option<PathBuf> {
    std::env::var_os("EWS_SCHEMA_DIR").map(PathBuf::from)
}

fn path_of(dir: &str, name: &str) -> PathBuf {
    let own = fixtures().join(dir).join(name);
    match reference_dir() {
        Some(reference) if !own.exists() && dir == "samples" => reference.join(name),
        _ => own,
    }
}

fn read(dir: &str, name: &str) -> String {
    let path = path_of(dir, name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn xml_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect()
}

/// Our fixtures of `dir`, plus the reference samples when CI points at them.
fn files(dir: &str) -> Vec<String> {
    let mut names = xml_names(&fixtures().join(dir));
    if let (Some(reference), "samples") = (reference_dir(), dir) {
        names.extend(xml_names(&reference));
    }
    names.sort();
    names.dedup();
    names
}

/// Runs the body of a test that reads reference samples, or says why it is skipped.
fn with_reference(test: impl FnOnce()) {
    if reference_dir().is_some() {
        test()
    } else {
        eprintln!("skipped: EWS_REFERENCE_SAMPLES is not set (see tests/fixtures/README.md)");
    }
}

#[test]
fn every_sample_and_client_request_parses() {
    let mut failures = Vec::new();
    for (dir, name) in files("samples").into_iter().map(|n| ("samples", n)).chain(
        files("client-requests")
            .into_iter()
            .map(|n| ("client-requests", n)),
    ) {
        match envelope::parse(&read(dir, &name)) {
            Ok((_, body)) => {
                let op = name.split('-').nth(1).unwrap();
                assert!(
                    body.name().starts_with(op) || body.name() == "Fault",
                    "{name}: parsed as {}",
                    body.name()
                );
                let _ = matches!(body, Body::Fault(_));
            }
            Err(e) => failures.push(format!("{dir}/{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs xmllint against `schema` (a file of `EWS_SCHEMA_DIR`); `Ok` when validation is off.
fn xmllint(schema: &str, file: &Path) -> Result<(), String> {
    let Some(dir) = schema_dir() else {
        return Ok(());
    };
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(dir.join(schema))
        .arg(file)
        .output()
        .expect(
            "EWS_SCHEMA_DIR is set: xmllint must be installed (apt-get install -y libxml2-utils)",
        );
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn every_sample_reserialized_is_schema_valid() {
    let dir = std::env::temp_dir().join(format!("ews-reser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (src, name) in files("samples").into_iter().map(|n| ("samples", n)).chain(
        files("client-requests")
            .into_iter()
            .map(|n| ("client-requests", n)),
    ) {
        let (header, body) = envelope::parse(&read(src, &name)).unwrap();
        let xml = envelope::to_xml(&header, &body).unwrap();
        let path = dir.join(&name);
        std::fs::write(&path, &xml).unwrap();
        let schema = if matches!(body, Body::Fault(_)) {
            "soap11-envelope.xsd"
        } else {
            "ews-envelope.xsd"
        };
        if let Err(e) = xmllint(schema, &path) {
            failures.push(e);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const CRM_SET: &str = "3d4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7";

fn crm_id() -> ExtendedFieldUri {
    ExtendedFieldUri::named(CRM_SET, "CrmContactId", "String")
}

/// A contact with every field of SPEC §6.
fn full_contact() -> Contact {
    let mut c = Contact {
        file_as: Some("Plate, Tanja".into()),
        display_name: Some("Tanja Plate".into()),
        given_name: Some("Tanja".into()),
        middle_name: Some("Maria".into()),
        company_name: Some("Northwind Traders".into()),
        birthday: NaiveDate::from_ymd_opt(1980, 5, 17),
        business_home_page: Some("https://www.northwindtraders.example/".into()),
        department: Some("Procurement".into()),
        job_title: Some("Project Manager".into()),
        surname: Some("Plate".into()),
        ..Contact::default()
    };
    c.set_extended_property(crm_id(), "0b0e8a52-1111-4c4c-9999-000000000123");
    c.set_extended_property(ExtendedFieldUri::tag(0x3A45, "String"), "Dr.");
    c.set_extended_property(ExtendedFieldUri::tag(0x3A4D, "Short"), "1");
    c.set_email(
        EmailKey::EmailAddress1,
        Some("tplate@northwind.example".into()),
    );
    c.set_email(EmailKey::EmailAddress2, Some("tanja@example.com".into()));
    c.set_email(EmailKey::EmailAddress3, Some("tanja@example.org".into()));
    c.set_phone(PhoneKey::BusinessPhone, Some("+1 562 555 0199".into()));
    c.set_phone(PhoneKey::HomePhone, Some("+1 562 555 0142".into()));
    c.set_phone(PhoneKey::MobilePhone, Some("+1 562 555 0177".into()));
    for (key, street) in [
        (AddressKey::Business, "12345 67th Ave"),
        (AddressKey::Home, "42 Elm Street"),
    ] {
        let mut a = PhysicalAddress::new(key);
        a.street = Some(street.into());
        a.city = Some("Whittier".into());
        a.state = Some("CA".into());
        a.country_or_region = Some("United States".into());
        a.postal_code = Some("90601".into());
        c.set_address(key, Some(a));
    }
    c
}

fn id(n: u32) -> ItemId {
    ItemId::new(format!("AAMkItem{n:04}"), format!("CK{n:04}"))
}

/// Every request the client sends, as the typed methods build it.
fn golden_requests() -> Vec<(&'static str, Header, Body)> {
    let plain = Header::request("Exchange2013_SP1", None);
    let imp = Header::request("Exchange2013_SP1", Some("alice@example.com"));
    let contact_shape = ItemShape::new(
        BaseShape::AllProperties,
        [
            crm_id().into(),
            ExtendedFieldUri::tag(0x3A45, "String").into(),
            ExtendedFieldUri::tag(0x3A4D, "Short").into(),
        ],
    );
    let contact_class =
        Restriction::is_equal_to(PropertyPath::field("folder:FolderClass"), "IPF.Contact");
    let updates = ItemChange::new(
        id(1),
        [
            ItemUpdate::set_field(
                "contacts:JobTitle",
                Contact {
                    job_title: Some("CTO".into()),
                    ..Contact::default()
                },
            ),
            ItemUpdate::set_field(
                "contacts:Birthday",
                Contact {
                    birthday: NaiveDate::from_ymd_opt(1981, 2, 3),
                    ..Contact::default()
                },
            ),
            ItemUpdate::set_email(EmailKey::EmailAddress1, "new@example.com"),
            ItemUpdate::delete_email(EmailKey::EmailAddress3),
            ItemUpdate::set_phone(PhoneKey::MobilePhone, "+1 425 555 0123"),
            ItemUpdate::delete_phone(PhoneKey::HomePhone),
            ItemUpdate::set_address_part(AddressKey::Business, AddressPart::City, "Redmond"),
            ItemUpdate::delete_address_part(AddressKey::Home, AddressPart::PostalCode),
            ItemUpdate::set_extended(ExtendedFieldUri::tag(0x3A4D, "Short"), "2"),
            ItemUpdate::delete_extended(ExtendedFieldUri::tag(0x3A45, "String")),
            ItemUpdate::delete(PropertyPath::field("contacts:Department")),
        ],
    );
    let second = ItemChange::new(
        id(2),
        [ItemUpdate::set_field(
            "contacts:CompanyName",
            Contact {
                company_name: Some("Contoso".into()),
                ..Contact::default()
            },
        )],
    );
    vec![
        (
            "GetFolder-contacts",
            plain.clone(),
            requests::get_folder(BaseFolderId::contacts()).into(),
        ),
        (
            "FindFolder-contact-folders",
            plain.clone(),
            requests::find_folders(
                BaseFolderId::msgfolderroot(),
                FolderTraversal::Deep,
                Some(contact_class),
                0,
            )
            .into(),
        ),
        (
            "CreateFolder",
            plain.clone(),
            requests::create_folder(BaseFolderId::contacts(), "CRM Contacts").into(),
        ),
        (
            "SyncFolderItems-initial",
            plain.clone(),
            requests::sync_folder_items(BaseFolderId::contacts(), None, 512, vec![]).into(),
        ),
        (
            "SyncFolderItems-incremental-impersonation",
            imp.clone(),
            requests::sync_folder_items(
                BaseFolderId::id("AAMkFolder"),
                Some("H4sIAAAA"),
                512,
                vec![id(9)],
            )
            .into(),
        ),
        (
            "GetItem-batch",
            plain.clone(),
            requests::get_items(&[id(1), id(2), id(3)], contact_shape.clone()).into(),
        ),
        (
            "FindItem-by-crm-id",
            plain.clone(),
            requests::find_items_by_extended_property(
                BaseFolderId::contacts(),
                &crm_id(),
                "0b0e8a52",
                ItemShape::id_only(),
                0,
            )
            .into(),
        ),
        (
            "CreateItem-batch",
            imp,
            requests::create_items(
                Some(BaseFolderId::id("AAMkFolder")),
                vec![
                    full_contact().into(),
                    Contact {
                        display_name: Some("Minimal".into()),
                        ..Contact::default()
                    }
                    .into(),
                ],
            )
            .into(),
        ),
        (
            "UpdateItem-batch",
            plain.clone(),
            requests::update_items(vec![updates, second], ConflictResolution::NeverOverwrite)
                .into(),
        ),
        (
            "DeleteItem-batch",
            plain.clone(),
            requests::delete_items(&[id(1), id(2)], DeleteType::MoveToDeletedItems).into(),
        ),
        (
            "DeleteFolder",
            plain,
            requests::delete_folder(BaseFolderId::id("AAMkFolder"), DeleteType::HardDelete).into(),
        ),
    ]
}

#[test]
fn golden_requests_match_serializer_and_schema() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (name, header, body) in golden_requests() {
        let xml = envelope::to_xml(&header, &body).unwrap();
        let path = dir.join(format!("{name}.xml"));
        if update {
            std::fs::write(&path, &xml).unwrap();
        } else {
            let golden = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
            if golden != xml {
                failures.push(format!(
                    "{name}: serializer output differs from golden (UPDATE_GOLDEN=1 to accept)"
                ));
            }
        }
        // What we send must also read back as the same request.
        let (parsed_header, parsed) = envelope::parse(&xml).unwrap();
        assert_eq!(parsed_header, header, "{name}");
        assert_eq!(parsed, body, "{name}");
        if let Err(e) = xmllint("ews-envelope.xsd", &path) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the client sends (`request_xml`, straight from the request) is the golden text,
/// byte for byte, whatever the operation.
#[test]
fn request_xml_writes_what_the_body_writes() {
    fn same<O: Operation>(name: &str, header: &Header, op: &O, body: &Body) {
        let direct = envelope::request_xml(header, op).unwrap();
        assert_eq!(direct, envelope::to_xml(header, body).unwrap(), "{name}");
    }
    for (name, header, body) in golden_requests() {
        match &body {
            Body::GetFolder(op) => same(name, &header, op, &body),
            Body::FindFolder(op) => same(name, &header, op, &body),
            Body::CreateFolder(op) => same(name, &header, op, &body),
            Body::DeleteFolder(op) => same(name, &header, op, &body),
            Body::SyncFolderItems(op) => same(name, &header, op, &body),
            Body::GetItem(op) => same(name, &header, op, &body),
            Body::FindItem(op) => same(name, &header, op, &body),
            Body::CreateItem(op) => same(name, &header, op, &body),
            Body::UpdateItem(op) => same(name, &header, op, &body),
            Body::DeleteItem(op) => same(name, &header, op, &body),
            other => panic!("{name}: {} is not a request", other.name()),
        }
    }
}

/// The compact form (the simulator's answers) reads back the same as the indented one.
#[test]
fn compact_xml_reads_back_the_same() {
    for (name, header, body) in golden_requests() {
        let compact = envelope::to_xml_compact(&header, &body).unwrap();
        assert!(compact.lines().count() == 2, "{name}: {compact}");
        assert_eq!(envelope::parse(&compact).unwrap(), (header, body), "{name}");
    }
    for name in files("samples") {
        let (header, body) = envelope::parse(&read("samples", &name)).unwrap();
        let compact = envelope::to_xml_compact(&header, &body).unwrap();
        let (h2, b2) = envelope::parse(&compact).unwrap_or_else(|e| panic!("{name}: {e}"));
        let indented = envelope::to_xml(&header, &body).unwrap();
        let (h3, b3) = envelope::parse(&indented).unwrap();
        assert_eq!((h2, b2), (h3, b3), "{name}");
    }
}

fn sample(name: &str) -> Body {
    envelope::parse(&read("samples", name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .1
}

fn response<R: OperationResponse>(name: &str) -> Vec<R::Message> {
    R::from_body(sample(name))
        .unwrap_or_else(|| panic!("{name}: wrong response type"))
        .into_response_messages()
}

fn err_of<M: ResponseMessage>(m: &M) -> ews::Error {
    ews::Error::from_message(m).expect("an error message")
}

#[test]
fn sample_21_full_contact_field_by_field() {
    let messages = response::<GetItemResponse>("21-GetItem-response.xml");
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .all(|m| m.is_success() && m.response_code() == "NoError")
    );
    let c = messages[0].items.items[0].as_contact().expect("a contact");
    assert_eq!(c.item_id.as_ref().unwrap().id, "AAMkAGI2Q29udGFjdEEAAA==");
    assert_eq!(
        c.item_id.as_ref().unwrap().change_key.as_deref(),
        Some("EQAAABYAAAC8Jw6lQpB0S4xVbbuGdBhEAAABSx1a")
    );
    assert_eq!(c.parent_folder_id.as_ref().unwrap().id, "AAMkAGI2TG93AAA=");
    assert_eq!(c.item_class.as_deref(), Some("IPM.Contact"));
    assert_eq!(
        c.body.as_ref().unwrap().text,
        "Met at the Fabrikam trade show."
    );
    assert_eq!(c.extended_property(&crm_id()), Some("CRM-000123"));
    assert_eq!(
        c.last_modified_time.unwrap(),
        chrono::DateTime::parse_from_rfc3339("2024-05-21T14:02:11Z").unwrap()
    );
    assert_eq!(c.file_as.as_deref(), Some("Plate, Tanja"));
    assert_eq!(c.display_name.as_deref(), Some("Tanja Plate"));
    assert_eq!(c.given_name.as_deref(), Some("Tanja"));
    assert_eq!(c.middle_name.as_deref(), Some("Maria"));
    assert_eq!(c.surname.as_deref(), Some("Plate"));
    assert_eq!(
        c.complete_name.as_ref().unwrap().title.as_deref(),
        Some("Dr.")
    );
    assert_eq!(c.company_name.as_deref(), Some("Northwind Traders"));
    assert_eq!(c.job_title.as_deref(), Some("Project Manager"));
    assert_eq!(c.department.as_deref(), Some("Procurement"));
    assert_eq!(c.birthday, NaiveDate::from_ymd_opt(1980, 5, 17));
    assert_eq!(
        c.business_home_page.as_deref(),
        Some("https://www.northwindtraders.example/")
    );
    assert_eq!(
        c.email(EmailKey::EmailAddress1),
        Some("tplate@northwindtraders.example")
    );
    assert_eq!(
        c.email(EmailKey::EmailAddress2),
        Some("tanja.plate@example.com")
    );
    assert_eq!(c.email(EmailKey::EmailAddress3), Some("tanja@example.org"));
    assert_eq!(c.phone(PhoneKey::BusinessPhone), Some("+1 562 555 0199"));
    assert_eq!(c.phone(PhoneKey::HomePhone), Some("+1 562 555 0142"));
    assert_eq!(c.phone(PhoneKey::MobilePhone), Some("+1 562 555 0177"));
    let business = c.address(AddressKey::Business).unwrap();
    assert_eq!(business.street.as_deref(), Some("12345 67th Ave"));
    assert_eq!(business.city.as_deref(), Some("Whittier"));
    assert_eq!(business.state.as_deref(), Some("CA"));
    assert_eq!(business.country_or_region.as_deref(), Some("United States"));
    assert_eq!(business.postal_code.as_deref(), Some("90601"));
    let home = c.address(AddressKey::Home).unwrap();
    assert_eq!(home.street.as_deref(), Some("42 Elm Street"));
    assert_eq!(home.city.as_deref(), Some("La Habra"));
    assert_eq!(home.postal_code.as_deref(), Some("90631"));
    let second = messages[1].items.items[0].as_contact().unwrap();
    assert_eq!(second.display_name.as_deref(), Some("Alfred Welker"));
    assert_eq!(
        second.email(EmailKey::EmailAddress1),
        Some("alfred@contoso.com")
    );
    assert_eq!(second.email(EmailKey::EmailAddress2), None);
    assert!(second.extended_properties.is_empty());
    assert_eq!(second.birthday, None);
}

#[test]
fn sample_23_mslearn_contact_field_by_field() {
    with_reference(sample_23_mslearn_contact)
}

fn sample_23_mslearn_contact() {
    let messages = response::<GetItemResponse>("23-GetItem-response-mslearn.xml");
    let c = messages[0].items.items[0].as_contact().unwrap();
    assert_eq!(
        c.item_id.as_ref().unwrap(),
        &ItemId::new("AAAtAEA=", "EQAAABYq")
    );
    assert_eq!(c.file_as.as_deref(), Some("SampleContact"));
    assert_eq!(c.given_name.as_deref(), Some("Tanja"));
    assert_eq!(c.surname.as_deref(), Some("Plate"));
    assert_eq!(c.company_name.as_deref(), Some("Northwind Traders"));
    assert_eq!(c.job_title.as_deref(), Some("Project Manager"));
    assert_eq!(c.email(EmailKey::EmailAddress1), Some("tplate@example.com"));
    assert_eq!(c.phone(PhoneKey::BusinessPhone), Some("5625550199"));
    let a = c.address(AddressKey::Business).unwrap();
    assert_eq!(a.country_or_region.as_deref(), Some("USA"));
    assert_eq!(a.postal_code, None);
    assert_eq!(c.address(AddressKey::Home), None);
}

#[test]
fn sync_samples_field_by_field() {
    let page1 =
        response::<SyncFolderItemsResponse>("11-SyncFolderItems-response-page1.xml").remove(0);
    assert_eq!(
        page1.sync_state.as_deref(),
        Some("H4sIAAAAAAAEAGNgYGBgYGBgBAAAAA==")
    );
    assert_eq!(page1.includes_last_item_in_range, Some(false));
    let changes = page1.changes.unwrap().changes;
    assert_eq!(changes.len(), 3);
    assert!(matches!(
        &changes[0],
        SyncChange::Create(SyncItem {
            item: Item::Contact(_)
        })
    ));
    assert_eq!(changes[2].item_id().unwrap().id, "AAMkAGI2Q29udGFjdEMAAA==");

    let page2 =
        response::<SyncFolderItemsResponse>("13-SyncFolderItems-response-page2-last.xml").remove(0);
    assert_eq!(page2.includes_last_item_in_range, Some(true));
    let changes = page2.changes.unwrap().changes;
    assert!(matches!(
        &changes[0],
        SyncChange::Create(SyncItem {
            item: Item::DistributionList(_)
        })
    ));
    assert_eq!(changes[0].item_id().unwrap().id, "AAMkAGI2RGlzdExpc3REAA==");

    let mixed =
        response::<SyncFolderItemsResponse>("15-SyncFolderItems-response-changes.xml").remove(0);
    let changes = mixed.changes.unwrap().changes;
    assert_eq!(changes.len(), 4);
    assert!(matches!(&changes[0], SyncChange::Create(_)));
    match &changes[1] {
        SyncChange::Update(u) => assert_eq!(
            u.item.item_id().unwrap().change_key.as_deref(),
            Some("EQAAABYAAAC8Jw6lQpB0S4xVbbuGdBhEAAABSx1b")
        ),
        other => panic!("expected Update, got {other:?}"),
    }
    assert!(
        matches!(&changes[2], SyncChange::Delete(d) if d.item_id.id == "AAMkAGI2Q29udGFjdEMAAA==")
    );
    assert!(matches!(&changes[3], SyncChange::ReadFlagChange(r) if r.is_read));

    let none =
        response::<SyncFolderItemsResponse>("16-SyncFolderItems-response-nochanges.xml").remove(0);
    assert!(none.changes.unwrap().changes.is_empty());
    assert_eq!(none.includes_last_item_in_range, Some(true));

    let invalid =
        response::<SyncFolderItemsResponse>("80-SyncFolderItems-error-InvalidSyncStateData.xml")
            .remove(0);
    assert_eq!(invalid.response_class, ResponseClass::Error);
    assert_eq!(invalid.response_code(), "ErrorInvalidSyncStateData");
    assert!(matches!(
        err_of(&invalid),
        ews::Error::InvalidSyncState { .. }
    ));

    let busy =
        response::<SyncFolderItemsResponse>("81-SyncFolderItems-error-ServerBusy.xml").remove(0);
    assert_eq!(
        busy.back_off(),
        Some(std::time::Duration::from_millis(2500))
    );
    match err_of(&busy) {
        ews::Error::Throttled { back_off, code } => {
            assert_eq!(back_off, Some(std::time::Duration::from_millis(2500)));
            assert_eq!(code, "ErrorServerBusy");
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}

#[test]
fn reference_sync_errors_classify() {
    with_reference(|| {
        let invalid = response::<SyncFolderItemsResponse>(
            "17-SyncFolderItems-error-InvalidSyncStateData.xml",
        )
        .remove(0);
        assert_eq!(invalid.response_class, ResponseClass::Error);
        assert_eq!(invalid.response_code(), "ErrorInvalidSyncStateData");
        assert!(matches!(
            err_of(&invalid),
            ews::Error::InvalidSyncState { .. }
        ));

        let busy = response::<SyncFolderItemsResponse>("18-SyncFolderItems-error-ServerBusy.xml")
            .remove(0);
        assert_eq!(
            busy.back_off(),
            Some(std::time::Duration::from_millis(5000))
        );
        match err_of(&busy) {
            ews::Error::Throttled { back_off, code } => {
                assert_eq!(back_off, Some(std::time::Duration::from_millis(5000)));
                assert_eq!(code, "ErrorServerBusy");
            }
            other => panic!("expected Throttled, got {other:?}"),
        }
    })
}

#[test]
fn error_samples_classify() {
    use ews::Error as E;
    let denied = response::<GetFolderResponse>("04-GetFolder-error-AccessDenied.xml").remove(0);
    assert_eq!(denied.response_code(), "ErrorAccessDenied");
    assert_eq!(
        denied.message_text(),
        Some("Access is denied. Check credentials and try again.")
    );
    assert!(matches!(err_of(&denied), E::Permanent { code, .. } if code == "ErrorAccessDenied"));

    let batch = response::<GetItemResponse>("22-GetItem-response-ItemNotFound.xml");
    assert!(batch[0].is_success());
    assert!(matches!(err_of(&batch[1]), E::NotFound { code, .. } if code == "ErrorItemNotFound"));
    assert!(batch[1].items.items.is_empty());

    let created = response::<CreateItemResponse>("31-CreateItem-response.xml").remove(0);
    assert_eq!(
        created.items.items[0].item_id().unwrap().id,
        "AAMkAGI2Q29udGFjdEYAAA=="
    );

    let updated = response::<UpdateItemResponse>("41-UpdateItem-response.xml").remove(0);
    assert_eq!(updated.conflict_results.as_ref().unwrap().count, 0);
    for name in [
        "42-UpdateItem-error-IrresolvableConflict.xml",
        "43-UpdateItem-error-ChangeKeyRequired.xml",
    ] {
        let m = response::<UpdateItemResponse>(name).remove(0);
        assert!(matches!(err_of(&m), E::ChangeKeyConflict { .. }), "{name}");
    }

    let deleted = response::<DeleteItemResponse>("51-DeleteItem-response.xml");
    assert!(deleted[0].is_success());
    assert!(matches!(err_of(&deleted[1]), E::NotFound { .. }));
}

#[test]
fn reference_error_samples_classify() {
    use ews::Error as E;
    with_reference(|| {
        let folder =
            response::<CreateItemResponse>("33-CreateItem-error-NonContactFolder.xml").remove(0);
        assert!(
            matches!(err_of(&folder), E::Permanent { code, .. } if code == "ErrorCannotCreateContactInNonContactFolder")
        );

        let gone = response::<DeleteItemResponse>("52-DeleteItem-error-ItemNotFound-mslearn.xml")
            .remove(0);
        assert_eq!(
            gone.message_text(),
            Some("The specified object was not found in the store.")
        );
        assert!(matches!(err_of(&gone), E::NotFound { .. }));

        // An internal error is classified by the inner code it wraps.
        let inner =
            response::<DeleteItemResponse>("63-DeleteItem-error-InternalServerError-inner.xml")
                .remove(0);
        assert_eq!(
            inner.message_xml().unwrap().value("InnerErrorResponseCode"),
            Some("ErrorQuotaExceededOnDelete")
        );
        assert!(
            matches!(err_of(&inner), E::Permanent { code, .. } if code == "ErrorQuotaExceededOnDelete")
        );
    })
}

fn fault(name: &str) -> ews::Fault {
    match sample(name) {
        Body::Fault(f) => f,
        other => panic!("{name}: expected a Fault, got {}", other.name()),
    }
}

#[test]
fn reference_fault_samples_field_by_field() {
    use ews::Error as E;
    with_reference(|| {
        let schema = fault("45-UpdateItem-fault-SchemaValidation-mslearn.xml");
        assert_eq!(schema.fault_code.value, "soap:Client");
        assert_eq!(
            schema.fault_string.text,
            "The request failed schema validation."
        );
        assert_eq!(schema.response_code(), "ErrorSchemaValidation");
        let detail = schema.detail.as_ref().unwrap();
        assert_eq!((detail.line, detail.position), (Some(17), Some(19)));
        assert!(
            matches!(E::from_fault(&schema), E::Permanent { code, .. } if code == "ErrorSchemaValidation")
        );

        let busy = fault("60-Fault-ErrorServerBusy.xml");
        assert_eq!(busy.fault_code.local_name(), "ErrorServerBusy");
        assert_eq!(busy.response_code(), "ErrorServerBusy");
        assert_eq!(
            busy.message(),
            "The server cannot service this request right now. Try again later."
        );
        match E::from_fault(&busy) {
            E::Throttled { back_off, .. } => {
                assert_eq!(back_off, Some(std::time::Duration::from_millis(297749)))
            }
            other => panic!("expected Throttled, got {other:?}"),
        }

        let validation = fault("61-Fault-ErrorSchemaValidation.xml");
        let xml = validation.message_xml().unwrap();
        assert_eq!((xml.line_number, xml.line_position), (Some(2), Some(630)));
        assert!(
            xml.violation
                .as_deref()
                .unwrap()
                .contains("invalidparentid")
        );
        assert!(matches!(E::from_fault(&validation), E::Permanent { .. }));

        let connections = fault("62-Fault-ErrorExceededConnectionCount.xml");
        assert_eq!(
            connections
                .message_xml()
                .unwrap()
                .value("MaxConcurrencyLimit"),
            Some("27")
        );
        assert!(matches!(
            E::from_fault(&connections),
            E::Throttled { back_off: None, .. }
        ));
    })
}

#[test]
fn throttling_fault_field_by_field() {
    let busy = fault("82-Fault-ErrorServerBusy.xml");
    assert_eq!(busy.fault_code.local_name(), "ErrorServerBusy");
    assert_eq!(busy.response_code(), "ErrorServerBusy");
    assert_eq!(
        busy.message(),
        "The server is busy. Try again after the back-off time."
    );
    match ews::Error::from_fault(&busy) {
        ews::Error::Throttled { back_off, .. } => {
            assert_eq!(back_off, Some(std::time::Duration::from_millis(12000)))
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
}

#[test]
fn folder_samples_field_by_field() {
    let messages = response::<GetFolderResponse>("02-GetFolder-response.xml");
    let contacts = &messages[0].folders.as_ref().unwrap().folders[0];
    assert!(contacts.is_contacts());
    assert_eq!(contacts.data().display_name.as_deref(), Some("Contacts"));
    assert_eq!(contacts.data().total_count, Some(3));
    let root = &messages[1].folders.as_ref().unwrap().folders[0];
    assert!(!root.is_contacts());
    assert_eq!(root.data().child_folder_count, Some(17));
    let found = response::<FindFolderResponse>("06-FindFolder-response.xml").remove(0);
    let root = found.root_folder.unwrap();
    assert_eq!(root.includes_last_item_in_range, Some(true));
    let names: Vec<_> = root
        .folders
        .unwrap()
        .folders
        .iter()
        .map(|f| f.data().display_name.clone().unwrap())
        .collect();
    assert_eq!(names, ["Contacts", "CRM Contacts"]);
}

#[test]
fn client_request_samples_read_as_the_simulator_needs() {
    let (header, body) = envelope::parse(&read(
        "samples",
        "70-SyncFolderItems-request-impersonation.xml",
    ))
    .unwrap();
    assert_eq!(header.impersonated_address(), Some("alfred@contoso.com"));
    assert_eq!(
        header.request_server_version.unwrap().version,
        "Exchange2013_SP1"
    );
    let Body::SyncFolderItems(sync) = body else {
        panic!("not SyncFolderItems")
    };
    assert_eq!(sync.max_changes_returned, 512);

    let (_, body) = envelope::parse(&read("samples", "40-UpdateItem-request.xml")).unwrap();
    let Body::UpdateItem(update) = body else {
        panic!("not UpdateItem")
    };
    assert_eq!(
        update.conflict_resolution,
        ConflictResolution::NeverOverwrite
    );
    let updates = &update.item_changes.changes[0].updates.updates;
    assert_eq!(updates.len(), 12);
    assert_eq!(
        updates[0].path(),
        Some(PropertyPath::field("contacts:CompanyName"))
    );
    assert_eq!(updates[4].path(), Some(PropertyPath::Extended(crm_id())));
    assert!(
        matches!(&updates[11], ItemUpdate::Delete(d) if d.path() == Some(PropertyPath::field("contacts:Birthday")))
    );

    // Captured client: interleaved Set/Delete in order, booleans as 0/1.
    let (_, body) =
        envelope::parse(&read("client-requests", "11-UpdateItem-client-request.xml")).unwrap();
    let Body::UpdateItem(update) = body else {
        panic!("not UpdateItem")
    };
    let updates = &update.item_changes.changes[0].updates.updates;
    assert!(matches!(updates[0], ItemUpdate::Delete(_)));
    assert!(matches!(updates[1], ItemUpdate::Set(_)));
    let (_, body) =
        envelope::parse(&read("client-requests", "08-CreateItem-client-request.xml")).unwrap();
    let Body::CreateItem(create) = body else {
        panic!("not CreateItem")
    };
    let c = create.items.items[0].as_contact().unwrap();
    assert_eq!(c.reminder_is_set, Some(false));
    assert_eq!(c.birthday, NaiveDate::from_ymd_opt(1985, 7, 14));
    assert_eq!(
        c.address(AddressKey::Home).unwrap().city.as_deref(),
        Some("Mockford")
    );
    let (_, body) =
        envelope::parse(&read("client-requests", "16-FindItem-client-request.xml")).unwrap();
    let Body::FindItem(find) = body else {
        panic!("not FindItem")
    };
    let SearchExpression::IsEqualTo(cmp) = &find.restriction.unwrap().expression else {
        panic!("not IsEqualTo")
    };
    assert_eq!(cmp.constant(), Some("CRM-0042"));
    assert_eq!(
        cmp.extended_field_uri
            .as_ref()
            .unwrap()
            .property_name
            .as_deref(),
        Some("CrmExternalId")
    );
}

#[test]
fn dtd_is_refused() {
    let evil = r#"<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "boom">]><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#;
    assert!(envelope::parse(evil).is_err());
}

#[test]
fn declarations_are_refused_in_any_case_and_place() {
    for evil in [
        "<?xml version=\"1.0\"?><!doctype s><s/>",
        "<s><![CDATA[x]]><!Entity x \"boom\"></s>",
        "<s>text<!DocType",
    ] {
        assert!(envelope::check_no_dtd(evil).is_err(), "{evil}");
    }
    for fine in [
        "<s><!-- a comment --><![CDATA[<!DOCTYP]]>DOCTYPE ENTITY</s>",
        "<s>ends with <!",
        "",
    ] {
        assert!(envelope::check_no_dtd(fine).is_ok(), "{fine}");
    }
    // The parser refuses a DTD wherever it stands, in any case.
    let ok = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><s:Body><m:DeleteFolderResponse><m:ResponseMessages/></m:DeleteFolderResponse></s:Body></s:Envelope>"#;
    assert!(envelope::parse(ok).is_ok());
    for evil in [
        format!("<!doctype s [<!ENTITY x \"boom\">]>{ok}"),
        ok.replace("<s:Body>", "<!DOCTYPE b><s:Body>"),
        ok.replace(
            "<m:ResponseMessages/>",
            "<m:ResponseMessages><!DocType r></m:ResponseMessages>",
        ),
    ] {
        let e = envelope::parse(&evil).expect_err(&evil);
        assert!(e.0.contains("DTD"), "{evil}: {e}");
    }
}
