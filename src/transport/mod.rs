//! What the service needs from an Exchange server, independent of the protocol: EWS
//! (`ews.rs`, Exchange Server) and Microsoft Graph (`graph/`, Exchange Online). HTTP
//! handlers and the sync engine reach Exchange only through here, and [`open`] is the one
//! place that chooses a mailbox's transport.
pub mod address;
pub mod ews;
pub mod folder_tree;
pub mod graph;
pub mod memory;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::mailbox::MailboxTransport;
use crate::store::mailboxes::MailboxConnection;
use crate::sync::fieldmap::{Changes, MappedContact};

/// How a transport call failed, in terms a caller can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Slow down and retry later.
    Throttled,
    /// Retry later.
    Transient,
    /// Credentials or rights: the owner must act.
    Auth,
    /// The item or folder is gone.
    NotFound,
    /// Someone changed the item since we read it.
    Conflict,
    /// The change feed must restart from scratch.
    InvalidSyncState,
    /// The request cannot succeed as it is.
    Permanent,
}

/// A failed transport call.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: ErrorKind,
    /// The server's code (an EWS ResponseCode or `HTTP nnn`), when it gave one.
    pub code: Option<String>,
    pub message: String,
}

impl TransportError {
    /// A failure that trying again will not change (a bad setting, a refused address, an
    /// answer we cannot use), with no server code.
    pub fn permanent(message: impl Into<String>) -> Self {
        TransportError {
            kind: ErrorKind::Permanent,
            code: None,
            message: message.into(),
        }
    }
}

/// A contacts folder of a mailbox, with its subfolders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExchangeFolder {
    /// The folder id to use in the sync profile.
    pub id: String,
    pub name: String,
    /// The parent folder's id (`null` for a top-level contacts folder).
    pub parent_id: Option<String>,
    /// Items in the folder.
    pub total_count: Option<i32>,
    /// The well-known name (`contacts` for the default Contacts folder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinguished: Option<String>,
    #[schema(no_recursion)]
    pub children: Vec<ExchangeFolder>,
}

impl ExchangeFolder {
    /// Every folder id of this tree.
    pub fn ids(&self) -> Vec<&str> {
        // Depth first without recursion, parents before their children.
        let mut v = Vec::new();
        let mut stack = vec![self];
        while let Some(f) = stack.pop() {
            v.push(f.id.as_str());
            stack.extend(f.children.iter().rev());
        }
        v
    }
}

/// The outcome of one step of a connection test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Ok,
    Failed,
    /// Not run: an earlier step failed, or it does not apply (TLS over http).
    Skipped,
}

/// One step of a connection test.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Step {
    /// EWS: `dns`, `connect`, `tls`, `auth`, `access`, `contacts_folder`; Microsoft
    /// Graph: `dns`, `token`, `user`, `contacts_folder`.
    pub step: String,
    pub status: StepStatus,
    pub duration_ms: u64,
    /// What was found, or what went wrong.
    pub detail: String,
    /// The EWS ResponseCode, OData or OAuth code, or HTTP status of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// The answer of `POST /mailboxes/{id}/test`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Diagnosis {
    /// Every step passed.
    pub ok: bool,
    /// The first step that failed.
    pub failed_step: Option<String>,
    /// The server's version, as it reported it.
    pub server_version: Option<String>,
    pub steps: Vec<Step>,
}

/// A contact as Exchange holds it, mapped to the synchronized fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteContact {
    pub item_id: String,
    pub change_key: String,
    pub folder_id: String,
    pub fields: MappedContact,
    pub last_modified: DateTime<Utc>,
    /// The CRM id stamped on the item by a previous sync.
    pub crm_contact_id: Option<Uuid>,
}

/// One entry of a folder's change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedChange {
    /// Created or changed; the ChangeKey tells our own echoes apart without a read. A
    /// feed that delivers the item's data with the change (Graph's delta does) passes it
    /// in `item`, and the engine does not read it again; EWS passes `None`.
    Upsert {
        item_id: String,
        change_key: String,
        item: Option<Box<RemoteContact>>,
    },
    /// Deleted, or moved out of the folder.
    Delete { item_id: String },
}

/// One page of a folder's change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    pub changes: Vec<FeedChange>,
    /// The state to continue from.
    pub sync_state: String,
    /// No more changes after this page.
    pub done: bool,
}

/// Changes to write to one Exchange item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemUpdate {
    pub item_id: String,
    /// The ChangeKey the changes are based on: a newer one on the server is a conflict.
    pub change_key: String,
    pub changes: Changes,
    /// The item's synchronized fields after the change. A protocol that replaces a
    /// multi-valued property whole (Graph's e-mail addresses, phones and addresses) writes
    /// the collection from here; EWS writes `changes` field by field.
    pub after: MappedContact,
    /// Also stamp the item with this CRM id.
    pub stamp: Option<Uuid>,
}

impl ItemUpdate {
    /// The `CrmContactId` stamp alone, on the ChangeKey given. It writes no field, so
    /// nothing is taken from `after`, and stamps waiting to be written stay small.
    pub fn stamp_only(item_id: String, change_key: String, crm_id: Uuid) -> ItemUpdate {
        ItemUpdate {
            item_id,
            change_key,
            changes: Changes::new(),
            after: MappedContact::default(),
            stamp: Some(crm_id),
        }
    }
}

/// A written item's new identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub item_id: String,
    pub change_key: String,
}

/// Per-item results of a batch, in input order; the outer error fails the whole batch.
pub type BatchResult<T> = Result<Vec<Result<T, TransportError>>, TransportError>;

/// A folder's contacts as a listing read them: beside those read, the items Exchange
/// listed but failed to give (`ErrorCorruptData`, a busy server's error for one item of
/// a batch), by id. Items deleted since their ids were listed are in neither.
#[derive(Debug, Default)]
pub struct FolderContacts {
    pub contacts: Vec<RemoteContact>,
    pub unreadable: Vec<(String, TransportError)>,
}

impl FolderContacts {
    /// Adds the results of a batched read of `ids` (in their order).
    pub(crate) fn add(
        &mut self,
        ids: &[String],
        results: Vec<Result<RemoteContact, TransportError>>,
    ) {
        for (id, r) in ids.iter().zip(results) {
            match r {
                Ok(c) => self.contacts.push(c),
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => self.unreadable.push((id.clone(), e)),
            }
        }
    }

    /// Every contact, or the first failure to read one.
    pub fn whole(mut self) -> Result<Vec<RemoteContact>, TransportError> {
        match self.unreadable.pop() {
            Some((_, e)) => Err(e),
            None => Ok(self.contacts),
        }
    }
}

/// The most changes one feed page returns (Exchange's limit).
pub const FEED_PAGE: u32 = 512;
/// Items per read or write batch.
pub const ITEM_BATCH: usize = 100;

/// The operations the service uses on a mailbox's contacts.
pub trait ExchangeContacts: Send + Sync {
    /// Every contacts folder of the mailbox, as a tree; the default Contacts folder is the
    /// one with `distinguished = "contacts"`.
    fn contact_folders(
        &self,
    ) -> impl Future<Output = Result<Vec<ExchangeFolder>, TransportError>> + Send;

    /// The next page of a folder's changes since `sync_state` (`None` = from the start).
    fn changes(
        &self,
        folder_id: &str,
        sync_state: Option<&str>,
    ) -> impl Future<Output = Result<FeedPage, TransportError>> + Send;

    /// Contacts by id (at most [`ITEM_BATCH`]).
    fn get_contacts(
        &self,
        item_ids: &[String],
    ) -> impl Future<Output = BatchResult<RemoteContact>> + Send;

    /// Creates contacts in a folder, each stamped with its CRM id.
    fn create_contacts(
        &self,
        folder_id: &str,
        contacts: &[(Uuid, MappedContact)],
    ) -> impl Future<Output = BatchResult<Written>> + Send;

    /// Writes changes, failing an item whose ChangeKey moved (no overwrite of others' edits).
    fn update_contacts(
        &self,
        updates: &[ItemUpdate],
    ) -> impl Future<Output = BatchResult<Written>> + Send;

    /// Deletes items (recoverably: into Deleted Items).
    fn delete_contacts(&self, item_ids: &[String]) -> impl Future<Output = BatchResult<()>> + Send;

    /// The contacts of a folder stamped with this CRM id (SPEC §7: find by external id).
    fn find_by_stamp(
        &self,
        folder_id: &str,
        crm_id: Uuid,
    ) -> impl Future<Output = Result<Vec<RemoteContact>, TransportError>> + Send;

    /// Every contact of a folder, read whole: what export matching compares new CRM
    /// contacts with (SPEC §5 "one person, one item"). An item that cannot be read
    /// fails only itself.
    fn folder_contacts(
        &self,
        folder_id: &str,
    ) -> impl Future<Output = Result<FolderContacts, TransportError>> + Send;

    /// Whether an item keeps its id when it moves between folders (Graph with
    /// `IdType="ImmutableId"`; an EWS move gives the item a new id). Then a link alone
    /// holds its pair wherever the item goes, and an import may leave the item's
    /// `CrmContactId` stamp to a later run.
    fn ids_survive_moves(&self) -> bool {
        false
    }

    /// The request budget the transport paces the mailbox under, if any (Exchange Online:
    /// 10,000 requests per 10 minutes per app and mailbox; EWS has none of its own).
    fn request_budget(&self) -> Option<RequestBudget> {
        None
    }
}

/// Requests a mailbox may take in a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestBudget {
    pub requests: u32,
    pub window: std::time::Duration,
}

impl RequestBudget {
    /// The least time `requests` requests take under the budget: the first window's worth
    /// leave at once, each further one waits for a window to pass.
    pub fn least_time(&self, requests: usize) -> std::time::Duration {
        let windows = requests.saturating_sub(1) / self.requests.max(1) as usize;
        self.window * windows as u32
    }
}

/// How patient a transport is with a slow or throttling server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A background run: retries with back-off.
    Run,
    /// A request someone waits on: one retry at most.
    Interactive,
}

/// The transport of a mailbox, as [`open`] chose it.
#[derive(Debug, Clone)]
pub enum Transport {
    Ews(ews::EwsTransport),
    Graph(graph::GraphTransport),
}

/// Opens the transport of a mailbox: the one place that chooses the protocol, by the
/// mailbox's `transport`. The API's mailbox test and folder tree use it, and so do the
/// workers before they hand it to `sync::engine::execute`.
pub async fn open(
    conn: &MailboxConnection,
    allowed_hosts: &[String],
    purpose: Purpose,
) -> Result<Transport, TransportError> {
    Ok(match conn.transport {
        MailboxTransport::Graph => {
            Transport::Graph(graph::GraphTransport::open(conn, allowed_hosts, purpose).await?)
        }
        MailboxTransport::Ews => Transport::Ews(match purpose {
            Purpose::Run => ews::EwsTransport::open(conn, allowed_hosts).await?,
            Purpose::Interactive => {
                ews::EwsTransport::open_interactive(conn, allowed_hosts).await?
            }
        }),
    })
}

impl Transport {
    /// The same transport with a request timeout of its own (a run's configured one).
    pub fn with_request_timeout(
        self,
        timeout: std::time::Duration,
    ) -> Result<Self, TransportError> {
        Ok(match self {
            Transport::Ews(t) => Transport::Ews(t.with_request_timeout(timeout)?),
            Transport::Graph(t) => Transport::Graph(t.with_request_timeout(timeout)?),
        })
    }
}

impl Transport {
    /// The same transport without Graph's pacing under the 10-minute request budget
    /// (benchmarks, SPEC §10); EWS has none.
    pub fn without_pacing(self) -> Result<Self, TransportError> {
        Ok(match self {
            Transport::Graph(t) => Transport::Graph(t.without_pacing()?),
            ews @ Transport::Ews(_) => ews,
        })
    }
}

/// The step-by-step connection test of a mailbox, over its transport's protocol.
pub async fn diagnose(conn: &MailboxConnection, allowed_hosts: &[String]) -> Diagnosis {
    match conn.transport {
        MailboxTransport::Ews => ews::diagnose(conn, allowed_hosts).await,
        MailboxTransport::Graph => graph::diagnose(conn, allowed_hosts).await,
    }
}

/// Dispatches a call to the transport [`open`] chose.
macro_rules! each {
    ($self:ident, $t:ident => $call:expr) => {
        match $self {
            Transport::Ews($t) => $call,
            Transport::Graph($t) => $call,
        }
    };
}

impl ExchangeContacts for Transport {
    async fn contact_folders(&self) -> Result<Vec<ExchangeFolder>, TransportError> {
        each!(self, t => t.contact_folders().await)
    }

    async fn changes(
        &self,
        folder_id: &str,
        sync_state: Option<&str>,
    ) -> Result<FeedPage, TransportError> {
        each!(self, t => t.changes(folder_id, sync_state).await)
    }

    async fn get_contacts(&self, item_ids: &[String]) -> BatchResult<RemoteContact> {
        each!(self, t => t.get_contacts(item_ids).await)
    }

    async fn create_contacts(
        &self,
        folder_id: &str,
        contacts: &[(Uuid, MappedContact)],
    ) -> BatchResult<Written> {
        each!(self, t => t.create_contacts(folder_id, contacts).await)
    }

    async fn update_contacts(&self, updates: &[ItemUpdate]) -> BatchResult<Written> {
        each!(self, t => t.update_contacts(updates).await)
    }

    async fn delete_contacts(&self, item_ids: &[String]) -> BatchResult<()> {
        each!(self, t => t.delete_contacts(item_ids).await)
    }

    async fn find_by_stamp(
        &self,
        folder_id: &str,
        crm_id: Uuid,
    ) -> Result<Vec<RemoteContact>, TransportError> {
        each!(self, t => t.find_by_stamp(folder_id, crm_id).await)
    }

    async fn folder_contacts(&self, folder_id: &str) -> Result<FolderContacts, TransportError> {
        each!(self, t => t.folder_contacts(folder_id).await)
    }

    fn ids_survive_moves(&self) -> bool {
        each!(self, t => t.ids_survive_moves())
    }

    fn request_budget(&self) -> Option<RequestBudget> {
        each!(self, t => t.request_budget())
    }
}
