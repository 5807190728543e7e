//! Golden JSON: what each operation sends (method, URL, headers, body), compared with
//! `tests/golden/*.json` (regenerate with `UPDATE_GOLDEN=1`), and answers in Graph's
//! documented shapes parsed field by field.

use std::path::Path;

use chrono::NaiveDate;
use graph::ops::*;
use graph::types::contact::birthday_value;
use graph::types::*;

const STAMP_SET: &str = "6f1d3c2a-8b54-4e0f-9a7d-2c1b5e4f8a90";
const USER: &str = "ann@contoso.com";

fn stamp() -> PropertyId {
    PropertyId::named_string(STAMP_SET, "CrmContactId")
}

/// The request as a JSON document: what goes on the wire.
fn wire(req: &Request) -> serde_json::Value {
    let item = req.to_batch_item("1".into(), true);
    serde_json::to_value(item).unwrap()
}

fn golden(name: &str, actual: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(actual).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(text, expected, "{name} differs from its golden file");
}

fn full_contact() -> Contact {
    Contact {
        display_name: Some("Ada Lovelace".into()),
        file_as: Some("Lovelace, Ada".into()),
        given_name: Some("Ada".into()),
        surname: Some("Lovelace".into()),
        company_name: Some("Analytical Engines".into()),
        job_title: Some("Countess".into()),
        department: Some("Mathematics".into()),
        business_home_page: Some("https://example.com/ada".into()),
        birthday: Some(birthday_value(
            NaiveDate::from_ymd_opt(1815, 12, 10).unwrap(),
        )),
        email_addresses: Some(vec![
            EmailAddress {
                name: Some("Ada Lovelace".into()),
                address: Some("ada@example.com".into()),
            },
            EmailAddress {
                name: None,
                address: Some("countess@example.org".into()),
            },
        ]),
        business_phones: Some(vec!["+44 20 0000 0001".into()]),
        home_phones: Some(vec![]),
        mobile_phone: Some("+44 7700 900000".into()),
        business_address: Some(PhysicalAddress {
            street: Some("1 St James's Square".into()),
            city: Some("London".into()),
            postal_code: Some("SW1Y 4JU".into()),
            country_or_region: Some("United Kingdom".into()),
            ..Default::default()
        }),
        single_value_extended_properties: Some(vec![
            ExtendedProperty::new(&stamp(), "0192f0c4-0000-7000-8000-000000000042"),
            ExtendedProperty::new(&PropertyId::tag("String", 0x3A45), "Countess"),
            ExtendedProperty::new(&PropertyId::tag("Short", 0x3A4D), "1"),
        ]),
        ..Default::default()
    }
}

#[test]
fn create_contact_request() {
    let op = CreateContact {
        user: USER.into(),
        folder_id: Some("AAMkAGI2TGuLAAA=".into()),
        contact: full_contact(),
    };
    golden("create-contact", &wire(&op.request()));
}

#[test]
fn update_contact_request_clears_and_replaces_whole_collections() {
    let op = UpdateContact {
        user: USER.into(),
        id: "AAMkAGI2THVSAAA=".into(),
        if_match: Some("W/\"EQAAABYAAAB\"".into()),
        patch: ContactPatch {
            job_title: Some(None),
            surname: Some(Some("King".into())),
            email_addresses: Some(vec![EmailAddress {
                name: None,
                address: Some("ada@example.com".into()),
            }]),
            business_address: Some(None),
            single_value_extended_properties: Some(vec![ExtendedProperty::new(
                &stamp(),
                "0192f0c4-0000-7000-8000-000000000042",
            )]),
            ..Default::default()
        },
    };
    golden("update-contact", &wire(&op.request()));
}

#[test]
fn delta_get_delete_and_folder_requests() {
    let delta = ContactsDelta {
        user: USER.into(),
        folder_id: Some("AAMkAGI2TGuLAAA=".into()),
        select: vec![
            "givenName".into(),
            "surname".into(),
            "emailAddresses".into(),
        ],
        extended: Vec::new(),
        page_size: 500,
    };
    let get = GetContact {
        user: USER.into(),
        id: "AAMkAGI2THVSAAA=".into(),
        select: vec!["id".into()],
        extended: vec![stamp(), PropertyId::tag("Short", 0x3A4D)],
    };
    let all = serde_json::json!({
        "delta": wire(&delta.request()),
        "delta_default_folder": wire(&ContactsDelta { folder_id: None, ..delta.clone() }.request()),
        "get": wire(&get.request()),
        "delete": wire(&DeleteContact { user: USER.into(), id: "AAMkAGI2THVSAAA=".into() }.request()),
        "default_folder": wire(&GetContactFolder { user: USER.into(), folder_id: "contacts".into() }.request()),
        "top_folders": wire(&ListContactFolders { user: USER.into(), parent: None }.request()),
        "child_folders": wire(&ListContactFolders { user: USER.into(), parent: Some("AAMkAGI2TGuLAAA=".into()) }.request()),
        "user": wire(&GetUser { user: USER.into() }.request()),
    });
    golden("reads", &all);
    // The page size is capped at Exchange Online's 200.
    assert_eq!(delta.request().page_size, Some(200));
}

#[test]
fn batch_request_body() {
    let reqs = [
        DeleteContact {
            user: USER.into(),
            id: "A".into(),
        }
        .request(),
        CreateContact {
            user: USER.into(),
            folder_id: None,
            contact: Contact {
                given_name: Some("Grace".into()),
                ..Default::default()
            },
        }
        .request(),
    ];
    let body = BatchRequest {
        requests: reqs
            .iter()
            .enumerate()
            .map(|(i, r)| r.to_batch_item(i.to_string(), true))
            .collect(),
    };
    golden("batch", &serde_json::to_value(&body).unwrap());
    let back: BatchRequest = serde_json::from_value(serde_json::to_value(&body).unwrap()).unwrap();
    assert_eq!(back, body);
}

#[test]
fn a_delta_page_with_a_removed_entry_parses() {
    let page: DeltaPage = serde_json::from_str(
        r##"{
          "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(contact)",
          "@odata.nextLink": "https://graph.microsoft.com/v1.0/users/ann@contoso.com/contactFolders/AAMk/contacts/delta?$skiptoken=R0usmci",
          "value": [
            {
              "@odata.type": "#microsoft.graph.contact",
              "@odata.etag": "W/\"EQAAABYAAAB\"",
              "id": "AAMkAGI2THVSAAA=",
              "changeKey": "EQAAABYAAAB",
              "parentFolderId": "AAMkAGI2TGuLAAA=",
              "lastModifiedDateTime": "2026-11-29T10:00:00Z",
              "givenName": "Ada",
              "surname": "Lovelace",
              "jobTitle": null,
              "birthday": "1815-12-10T11:59:00Z",
              "emailAddresses": [{"name": "Ada", "address": "ada@example.com"}],
              "businessPhones": ["+44 20 0000 0001"],
              "homePhones": [],
              "businessAddress": {"street": "1 St James's Square", "city": "London", "state": "", "countryOrRegion": "", "postalCode": ""},
              "categories": [],
              "personalNotes": ""
            },
            {"@odata.type": "#microsoft.graph.contact", "id": "AAMkAGI2THVTAAA=", "@removed": {"reason": "deleted"}}
          ]
        }"##,
    )
    .unwrap();
    assert!(page.delta_link.is_none());
    assert!(page.next_link.as_deref().unwrap().contains("$skiptoken="));
    let c = &page.value[0];
    assert_eq!(c.given_name.as_deref(), Some("Ada"));
    assert_eq!(c.job_title, None);
    assert_eq!(c.birthday_date(), NaiveDate::from_ymd_opt(1815, 12, 10));
    assert_eq!(c.if_match().as_deref(), Some("W/\"EQAAABYAAAB\""));
    assert_eq!(
        c.email_addresses.as_ref().unwrap()[0].address.as_deref(),
        Some("ada@example.com")
    );
    assert!(c.removed.is_none());
    assert_eq!(page.value[1].removed.as_ref().unwrap().reason, "deleted");
}

#[test]
fn extended_properties_are_found_by_identity() {
    let c: Contact = serde_json::from_str(&format!(
        r#"{{"id": "x", "singleValueExtendedProperties": [
            {{"id": "String {{{}}} Name CrmContactId", "value": "42"}},
            {{"id": "Short 0x3a4d", "value": "2"}}]}}"#,
        STAMP_SET.to_ascii_uppercase()
    ))
    .unwrap();
    assert_eq!(c.extended(&stamp()), Some("42"));
    assert_eq!(c.extended(&PropertyId::tag("Short", 0x3A4D)), Some("2"));
    assert_eq!(c.extended(&PropertyId::tag("String", 0x3A45)), None);
}

#[test]
fn a_batch_answer_and_an_odata_error_parse() {
    let answer: BatchResponse = serde_json::from_str(
        r#"{"responses": [
            {"id": "1", "status": 429, "headers": {"Retry-After": "2"},
             "body": {"error": {"code": "MailboxConcurrency", "message": "Application is over its MailboxConcurrency limit."}}},
            {"id": "0", "status": 204, "body": null}
        ]}"#,
    )
    .unwrap();
    assert_eq!(answer.responses[0].header("retry-after"), Some("2"));
    let e: ODataError = serde_json::from_value(answer.responses[0].body.clone().unwrap()).unwrap();
    assert_eq!(e.error.code, "MailboxConcurrency");
    let err = graph::Error::from_response(
        412,
        None,
        br#"{"error": {"code": "ErrorIrresolvableConflict", "message": "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.", "innerError": {"request-id": "x"}}}"#,
    );
    assert_eq!(err.class(), graph::ErrorClass::Conflict);
}
