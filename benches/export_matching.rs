//! The cost of export-side matching against the whole target folder (SPEC §5 "one person,
//! one item"): a mailbox whose Contacts folder holds N items and an owner with the same N
//! people in the CRM, export on and import off. Prints wall time and EWS round trips of
//!
//! - the first run: every CRM contact matched (by e-mail) against the folder, linked and
//!   stamped, nothing created;
//! - a run after one CRM contact is created: the whole folder is listed once (FindItem
//!   pages, then GetItem by 100) to match that one contact;
//! - a run with nothing to do (no listing).
//!
//!     cargo bench --bench export_matching      (EXPORT_MATCHING_N=1000 for a quicker look)
use std::time::Instant;

use contactsync::config::Settings;
use contactsync::crypto::SecretBox;
use contactsync::domain::Caller;
use contactsync::domain::contact::ContactFields;
use contactsync::domain::mailbox::{AuthWrite, MailboxWrite};
use contactsync::domain::profile::ContactSyncProfile;
use contactsync::domain::run::{RunCounts, RunItem, RunMode, RunRequest};
use contactsync::store::sync_state::CrmWrite;
use contactsync::sync::engine::RunSink;
use contactsync::worker::{EngineContext, run_mailbox};
use futures_util::future::BoxFuture;
use uuid::Uuid;

const MAILBOX: &str = "matcher@example.com";

struct Quiet;

impl RunSink for Quiet {
    fn item(&self, _: RunItem) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn progress(&self, _: RunCounts) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn should_stop(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

fn crm_person(i: usize) -> CrmWrite {
    let mut f = ContactFields {
        given_name: format!("Given{i}"),
        surname: format!("Surname{i}"),
        email1: format!("person{i}@match.test"),
        ..Default::default()
    };
    f.normalize();
    CrmWrite::Create(f)
}

async fn run(ctx: &EngineContext, sim: &ews_sim::SimHandle, mailbox: Uuid, label: &str) {
    sim.clear_requests();
    let started = Instant::now();
    let req = RunRequest {
        run_id: Uuid::now_v7(),
        mailbox_id: mailbox,
        mode: RunMode::TwoWay,
        dry_run: false,
        full: false,
    };
    let report = run_mailbox(ctx, &req, &Quiet).await;
    let elapsed = started.elapsed();
    let requests = sim.requests();
    let mut by_op: std::collections::BTreeMap<String, usize> = Default::default();
    for r in &requests {
        *by_op.entry(r.operation.clone()).or_default() += 1;
    }
    let c = report.counts;
    println!(
        "{label:<44} {:>8.3} s  {:>5} round trips  {by_op:?}  status {:?}  created {} linked {}",
        elapsed.as_secs_f64(),
        requests.len(),
        report.status,
        c.exchange_created,
        c.linked
    );
}

fn main() {
    let n: usize = std::env::var("EXPORT_MATCHING_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ews_allowed_hosts: vec!["127.0.0.1".into()],
            ..Settings::default()
        };
        let store = contactsync::store::Store::connect(&settings.effective_database_url(), None)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let sim = ews_sim::spawn(ews_sim::SimConfig {
            control_listen: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            mailboxes: vec![ews_sim::Credential::new(MAILBOX, "pw")],
            service_accounts: vec![],
            latency_ms: 0,
            state_file: None,
            apps: Vec::new(),
        })
        .await
        .unwrap();
        let ctx = EngineContext {
            store: store.clone(),
            secrets: SecretBox::from_settings(&settings).unwrap(),
            allowed_hosts: settings.ews_allowed_hosts.clone(),
            limits: contactsync::sync::limits::RunLimits::from_settings(&settings),
        };
        println!("contactsync export-matching benchmark: {n} items in the target folder, simulator on loopback");

        let items = (0..n)
            .map(|i| {
                serde_json::from_value::<ews_sim::ContactData>(serde_json::json!({
                    "given_name": format!("Given{i}"), "surname": format!("Surname{i}"),
                    "display_name": format!("Given{i} Surname{i}"),
                    "email_addresses": {"EmailAddress1": format!("person{i}@match.test")}
                }))
                .unwrap()
            })
            .collect();
        sim.seed_contacts(MAILBOX, "contacts", items).unwrap();
        let owner = Caller {
            user_id: "bench-owner".into(),
            is_admin: false,
        };
        let writes: Vec<CrmWrite> = (0..n).map(crm_person).collect();
        for chunk in writes.chunks(1000) {
            store.apply_crm_writes(&owner.user_id, chunk.to_vec()).await.unwrap();
        }
        let m = store
            .create_mailbox(
                &ctx.secrets,
                &owner,
                MailboxWrite {
                    email: Some(MAILBOX.into()),
                    ews_url: Some(sim.ews_url()),
                    auth: Some(AuthWrite::Basic {
                        username: Some(MAILBOX.into()),
                        password: Some("pw".into()),
                    }),
                    ..Default::default()
                },
                &ctx.allowed_hosts,
                |_| u32::MAX,
            )
            .await
            .unwrap();
        let mut export = ContactSyncProfile::default();
        export.export.enabled = true;
        store.put_profile(&owner, m.id, export, None).await.unwrap();

        for latency in [20, 0] {
            sim.set_latency_ms(latency);
            println!("-- {latency} ms latency per EWS request");
            if latency == 20 {
                run(&ctx, &sim, m.id, &format!("first run: {n} matched against {n} items")).await;
            }
            store
                .apply_crm_writes(&owner.user_id, vec![crm_person(n + latency as usize)])
                .await
                .unwrap();
            run(&ctx, &sim, m.id, &format!("one new CRM contact, {n} items listed")).await;
            run(&ctx, &sim, m.id, "nothing to do").await;
        }
    });
}
