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
    /// Bounds on a run (feed pages and request timeout here; the worker enforces the
    /// duration).
    pub limits: crate::sync::limits::RunLimits,
}

fn failed(error: String) -> RunReport {
    RunReport {
        status: RunStatus::Failed,
        counts: RunCounts::default(),
        error: Some(error),
    }
}

/// Runs one sync of one mailbox with its saved profile, or the unsaved profile a dry run
/// previews.
pub async fn run_mailbox(ctx: &EngineContext, req: &RunRequest, sink: &dyn RunSink) -> RunReport {
    let (conn, profile) = match ctx
        .store
        .mailbox_for_sync(&ctx.secrets, req.mailbox_id)
        .await
    {
        Ok(found) => found,
        Err(e) => return failed(format!("mailbox unavailable: {e}")),
    };
    let profile = match ctx.store.run_profile(req.run_id).await {
        Ok(Some(preview)) if req.dry_run => preview,
        Ok(_) => profile,
        Err(e) => return failed(format!("database: {e}")),
    };
    let opened = transport::open(&conn, &ctx.allowed_hosts, Purpose::Run).await;
    let transport = match opened
        .and_then(|t| t.with_request_timeout(ctx.limits.ews_request_timeout))
        .and_then(|t| match ctx.limits.graph_pacing {
            true => Ok(t),
            false => t.without_pacing(),
        }) {
        Ok(t) => t,
        Err(e) => return failed(e.to_string()),
    };
    // Not for a dry run: a preview must not save the carried-over profile.
    let profile = match (req.dry_run, &conn.carry_over_from) {
        (false, Some(_)) => {
            match super::carry_over::carry_over(&ctx.store, &conn, &transport, profile).await {
                Ok(p) => p,
                Err(e) => return failed(e),
            }
        }
        _ => profile,
    };
    let job = Job {
        request: req.clone(),
        profile,
        owner_id: conn.owner_id.clone(),
        limits: ctx.limits,
    };
    engine::execute(&ctx.store, &transport, &job, sink).await
}
