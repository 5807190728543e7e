//! Background work: the run queue's workers, the automatic sync scheduler, and the live
//! events they publish to the API of the same process.
pub mod carry_over;
pub mod clock;
pub mod events;
pub mod pool;
pub mod queue;
pub mod run;
pub mod scheduler;
pub mod sink;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::store::Store;
use clock::{Clock, SystemClock};
use events::RunEvents;
use pool::{Pool, PoolConfig};
pub use run::{EngineContext, run_mailbox};
use scheduler::Scheduler;

/// How often the scheduler looks for due mailboxes.
pub const SCHEDULER_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// A stop request shared by workers, their runs and the scheduler.
#[derive(Clone, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Shutdown {
    /// Asks everything to stop: no new claims; current runs stop at their next batch.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// True once a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Completes when a stop is requested.
    pub async fn requested(&self) {
        let notified = self.notify.notified();
        if self.is_requested() {
            return;
        }
        notified.await;
    }
}

/// The workers and the scheduler of one process.
pub struct Background {
    pool: Pool,
    scheduler: tokio::task::JoinHandle<()>,
    shutdown: Shutdown,
}

impl Background {
    /// Starts `settings.workers` workers and the scheduler on the system clock.
    pub fn start(
        store: Store,
        secrets: SecretBox,
        settings: &Settings,
        events: RunEvents,
    ) -> Background {
        let config = PoolConfig {
            workers: settings.workers,
            lease: chrono::Duration::seconds(i64::from(settings.lease_seconds)),
            ..PoolConfig::default()
        };
        Self::start_with(
            store,
            secrets,
            settings,
            events,
            &config,
            Arc::new(SystemClock),
        )
    }

    /// Starts with a pool configuration and clock of the caller's choice.
    pub fn start_with(
        store: Store,
        secrets: SecretBox,
        settings: &Settings,
        events: RunEvents,
        config: &PoolConfig,
        clock: Arc<dyn Clock>,
    ) -> Background {
        // Counters recorded before the recorder exists are lost: install it first.
        crate::telemetry::metrics_handle();
        let shutdown = Shutdown::default();
        let engine = EngineContext {
            store: store.clone(),
            secrets,
            allowed_hosts: settings.ews_allowed_hosts.clone(),
            limits: crate::sync::limits::RunLimits::from_settings(settings),
        };
        let pool = Pool::start(
            config,
            engine,
            events.clone(),
            clock.clone(),
            shutdown.clone(),
        );
        let scheduler =
            Scheduler::new(store, clock, events).spawn(SCHEDULER_EVERY, shutdown.clone());
        Background {
            pool,
            scheduler,
            shutdown,
        }
    }

    /// Stops claiming, lets current runs stop at their next batch (their leases are
    /// released for other workers), and waits.
    pub async fn stop(self) {
        self.shutdown.request();
        let _ = self.scheduler.await;
        self.pool.join().await;
    }
}
