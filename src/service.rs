//! A serving process: the API, the sync workers, the scheduler and the tombstone purge,
//! started together (`contactsync serve` and `contactsync demo`).
use std::net::SocketAddr;
use std::time::Duration;

use actix_web::web;

use crate::api::AppState;
use crate::auth::JwtVerifier;
use crate::config::Settings;
use crate::store::Store;
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
        let retention = chrono::Duration::days(i64::from(settings.tombstone_retention_days));
        let events = RunEvents::default();
        let background =
            Background::start(store.clone(), secrets.clone(), &settings, events.clone());
        let state = web::Data::new(
            AppState::new(store.clone(), verifier, secrets, settings).with_events(events),
        );
        let running = crate::app::start(state, listen)?;
        let purge_store = store.clone();
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match purge_store
                    .purge_tombstones(chrono::Utc::now() - retention)
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "purged contact tombstones"),
                    Err(e) => tracing::warn!(error = %e, "tombstone purge failed"),
                }
            }
        });
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
