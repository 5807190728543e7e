//! Driving the sync engine directly against the simulator (the worker is tested apart).
use std::sync::Mutex;

use contactsync::crypto::SecretBox;
use contactsync::domain::run::{RunCounts, RunItem, RunMode, RunReport, RunRequest, RunStatus};
use contactsync::sync::engine::RunSink;
use contactsync::worker::{EngineContext, run_mailbox};
use ews_sim::{ContactData, SimHandle};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{GRAPH_APP, TestApp, spawn_sim};

pub const ALICE: &str = "alice@example.com";
pub const EMPLOYEE: &str = "00000000-0000-7000-8000-000000000001";
pub const CUSTOMER: &str = "00000000-0000-7000-8000-000000000002";

/// Keeps what the engine reports.
#[derive(Default)]
pub struct Collect {
    pub items: Mutex<Vec<RunItem>>,
}

impl RunSink for Collect {
    fn item(&self, item: RunItem) -> BoxFuture<'_, ()> {
        self.items.lock().unwrap().push(item);
        Box::pin(async {})
    }

    fn progress(&self, _: RunCounts) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn should_stop(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

/// The protocol a scenario's mailbox speaks: the engine's scenarios run over both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Ews,
    Graph,
}

/// Runs a scenario `async fn name(p: Proto)` once per transport, as `name::ews` and
/// `name::graph`.
#[macro_export]
macro_rules! over_both_transports {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn ews() {
                super::$name($crate::sync_support::Proto::Ews).await
            }
            #[tokio::test]
            async fn graph() {
                super::$name($crate::sync_support::Proto::Graph).await
            }
        }
    )*};
}

/// The mailbox JSON of alice on the simulator, over one protocol.
pub fn mailbox_json(sim: &SimHandle, proto: Proto) -> Value {
    match proto {
        Proto::Ews => json!({"email": ALICE, "ews_url": sim.ews_url(),
            "auth": {"kind": "basic", "username": ALICE, "password": "alice-pw-S3cret"}}),
        Proto::Graph => json!({"email": ALICE, "transport": "graph", "graph": graph_json(sim)}),
    }
}

/// The `graph` settings of the test app on the simulator.
pub fn graph_json(sim: &SimHandle) -> Value {
    let mut parts = GRAPH_APP.splitn(3, ':');
    let (tenant, client, secret) = (parts.next(), parts.next(), parts.next());
    json!({"tenant_id": tenant, "client_id": client, "client_secret": secret,
           "graph_url": sim.graph_url(), "authority_url": sim.authority_url()})
}

/// The item operations a scenario can make fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOp {
    Get,
    Update,
}

/// How an item fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A failure worth retrying next run (EWS: a transient error; Graph: throttled for
    /// longer than a run waits in place).
    Retry,
    /// One that will fail again (corrupt data).
    Permanent,
    /// Someone changed the item since it was read (EWS's conflict, Graph's 412).
    Conflict,
}

/// An app, a simulator and alice's mailbox on it.
pub struct World {
    pub app: TestApp,
    pub sim: SimHandle,
    pub token: String,
    pub mailbox: Uuid,
    pub proto: Proto,
}

impl World {
    /// Alice's mailbox over EWS.
    pub async fn new() -> World {
        World::on(Proto::Ews).await
    }

    /// Alice's mailbox over `proto`.
    pub async fn on(proto: Proto) -> World {
        let app = TestApp::spawn().await;
        let sim = spawn_sim().await;
        let token = app.token("alice");
        let m = app
            .create("/api/v1/mailboxes", &token, mailbox_json(&sim, proto))
            .await;
        let mailbox = m["id"].as_str().unwrap().parse().unwrap();
        World {
            app,
            sim,
            token,
            mailbox,
            proto,
        }
    }

    /// A folder's id as the mailbox's protocol names it (tests create folders with the
    /// simulator's EWS ids).
    pub fn folder(&self, ews_id: &str) -> String {
        match self.proto {
            Proto::Ews => ews_id.to_owned(),
            Proto::Graph => self.sim.graph_folder_id(ALICE, ews_id).expect("a folder"),
        }
    }

    /// Makes `op` on these items fail (`per_item` times each; `None` = until removed), in
    /// the protocol's own way; answers the code the run records for them.
    pub fn fail_items(
        &self,
        op: ItemOp,
        ews_ids: &[String],
        failure: Failure,
        per_item: Option<u32>,
    ) -> &'static str {
        let code = match (self.proto, failure) {
            (Proto::Ews, Failure::Retry) => "ErrorInternalServerTransientError",
            (Proto::Graph, Failure::Retry) => "ApplicationThrottled",
            (_, Failure::Permanent) => "ErrorCorruptData",
            (_, Failure::Conflict) => "ErrorIrresolvableConflict",
        };
        match self.proto {
            Proto::Ews => {
                let operation = match op {
                    ItemOp::Get => "GetItem",
                    ItemOp::Update => "UpdateItem",
                };
                let mut rule = json!({"operation": operation, "kind": "item_error",
                                      "item_ids": ews_ids, "code": code});
                if let Some(n) = per_item {
                    rule["count"] = json!(n as usize * ews_ids.len());
                }
                self.sim.add_fault(serde_json::from_value(rule).unwrap());
            }
            Proto::Graph => {
                let operation = match op {
                    ItemOp::Get => {
                        // Items are read only where delta does not carry their data.
                        self.sim.set_graph_delta_expand(false);
                        "get"
                    }
                    ItemOp::Update => "update",
                };
                for id in ews_ids {
                    // A Retry-After beyond what a run waits in place: the item fails now.
                    let mut rule = match failure {
                        Failure::Retry => json!({"kind": "batch_item", "status": 429,
                                                 "code": code, "retry_after_s": 3600}),
                        Failure::Permanent => json!({"kind": "batch_item", "status": 400,
                                                     "code": code}),
                        Failure::Conflict => json!({"kind": "batch_item", "status": 412,
                                                    "code": code}),
                    };
                    rule["operation"] = json!(operation);
                    rule["url_contains"] = json!(self.item(id));
                    if let Some(n) = per_item {
                        rule["count"] = json!(n);
                    }
                    self.sim
                        .add_graph_fault(serde_json::from_value(rule).unwrap());
                }
            }
        }
        code
    }

    /// The server throttles once the feed and once a read of items, asking for `wait_ms`
    /// (EWS: `ErrorServerBusy` with `BackOffMilliseconds`; Graph: 429 with `Retry-After`
    /// on the delta request and on the reads inside a `$batch`).
    pub fn throttle_once(&self, wait_ms: u64) {
        match self.proto {
            Proto::Ews => {
                for operation in ["SyncFolderItems", "GetItem"] {
                    self.sim.add_fault(
                        serde_json::from_value(json!({"operation": operation, "count": 1,
                            "kind": "server_busy", "back_off_ms": wait_ms}))
                        .unwrap(),
                    );
                }
            }
            Proto::Graph => {
                let seconds = wait_ms.div_ceil(1000);
                self.sim.add_graph_fault(
                    serde_json::from_value(json!({"operation": "delta", "count": 1,
                        "kind": "throttled", "retry_after_s": seconds}))
                    .unwrap(),
                );
                self.sim.add_graph_fault(
                    serde_json::from_value(json!({"operation": "get", "count": 1,
                        "kind": "batch_item", "positions": [0], "status": 429,
                        "retry_after_s": seconds}))
                    .unwrap(),
                );
            }
        }
    }

    /// The service loses every link of the mailbox (e.g. restored from an old backup).
    pub async fn lose_links(&self) {
        use sea_orm::{ConnectionTrait, Statement};
        let db = self.app.store.connection();
        db.execute_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "DELETE FROM contact_links WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE email = '{ALICE}')"
            ),
        ))
        .await
        .unwrap();
    }

    /// The mark alice's mailbox keeps of its last comparison that found nothing to do.
    pub async fn crm_mark(&self) -> Option<String> {
        self.app.store.crm_mark(self.mailbox).await.unwrap()
    }

    /// Alice's saved feed states: folder, state and when each was written.
    pub async fn feed_states(&self) -> Vec<(String, String, String)> {
        use sea_orm::{ConnectionTrait, Statement};
        let db = self.app.store.connection();
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                format!(
                    "SELECT folder_id, sync_state, CAST(updated_at AS TEXT) AS written \
                     FROM folder_sync_states \
                     WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE email = '{ALICE}') \
                     ORDER BY folder_id"
                ),
            ))
            .await
            .unwrap();
        rows.iter()
            .map(|r| {
                (
                    r.try_get("", "folder_id").unwrap(),
                    r.try_get("", "sync_state").unwrap(),
                    r.try_get("", "written").unwrap(),
                )
            })
            .collect()
    }

    /// The server forgets the feed state: the next feed request with a state answers
    /// EWS's `ErrorInvalidSyncStateData` or Graph's 410 Gone.
    pub fn expire_feed_state(&self) {
        match self.proto {
            Proto::Ews => {
                self.sim.add_fault(
                    serde_json::from_value(json!({"operation": "SyncFolderItems", "count": 1,
                                                  "kind": "invalid_sync_state"}))
                    .unwrap(),
                );
            }
            Proto::Graph => {
                self.sim.add_graph_fault(
                    serde_json::from_value(json!({"operation": "delta", "count": 1,
                                                  "kind": "delta_gone"}))
                    .unwrap(),
                );
            }
        }
    }

    /// An item's id as the mailbox's protocol names it.
    pub fn item(&self, ews_id: &str) -> String {
        match self.proto {
            Proto::Ews => ews_id.to_owned(),
            Proto::Graph => self.sim.graph_item_id(ALICE, ews_id).expect("an item"),
        }
    }

    pub async fn profile(&self, profile: Value) {
        let r = self
            .app
            .send(
                reqwest::Method::PUT,
                &format!("/api/v1/mailboxes/{}/contact-sync", self.mailbox),
                Some(&self.token),
                Some(&profile),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    pub async fn run_with(
        &self,
        mode: RunMode,
        dry_run: bool,
        full: bool,
    ) -> (RunReport, Vec<RunItem>) {
        let ctx = EngineContext {
            store: self.app.store.clone(),
            secrets: SecretBox::from_settings(&self.app.settings).unwrap(),
            allowed_hosts: self.app.settings.ews_allowed_hosts.clone(),
            limits: contactsync::sync::limits::RunLimits::from_settings(&self.app.settings),
        };
        let req = RunRequest {
            run_id: Uuid::now_v7(),
            mailbox_id: self.mailbox,
            mode,
            dry_run,
            full,
        };
        let sink = Collect::default();
        let report = run_mailbox(&ctx, &req, &sink).await;
        (report, sink.items.into_inner().unwrap())
    }

    /// A two-way run that must succeed.
    pub async fn sync(&self) -> RunCounts {
        let (report, items) = self.run_with(RunMode::TwoWay, false, false).await;
        assert_eq!(report.status, RunStatus::Succeeded, "{report:?} {items:#?}");
        report.counts
    }

    /// Asserts the next run writes nothing.
    pub async fn assert_converged(&self) {
        let counts = self.sync().await;
        assert_eq!(
            counts.writes(),
            0,
            "a second run must plan zero writes: {counts:?}"
        );
    }

    pub async fn crm_contacts(&self) -> Vec<Value> {
        self.app.list_all("/api/v1/contacts", &self.token).await
    }

    pub async fn crm_contact(&self, id: &str) -> Value {
        self.app
            .get(&format!("/api/v1/contacts/{id}"), &self.token)
            .await
            .body
    }

    pub fn exchange(&self, folder: &str) -> Vec<ews_sim::store::Item> {
        self.sim.contacts(ALICE, folder)
    }

    pub fn seed(&self, folder: &str, contacts: Vec<Value>) -> Vec<String> {
        let data: Vec<ContactData> = contacts
            .into_iter()
            .map(|c| serde_json::from_value(c).unwrap())
            .collect();
        self.sim
            .seed_contacts(ALICE, folder, data)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect()
    }

    pub fn edit(&self, item_id: &str, patch: Value) {
        let data: ContactData = serde_json::from_value(patch).unwrap();
        self.sim.edit_contact(ALICE, item_id, &data).unwrap();
    }

    pub async fn create_crm(&self, body: Value) -> Value {
        self.app.create("/api/v1/contacts", &self.token, body).await
    }
}

/// A simulator contact with a name, an e-mail and a company.
pub fn person(given: &str, surname: &str, email: &str, company: Option<&str>) -> Value {
    let mut c = json!({"given_name": given, "surname": surname, "display_name": format!("{given} {surname}"),
                       "email_addresses": {"EmailAddress1": email}});
    if let Some(co) = company {
        c["company_name"] = json!(co);
    }
    c
}
