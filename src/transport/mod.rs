//! What the service needs from an Exchange server, independent of the protocol: EWS today
//! (`ews.rs`), Microsoft Graph later. HTTP handlers and the sync engine reach Exchange
//! only through here.
pub mod ews;

use std::future::Future;

use serde::Serialize;
use utoipa::ToSchema;

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
        let mut v = vec![self.id.as_str()];
        for c in &self.children {
            v.extend(c.ids());
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

/// The operations the service uses on a mailbox's contacts.
pub trait ExchangeContacts: Send + Sync {
    /// Every contacts folder of the mailbox, as a tree.
    fn contact_folders(
        &self,
    ) -> impl Future<Output = Result<Vec<ExchangeFolder>, TransportError>> + Send;
}
