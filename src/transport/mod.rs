//! What the service needs from an Exchange server, independent of the protocol: EWS today
//! (`ews.rs`), Microsoft Graph later. HTTP handlers and the sync engine reach Exchange
//! only through here.
pub mod address;
pub mod ews;
pub mod folder_tree;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

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
    /// `dns`, `connect`, `tls`, `auth`, `access` or `contacts_folder`.
    pub step: String,
    pub status: StepStatus,
    pub duration_ms: u64,
    /// What was found, or what went wrong.
    pub detail: String,
    /// The EWS ResponseCode or HTTP status of a failure.
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
    /// Created or changed; the ChangeKey tells our own echoes apart without a read.
    Upsert { item_id: String, change_key: String },
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
    /// Also stamp the item with this CRM id.
    pub stamp: Option<Uuid>,
}

/// A written item's new identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub item_id: String,
    pub change_key: String,
}

/// Per-item results of a batch, in input order; the outer error fails the whole batch.
pub type BatchResult<T> = Result<Vec<Result<T, TransportError>>, TransportError>;

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
}
