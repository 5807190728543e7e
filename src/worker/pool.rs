//! A pool of workers, each looping over `try_execute_one`, idling between polls.
use std::sync::Arc;

use chrono::Duration;

use super::Shutdown;
use super::clock::Clock;
use super::events::RunEvents;
use super::queue::{Outcome, Worker};
use super::run::EngineContext;

/// How the pool works the queue.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Number of workers.
    pub workers: usize,
    /// How long a claim lasts without a heartbeat (heartbeats come every third of it).
    pub lease: Duration,
    /// How often an idle worker looks at the queue (runs enqueued by this process wake
    /// it at once; runs enqueued elsewhere wait for the poll).
    pub poll: std::time::Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            workers: 8,
            lease: Duration::seconds(30),
            poll: std::time::Duration::from_secs(1),
        }
    }
}

/// Running workers.
pub struct Pool {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Pool {
    /// Starts `config.workers` workers; they stop when `shutdown` is requested, each
    /// after its current run stops at its next batch.
    pub fn start(
        config: &PoolConfig,
        engine: EngineContext,
        events: RunEvents,
        clock: Arc<dyn Clock>,
        shutdown: Shutdown,
    ) -> Pool {
        let process = uuid::Uuid::new_v4().simple().to_string();
        let tasks = (0..config.workers)
            .map(|n| {
                let worker = Worker::new(
                    format!("{}-{}-w{n}", std::process::id(), &process[..8]),
                    engine.clone(),
                    events.clone(),
                    clock.clone(),
                    config.lease,
                    shutdown.clone(),
                );
                tokio::spawn(work(worker, events.clone(), shutdown.clone(), config.poll))
            })
            .collect();
        Pool { tasks }
    }

    /// Waits for every worker to stop (request the shutdown first).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn work(worker: Worker, events: RunEvents, shutdown: Shutdown, poll: std::time::Duration) {
    while !shutdown.is_requested() {
        match worker.try_execute_one().await {
            Ok(Outcome::Idle) => {}
            Ok(_) => continue,
            Err(e) => tracing::warn!(worker = %worker.id, error = %e, "queue unavailable"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = events.woken() => {}
            _ = shutdown.requested() => {}
        }
    }
}
