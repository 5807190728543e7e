//! A serving process: the API, the sync workers, the scheduler and the tombstone purge,
//! started together (`contactsync serve` and `contactsync demo`).
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::web;

use crate::api::AppState;
use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::store::{RunRetention, Store};
use crate::worker::Background;
use crate::worker::events::RunEvents;

/// The running parts of `serve`.
pub struct Service {
    running: crate::app::Running,
    background: Background,
    purge: tokio::task::JoinHandle<()>,
    /// The store the API and the workers use.
    pub store: Store,
}

impl Service {
    /// Connects (and migrates, unless disabled), starts the workers and binds the API.
    pub async fn start(settings: Settings) -> anyhow::Result<Service> {
        let store = crate::cli::connect(&settings).await?;
        if settings.migrate_on_start {
            store.migrate().await?;
        }
        let verifier = JwtVerifier::from_settings(&settings)?;
        let secrets = crate::crypto::SecretBox::from_settings(&settings)?;
        let listen = settings.listen;
        let retention = Retention::from_settings(&settings);
        let events = RunEvents::default();
        let background =
            Background::start(store.clone(), secrets.clone(), &settings, events.clone());
        let state = web::Data::new(
            AppState::new(store.clone(), verifier, secrets, settings).with_events(events),
        );
        let running = crate::app::start(state, listen)?;
        let purge = tokio::spawn(purge_hourly(store.clone(), retention));
        Ok(Service {
            running,
            background,
            purge,
            store,
        })
    }

    /// The address the API listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Stops the API, then the workers (a run in progress releases its lease).
    pub async fn stop(self) {
        self.running.handle.stop(true).await;
        self.purge.abort();
        self.background.stop().await;
    }
}

/// How long deleted contacts and finished runs are kept.
#[derive(Clone, Copy)]
struct Retention {
    tombstones: chrono::Duration,
    runs: chrono::Duration,
    runs_per_mailbox: u32,
}

impl Retention {
    fn from_settings(settings: &Settings) -> Retention {
        let days = |d: u32| chrono::Duration::days(i64::from(d));
        Retention {
            tombstones: days(settings.tombstone_retention_days),
            runs: days(settings.run_retention_days),
            runs_per_mailbox: settings.run_retention_runs,
        }
    }
}

/// Every hour: contact tombstones, and finished runs with their items, past retention.
async fn purge_hourly(store: Store, retention: Retention) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = chrono::Utc::now();
        match store.purge_tombstones(now - retention.tombstones).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged contact tombstones"),
            Err(e) => tracing::warn!(error = %e, "tombstone purge failed"),
        }
        let runs = RunRetention {
            cutoff: now - retention.runs,
            runs_per_mailbox: retention.runs_per_mailbox,
        };
        match store.purge_run_history(runs).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "purged finished runs past retention"),
            Err(e) => tracing::warn!(error = %e, "run history purge failed"),
        }
    }
}
