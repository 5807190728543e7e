//! The engine in this process, the simulator in process too (the performance table of
//! README "Performance" is `benches/sync`): where a run's time goes, over EWS or Graph.
//!
//! Full import and export of 10k contacts against the simulator with 20 ms latency per
//! request, and a run with nothing to do: prints wall time and round trips. Over EWS by
//! default; `SYNC_BENCH_TRANSPORT=graph` runs the same through Microsoft Graph (pacing
//! under the 10-minute budget off, as SPEC §10 measures it) and adds what reading the
//! extended properties costs, as Graph's delta cannot carry them.
//!
//!     cargo bench --bench engine          (SYNC_BENCH_N=1000 for a quicker look)
//!     SYNC_BENCH_TRANSPORT=graph cargo bench --bench engine
use std::time::Instant;

use contactsync::config::Settings;
use contactsync::crypto::SecretBox;
use contactsync::domain::Caller;
use contactsync::domain::contact::ContactFields;
use contactsync::domain::mailbox::{AuthWrite, GraphWrite, MailboxTransport, MailboxWrite};
use contactsync::domain::profile::ContactSyncProfile;
use contactsync::domain::run::{RunCounts, RunItem, RunMode, RunReport, RunRequest};
use contactsync::store::Store;
use contactsync::store::sync_state::{CrmWrite, ScopeInSql};
use contactsync::sync::engine::RunSink;
use contactsync::worker::{EngineContext, run_mailbox};
use futures_util::future::BoxFuture;
use uuid::Uuid;

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

/// The bench app on the simulator's Graph front end: tenant, client id, secret.
const APP: (&str, &str, &str) = ("bench", "bench-app", "bench-S3cret");

struct Bench {
    transport: MailboxTransport,
    store: Store,
    ctx: EngineContext,
    sim: ews_sim::SimHandle,
    owner: Caller,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new(transport: MailboxTransport) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ews_allowed_hosts: vec!["127.0.0.1".into()],
            ..Settings::default()
        };
        let store = Store::connect(&settings.effective_database_url(), None)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let sim = ews_sim::spawn(ews_sim::SimConfig {
            control_listen: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            mailboxes: vec![
                ews_sim::Credential::new("importer@example.com", "pw"),
                ews_sim::Credential::new("exporter@example.com", "pw"),
            ],
            service_accounts: vec![],
            latency_ms: 0,
            state_file: None,
            apps: vec![ews_sim::GraphApp {
                tenant: APP.0.into(),
                client_id: APP.1.into(),
                secret: APP.2.into(),
            }],
        })
        .await
        .unwrap();
        let mut limits = contactsync::sync::limits::RunLimits::from_settings(&settings);
        limits.graph_pacing = false;
        let ctx = EngineContext {
            store: store.clone(),
            secrets: SecretBox::from_settings(&settings).unwrap(),
            allowed_hosts: settings.ews_allowed_hosts.clone(),
            limits,
        };
        let owner = Caller {
            user_id: "bench".into(),
            is_admin: false,
        };
        Bench {
            transport,
            store,
            ctx,
            sim,
            owner,
            _dir: dir,
        }
    }

    async fn mailbox(&self, email: &str, profile: ContactSyncProfile) -> Uuid {
        let owner = Caller {
            user_id: format!("bench-{email}"),
            is_admin: false,
        };
        let m = self
            .store
            .create_mailbox(
                &self.ctx.secrets,
                &owner,
                match self.transport {
                    MailboxTransport::Ews => MailboxWrite {
                        email: Some(email.into()),
                        ews_url: Some(self.sim.ews_url()),
                        auth: Some(AuthWrite::Basic {
                            username: Some(email.into()),
                            password: Some("pw".into()),
                        }),
                        ..Default::default()
                    },
                    MailboxTransport::Graph => MailboxWrite {
                        email: Some(email.into()),
                        transport: Some(MailboxTransport::Graph),
                        graph: Some(GraphWrite {
                            tenant_id: Some(APP.0.into()),
                            client_id: Some(APP.1.into()),
                            client_secret: Some(APP.2.into()),
                            graph_url: Some(self.sim.graph_url()),
                            authority_url: Some(self.sim.authority_url()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                },
                &self.ctx.allowed_hosts,
                |_| u32::MAX,
            )
            .await
            .unwrap();
        self.store
            .put_profile(&owner, m.id, profile, None)
            .await
            .unwrap();
        m.id
    }

    async fn run(&self, mailbox: Uuid, label: &str) -> RunReport {
        self.sim.clear_requests();
        let started = Instant::now();
        let req = RunRequest {
            run_id: Uuid::now_v7(),
            mailbox_id: mailbox,
            mode: RunMode::TwoWay,
            dry_run: false,
            full: false,
        };
        let report = run_mailbox(&self.ctx, &req, &Quiet).await;
        let elapsed = started.elapsed();
        let requests = self.sim.requests();
        let mut by_op: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &requests {
            *by_op.entry(r.operation.clone()).or_default() += 1;
        }
        println!(
            "{label:<34} {:>8.3} s  {:>5} round trips  {:?}  status {:?}  writes {}",
            elapsed.as_secs_f64(),
            requests.len(),
            by_op,
            report.status,
            report.counts.writes()
        );
        report
    }
}

impl Bench {
    /// Where the time of a run with nothing to do goes.
    async fn breakdown(&self, mailbox: Uuid) {
        use contactsync::transport::ExchangeContacts;
        let t = Instant::now();
        let (conn, _) = self
            .store
            .mailbox_for_sync(&self.ctx.secrets, mailbox)
            .await
            .unwrap();
        let load = t.elapsed();
        let t = Instant::now();
        let transport = contactsync::transport::open(
            &conn,
            &self.ctx.allowed_hosts,
            contactsync::transport::Purpose::Run,
        )
        .await
        .unwrap()
        .without_pacing()
        .unwrap();
        let open = t.elapsed();
        let t = Instant::now();
        let folders = transport.contact_folders().await.unwrap();
        let tree = t.elapsed();
        let owner = contactsync::domain::Caller {
            user_id: conn.owner_id.clone(),
            is_admin: false,
        };
        let t = Instant::now();
        let moves = self
            .store
            .crm_moves(&owner, mailbox, ScopeInSql::All, true)
            .await
            .unwrap();
        let moves_t = t.elapsed();
        let t = Instant::now();
        let gone = self
            .store
            .links_gone_from_view(&owner, mailbox)
            .await
            .unwrap();
        let gone_t = t.elapsed();
        let states = self.store.sync_states(mailbox).await.unwrap();
        let t = Instant::now();
        for (folder, state) in &states {
            let state = contactsync::sync::engine::usable_state(state, true);
            transport.changes(folder, state).await.unwrap();
        }
        let feed = t.elapsed();
        println!(
            "  breakdown: mailbox {load:?}, client {open:?}, folder tree ({}) {tree:?}, {} CRM moves {moves_t:?}, {} links out of view {gone_t:?}, feeds {feed:?}",
            folders.len(),
            moves.len(),
            gone.len()
        );
    }
}

impl Bench {
    /// Graph only: a delta round of ids (what the feed reads), the same round with the
    /// mapped fields (what it would read if delta could carry everything the engine needs),
    /// and the reads of every item with the three extended properties, in `$batch`es of 20.
    async fn extended_property_cost(&self, email: &str) {
        use graph::ops::ContactsDelta;
        let mut config =
            graph::ClientConfig::new(APP.0, APP.1, graph::Credential::Secret(APP.2.into()), email);
        config.graph_url = self.sim.graph_url();
        config.authority_url = self.sim.authority_url();
        config.budget_per_10_minutes = None;
        let client = graph::GraphClient::new(config).unwrap();
        let round = |select: Vec<String>| {
            let client = client.clone();
            async move {
                let start = ContactsDelta {
                    user: client.user().to_owned(),
                    folder_id: None,
                    select,
                    extended: Vec::new(),
                    page_size: 200,
                };
                let t = Instant::now();
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
                (t.elapsed(), ids)
            }
        };
        let (ids_only, ids) = round(vec!["id".into(), "changeKey".into()]).await;
        let (with_fields, _) = round(contactsync::transport::graph::mapping::select()).await;
        let t = Instant::now();
        let read = client
            .get_contacts(
                &ids,
                &contactsync::transport::graph::mapping::select(),
                &contactsync::transport::graph::mapping::extended(),
            )
            .await;
        let reads = t.elapsed();
        assert!(read.iter().all(Result::is_ok));
        println!(
            "  extended properties: delta of {} ids {:.3} s; with the mapped fields {:.3} s; reading them all with stamp, salutation and gender ($batch of 20, 4 at a time) {:.3} s",
            ids.len(),
            ids_only.as_secs_f64(),
            with_fields.as_secs_f64(),
            reads.as_secs_f64()
        );
    }
}

/// `SYNC_BENCH_LATENCY_MS` (20): the simulator's latency per request for a scenario run alone.
fn latency_ms() -> u64 {
    std::env::var("SYNC_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn main() {
    let transport = match std::env::var("SYNC_BENCH_TRANSPORT").as_deref() {
        Ok("graph") => MailboxTransport::Graph,
        _ => MailboxTransport::Ews,
    };
    let n: usize = std::env::var("SYNC_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let b = Bench::new(transport).await;
        println!(
            "contactsync sync benchmark over {}: {n} contacts, simulator on loopback",
            transport.as_str()
        );

        // Import: n contacts in the mailbox's Contacts folder.
        let data = (0..n)
            .map(|i| {
                serde_json::from_value::<ews_sim::ContactData>(serde_json::json!({
                    "given_name": format!("Given{i}"), "surname": format!("Surname{i}"),
                    "display_name": format!("Given{i} Surname{i}"), "company_name": format!("Company {}", i % 97),
                    "job_title": "Engineer", "email_addresses": {"EmailAddress1": format!("person{i}@import.test")},
                    "phone_numbers": {"MobilePhone": format!("+47 {i:08}")}
                }))
                .unwrap()
            })
            .collect();
        b.sim.seed_contacts("importer@example.com", "contacts", data).unwrap();
        let mut import = ContactSyncProfile::default();
        import.import.enabled = true;
        let importer = b.mailbox("importer@example.com", import).await;

        // Export: n CRM contacts of another owner.
        let exporter_owner = "bench-exporter@example.com";
        let writes: Vec<CrmWrite> = (0..n)
            .map(|i| {
                let mut f = ContactFields {
                    given_name: format!("Crm{i}"),
                    surname: format!("Person{i}"),
                    email1: format!("crm{i}@export.test"),
                    job_title: "Buyer".into(),
                    company: Some(format!("Customer {}", i % 89)),
                    ..Default::default()
                };
                f.normalize();
                CrmWrite::Create(f)
            })
            .collect();
        for chunk in writes.chunks(1000) {
            b.store.apply_crm_writes(exporter_owner, chunk.to_vec()).await.unwrap();
        }
        let mut export = ContactSyncProfile::default();
        export.export.enabled = true;
        let exporter = b.mailbox("exporter@example.com", export).await;

        // `cargo bench --bench engine -- import` runs the import alone (to profile it).
        if std::env::args().any(|a| a == "import") {
            b.sim.set_latency_ms(latency_ms());
            b.run(importer, &format!("full import of {n}")).await;
            return;
        }
        b.sim.set_latency_ms(20);
        println!("-- 20 ms latency per request");
        b.run(importer, &format!("full import of {n}")).await;
        b.run(exporter, &format!("full export of {n}")).await;
        b.run(importer, "import mailbox, next run").await;
        b.run(exporter, "export mailbox, next run").await;
        b.sim.set_latency_ms(0);
        println!("-- no latency");
        b.run(importer, "nothing to do (import mailbox)").await;
        b.run(exporter, "nothing to do (export mailbox)").await;
        b.breakdown(importer).await;
        if transport == MailboxTransport::Graph {
            b.sim.set_latency_ms(20);
            println!("-- 20 ms latency per request");
            b.extended_property_cost("importer@example.com").await;
        }
        let _ = &b.owner;
    });
}
