//! The EWS implementation of the transport, on `crates/ews`.
use std::time::{Duration, Instant};

use ews::ops::DeleteType;
use ews::ops::find_folder::FolderTraversal;
use ews::ops::sync_folder_items::SyncChange;
use ews::ops::update_item::{ConflictResolution, ItemChange};
use ews::types::{
    BaseFolderId, BaseShape, Folder, Item, ItemId, ItemShape, PropertyPath, Restriction,
};
use ews::{Auth, ClientConfig, EwsClient, RetryPolicy};
use uuid::Uuid;

use super::{
    BatchResult, Diagnosis, ErrorKind, ExchangeContacts, ExchangeFolder, FEED_PAGE, FeedChange,
    FeedPage, FolderContacts, ITEM_BATCH, ItemUpdate, RemoteContact, Step, StepStatus,
    TransportError, Written,
};
use crate::store::mailboxes::MailboxConnection;
use crate::sync::fieldmap::MappedContact;

pub mod mapping;

impl From<ews::Error> for TransportError {
    fn from(e: ews::Error) -> Self {
        let kind = match e.class() {
            ews::ErrorClass::Throttled => ErrorKind::Throttled,
            ews::ErrorClass::Transient | ews::ErrorClass::Success => ErrorKind::Transient,
            ews::ErrorClass::Auth => ErrorKind::Auth,
            ews::ErrorClass::NotFound => ErrorKind::NotFound,
            ews::ErrorClass::ChangeKeyConflict => ErrorKind::Conflict,
            ews::ErrorClass::InvalidSyncState => ErrorKind::InvalidSyncState,
            ews::ErrorClass::Permanent => ErrorKind::Permanent,
        };
        TransportError {
            kind,
            code: e.code().map(str::to_owned),
            message: e.to_string(),
        }
    }
}

/// A mailbox reached over EWS.
#[derive(Debug, Clone)]
pub struct EwsTransport {
    client: EwsClient,
}

fn client_auth(conn: &MailboxConnection) -> Auth {
    let a = &conn.auth;
    let s = conn.secret.clone();
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    match a.kind.as_str() {
        "ntlm" => Auth::Ntlm {
            username: text(&a.username),
            password: s,
            domain: text(&a.domain),
        },
        "bearer" => Auth::Bearer { token: s },
        "oauth2_client_credentials" => Auth::OAuth2ClientCredentials {
            token_url: text(&a.token_url),
            client_id: text(&a.client_id),
            client_secret: s,
            scope: text(&a.scope),
        },
        _ => Auth::Basic {
            username: text(&a.username),
            password: s,
        },
    }
}

impl EwsTransport {
    /// A client for the mailbox after checking where its URL leads, retrying as a
    /// background run may (throttling and transient failures, with back-off).
    pub async fn open(
        conn: &MailboxConnection,
        allowed_hosts: &[String],
    ) -> Result<EwsTransport, TransportError> {
        let pins = super::address::pins(conn, allowed_hosts).await?;
        Self::build(conn, RetryPolicy::default(), pins)
    }

    /// The same transport with a request timeout of its own (a run's configured one).
    pub fn with_request_timeout(
        mut self,
        request_timeout: Duration,
    ) -> Result<Self, TransportError> {
        let mut config = self.client.config().clone();
        config.request_timeout = request_timeout;
        self.client = EwsClient::new(config)?;
        Ok(self)
    }

    /// The same for a request someone is waiting on: one retry at most, so an
    /// unreachable server answers in seconds, not after the whole back-off.
    pub async fn open_interactive(
        conn: &MailboxConnection,
        allowed_hosts: &[String],
    ) -> Result<EwsTransport, TransportError> {
        let pins = super::address::pins(conn, allowed_hosts).await?;
        Self::build(
            conn,
            RetryPolicy {
                max_attempts: 2,
                ..RetryPolicy::default()
            },
            pins,
        )
    }

    fn build(
        conn: &MailboxConnection,
        retry: RetryPolicy,
        pins: Vec<super::address::Pin>,
    ) -> Result<EwsTransport, TransportError> {
        let mut config = ClientConfig::new(conn.ews_url.clone(), client_auth(conn));
        config.resolved = pins;
        config.server_version = conn.server_version.clone();
        config.impersonate = conn.impersonate.then(|| conn.email.clone());
        config.retry = retry;
        let client = EwsClient::new(config)?;
        Ok(EwsTransport { client })
    }
}

impl ExchangeContacts for EwsTransport {
    async fn contact_folders(&self) -> Result<Vec<ExchangeFolder>, TransportError> {
        // Three requests side by side: every run starts with the tree, so it costs one
        // round trip of latency instead of three.
        let (contacts, found, bin) = tokio::join!(
            self.client.get_folder(BaseFolderId::contacts()),
            self.client.find_folders(
                BaseFolderId::msgfolderroot(),
                FolderTraversal::Deep,
                Some(Restriction::is_equal_to(
                    PropertyPath::field("folder:FolderClass"),
                    "IPF.Contact",
                )),
            ),
            self.client
                .get_folder(BaseFolderId::distinguished("deleteditems")),
        );
        let (contacts, found) = (contacts?, found?);
        // Folders under Deleted Items are deleted folders, never sync folders (SPEC §5).
        let bin = bin.ok().map(|f| flat_folder(f).id);
        let mut contacts = flat_folder(contacts);
        // We asked for it by its well-known name, whatever the shape returned.
        contacts.distinguished = Some("contacts".into());
        let flat = std::iter::once(contacts).chain(found.into_iter().map(flat_folder));
        super::folder_tree::build(flat.collect(), bin.as_deref())
    }

    async fn changes(
        &self,
        folder_id: &str,
        sync_state: Option<&str>,
    ) -> Result<FeedPage, TransportError> {
        let page = self
            .client
            .sync_folder_items(
                BaseFolderId::id(folder_id),
                sync_state,
                FEED_PAGE,
                Vec::new(),
            )
            .await?;
        let changes = page
            .changes
            .into_iter()
            .filter_map(|c| match c {
                SyncChange::Create(i) | SyncChange::Update(i) => {
                    // Contact groups and other items of a contacts folder are not contacts.
                    let id = match &i.item {
                        Item::Contact(_) => i.item.item_id()?,
                        _ => return None,
                    };
                    Some(FeedChange::Upsert {
                        item_id: id.id.clone(),
                        change_key: id.change_key.clone().unwrap_or_default(),
                        item: None,
                    })
                }
                SyncChange::Delete(d) => Some(FeedChange::Delete {
                    item_id: d.item_id.id,
                }),
                SyncChange::ReadFlagChange(_) => None,
            })
            .collect();
        Ok(FeedPage {
            changes,
            sync_state: page.sync_state,
            done: page.includes_last_item_in_range,
        })
    }

    async fn get_contacts(&self, item_ids: &[String]) -> BatchResult<RemoteContact> {
        let ids: Vec<ItemId> = item_ids.iter().map(ItemId::id_only).collect();
        let shape = ItemShape::new(BaseShape::AllProperties, mapping::extended_paths());
        let results = self.client.get_items(&ids, shape).await?;
        Ok(results
            .into_iter()
            .map(|r| {
                let item = r?;
                let contact = item
                    .into_contact()
                    .ok_or_else(|| TransportError::permanent("the item is not a contact"))?;
                remote_contact(contact)
            })
            .collect())
    }

    async fn create_contacts(
        &self,
        folder_id: &str,
        contacts: &[(Uuid, MappedContact)],
    ) -> BatchResult<Written> {
        let items = contacts
            .iter()
            .map(|(crm_id, fields)| Item::Contact(mapping::to_exchange_contact(fields, *crm_id)))
            .collect();
        let results = self
            .client
            .create_items(Some(BaseFolderId::id(folder_id)), items)
            .await?;
        Ok(results.into_iter().map(|r| Ok(written(r?))).collect())
    }

    async fn update_contacts(&self, updates: &[ItemUpdate]) -> BatchResult<Written> {
        let changes = updates
            .iter()
            .map(|u| {
                let mut list = mapping::exchange_updates(&u.changes);
                if let Some(crm_id) = u.stamp {
                    list.push(mapping::stamp_crm_contact_id(crm_id));
                }
                ItemChange::new(ItemId::new(u.item_id.clone(), u.change_key.clone()), list)
            })
            .collect();
        let results = self
            .client
            .update_items(changes, ConflictResolution::NeverOverwrite)
            .await?;
        Ok(results.into_iter().map(|r| Ok(written(r?))).collect())
    }

    async fn find_by_stamp(
        &self,
        folder_id: &str,
        crm_id: Uuid,
    ) -> Result<Vec<RemoteContact>, TransportError> {
        let stamp = Restriction::is_equal_to(mapping::crm_contact_id_uri(), crm_id.to_string());
        self.find_contacts(folder_id, Some(stamp)).await?.whole()
    }

    async fn folder_contacts(&self, folder_id: &str) -> Result<FolderContacts, TransportError> {
        self.find_contacts(folder_id, None).await
    }

    async fn delete_contacts(&self, item_ids: &[String]) -> BatchResult<()> {
        let ids: Vec<ItemId> = item_ids.iter().map(ItemId::id_only).collect();
        let results = self
            .client
            .delete_items(&ids, DeleteType::MoveToDeletedItems)
            .await?;
        Ok(results
            .into_iter()
            .map(|r| r.map_err(TransportError::from))
            .collect())
    }
}

impl EwsTransport {
    /// The ids of a folder's contacts (FindItem, IdOnly, all pages), restricted or not.
    async fn find_ids(
        &self,
        folder_id: &str,
        restriction: Option<Restriction>,
    ) -> Result<Vec<String>, TransportError> {
        // Bounded: a server that keeps answering pages cannot keep the run here forever.
        const MAX_PAGES: usize = 1000;
        let mut ids = Vec::new();
        let mut offset = 0;
        for _ in 0..MAX_PAGES {
            let mut req = ews::client::requests::find_items_by_extended_property(
                BaseFolderId::id(folder_id),
                &mapping::crm_contact_id_uri(),
                "",
                ItemShape::new(BaseShape::IdOnly, Vec::new()),
                offset,
            );
            req.restriction = restriction.clone();
            let message = self
                .client
                .call(&req)
                .await?
                .into_messages()
                .into_iter()
                .next()
                .ok_or_else(|| TransportError::permanent("FindItem: no response message"))?;
            if let Some(e) = ews::Error::from_message(&message) {
                return Err(e.into());
            }
            let root = message.root_folder.unwrap_or_default();
            let got = root.items.items.len() as u32;
            ids.extend(
                root.items
                    .items
                    .iter()
                    .filter(|i| matches!(i, Item::Contact(_)))
                    .filter_map(|i| i.item_id().map(|id| id.id.clone())),
            );
            if root.includes_last_item_in_range.unwrap_or(true) || got == 0 {
                return Ok(ids);
            }
            offset = root.indexed_paging_offset.unwrap_or(offset + got);
        }
        Err(TransportError::permanent("FindItem: too many pages"))
    }

    /// Contacts of a folder: ids by FindItem (paged), then read whole by GetItem, as FindItem
    /// does not return every property of a contact.
    async fn find_contacts(
        &self,
        folder_id: &str,
        restriction: Option<Restriction>,
    ) -> Result<FolderContacts, TransportError> {
        let ids = self.find_ids(folder_id, restriction).await?;
        let mut out = FolderContacts::default();
        for batch in ids.chunks(ITEM_BATCH) {
            out.add(batch, self.get_contacts(batch).await?);
        }
        Ok(out)
    }
}

fn written(id: ItemId) -> Written {
    Written {
        change_key: id.change_key.unwrap_or_default(),
        item_id: id.id,
    }
}

fn remote_contact(c: ews::types::Contact) -> Result<RemoteContact, TransportError> {
    let id = c
        .item_id
        .clone()
        .ok_or_else(|| TransportError::permanent("a contact without an ItemId"))?;
    Ok(RemoteContact {
        fields: mapping::from_exchange(&c),
        crm_contact_id: mapping::crm_contact_id(&c),
        folder_id: c
            .parent_folder_id
            .as_ref()
            .map(|f| f.id.clone())
            .unwrap_or_default(),
        last_modified: c
            .last_modified_time
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        item_id: id.id,
        change_key: id.change_key.unwrap_or_default(),
    })
}

fn flat_folder(f: Folder) -> ExchangeFolder {
    let d = f.into_data();
    ExchangeFolder {
        id: d.folder_id.map(|i| i.id).unwrap_or_default(),
        name: d.display_name.unwrap_or_default(),
        parent_id: d.parent_folder_id.map(|i| i.id),
        total_count: d.total_count,
        distinguished: d.distinguished_folder_id,
        children: Vec::new(),
    }
}

/// The steps of a connection test, in order.
const STEPS: [&str; 6] = ["dns", "connect", "tls", "auth", "access", "contacts_folder"];

/// Collects the steps of a connection test; steps never reached end up `skipped`.
struct Report {
    steps: Vec<Step>,
}

impl Report {
    fn record(
        &mut self,
        step: &str,
        status: StepStatus,
        started: Instant,
        detail: String,
        code: Option<String>,
    ) {
        self.steps.push(Step {
            step: step.to_owned(),
            status,
            duration_ms: started.elapsed().as_millis() as u64,
            detail,
            code,
        });
    }

    fn finish(mut self, server_version: Option<String>) -> Diagnosis {
        for name in STEPS {
            if !self.steps.iter().any(|s| s.step == name) {
                self.steps.push(Step {
                    step: name.to_owned(),
                    status: StepStatus::Skipped,
                    duration_ms: 0,
                    detail: "an earlier step failed".into(),
                    code: None,
                });
            }
        }
        let failed_step = self
            .steps
            .iter()
            .find(|s| s.status == StepStatus::Failed)
            .map(|s| s.step.clone());
        Diagnosis {
            ok: failed_step.is_none(),
            failed_step,
            server_version,
            steps: self.steps,
        }
    }
}

/// The step an EWS failure belongs to.
fn failed_step_of(e: &ews::Error, https: bool) -> &'static str {
    let m = e.to_string().to_ascii_lowercase();
    if https && (m.contains("certificate") || m.contains("tls") || m.contains("handshake")) {
        return "tls";
    }
    match e {
        // HTTP 401/403 or a token refused: the credentials; an EWS code: rights.
        ews::Error::Auth { code: Some(c), .. } if !c.starts_with("HTTP") => "access",
        ews::Error::Auth { .. } => "auth",
        ews::Error::Permanent { code, .. }
            if code.contains("Mailbox")
                || code.contains("AccessDenied")
                || code.contains("Impersonat") =>
        {
            "access"
        }
        ews::Error::NotFound { .. } | ews::Error::Permanent { .. } => "contacts_folder",
        // The HTTP exchange itself failed after TCP connected.
        _ if https => "tls",
        _ => "auth",
    }
}

/// Runs the connection test of a mailbox step by step; it reports, it never fails.
pub async fn diagnose(conn: &MailboxConnection, allowed_hosts: &[String]) -> Diagnosis {
    let mut report = Report { steps: Vec::new() };

    let started = Instant::now();
    // The checked addresses, pinned: every later step connects to one of them.
    let (pins, addr) = match super::address::pins(conn, allowed_hosts).await {
        Ok(pins) => {
            let addr = pins[0].1[0];
            let detail = format!("resolved to {}", addr.ip());
            report.record("dns", StepStatus::Ok, started, detail, None);
            (pins, addr)
        }
        Err(e) => {
            report.record("dns", StepStatus::Failed, started, e.message, e.code);
            return report.finish(None);
        }
    };

    let started = Instant::now();
    let connected =
        tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await;
    match connected {
        Ok(Ok(_)) => report.record(
            "connect",
            StepStatus::Ok,
            started,
            format!("connected to {addr}"),
            None,
        ),
        Ok(Err(e)) => {
            report.record(
                "connect",
                StepStatus::Failed,
                started,
                format!("cannot connect to {addr}: {e}"),
                None,
            );
            return report.finish(None);
        }
        Err(_) => {
            report.record(
                "connect",
                StepStatus::Failed,
                started,
                format!("connecting to {addr} timed out"),
                None,
            );
            return report.finish(None);
        }
    }

    // One GetFolder(contacts) exercises TLS, authentication, mailbox access and the folder.
    let https = conn.ews_url.starts_with("https://");
    let started = Instant::now();
    let single_try = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let transport = match EwsTransport::build(conn, single_try, pins) {
        Ok(t) => t,
        Err(e) => {
            report.record("tls", StepStatus::Failed, started, e.message, e.code);
            return report.finish(None);
        }
    };
    let result = transport.client.get_folder(BaseFolderId::contacts()).await;
    let server_version = transport
        .client
        .last_server_version()
        .and_then(|v| v.version);
    let failed_at = result.as_ref().err().map(|e| failed_step_of(e, https));
    for name in ["tls", "auth", "access", "contacts_folder"] {
        if let Err(e) = &result
            && Some(name) == failed_at
        {
            report.record(
                name,
                StepStatus::Failed,
                started,
                e.to_string(),
                e.code().map(str::to_owned),
            );
            break;
        }
        let (status, detail) = match name {
            "tls" if !https => (StepStatus::Skipped, "plain http (allowed host)".to_owned()),
            "tls" => (StepStatus::Ok, "handshake completed".to_owned()),
            "auth" => (StepStatus::Ok, format!("signed in ({})", conn.auth.kind)),
            "access" if conn.impersonate => (StepStatus::Ok, format!("acting as {}", conn.email)),
            "access" => (StepStatus::Ok, format!("mailbox {}", conn.email)),
            _ => {
                let d = result.as_ref().expect("succeeded").data();
                let detail = format!(
                    "{} readable, {} items",
                    d.display_name.as_deref().unwrap_or("Contacts"),
                    d.total_count.unwrap_or(0)
                );
                (StepStatus::Ok, detail)
            }
        };
        report.record(name, status, started, detail, None);
    }
    report.finish(server_version)
}

#[cfg(test)]
mod rebinding_tests;
