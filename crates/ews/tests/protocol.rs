//! Protocol tests: golden requests validated with xmllint, every sample parsed.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use ews::client::requests;
use ews::envelope::{self, Body, Header};
use ews::ops::*;
use ews::types::*;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ews")
}

fn read(dir: &str, name: &str) -> String {
    std::fs::read_to_string(shared().join(dir).join(name)).expect("sample readable")
}

fn files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(shared().join(dir))
        .expect("shared EWS pack present")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    names
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

/// Runs xmllint against `schema` (a file of ../shared/ews/schema); panics with its output on error.
fn xmllint(schema: &str, file: &Path) -> Result<(), String> {
    let schema = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/ews/schema"
    ))
    .join(schema);
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint must be installed (apt-get install -y libxml2-utils)");
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
