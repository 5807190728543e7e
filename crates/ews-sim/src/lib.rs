//! A faithful Exchange (EWS) contacts server for tests, benchmarks and demos.
//!
//! [`spawn`] starts it on a port (0 = any) and answers a [`SimHandle`] for tests;
//! [`run`] serves until ctrl-c (the `contactsync ews-sim` command). EWS is served at
//! `POST /EWS/Exchange.asmx`, the JSON control API under `/_sim` (see README.md).

mod control;
mod envelope;
pub mod faults;
pub mod graph;
mod http;
mod ops;
mod persist;
pub mod reqlog;
mod soap;
mod state;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

pub use faults::{FaultKind, FaultRule, FaultWhen};
pub use graph::{GraphApp, GraphFault, GraphFaultRule};
pub use reqlog::{RequestRecord, RequestStats};
pub use store::{Address, ContactData, ExtendedFieldUri, ExtendedProperty, Store};

/// A mailbox or service account: SMTP address and password (also its bearer token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// SMTP address.
    pub email: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("email", &self.email)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credential {
    /// A credential from its parts.
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            password: password.into(),
        }
    }
}

/// Why `alice@example.com:secret` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
/// The argument itself is never shown: it may hold a password.
#[error("expected EMAIL:PASSWORD (e.g. alice@example.com:secret); the argument is not shown")]
pub struct CredentialParseError;

impl FromStr for Credential {
    type Err = CredentialParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The password may contain ':'; the address cannot.
        match s.split_once(':') {
            Some((email, password))
                if email.contains('@') && !email.trim().is_empty() && !password.is_empty() =>
            {
                Ok(Self::new(email.trim(), password))
            }
            _ => Err(CredentialParseError),
        }
    }
}

/// How to run the simulator (the CLI fills it from its flags).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on (port 0 = any free port).
    pub listen: SocketAddr,
    /// Serve the unauthenticated `/_sim` control API on this address instead of `listen`,
    /// so that a network that reaches the mailboxes need not reach it.
    pub control_listen: Option<SocketAddr>,
    /// Mailboxes created at start.
    pub mailboxes: Vec<Credential>,
    /// Accounts that may impersonate every mailbox.
    pub service_accounts: Vec<Credential>,
    /// Latency added to every EWS request, in milliseconds.
    pub latency_ms: u64,
    /// JSON file the store is loaded from at start and saved to on change.
    pub state_file: Option<PathBuf>,
    /// Apps that may use Microsoft Graph on every mailbox.
    pub apps: Vec<GraphApp>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            control_listen: None,
            mailboxes: Vec::new(),
            service_accounts: Vec::new(),
            latency_ms: 0,
            state_file: None,
            apps: Vec::new(),
        }
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    /// The control API's own server, when `control_listen` was given.
    control: Option<(actix_web::dev::ServerHandle, SocketAddr)>,
    sim: Arc<state::Sim>,
    server: actix_web::dev::ServerHandle,
    saver: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the simulator and returns once it listens.
pub async fn spawn(config: SimConfig) -> std::io::Result<SimHandle> {
    let sim = Arc::new(state::Sim::new(config)?);
    let (server, addr) = http::start(sim.clone())?;
    let handle = server.handle();
    tokio::spawn(server);
    let control = match sim.config.control_listen {
        Some(at) => {
            let (server, addr) = http::start_control(sim.clone(), at)?;
            let handle = server.handle();
            tokio::spawn(server);
            Some((handle, addr))
        }
        None => None,
    };
    let saver = persist::spawn_saver(sim.clone());
    tracing::info!(%addr, "EWS simulator listening");
    Ok(SimHandle {
        addr,
        control,
        sim,
        server: handle,
        saver,
    })
}

/// Serves until ctrl-c, then saves the state file (if any).
pub async fn run(config: SimConfig) -> std::io::Result<()> {
    let handle = spawn(config).await?;
    println!(
        "ews-sim: EWS at {}  control API at {}/_sim",
        handle.ews_url(),
        handle.control_url()
    );
    stop_signal().await?;
    handle.stop().await
}

/// Ctrl-C, or SIGTERM (what `docker stop` and process managers send): without the
/// latter the server stopped on SIGTERM but the process stayed.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/EWS/Exchange.asmx`.
    pub fn ews_url(&self) -> String {
        format!("{}/EWS/Exchange.asmx", self.base_url())
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where `/_sim` is served: its own address with `control_listen`, else `base_url`.
    pub fn control_url(&self) -> String {
        match &self.control {
            Some((_, addr)) => format!("http://{addr}"),
            None => self.base_url(),
        }
    }

    /// Runs `f` on the store under its lock (seed or inspect without HTTP).
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut self.sim.store.lock().expect("store lock"))
    }

    /// Adds a mailbox (or changes its password).
    pub fn add_mailbox(&self, email: &str, password: &str) {
        self.with_store(|s| {
            s.ensure_mailbox(email, password);
        });
    }

    /// Creates a folder below `parent` (FolderId, distinguished name or display-name
    /// path such as `Contacts/Clients`); answers its FolderId.
    pub fn create_folder(
        &self,
        mailbox: &str,
        parent: &str,
        name: &str,
        folder_class: Option<&str>,
    ) -> Result<String, store::EwsError> {
        self.with_store(|s| control::create_folder(s, mailbox, parent, name, folder_class))
    }

    /// Creates contacts in a folder as the Exchange user; answers (ItemId, ChangeKey) each.
    pub fn seed_contacts(
        &self,
        mailbox: &str,
        folder: &str,
        contacts: Vec<ContactData>,
    ) -> Result<Vec<(String, String)>, store::EwsError> {
        self.with_store(|s| control::seed_contacts(s, mailbox, folder, contacts))
    }

    /// A contact as stored (None when it does not exist).
    pub fn contact(&self, mailbox: &str, item_id: &str) -> Option<store::Item> {
        self.with_store(|s| s.mailbox(mailbox)?.items.get(item_id).cloned())
    }

    /// The contacts of a folder in creation order.
    pub fn contacts(&self, mailbox: &str, folder: &str) -> Vec<store::Item> {
        self.with_store(|s| {
            let Some(mb) = s.mailbox(mailbox) else {
                return Vec::new();
            };
            let Some(f) = mb.folder_by_any(folder) else {
                return Vec::new();
            };
            mb.items_in(&f.id).into_iter().cloned().collect()
        })
    }

    /// Edits a contact as the Exchange user would (new ChangeKey and LastModifiedTime);
    /// set fields of `patch` replace, the rest stays. Answers the new ChangeKey.
    pub fn edit_contact(
        &self,
        mailbox: &str,
        item_id: &str,
        patch: &ContactData,
    ) -> Result<String, store::EwsError> {
        self.with_store(|s| control::edit_contact(s, mailbox, item_id, patch, false))
    }

    /// Deletes a contact as the Exchange user would (hard delete).
    pub fn delete_contact(&self, mailbox: &str, item_id: &str) -> Result<(), store::EwsError> {
        self.with_store(|s| {
            s.mailbox_mut(mailbox)
                .ok_or_else(|| store::EwsError::non_existent_mailbox(mailbox))?
                .delete_item(item_id, store::DeleteType::HardDelete)
        })
    }

    /// `http://ADDR/v1.0`: the Graph version root (`graph_url`).
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base_url())
    }

    /// `http://ADDR`: the token endpoint's authority (`authority_url`).
    pub fn authority_url(&self) -> String {
        self.base_url()
    }

    /// The Graph id of a folder given by its EWS id or path (tests address folders by
    /// the protocol their mailbox uses).
    pub fn graph_folder_id(&self, mailbox: &str, folder: &str) -> Option<String> {
        self.with_store(|s| {
            let mb = s.mailbox_mut(mailbox)?;
            let f = mb.folder_by_any(folder)?;
            Some(graph::folder_graph_id(mb, f))
        })
    }

    /// The immutable Graph id of a contact given by its EWS ItemId.
    pub fn graph_item_id(&self, mailbox: &str, item_id: &str) -> Option<String> {
        self.with_store(|s| {
            let mb = s.mailbox_mut(mailbox)?;
            let it = mb.items.get(item_id)?;
            Some(graph::item_graph_id(mb, it))
        })
    }

    /// The EWS id of a folder or contact given by its Graph id (REST or immutable).
    pub fn ews_id_of_graph_id(&self, mailbox: &str, graph_id: &str) -> Option<String> {
        self.with_store(|s| {
            let mb = s.mailbox_mut(mailbox)?;
            graph::ews_id(mb, graph_id)
        })
    }

    /// Injects a Graph fault; answers the rule with its id.
    pub fn add_graph_fault(&self, rule: GraphFaultRule) -> GraphFaultRule {
        self.sim.graph.faults.lock().expect("faults lock").add(rule)
    }

    /// Revokes every Graph token (the next request with one answers 401).
    pub fn revoke_graph_tokens(&self) {
        self.sim
            .graph
            .tokens
            .lock()
            .expect("tokens lock")
            .revoke_all();
    }

    /// Moves a contact to another folder as the Exchange user (a new ItemId, the same
    /// immutable Graph id); answers the new ItemId.
    pub fn move_contact(
        &self,
        mailbox: &str,
        item_id: &str,
        folder: &str,
    ) -> Result<String, store::EwsError> {
        self.with_store(|s| {
            let mb = s
                .mailbox_mut(mailbox)
                .ok_or_else(|| store::EwsError::non_existent_mailbox(mailbox))?;
            let target = mb
                .folder_by_any(folder)
                .ok_or_else(store::EwsError::folder_not_found)?
                .id
                .clone();
            Ok(mb.move_item(item_id, &store::FolderRef::Id(target))?.0)
        })
    }

    /// Injects a fault; answers the rule with its id.
    pub fn add_fault(&self, rule: FaultRule) -> FaultRule {
        self.sim.faults.lock().expect("faults lock").add(rule)
    }

    /// Removes every injected fault, EWS's and Graph's.
    pub fn clear_faults(&self) {
        self.sim.faults.lock().expect("faults lock").clear();
        self.sim.graph.faults.lock().expect("faults lock").clear();
    }

    /// Sets the latency added to every EWS request.
    pub fn set_latency_ms(&self, ms: u64) {
        self.sim
            .latency_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The request log, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.sim.requests.lock().expect("log lock").all()
    }

    /// The request counters since the last clear.
    pub fn request_stats(&self) -> RequestStats {
        self.sim.requests.lock().expect("log lock").stats()
    }

    /// Whether Graph's delta serves `$expand` of extended properties (the default) or
    /// refuses it with a 400, as deltas that cannot carry them do.
    pub fn set_graph_delta_expand(&self, served: bool) {
        self.sim
            .graph
            .delta_expand_refused
            .store(!served, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets the request log and resets its counters.
    pub fn clear_requests(&self) {
        self.sim.requests.lock().expect("log lock").clear();
    }

    /// Back to the configured mailboxes, empty, with no faults and an empty log.
    pub fn reset(&self) {
        self.sim.reset();
    }

    /// Stops serving and saves the state file (if any).
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.server.stop(true).await;
        if let Some((control, _)) = self.control.take() {
            control.stop(true).await;
        }
        if let Some(t) = self.saver.take() {
            t.abort();
        }
        persist::save_now(&self.sim)
    }
}
