//! One worker over the run queue, written as `try_execute_one` so that tests (and the
//! pool's loop) drive it one run at a time.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Duration;
use futures_util::FutureExt;
use uuid::Uuid;

use super::Shutdown;
use super::clock::Clock;
use super::events::{RunEvent, RunEvents};
use super::run::{EngineContext, run_mailbox};
use super::sink::{RunRecorder, StopReason};
use crate::domain::run::{Run, RunCounts, RunReport, RunStatus};
use crate::store::{Store, StoreResult};

/// What one step of a worker did.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Nothing to claim.
    Idle,
    /// A run was executed to its end.
    Finished {
        run: Box<Run>,
        /// The run was taken over from a worker whose lease had expired.
        takeover: bool,
    },
    /// The lease was given up at shutdown; another worker resumes the run.
    Released(Uuid),
    /// Another worker took the lease meanwhile; it finishes the run.
    LeaseLost(Uuid),
}

/// A queue worker.
#[derive(Clone)]
pub struct Worker {
    /// Written into `lease_owner`: unique per worker and process.
    pub id: String,
    store: Store,
    engine: EngineContext,
    events: RunEvents,
    clock: Arc<dyn Clock>,
    lease: Duration,
    shutdown: Shutdown,
}

/// Renews a lease until dropped (a dropped attempt, even an aborted one, stops renewing,
/// so that its lease expires and another worker takes the run over).
struct Heartbeat(tokio::task::JoinHandle<()>);

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Worker {
    /// A worker named `id`, holding leases of `lease`.
    pub fn new(
        id: impl Into<String>,
        engine: EngineContext,
        events: RunEvents,
        clock: Arc<dyn Clock>,
        lease: Duration,
        shutdown: Shutdown,
    ) -> Worker {
        Worker {
            id: id.into(),
            store: engine.store.clone(),
            engine,
            events,
            clock,
            lease,
            shutdown,
        }
    }

    fn heartbeat(&self, run_id: Uuid, lost: Arc<AtomicBool>) -> Heartbeat {
        let store = self.store.clone();
        let worker = self.id.clone();
        let clock = self.clock.clone();
        let lease = self.lease;
        let every = (lease / 3)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1))
            .max(std::time::Duration::from_millis(50));
        Heartbeat(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match store.heartbeat(run_id, &worker, lease, clock.now()).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(run = %run_id, worker = %worker, "lease lost");
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                    // Retried at the next beat; the lease outlives a few missed ones.
                    Err(e) => tracing::warn!(run = %run_id, error = %e, "heartbeat failed"),
                }
            }
        }))
    }

    /// Claims one run and executes it: `Idle` when the queue is empty.
    pub async fn try_execute_one(&self) -> StoreResult<Outcome> {
        let Some(claim) = self
            .store
            .claim_run(&self.id, self.lease, self.clock.now())
            .await?
        else {
            return Ok(Outcome::Idle);
        };
        let run_id = claim.request.run_id;
        if claim.takeover {
            metrics::counter!("contactsync_sync_lease_takeovers_total").increment(1);
            tracing::warn!(run = %run_id, worker = %self.id, attempt = claim.attempts, "took over an expired lease");
        }
        tracing::info!(run = %run_id, mailbox = %claim.request.mailbox_id, worker = %self.id,
            attempt = claim.attempts, resumed = claim.resumed, "run claimed");
        let recorder = RunRecorder::new(
            self.store.clone(),
            self.events.clone(),
            &claim,
            &self.id,
            self.shutdown.clone(),
        );
        let beat = self.heartbeat(run_id, recorder.lease_lost_flag());
        let report = if claim.cancel_requested {
            RunReport {
                status: RunStatus::Cancelled,
                counts: RunCounts::default(),
                error: None,
            }
        } else {
            let run = run_mailbox(&self.engine, &claim.request, &recorder);
            // The engine's work is short transactions and idempotent writes, so dropping it
            // at the deadline is as safe as a crash, which every run survives.
            let limit = self.engine.limits.max_run_duration;
            let run = tokio::time::timeout(limit, AssertUnwindSafe(run).catch_unwind());
            match run.await {
                Err(_) => {
                    tracing::warn!(run = %run_id, ?limit, "run exceeded the maximum run duration");
                    RunReport {
                        status: RunStatus::Failed,
                        counts: recorder.last_counts().await,
                        error: Some(format!(
                            "the run took longer than the maximum run duration of {} s (max_run_seconds) and was stopped",
                            limit.as_secs()
                        )),
                    }
                }
                Ok(Ok(report)) => report,
                Ok(Err(_)) => {
                    tracing::error!(run = %run_id, "the sync engine panicked");
                    RunReport {
                        status: RunStatus::Failed,
                        counts: recorder.last_counts().await,
                        error: Some(
                            "internal error in the sync engine; see the service logs".into(),
                        ),
                    }
                }
            }
        };
        if let Err(e) = recorder.flush().await {
            tracing::warn!(run = %run_id, error = %e, "could not record run items");
        }
        drop(beat);
        let counts = recorder.total(&report.counts);
        match recorder.stop_reason() {
            Some(StopReason::LeaseLost) => return Ok(Outcome::LeaseLost(run_id)),
            Some(StopReason::Shutdown) if report.status == RunStatus::Cancelled => {
                self.store
                    .release_run(run_id, &self.id, &counts, self.clock.now())
                    .await?;
                tracing::info!(run = %run_id, worker = %self.id, "lease released at shutdown");
                return Ok(Outcome::Released(run_id));
            }
            _ => {}
        }
        let report = RunReport { counts, ..report };
        match self
            .store
            .finish_run(run_id, &self.id, &report, self.clock.now())
            .await?
        {
            Some(run) => {
                metrics::counter!("contactsync_sync_runs_total", "outcome" => run.status.as_str())
                    .increment(1);
                if let (Some(started), Some(finished)) = (run.started_at, run.finished_at) {
                    let seconds = (finished - started).num_milliseconds().max(0) as f64 / 1000.0;
                    metrics::histogram!("contactsync_sync_run_duration_seconds", "outcome" => run.status.as_str())
                        .record(seconds);
                }
                tracing::info!(run = %run_id, status = run.status.as_str(), error = run.error.as_deref().unwrap_or(""), "run finished");
                self.events
                    .publish(run_id, RunEvent::End(Box::new(run.clone())));
                Ok(Outcome::Finished {
                    run: Box::new(run),
                    takeover: claim.takeover,
                })
            }
            None => Ok(Outcome::LeaseLost(run_id)),
        }
    }
}
