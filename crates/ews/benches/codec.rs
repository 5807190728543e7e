//! What one import costs the client in XML, per call: GetItem responses of 100 contacts,
//! SyncFolderItems pages of 512 ids, and the UpdateItem requests that stamp 100 items,
//! written and read with the crate's own types (the simulator's shapes).
//!
//!     cargo bench -p ews --bench codec              (CODEC_ROUNDS=200 by default)
//!
//! It prints microseconds per call; under `valgrind --tool=callgrind` the instruction
//! counts compare changes independently of the machine's load.
use std::hint::black_box;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use ews::envelope::{self, Body, Header, ServerVersionInfo};
use ews::ops::*;
use ews::types::*;

fn contact(i: usize) -> Contact {
    let mut c = Contact {
        item_id: Some(ItemId::new(
            format!("U0lNSWKBj_YAAAABAAAAAAAA{i:04}="),
            format!("Q1FBQWKBj/YAAAAAAAAA{i:04}=="),
        )),
        parent_folder_id: Some(FolderId::new("U0lNRmKBj_YAAAABAAAAAAAAABM=")),
        item_class: Some("IPM.Contact".into()),
        subject: Some(format!("Surname{i}, Given{i}")),
        date_time_created: Some(Utc.with_ymd_and_hms(2026, 11, 30, 13, 15, 23).unwrap()),
        last_modified_time: Some(Utc.with_ymd_and_hms(2026, 11, 30, 13, 15, 23).unwrap()),
        file_as: Some(format!("Surname{i}, Given{i}")),
        display_name: Some(format!("Given{i} Surname{i}")),
        given_name: Some(format!("Given{i}")),
        complete_name: Some(CompleteName {
            first_name: Some(format!("Given{i}")),
            last_name: Some(format!("Surname{i}")),
            initials: Some("G.S.".into()),
            full_name: Some(format!("Given{i} Surname{i}")),
            ..CompleteName::default()
        }),
        company_name: Some(format!("Company {}", i % 97)),
        job_title: Some("Engineer".into()),
        surname: Some(format!("Surname{i}")),
        ..Contact::default()
    };
    c.set_email(
        EmailKey::EmailAddress1,
        Some(format!("person{i}@import.test")),
    );
    c.set_phone(PhoneKey::MobilePhone, Some(format!("+47 {i:08}")));
    c
}

/// How a response is written: indented (`to_xml`) or as Exchange does (`to_xml_compact`).
type Writer = fn(&Header, &Body) -> Result<String, envelope::XmlError>;

fn response_header() -> Header {
    Header::response(ServerVersionInfo {
        major_version: Some(15),
        minor_version: Some(20),
        major_build_number: Some(8769),
        minor_build_number: Some(35),
        version: Some("V2018_01_08".into()),
    })
}

fn get_item_response(write: Writer) -> String {
    let messages = (0..100)
        .map(|i| GetItemResponseMessage {
            items: Items {
                items: vec![Item::Contact(contact(i))],
            },
            ..GetItemResponseMessage::success()
        })
        .collect();
    write(
        &response_header(),
        &Body::GetItemResponse(GetItemResponse::new(messages)),
    )
    .unwrap()
}

fn sync_page(write: Writer) -> String {
    let changes = (0..512)
        .map(|i| {
            SyncChange::Create(SyncItem {
                item: Item::Contact(Contact {
                    item_id: contact(i).item_id,
                    ..Contact::default()
                }),
            })
        })
        .collect();
    let message = SyncFolderItemsResponseMessage {
        sync_state: Some("U0lNU2KBj_YAAAABAAAAAAAAABMAAAAAAAAGGhggklM=".into()),
        includes_last_item_in_range: Some(false),
        changes: Some(SyncChanges { changes }),
        ..SyncFolderItemsResponseMessage::success()
    };
    write(
        &response_header(),
        &Body::SyncFolderItemsResponse(SyncFolderItemsResponse::new(vec![message])),
    )
    .unwrap()
}

fn stamp_request() -> UpdateItem {
    let uri = ExtendedFieldUri::named(
        "6f1d3c2a-8b54-4e0f-9a7d-2c1b5e4f8a90",
        "CrmContactId",
        "String",
    );
    let changes = (0..100)
        .map(|i| {
            ItemChange::new(
                contact(i).item_id.unwrap(),
                [ItemUpdate::set_extended(
                    uri.clone(),
                    format!("0190a1b2-c3d4-7e5f-8a9b-{i:012}"),
                )],
            )
        })
        .collect();
    ews::client::requests::update_items(changes, ConflictResolution::NeverOverwrite)
}

fn time(name: &str, rounds: usize, bytes: usize, mut f: impl FnMut()) {
    f();
    let started = Instant::now();
    for _ in 0..rounds {
        f();
    }
    let per = started.elapsed().as_secs_f64() / rounds as f64;
    println!(
        "{name:<40} {:>9.1} µs a call, {:>6.1} MB/s ({bytes} bytes)",
        per * 1e6,
        bytes as f64 / per / 1e6
    );
}

fn main() {
    let rounds: usize = std::env::var("CODEC_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |s: &str| which.is_empty() || which.iter().any(|w| w == s);
    let get_item = get_item_response(envelope::to_xml);
    let sync = sync_page(envelope::to_xml);
    let get_item_compact = get_item_response(envelope::to_xml_compact);
    let sync_compact = sync_page(envelope::to_xml_compact);
    let update = stamp_request();
    let request_header = Header::request("Exchange2013_SP1", None);
    let update_xml = envelope::request_xml(&request_header, &update).unwrap();
    let update_response = {
        let messages = (0..100)
            .map(|i| UpdateItemResponseMessage {
                items: Items {
                    items: vec![Item::Contact(Contact {
                        item_id: contact(i).item_id,
                        ..Contact::default()
                    })],
                },
                ..UpdateItemResponseMessage::success()
            })
            .collect();
        envelope::to_xml(
            &response_header(),
            &Body::UpdateItemResponse(UpdateItemResponse::new(messages)),
        )
        .unwrap()
    };
    if wants("parse GetItem") {
        time(
            "parse GetItemResponse (100)",
            rounds,
            get_item.len(),
            || {
                black_box(envelope::parse(black_box(&get_item)).unwrap());
            },
        );
    }
    if wants("parse GetItem compact") {
        time(
            "parse GetItemResponse (100), compact",
            rounds,
            get_item_compact.len(),
            || {
                black_box(envelope::parse(black_box(&get_item_compact)).unwrap());
            },
        );
    }
    if wants("parse SyncFolderItems compact") {
        time(
            "parse SyncFolderItemsResponse, compact",
            rounds,
            sync_compact.len(),
            || {
                black_box(envelope::parse(black_box(&sync_compact)).unwrap());
            },
        );
    }
    if wants("parse SyncFolderItems") {
        time(
            "parse SyncFolderItemsResponse (512)",
            rounds,
            sync.len(),
            || {
                black_box(envelope::parse(black_box(&sync)).unwrap());
            },
        );
    }
    if wants("parse UpdateItemResponse") {
        time(
            "parse UpdateItemResponse (100)",
            rounds,
            update_response.len(),
            || {
                black_box(envelope::parse(black_box(&update_response)).unwrap());
            },
        );
    }
    if wants("write UpdateItem") {
        time(
            "write UpdateItem (100 stamps)",
            rounds,
            update_xml.len(),
            || {
                black_box(envelope::request_xml(&request_header, black_box(&update)).unwrap());
            },
        );
    }
    if wants("parse UpdateItem") {
        time(
            "parse UpdateItem (the simulator)",
            rounds,
            update_xml.len(),
            || {
                black_box(envelope::parse(black_box(&update_xml)).unwrap());
            },
        );
    }
    if wants("write GetItemResponse") {
        let (_, body) = envelope::parse(&get_item).unwrap();
        let header = response_header();
        time(
            "write GetItemResponse (the simulator)",
            rounds,
            get_item.len(),
            || {
                black_box(envelope::to_xml(&header, black_box(&body)).unwrap());
            },
        );
        time(
            "write GetItemResponse, compact",
            rounds,
            get_item_compact.len(),
            || {
                black_box(envelope::to_xml_compact(&header, black_box(&body)).unwrap());
            },
        );
    }
}
