//! The worker's [`RunSink`]: persists item outcomes and counts, publishes them live, and
//! tells the engine when to stop.
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::Shutdown;
use super::events::{RunEvent, RunEvents};
use crate::domain::run::{ItemOutcome, RunCounts, RunItem};
use crate::store::Store;
use crate::store::runs::Claim;
use crate::sync::engine::RunSink;

/// Items kept in memory before they are written in one statement.
const FLUSH_AT: usize = 200;

/// Why the engine was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The owner asked for a cancel.
    Cancelled,
    /// Another worker holds the lease now.
    LeaseLost,
    /// This process is shutting down; the lease is given up for another worker.
    Shutdown,
}

/// Adds one attempt's counts to those of earlier attempts of the same run.
pub fn add_counts(a: &RunCounts, b: &RunCounts) -> RunCounts {
    RunCounts {
        crm_created: a.crm_created + b.crm_created,
        crm_updated: a.crm_updated + b.crm_updated,
        crm_deleted: a.crm_deleted + b.crm_deleted,
        exchange_created: a.exchange_created + b.exchange_created,
        exchange_updated: a.exchange_updated + b.exchange_updated,
        exchange_deleted: a.exchange_deleted + b.exchange_deleted,
        linked: a.linked + b.linked,
        unlinked: a.unlinked + b.unlinked,
        unchanged: a.unchanged + b.unchanged,
        failed: a.failed + b.failed,
    }
}

fn outcome_label(o: ItemOutcome) -> &'static str {
    match o {
        ItemOutcome::Applied => "applied",
        ItemOutcome::Planned => "planned",
        ItemOutcome::Failed => "failed",
    }
}

#[derive(Default)]
struct Pending {
    next_seq: i64,
    items: Vec<RunItem>,
    /// The items written behind the engine, while they are written: the engine goes on
    /// with its next writes meanwhile. Waited for before any other write of the run's
    /// record, so items are written in the order they were recorded.
    writing: Option<tokio::task::JoinHandle<crate::store::StoreResult<()>>>,
    counts: RunCounts,
    /// The run's counts as last saved (at the claim, those of earlier attempts).
    saved: RunCounts,
}

/// Records one attempt of a run for the worker holding its lease.
pub struct RunRecorder {
    store: Store,
    events: RunEvents,
    run_id: Uuid,
    worker: String,
    /// Counts of earlier attempts (a resumed run continues them).
    base: RunCounts,
    pending: tokio::sync::Mutex<Pending>,
    shutdown: Shutdown,
    lease_lost: Arc<AtomicBool>,
    stopped: Mutex<Option<StopReason>>,
}

impl RunRecorder {
    /// A recorder for a claimed run.
    pub fn new(
        store: Store,
        events: RunEvents,
        claim: &Claim,
        worker: &str,
        shutdown: Shutdown,
    ) -> RunRecorder {
        RunRecorder {
            store,
            events,
            run_id: claim.request.run_id,
            worker: worker.to_owned(),
            base: claim.counts,
            pending: tokio::sync::Mutex::new(Pending {
                next_seq: claim.next_seq,
                saved: claim.counts,
                ..Pending::default()
            }),
            shutdown,
            lease_lost: Arc::new(AtomicBool::new(false)),
            stopped: Mutex::new(None),
        }
    }

    /// The flag the heartbeat raises when the lease is gone.
    pub fn lease_lost_flag(&self) -> Arc<AtomicBool> {
        self.lease_lost.clone()
    }

    /// Why the engine was told to stop, if it was.
    pub fn stop_reason(&self) -> Option<StopReason> {
        *self.stopped.lock().expect("stop lock")
    }

    /// The run's counts: earlier attempts plus this one's `counts`.
    pub fn total(&self, counts: &RunCounts) -> RunCounts {
        add_counts(&self.base, counts)
    }

    /// Writes the buffered items.
    pub async fn flush(&self) -> crate::store::StoreResult<()> {
        let mut p = self.pending.lock().await;
        self.written(&mut p).await;
        if p.items.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut p.items);
        self.store.append_run_items(self.run_id, &items).await
    }

    async fn record_item(&self, mut item: RunItem) {
        metrics::counter!("contactsync_sync_items_total", "operation" => item.op.as_str(), "outcome" => outcome_label(item.outcome))
            .increment(1);
        let mut p = self.pending.lock().await;
        item.seq = p.next_seq;
        p.next_seq += 1;
        self.events
            .publish(self.run_id, RunEvent::Item(item.clone()));
        p.items.push(item);
        if p.items.len() >= FLUSH_AT {
            let items = std::mem::take(&mut p.items);
            let (store, run_id) = (self.store.clone(), self.run_id);
            self.behind(&mut p, "could not record run items", async move {
                store.append_run_items(run_id, &items).await
            });
        }
    }

    /// Writes to the run's record behind the engine, after the write before it (so items
    /// are written in the order they were recorded): the engine goes on with its next
    /// writes meanwhile, and memory holds at most one write in flight besides the buffer.
    fn behind(
        &self,
        p: &mut Pending,
        failure: &'static str,
        write: impl Future<Output = crate::store::StoreResult<()>> + Send + 'static,
    ) {
        let before = p.writing.take();
        let run_id = self.run_id;
        p.writing = Some(tokio::spawn(async move {
            if let Some(before) = before {
                // Its failure was logged by its own task.
                let _ = before.await;
            }
            let done = write.await;
            if let Err(e) = &done {
                tracing::warn!(run = %run_id, error = %e, "{failure}");
            }
            done
        }));
    }

    /// Waits for the writes behind the engine, if any.
    async fn written(&self, p: &mut Pending) {
        if let Some(writing) = p.writing.take()
            && let Err(e) = writing.await
        {
            tracing::warn!(run = %self.run_id, error = %e, "a write of the run's record stopped");
        }
    }

    async fn record_progress(&self, counts: RunCounts) {
        let total = self.total(&counts);
        let mut p = self.pending.lock().await;
        p.counts = counts;
        // Nothing new to save (a run with nothing to do): no commit, which is a flush.
        if total == p.saved && p.items.is_empty() {
            drop(p);
            self.events.publish(self.run_id, RunEvent::Progress(total));
            return;
        }
        // The items recorded since the last save go with the counts, in one commit, and
        // the counts are published once saved.
        let items = std::mem::take(&mut p.items);
        p.saved = total;
        let (store, run_id, worker) = (self.store.clone(), self.run_id, self.worker.clone());
        let events = self.events.clone();
        self.behind(&mut p, "could not record run progress", async move {
            let saved = store.record_progress(run_id, &worker, &total, &items).await;
            events.publish(run_id, RunEvent::Progress(total));
            saved
        });
    }

    async fn record_notice(&self, text: String) {
        self.written(&mut *self.pending.lock().await).await;
        if let Err(e) = self
            .store
            .record_notice(self.run_id, &self.worker, &text)
            .await
        {
            tracing::warn!(run = %self.run_id, error = %e, "could not record the run's notice");
        }
        self.events.publish(self.run_id, RunEvent::Notice(text));
    }

    /// The counts of this attempt last reported by the engine.
    pub async fn last_counts(&self) -> RunCounts {
        self.pending.lock().await.counts
    }

    async fn check_stop(&self) -> bool {
        let reason = if self.shutdown.is_requested() {
            Some(StopReason::Shutdown)
        } else if self.lease_lost.load(Ordering::SeqCst) {
            Some(StopReason::LeaseLost)
        } else {
            match self.store.run_control(self.run_id, &self.worker).await {
                Ok(c) if !c.owned => Some(StopReason::LeaseLost),
                Ok(c) if c.cancel_requested => Some(StopReason::Cancelled),
                Ok(_) => None,
                // A database hiccup is no reason to stop; the next batch asks again.
                Err(e) => {
                    tracing::warn!(run = %self.run_id, error = %e, "could not read run control");
                    None
                }
            }
        };
        if let Some(r) = reason {
            *self.stopped.lock().expect("stop lock") = Some(r);
        }
        reason.is_some()
    }
}

impl RunSink for RunRecorder {
    fn item(&self, item: RunItem) -> BoxFuture<'_, ()> {
        Box::pin(self.record_item(item))
    }

    fn progress(&self, counts: RunCounts) -> BoxFuture<'_, ()> {
        Box::pin(self.record_progress(counts))
    }

    fn should_stop(&self) -> BoxFuture<'_, bool> {
        Box::pin(self.check_stop())
    }

    fn notice(&self, text: String) -> BoxFuture<'_, ()> {
        Box::pin(self.record_notice(text))
    }
}
