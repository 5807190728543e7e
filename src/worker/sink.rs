//! The worker's [`RunSink`]: persists item outcomes and counts, publishes them live, and
//! tells the engine when to stop.
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::Shutdown;
use super::events::{RunEvent, RunEvents};
use crate::domain::run::{ItemOutcome, RunCounts, RunItem};
use crate::store::Store;
use crate::store::runs::Claim;
use crate::sync::engine::RunSink;

/// Items kept in memory before they are written in one statement.
const FLUSH_AT: usize = 200;

/// Writes of the run's record that may wait for the writer: beyond it the engine waits,
/// so memory stays bounded whatever the database's pace (a chunk's worth of items).
const WRITES_WAITING: usize = 4;

/// One write of the run's record, done by the writer in its turn.
type Write = BoxFuture<'static, ()>;

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
        deferred: a.deferred + b.deferred,
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
    /// The writer of the run's record behind the engine (started with the first write):
    /// one task taking the writes in the order they were handed over.
    writer: Option<mpsc::Sender<Write>>,
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
            let write = self.logged("could not record run items", async move {
                store.append_run_items(run_id, &items).await
            });
            self.behind(&mut p, write).await;
        }
    }

    /// Hands a write of the run's record to the writer: the engine goes on with its next
    /// writes meanwhile, and the writes are done in the order they were handed over
    /// (items in the order they were recorded). Waits while [`WRITES_WAITING`] wait.
    async fn behind(&self, p: &mut Pending, write: Write) {
        let writer = p.writer.get_or_insert_with(|| {
            let (tx, mut rx) = mpsc::channel::<Write>(WRITES_WAITING);
            tokio::spawn(async move {
                while let Some(write) = rx.recv().await {
                    write.await;
                }
            });
            tx
        });
        // The writer ends only once every sender is gone: it is there.
        let _ = writer.send(write).await;
    }

    /// Waits until every write handed to the writer is done.
    async fn written(&self, p: &mut Pending) {
        if p.writer.is_none() {
            return;
        }
        let (done, wait) = oneshot::channel();
        self.behind(
            p,
            Box::pin(async move {
                let _ = done.send(());
            }),
        )
        .await;
        let _ = wait.await;
    }

    /// A write of the run's record whose failure is logged (the run goes on: its final
    /// counts are written when it finishes).
    fn logged(
        &self,
        failure: &'static str,
        write: impl Future<Output = crate::store::StoreResult<()>> + Send + 'static,
    ) -> Write {
        let run_id = self.run_id;
        Box::pin(async move {
            if let Err(e) = write.await {
                tracing::warn!(run = %run_id, error = %e, "{failure}");
            }
        })
    }

    async fn record_progress(&self, counts: RunCounts) {
        let total = self.total(&counts);
        let mut p = self.pending.lock().await;
        p.counts = counts;
        let events = self.events.clone();
        let run_id = self.run_id;
        // Nothing new to save (a run with nothing to do): no commit, which is a flush.
        // Published in the writer's turn all the same: never before counts saved earlier.
        if total == p.saved && p.items.is_empty() {
            if p.writer.is_none() {
                events.publish(run_id, RunEvent::Progress(total));
            } else {
                let publish = Box::pin(async move {
                    events.publish(run_id, RunEvent::Progress(total));
                });
                self.behind(&mut p, publish).await;
            }
            return;
        }
        // The items recorded since the last save go with the counts, in one commit, and
        // the counts are published once saved. (Taken as saved now: a failed write is
        // logged, and the run's final counts are written when it finishes.)
        let items = std::mem::take(&mut p.items);
        p.saved = total;
        let (store, worker) = (self.store.clone(), self.worker.clone());
        let write = self.logged("could not record run progress", async move {
            let saved = store.record_progress(run_id, &worker, &total, &items).await;
            events.publish(run_id, RunEvent::Progress(total));
            saved
        });
        self.behind(&mut p, write).await;
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
