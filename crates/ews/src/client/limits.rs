//! A process-wide cap on concurrent requests per Exchange host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Semaphore;

/// Exchange's default EWSMaxConcurrency (2013 and later, Exchange Online).
pub const DEFAULT_MAX_CONCURRENCY_PER_HOST: usize = 27;

fn registry() -> &'static Mutex<HashMap<String, Arc<Semaphore>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<Semaphore>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The semaphore shared by every client of `host` (`host:port`). The first client to
/// name a host sets its cap (clamped to 1..=27); later ones share it, so the cap holds
/// across mailboxes on the same server.
pub fn host_semaphore(host: &str, limit: usize) -> Arc<Semaphore> {
    let limit = limit.clamp(1, DEFAULT_MAX_CONCURRENCY_PER_HOST);
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    map.entry(host.to_ascii_lowercase())
        .or_insert_with(|| Arc::new(Semaphore::new(limit)))
        .clone()
}
