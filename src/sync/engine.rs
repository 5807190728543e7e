//! One run: collect changes on both sides, plan, apply in batches, commit sync state.
//!
//! The worker owns the run record; the engine reports to it through a [`RunSink`].
use futures_util::future::BoxFuture;

use crate::crypto::SecretBox;
use crate::domain::run::{RunCounts, RunItem, RunReport, RunRequest, RunStatus};
use crate::store::Store;
use crate::transport::ExchangeContacts;
use crate::transport::ews::EwsTransport;

/// What the engine needs to run.
#[derive(Clone, Debug)]
pub struct EngineContext {
    pub store: Store,
    pub secrets: SecretBox,
    /// Hosts that may be reached over http or on internal addresses.
    pub allowed_hosts: Vec<String>,
}

/// Where the engine reports while it runs (the worker persists and publishes).
pub trait RunSink: Send + Sync {
    /// One item's outcome, in order.
    fn item(&self, item: RunItem) -> BoxFuture<'_, ()>;
    /// The counts so far (after each batch).
    fn progress(&self, counts: RunCounts) -> BoxFuture<'_, ()>;
    /// Asked between batches: true when the run must stop (cancelled, lease lost,
    /// shutting down). What was applied so far stays applied and recorded.
    fn should_stop(&self) -> BoxFuture<'_, bool>;
}

fn failed(error: impl Into<String>) -> RunReport {
    RunReport {
        status: RunStatus::Failed,
        counts: RunCounts::default(),
        error: Some(error.into()),
    }
}

/// Runs one sync of one mailbox.
pub async fn execute(ctx: &EngineContext, req: &RunRequest, sink: &dyn RunSink) -> RunReport {
    let (conn, profile) = match ctx
        .store
        .mailbox_for_sync(&ctx.secrets, req.mailbox_id)
        .await
    {
        Ok(found) => found,
        Err(e) => return failed(format!("mailbox unavailable: {e}")),
    };
    let transport = match EwsTransport::open(&conn, &ctx.allowed_hosts).await {
        Ok(t) => t,
        Err(e) => return failed(e.to_string()),
    };
    // Reach the mailbox first: a run that cannot sign in fails as a whole.
    if let Err(e) = transport.contact_folders().await {
        return failed(e.to_string());
    }
    if !profile.import.enabled && !profile.export.enabled {
        return RunReport {
            status: RunStatus::Succeeded,
            counts: RunCounts::default(),
            error: None,
        };
    }
    let _ = sink;
    failed("the sync engine is being built")
}
