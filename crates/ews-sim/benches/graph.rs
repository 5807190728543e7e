//! The Graph client against the simulator's Graph front end at 20 ms per HTTP request:
//! what a full import (delta pages of 200, then the stamps of new items in `$batch`es)
//! and a full export (creates in `$batch`es of 20) of 10,000 contacts cost in wall time
//! and round trips, with the 10-minute budget's pacing off. Prints numbers.
//!
//! `cargo bench -p ews-sim --bench graph` (N=... to change the size).

use std::time::{Duration, Instant};

use ews_sim::{Credential, SimConfig};
use graph::ops::ContactsDelta;
use graph::types::{Contact, EmailAddress, ExtendedProperty, PropertyId};
use graph::{ClientConfig, Credential as AppCredential, GraphClient};

const USER: &str = "bench@example.com";

fn stamp() -> PropertyId {
    PropertyId::named_string("6f1d3c2a-8b54-4e0f-9a7d-2c1b5e4f8a90", "CrmContactId")
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let sim = ews_sim::spawn(SimConfig {
        control_listen: None,
        mailboxes: vec![Credential::new(USER, "pw")],
        apps: vec!["bench:app:secret".parse().unwrap()],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut config =
        ClientConfig::new("bench", "app", AppCredential::Secret("secret".into()), USER);
    config.graph_url = sim.graph_url();
    config.authority_url = sim.authority_url();
    config.budget_per_10_minutes = None;
    let client = GraphClient::new(config).unwrap();
    client.token().await.unwrap();
    sim.set_latency_ms(20);

    // Export: creates in batches of 20, each with the stamp.
    sim.clear_requests();
    let contacts: Vec<Contact> = (0..n)
        .map(|i| Contact {
            given_name: Some(format!("Given{i}")),
            surname: Some(format!("Surname{i}")),
            company_name: Some(format!("Company {}", i % 50)),
            email_addresses: Some(vec![EmailAddress {
                name: None,
                address: Some(format!("c{i}@example.com")),
            }]),
            single_value_extended_properties: Some(vec![ExtendedProperty::new(
                &stamp(),
                format!("crm-{i}"),
            )]),
            ..Default::default()
        })
        .collect();
    let started = Instant::now();
    let created = client.create_contacts(None, contacts).await;
    let export = started.elapsed();
    assert!(created.iter().all(Result::is_ok));
    let export_requests = sim.requests().len();

    // Import: a full delta round, then the stamps of every (new) item.
    sim.clear_requests();
    let started = Instant::now();
    let start = ContactsDelta {
        user: USER.into(),
        folder_id: None,
        select: [
            "givenName",
            "surname",
            "companyName",
            "emailAddresses",
            "businessPhones",
        ]
        .map(str::to_owned)
        .to_vec(),
        extended: Vec::new(),
        page_size: 200,
    };
    let mut ids = Vec::new();
    let mut link: Option<String> = None;
    loop {
        let page = client.delta_page(&start, link.as_deref()).await.unwrap();
        ids.extend(page.value.into_iter().filter_map(|c| c.id));
        match page.next_link {
            Some(next) => link = Some(next),
            None => break,
        }
    }
    let delta = started.elapsed();
    let delta_requests = sim.requests().len();
    let stamps = client.get_contacts(&ids, &["id".into()], &[stamp()]).await;
    let import = started.elapsed();
    assert_eq!(stamps.len(), n);
    assert!(
        stamps
            .iter()
            .all(|r| r.as_ref().is_ok_and(|c| c.extended(&stamp()).is_some()))
    );
    let import_requests = sim.requests().len();

    let per = |d: Duration, r: usize| format!("{:.2} s, {r} HTTP requests", d.as_secs_f64());
    println!("Graph client vs simulator, {n} contacts, 20 ms per HTTP request, pacing off:");
    println!(
        "  export (POST in $batch of 20):            {}",
        per(export, export_requests)
    );
    println!(
        "  import, delta pages of 200 only:          {}",
        per(delta, delta_requests)
    );
    println!(
        "  import, delta + stamps ($batch GET of 20): {}",
        per(import, import_requests)
    );
    sim.stop().await.unwrap();
}
