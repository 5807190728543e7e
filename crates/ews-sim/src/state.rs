//! What every request handler shares.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use crate::faults::Faults;
use crate::reqlog::RequestLog;
use crate::store::Store;
use crate::{Credential, SimConfig, persist};

/// The simulator's shared state.
pub struct Sim {
    /// The mailboxes.
    pub store: Mutex<Store>,
    /// Injected faults.
    pub faults: Mutex<Faults>,
    /// The request log.
    pub requests: Mutex<RequestLog>,
    /// Latency added to every EWS request.
    pub latency_ms: AtomicU64,
    /// The Graph front end's tokens, faults and in-flight counts.
    pub graph: crate::graph::GraphState,
    /// The configuration it was started with.
    pub config: SimConfig,
}

impl Sim {
    /// Loads the state file (if any) and adds the configured mailboxes.
    pub fn new(config: SimConfig) -> std::io::Result<Self> {
        let mut store = match &config.state_file {
            Some(path) => persist::load(path)?.unwrap_or_default(),
            None => Store::new(),
        };
        for c in &config.mailboxes {
            store.ensure_mailbox(&c.email, &c.password);
        }
        Ok(Self {
            store: Mutex::new(store),
            faults: Mutex::new(Faults::default()),
            requests: Mutex::new(RequestLog::default()),
            latency_ms: AtomicU64::new(config.latency_ms),
            graph: crate::graph::GraphState::default(),
            config,
        })
    }

    /// The service account with these credentials, if any.
    pub fn service_account(&self, user: &str, password: &str) -> Option<&Credential> {
        let user = user.trim().to_ascii_lowercase();
        self.config.service_accounts.iter().find(|c| {
            let email = c.email.to_ascii_lowercase();
            (email == user || email.split('@').next() == Some(user.as_str()))
                && c.password == password
        })
    }

    /// Back to the configured mailboxes (empty, fresh epoch), no faults, no log.
    pub fn reset(&self) {
        let mut store = Store::new();
        for c in &self.config.mailboxes {
            store.ensure_mailbox(&c.email, &c.password);
        }
        *self.store.lock().expect("store lock") = store;
        self.faults.lock().expect("faults lock").clear();
        self.graph.faults.lock().expect("faults lock").clear();
        self.graph
            .delta_expand_refused
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.requests.lock().expect("log lock").clear();
        self.latency_ms
            .store(self.config.latency_ms, std::sync::atomic::Ordering::Relaxed);
    }
}
