//! Enqueues automatic runs of the mailboxes that are due, on an injectable clock.
use std::sync::Arc;

use super::Shutdown;
use super::clock::Clock;
use super::events::RunEvents;
use crate::domain::run::Run;
use crate::store::{Store, StoreResult};

/// The automatic sync scheduler.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    events: RunEvents,
}

impl Scheduler {
    /// A scheduler reading time from `clock`.
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: RunEvents) -> Scheduler {
        Scheduler {
            store,
            clock,
            events,
        }
    }

    /// Enqueues an `auto` run for every due mailbox without an active run; returns them.
    pub async fn tick(&self) -> StoreResult<Vec<Run>> {
        let now = self.clock.now();
        let due = self.store.due_mailboxes(now).await?;
        let mut enqueued = Vec::new();
        for e in self.store.enqueue_auto(&due, now).await? {
            tracing::info!(run = %e.run.id, mailbox = %e.run.mailbox_id, "automatic run enqueued");
            enqueued.push(e.run);
        }
        if !enqueued.is_empty() {
            self.events.wake_workers();
        }
        metrics::gauge!("contactsync_sync_queue_depth").set(self.store.queued_runs().await? as f64);
        Ok(enqueued)
    }

    /// Ticks every `every` until shutdown.
    pub fn spawn(
        self,
        every: std::time::Duration,
        shutdown: Shutdown,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while !shutdown.is_requested() {
                if let Err(e) = self.tick().await {
                    tracing::warn!(error = %e, "scheduler tick failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = shutdown.requested() => {}
                }
            }
        })
    }
}
