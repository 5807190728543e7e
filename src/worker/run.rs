//! From a claimed run request to the engine: load the mailbox and its profile, open its
//! transport (`transport::open` chooses the protocol), and execute.
use crate::crypto::SecretBox;
use crate::domain::run::{RunCounts, RunReport, RunRequest, RunStatus};
use crate::store::Store;
use crate::sync::engine::{self, Job, RunSink};
use crate::transport::{self, Purpose};

/// What a worker needs to run a mailbox's sync.
#[derive(Clone, Debug)]
pub struct EngineContext {
    pub store: Store,
    pub secrets: SecretBox,
    /// Hosts that may be reached over http or on internal addresses.
    pub allowed_hosts: Vec<String>,
}

fn failed(error: String) -> RunReport {
    RunReport {
        status: RunStatus::Failed,
        counts: RunCounts::default(),
        error: Some(error),
    }
}

/// Runs one sync of one mailbox with its saved profile.
pub async fn run_mailbox(ctx: &EngineContext, req: &RunRequest, sink: &dyn RunSink) -> RunReport {
    let (conn, profile) = match ctx
        .store
        .mailbox_for_sync(&ctx.secrets, req.mailbox_id)
        .await
    {
        Ok(found) => found,
        Err(e) => return failed(format!("mailbox unavailable: {e}")),
    };
    let transport = match transport::open(&conn, &ctx.allowed_hosts, Purpose::Run).await {
        Ok(t) => t,
        Err(e) => return failed(e.to_string()),
    };
    let job = Job {
        request: req.clone(),
        profile,
        owner_id: conn.owner_id.clone(),
    };
    engine::execute(&ctx.store, &transport, &job, sink).await
}
