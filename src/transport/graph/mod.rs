//! The Microsoft Graph implementation of the transport (Exchange Online, SPEC §7b), on
//! `crates/graph`: delta feeds (carrying the items' data where delta serves `$expand`),
//! `$batch` reads and writes, the stamp as an extended property. Limits are the client's, per app and mailbox: no EWS per-host cap applies.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use graph::ops::ContactsDelta;
use graph::ops::contacts_delta::MAX_DELTA_PAGE;
use graph::{ClientConfig, Credential, GraphClient, RetryPolicy};
use uuid::Uuid;

use super::{
    BatchResult, Diagnosis, ErrorKind, ExchangeContacts, ExchangeFolder, FeedChange, FeedPage,
    FolderContacts, ItemUpdate, RemoteContact, RequestBudget, Step, StepStatus, TransportError,
    Written,
};
use crate::domain::mailbox::graph::GraphCredential;
use crate::store::mailboxes::MailboxConnection;
use crate::sync::fieldmap::MappedContact;

pub mod mapping;

/// Graph's answer for an id it cannot read: an EWS id, or one of another mailbox. To the
/// engine such an item is simply not there (after a move from EWS, the stamp relinks it).
const MALFORMED_ID: &str = "ErrorInvalidIdMalformed";

impl From<graph::Error> for TransportError {
    fn from(e: graph::Error) -> Self {
        let code = e.code().map(str::to_owned);
        let kind = match e.class() {
            _ if code.as_deref() == Some(MALFORMED_ID) => ErrorKind::NotFound,
            graph::ErrorClass::Throttled => ErrorKind::Throttled,
            graph::ErrorClass::Transient => ErrorKind::Transient,
            graph::ErrorClass::Auth => ErrorKind::Auth,
            graph::ErrorClass::NotFound => ErrorKind::NotFound,
            graph::ErrorClass::Conflict => ErrorKind::Conflict,
            graph::ErrorClass::SyncStateInvalid => ErrorKind::InvalidSyncState,
            graph::ErrorClass::Permanent => ErrorKind::Permanent,
        };
        TransportError {
            kind,
            code,
            message: e.to_string(),
        }
    }
}

/// A mailbox reached over Microsoft Graph.
#[derive(Debug, Clone)]
pub struct GraphTransport {
    client: GraphClient,
    /// Delta rounds are started with the items' data (`$expand` of the extended
    /// properties) until the server refuses it once.
    delta_with_data: Arc<AtomicBool>,
}

/// The prefix of a saved delta link whose round carries the items' data: its later pages
/// come the same way (the link keeps the query), and their items are not read again.
const WITH_DATA: &str = "data:";

fn client_config(
    conn: &MailboxConnection,
    retry: RetryPolicy,
    pins: Vec<super::address::Pin>,
) -> Result<ClientConfig, TransportError> {
    let g = conn
        .graph
        .as_ref()
        .ok_or_else(|| TransportError::permanent("the mailbox has no Microsoft Graph settings"))?;
    let credential = match g.credential {
        GraphCredential::ClientSecret => Credential::Secret(conn.secret.clone()),
        GraphCredential::Certificate => Credential::Certificate {
            certificate_pem: g.certificate_pem.clone().unwrap_or_default(),
            private_key_pem: conn.secret.clone(),
        },
    };
    let mut config = ClientConfig::new(&g.tenant_id, &g.client_id, credential, conn.graph_user());
    config.graph_url = g.graph_url.clone();
    config.authority_url = g.authority_url.clone();
    config.retry = retry;
    config.resolved = pins;
    Ok(config)
}

impl GraphTransport {
    /// A client for the mailbox after checking where its URLs lead, retrying as a
    /// background run may (`Retry-After` honoured up to the client's cap).
    pub async fn open(
        conn: &MailboxConnection,
        allowed_hosts: &[String],
        purpose: super::Purpose,
    ) -> Result<GraphTransport, TransportError> {
        let pins = super::address::pins(conn, allowed_hosts).await?;
        let retry = match purpose {
            super::Purpose::Run => RetryPolicy::default(),
            // Someone waits: one retry at most, and no long throttling waits.
            super::Purpose::Interactive => RetryPolicy {
                max_attempts: 2,
                max_retry_after: Duration::from_secs(5),
                ..RetryPolicy::default()
            },
        };
        Self::build(client_config(conn, retry, pins)?)
    }

    fn build(config: ClientConfig) -> Result<GraphTransport, TransportError> {
        Ok(GraphTransport {
            client: GraphClient::new(config)?,
            delta_with_data: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The same transport with a request timeout of its own (a run's configured one).
    pub fn with_request_timeout(self, timeout: Duration) -> Result<Self, TransportError> {
        let mut config = self.client.config().clone();
        config.request_timeout = timeout;
        Self::build(config)
    }

    /// The same transport without the 10-minute request budget's pacing (benchmarks:
    /// SPEC §10 measures Graph with it switched off).
    pub fn without_pacing(self) -> Result<Self, TransportError> {
        let mut config = self.client.config().clone();
        config.budget_per_10_minutes = None;
        Self::build(config)
    }

    /// The Graph ids of folders given by their EWS ids (`translateExchangeIds`), for
    /// carrying a profile over from EWS; an id Graph does not know maps to `None`.
    pub async fn translate_ews_folder_ids(
        &self,
        ews_ids: &[String],
    ) -> Result<Vec<Option<String>>, TransportError> {
        Ok(self.client.translate_ews_ids(ews_ids).await?)
    }

    /// The first request of a folder's delta round: with the items' data (the mapped
    /// fields and the stamp, salutation and gender), or ids and change keys only, for a
    /// server whose delta cannot expand extended properties. Then the engine reads every
    /// changed item whole, not only new ones: salutation and gender are extended
    /// properties too, and a read of the fields carries them at no extra request.
    fn delta_start(&self, folder_id: &str, with_data: bool) -> ContactsDelta {
        let (select, extended) = match with_data {
            true => (mapping::select(), mapping::extended()),
            false => (vec!["id".into(), "changeKey".into()], Vec::new()),
        };
        ContactsDelta {
            user: self.client.user().to_owned(),
            folder_id: Some(folder_id.to_owned()),
            select,
            extended,
            page_size: MAX_DELTA_PAGE,
        }
    }

    /// One delta page from `link` (`None`: a new round) and whether its entries carry
    /// the items' data. A server that refuses `$expand` on delta gets rounds of ids from
    /// then on; a round begun with data that it no longer serves starts over.
    async fn delta_page(
        &self,
        folder_id: &str,
        link: Option<&str>,
        with_data: bool,
    ) -> Result<(graph::types::DeltaPage, bool), TransportError> {
        match self
            .client
            .delta_page(&self.delta_start(folder_id, with_data), link)
            .await
        {
            Err(e) if with_data && e.refuses_expand() => {
                tracing::info!(error = %e, "Graph delta refuses $expand: changed items are read in batches");
                self.delta_with_data.store(false, Ordering::Relaxed);
                if link.is_some() {
                    return Err(TransportError {
                        kind: ErrorKind::InvalidSyncState,
                        ..TransportError::from(e)
                    });
                }
                let page = self
                    .client
                    .delta_page(&self.delta_start(folder_id, false), None)
                    .await?;
                Ok((page, false))
            }
            r => Ok((r?, with_data)),
        }
    }

    /// Every contact id of a folder: a delta round from the start, to its end.
    async fn folder_ids(&self, folder_id: &str) -> Result<Vec<String>, TransportError> {
        // Bounded: a server that keeps answering pages cannot keep the run here forever.
        const MAX_PAGES: usize = 1000;
        let start = self.delta_start(folder_id, false);
        let mut ids = Vec::new();
        let mut link: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self.client.delta_page(&start, link.as_deref()).await?;
            ids.extend(
                page.value
                    .into_iter()
                    .filter(|c| c.removed.is_none())
                    .filter_map(|c| c.id),
            );
            match (page.next_link, page.delta_link) {
                (Some(next), _) => link = Some(next),
                (None, _) => return Ok(ids),
            }
        }
        Err(TransportError::permanent("contacts delta: too many pages"))
    }
}

fn remote_contact(c: graph::types::Contact) -> Result<RemoteContact, TransportError> {
    let item_id =
        c.id.clone()
            .ok_or_else(|| TransportError::permanent("a contact without an id"))?;
    Ok(RemoteContact {
        fields: mapping::from_graph(&c),
        crm_contact_id: mapping::crm_contact_id(&c),
        folder_id: c.parent_folder_id.clone().unwrap_or_default(),
        last_modified: c
            .last_modified_date_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        change_key: c.change_key.clone().unwrap_or_default(),
        item_id,
    })
}

fn written(c: graph::types::Contact) -> Result<Written, TransportError> {
    Ok(Written {
        item_id: c
            .id
            .ok_or_else(|| TransportError::permanent("a written contact without an id"))?,
        change_key: c.change_key.unwrap_or_default(),
    })
}

fn flat_folder(f: graph::types::ContactFolder) -> ExchangeFolder {
    ExchangeFolder {
        id: f.id,
        name: f.display_name,
        parent_id: f.parent_folder_id,
        total_count: None,
        distinguished: None,
        children: Vec::new(),
    }
}

impl ExchangeContacts for GraphTransport {
    async fn contact_folders(&self) -> Result<Vec<ExchangeFolder>, TransportError> {
        // The default folder and the first listing side by side: every run starts with
        // the tree, so it costs one round trip of latency instead of two.
        let (root, top) = tokio::join!(
            self.client.contact_folder("contacts"),
            self.client.list_folders(None)
        );
        let (root, top) = (root?, top?);
        let mut contacts = flat_folder(root);
        // Asked for by its well-known name: it is the default Contacts folder.
        contacts.distinguished = Some("contacts".into());
        contacts.parent_id = None;
        let mut flat = vec![contacts];
        // Breadth first, one listing per folder that has children; the tree itself is
        // built (and capped) without recursion.
        let mut queue: std::collections::VecDeque<Option<String>> = [None].into();
        let mut top = Some(top);
        while let Some(parent) = queue.pop_front() {
            let listed = match top.take() {
                Some(listed) => listed,
                None => self.client.list_folders(parent.as_deref()).await?,
            };
            for f in listed {
                if f.child_folder_count != Some(0) {
                    queue.push_back(Some(f.id.clone()));
                }
                flat.push(flat_folder(f));
                if flat.len() > super::folder_tree::MAX_FOLDERS {
                    // build() refuses it with the message.
                    queue.clear();
                    break;
                }
            }
        }
        super::folder_tree::build(flat, None)
    }

    async fn changes(
        &self,
        folder_id: &str,
        sync_state: Option<&str>,
    ) -> Result<FeedPage, TransportError> {
        // The state is the link to call next: a nextLink mid-round, the deltaLink after,
        // marked when the round carries the items' data.
        let (link, with_data) = match sync_state {
            None => (None, self.delta_with_data.load(Ordering::Relaxed)),
            Some(s) => match s.strip_prefix(WITH_DATA) {
                Some(link) => (Some(link), true),
                None => (Some(s), false),
            },
        };
        let (page, with_data) = self.delta_page(folder_id, link, with_data).await?;
        let changes = page
            .value
            .into_iter()
            .filter_map(|c| {
                let item_id = c.id.clone()?;
                if c.removed.is_some() {
                    return Some(FeedChange::Delete { item_id });
                }
                let change_key = c.change_key.clone().unwrap_or_default();
                let item = match with_data {
                    true => remote_contact(c).ok().map(Box::new),
                    false => None,
                };
                Some(FeedChange::Upsert {
                    item_id,
                    change_key,
                    item,
                })
            })
            .collect();
        let mark = if with_data { WITH_DATA } else { "" };
        let (sync_state, done) = match (
            page.next_link.map(|l| format!("{mark}{l}")),
            page.delta_link.map(|l| format!("{mark}{l}")),
        ) {
            (Some(next), _) => (next, false),
            (None, Some(delta)) => (delta, true),
            (None, None) => {
                return Err(TransportError::permanent(
                    "a delta page with neither @odata.nextLink nor @odata.deltaLink",
                ));
            }
        };
        Ok(FeedPage {
            changes,
            sync_state,
            done,
        })
    }

    async fn get_contacts(&self, item_ids: &[String]) -> BatchResult<RemoteContact> {
        let results = self
            .client
            .get_contacts(item_ids, &mapping::select(), &mapping::extended())
            .await;
        Ok(results.into_iter().map(|r| remote_contact(r?)).collect())
    }

    async fn create_contacts(
        &self,
        folder_id: &str,
        contacts: &[(Uuid, MappedContact)],
    ) -> BatchResult<Written> {
        let items = contacts
            .iter()
            .map(|(crm_id, fields)| mapping::to_graph_contact(fields, *crm_id))
            .collect();
        let results = self.client.create_contacts(Some(folder_id), items).await;
        Ok(results.into_iter().map(|r| written(r?)).collect())
    }

    async fn update_contacts(&self, updates: &[ItemUpdate]) -> BatchResult<Written> {
        // Graph replaces e-mail addresses and phones whole: read the current ones of the
        // items whose change touches them, so entries the map does not cover survive.
        let to_read: Vec<String> = updates
            .iter()
            .filter(|u| mapping::needs_current(&u.changes))
            .map(|u| u.item_id.clone())
            .collect();
        let mut current = std::collections::HashMap::new();
        if !to_read.is_empty() {
            let read = self
                .client
                .get_contacts(&to_read, &mapping::collections(), &[])
                .await;
            for (id, r) in to_read.into_iter().zip(read) {
                current.insert(id, r.map_err(TransportError::from));
            }
        }
        let mut results: Vec<Option<Result<Written, TransportError>>> = vec![None; updates.len()];
        let mut patches = Vec::new();
        let mut slots = Vec::new();
        for (i, u) in updates.iter().enumerate() {
            let now = match current.remove(&u.item_id) {
                None => None,
                Some(Err(e)) => {
                    results[i] = Some(Err(e));
                    continue;
                }
                Some(Ok(c)) => Some(c),
            };
            // Changed since we read it: the same answer the PATCH's If-Match would give.
            if let Some(c) = &now
                && c.change_key.as_deref().is_some_and(|ck| ck != u.change_key)
            {
                results[i] = Some(Err(TransportError {
                    kind: ErrorKind::Conflict,
                    code: Some("ErrorIrresolvableConflict".into()),
                    message: "the item changed since it was read".into(),
                }));
                continue;
            }
            let patch = mapping::patch(&u.changes, &u.after, now.as_ref(), u.stamp);
            let if_match = (!u.change_key.is_empty()).then(|| format!("W/\"{}\"", u.change_key));
            patches.push((u.item_id.clone(), if_match, patch));
            slots.push(i);
        }
        let patched = self.client.update_contacts(patches).await;
        for (i, r) in slots.into_iter().zip(patched) {
            results[i] = Some(r.map_err(TransportError::from).and_then(written));
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(TransportError::permanent("no answer for the update")))
            })
            .collect())
    }

    async fn delete_contacts(&self, item_ids: &[String]) -> BatchResult<()> {
        // Graph's DELETE moves a contact to Deleted Items, as EWS's MoveToDeletedItems.
        Ok(self
            .client
            .delete_contacts(item_ids)
            .await
            .into_iter()
            .map(|r| r.map_err(TransportError::from))
            .collect())
    }

    async fn find_by_stamp(
        &self,
        folder_id: &str,
        crm_id: Uuid,
    ) -> Result<Vec<RemoteContact>, TransportError> {
        // Graph cannot filter contacts by an extended property's value inside a folder's
        // listing on every tenant; the folder is read whole instead.
        let mut all = self.folder_contacts(folder_id).await?.whole()?;
        all.retain(|c| c.crm_contact_id == Some(crm_id));
        Ok(all)
    }

    fn ids_survive_moves(&self) -> bool {
        self.client.config().immutable_ids
    }

    fn request_budget(&self) -> Option<RequestBudget> {
        self.client
            .config()
            .budget_per_10_minutes
            .map(|requests| RequestBudget {
                requests,
                window: graph::client::BUDGET_WINDOW,
            })
    }

    async fn folder_contacts(&self, folder_id: &str) -> Result<FolderContacts, TransportError> {
        let ids = self.folder_ids(folder_id).await?;
        let mut out = FolderContacts::default();
        for chunk in ids.chunks(super::ITEM_BATCH) {
            out.add(chunk, self.get_contacts(chunk).await?);
        }
        Ok(out)
    }
}

/// The steps of a Graph connection test, in order.
const STEPS: [&str; 4] = ["dns", "token", "user", "contacts_folder"];

fn step(
    name: &str,
    status: StepStatus,
    started: Instant,
    detail: String,
    code: Option<String>,
) -> Step {
    Step {
        step: name.to_owned(),
        status,
        duration_ms: started.elapsed().as_millis() as u64,
        detail,
        code,
    }
}

/// Runs the connection test of a Graph mailbox step by step: the endpoints' addresses, an
/// app token, the user, its Contacts folder. It reports, it never fails.
pub async fn diagnose(conn: &MailboxConnection, allowed_hosts: &[String]) -> Diagnosis {
    let mut steps = Vec::new();
    run_steps(conn, allowed_hosts, &mut steps).await;
    for name in STEPS {
        if !steps.iter().any(|s: &Step| s.step == name) {
            steps.push(Step {
                step: name.to_owned(),
                status: StepStatus::Skipped,
                duration_ms: 0,
                detail: "an earlier step failed".into(),
                code: None,
            });
        }
    }
    let failed_step = steps
        .iter()
        .find(|s| s.status == StepStatus::Failed)
        .map(|s| s.step.clone());
    Diagnosis {
        ok: failed_step.is_none(),
        failed_step,
        server_version: Some("Microsoft Graph".into()),
        steps,
    }
}

/// Records each step until one fails.
async fn run_steps(conn: &MailboxConnection, allowed_hosts: &[String], steps: &mut Vec<Step>) {
    let started = Instant::now();
    let pins = match super::address::pins(conn, allowed_hosts).await {
        Ok(pins) => {
            let detail = pins
                .iter()
                .map(|(host, addrs)| format!("{host} → {}", addrs[0].ip()))
                .collect::<Vec<_>>()
                .join(", ");
            steps.push(step("dns", StepStatus::Ok, started, detail, None));
            pins
        }
        Err(e) => {
            steps.push(step("dns", StepStatus::Failed, started, e.message, e.code));
            return;
        }
    };
    let single_try = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let started = Instant::now();
    let transport = match client_config(conn, single_try, pins).and_then(GraphTransport::build) {
        Ok(t) => t,
        Err(e) => {
            steps.push(step(
                "token",
                StepStatus::Failed,
                started,
                e.message,
                e.code,
            ));
            return;
        }
    };
    match transport.client.token().await {
        Ok(_) => steps.push(step(
            "token",
            StepStatus::Ok,
            started,
            format!("app {} signed in", transport.client.config().client_id),
            None,
        )),
        Err(e) => {
            let code = e.code().map(str::to_owned);
            steps.push(step(
                "token",
                StepStatus::Failed,
                started,
                e.to_string(),
                code,
            ));
            return;
        }
    }
    let started = Instant::now();
    match transport.client.get_user().await {
        Ok(u) => steps.push(step(
            "user",
            StepStatus::Ok,
            started,
            format!(
                "{} ({})",
                u.display_name.unwrap_or_default(),
                u.mail.or(u.user_principal_name).unwrap_or(u.id)
            ),
            None,
        )),
        // Contacts.ReadWrite alone may not read user profiles (User.Read.All does): the
        // Contacts folder step proves the mailbox is reachable.
        Err(graph::Error::Auth { code, .. })
            if matches!(
                code.as_deref(),
                Some("Authorization_RequestDenied" | "ErrorAccessDenied")
            ) =>
        {
            steps.push(step(
                "user",
                StepStatus::Skipped,
                started,
                "the app may not read user profiles (no User.Read.All); the Contacts folder step checks the mailbox".into(),
                code,
            ))
        }
        Err(e) => {
            let code = e.code().map(str::to_owned);
            steps.push(step("user", StepStatus::Failed, started, e.to_string(), code));
            return;
        }
    }
    let started = Instant::now();
    match transport.client.contact_folder("contacts").await {
        Ok(f) => steps.push(step(
            "contacts_folder",
            StepStatus::Ok,
            started,
            format!("{} readable", f.display_name),
            None,
        )),
        Err(e) => {
            let code = e.code().map(str::to_owned);
            steps.push(step(
                "contacts_folder",
                StepStatus::Failed,
                started,
                e.to_string(),
                code,
            ));
        }
    }
}
