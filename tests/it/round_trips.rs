//! Regression guard on EWS round trips: fixed scenarios against the simulator, each
//! compared with the count recorded here. Round trips, not wall time: a CI machine's
//! timing is noise, the number of requests a run sends is not. A change that lowers a
//! count lowers its record in the same commit; one that raises it must say why.
use contactsync::domain::contact::ContactFields;
use contactsync::store::sync_state::CrmWrite;
use serde_json::json;

use crate::sync_support::{World, person};

/// Contacts per side: three feed pages of 512, twelve GetItem/CreateItem batches of 100.
const N: usize = 1_200;

/// The most EWS requests each step may send.
const RECORDED: &[(&str, u64)] = &[
    // Folder tree 3, feed 3 pages, GetItem 12, stamps 12. The stamps' echoes are left to
    // the next run (their ChangeKeys are the links': no read), which reads them in 2
    // pages beside the page of its own changes: 33 and 7 before.
    ("import of 1,200 (two-way profile)", 30),
    ("12 changed on each side", 9),
    // The folder tree (FindFolder + GetFolder ×2) and one feed page.
    ("nothing to do", 4),
    // Folder tree 3, the target folder listed (FindItem 5, GetItem 12), CreateItem 12,
    // feed 2 + 2 read past our echoes, + 2: the walk behind the writes may read a page
    // more per chunk (a feed already caught up, or a page split), as timing falls.
    ("export of 1,200 new CRM contacts", 38),
    ("nothing to do after the export", 4),
];

fn recorded(step: &str) -> u64 {
    RECORDED
        .iter()
        .find(|(s, _)| *s == step)
        .map(|(_, n)| *n)
        .expect("a recorded step")
}

async fn measured(w: &World, step: &str, failures: &mut Vec<String>) {
    w.sim.clear_requests();
    w.sync().await;
    let stats = w.sim.request_stats();
    let limit = recorded(step);
    println!(
        "{step}: {} round trips (recorded {limit}) {:?}",
        stats.requests, stats.by_operation
    );
    if stats.requests > limit {
        failures.push(format!(
            "{step}: {} EWS round trips, recorded {limit}: {:?}",
            stats.requests, stats.by_operation
        ));
    }
}

fn crm_contact(i: usize) -> CrmWrite {
    let mut f = ContactFields {
        given_name: format!("Crm{i}"),
        surname: format!("Guard{i}"),
        email1: format!("crm{i}@guard.test"),
        ..Default::default()
    };
    f.normalize();
    CrmWrite::Create(f)
}

#[tokio::test]
async fn round_trips_of_fixed_scenarios_do_not_grow() {
    let w = World::new().await;
    w.profile(json!({"import": {"enabled": true}, "export": {"enabled": true}}))
        .await;
    let items = w.seed(
        "contacts",
        (0..N)
            .map(|i| {
                person(
                    &format!("Given{i}"),
                    &format!("Surname{i}"),
                    &format!("person{i}@guard.test"),
                    Some("Guard AS"),
                )
            })
            .collect(),
    );
    let mut failures = Vec::new();
    measured(&w, "import of 1,200 (two-way profile)", &mut failures).await;

    let changed = N / 100;
    for item in &items[..changed] {
        w.edit(item, json!({"job_title": "Edited in Outlook"}));
    }
    let contacts = w.crm_contacts().await;
    assert_eq!(contacts.len(), N);
    let ids: Vec<uuid::Uuid> = contacts[N - changed..]
        .iter()
        .map(|c| c["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let writes = w
        .app
        .store
        .contacts_for_sync(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            let mut fields = r.fields;
            fields.department = "Edited in the CRM".into();
            CrmWrite::Update {
                id: r.id,
                fields,
                expected: Some(r.version),
            }
        })
        .collect();
    w.app.store.apply_crm_writes("alice", writes).await.unwrap();
    measured(&w, "12 changed on each side", &mut failures).await;
    measured(&w, "nothing to do", &mut failures).await;

    w.app
        .store
        .apply_crm_writes("alice", (0..N).map(crm_contact).collect())
        .await
        .unwrap();
    measured(&w, "export of 1,200 new CRM contacts", &mut failures).await;
    measured(&w, "nothing to do after the export", &mut failures).await;
    assert_eq!(w.exchange("contacts").len(), 2 * N);
    assert!(
        failures.is_empty(),
        "round trips grew beyond the recorded numbers:\n{}",
        failures.join("\n")
    );
}

/// The feed is read past the export's echoes while the export writes, not after it: once
/// the last CreateItem is answered, one page is left (the last chunk's echoes), where a
/// walk after the writes read one page per 512 of them. CreateItem answers late here, so
/// that the walk has time to keep up whatever the machine's load.
#[tokio::test]
async fn an_export_reads_its_echoes_while_it_writes() {
    let w = World::new().await;
    w.profile(json!({"export": {"enabled": true}})).await;
    w.app
        .store
        .apply_crm_writes("alice", (0..N).map(crm_contact).collect())
        .await
        .unwrap();
    w.sim.add_fault(
        serde_json::from_value(
            json!({"operation": "CreateItem", "kind": "delay", "delay_ms": 600}),
        )
        .unwrap(),
    );
    w.sim.clear_requests();
    w.sync().await;
    let log = w.sim.requests();
    let last_answer = (log.iter())
        .filter(|r| r.operation == "CreateItem")
        .map(|r| r.at_ms + r.duration_ms as i64)
        .max()
        .expect("the export created items");
    let pages_after: Vec<u64> = (log.iter())
        .filter(|r| r.operation == "SyncFolderItems" && r.at_ms >= last_answer)
        .map(|r| r.seq)
        .collect();
    assert_eq!(
        pages_after.len(),
        1,
        "feed pages read after the last write was answered: {pages_after:?}"
    );
    assert_eq!(w.exchange("contacts").len(), N);
    // The state saved is past every echo: the next run reads one empty page.
    w.sim.clear_faults();
    w.sim.clear_requests();
    w.sync().await;
    assert_eq!(
        w.sim.request_stats().by_operation.get("SyncFolderItems"),
        Some(&1)
    );
}

/// An export-only run saves no feed state: it reads each feed once, and never walks past
/// its own echoes (the next run reads past them from the state saved before).
#[tokio::test]
async fn an_export_only_run_does_not_walk_past_its_echoes() {
    let w = World::new().await;
    w.profile(json!({"export": {"enabled": true}})).await;
    w.app
        .store
        .apply_crm_writes("alice", (0..3).map(crm_contact).collect())
        .await
        .unwrap();
    w.sim.clear_requests();
    let (report, _) = w
        .run_with(contactsync::domain::run::RunMode::ExportOnly, false, false)
        .await;
    assert_eq!(report.counts.exchange_created, 3);
    assert_eq!(
        w.sim.request_stats().by_operation.get("SyncFolderItems"),
        Some(&1)
    );
    // The two-way run after it reads past the echoes and finds them ours.
    let counts = w.sync().await;
    assert_eq!((counts.crm_created, counts.exchange_created), (0, 0));
    assert_eq!(w.exchange("contacts").len(), 3);
}
