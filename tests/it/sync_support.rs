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

use crate::support::{TestApp, spawn_sim};

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

/// An app, a simulator and alice's mailbox on it.
pub struct World {
    pub app: TestApp,
    pub sim: SimHandle,
    pub token: String,
    pub mailbox: Uuid,
}

impl World {
    pub async fn new() -> World {
        let app = TestApp::spawn().await;
        let sim = spawn_sim().await;
        let token = app.token("alice");
        let m = app
            .create(
                "/api/v1/mailboxes",
                &token,
                json!({"email": ALICE, "ews_url": sim.ews_url(),
                       "auth": {"kind": "basic", "username": ALICE, "password": "alice-pw-S3cret"}}),
            )
            .await;
        let mailbox = m["id"].as_str().unwrap().parse().unwrap();
        World {
            app,
            sim,
            token,
            mailbox,
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
