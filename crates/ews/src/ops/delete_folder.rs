//! DeleteFolder.

use serde::{Deserialize, Serialize};

use super::DeleteType;
use crate::types::{FolderIds, response, response_message};

/// `m:DeleteFolder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteFolder {
    /// How to delete.
    #[serde(rename = "@DeleteType")]
    pub delete_type: DeleteType,
    /// The folders.
    #[serde(rename(serialize = "m:FolderIds", deserialize = "FolderIds"))]
    pub folder_ids: FolderIds,
}

response_message! {
    /// The outcome for one folder.
    DeleteFolderResponseMessage("m:DeleteFolderResponseMessage", "DeleteFolderResponseMessage") {}
}

response! {
    /// `m:DeleteFolderResponse`.
    DeleteFolderResponse, DeleteFolderResponseMessage
}

super::operation!(
    DeleteFolder,
    DeleteFolderResponse,
    DeleteFolderResponseMessage
);
