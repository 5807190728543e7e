//! Live run events: a broadcast channel per run, shared by the workers and the API of
//! one process. A client that subscribes late reads the current state from the database
//! first, so missing earlier events loses nothing but their timing.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use crate::domain::run::{Run, RunCounts, RunItem};

/// Events buffered per run for a slow subscriber before it starts missing some.
const CAPACITY: usize = 256;

/// What happens to a run while it executes.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The counts so far (after each batch).
    Progress(RunCounts),
    /// One item's outcome.
    Item(RunItem),
    /// What the run wants its watcher to know (the run's `notice`).
    Notice(String),
    /// The run ended (or its lease was given up); the final record.
    End(Box<Run>),
}

/// The per-run channels of this process, and the bell that wakes idle workers.
#[derive(Clone, Default)]
pub struct RunEvents {
    channels: Arc<Mutex<HashMap<Uuid, broadcast::Sender<RunEvent>>>>,
    wake: Arc<Notify>,
}

impl RunEvents {
    /// Receives the events of a run from now on.
    pub fn subscribe(&self, run_id: Uuid) -> broadcast::Receiver<RunEvent> {
        self.channels
            .lock()
            .expect("events lock")
            .entry(run_id)
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe()
    }

    /// Sends an event to the run's subscribers, if any.
    pub fn publish(&self, run_id: Uuid, event: RunEvent) {
        let mut channels = self.channels.lock().expect("events lock");
        let end = matches!(event, RunEvent::End(_));
        if let Some(tx) = channels.get(&run_id) {
            let _ = tx.send(event);
        }
        if end {
            channels.remove(&run_id);
        }
    }

    /// How many clients follow a run now.
    pub fn subscribers(&self, run_id: Uuid) -> usize {
        self.channels
            .lock()
            .expect("events lock")
            .get(&run_id)
            .map_or(0, |tx| tx.receiver_count())
    }

    /// Drops the channel of a run nobody listens to any more.
    pub fn forget_if_unused(&self, run_id: Uuid) {
        let mut channels = self.channels.lock().expect("events lock");
        if channels
            .get(&run_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(&run_id);
        }
    }

    /// Wakes an idle worker of this process (a run was just enqueued).
    pub fn wake_workers(&self) {
        self.wake.notify_waiters();
    }

    /// Completes at the next [`RunEvents::wake_workers`].
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}
