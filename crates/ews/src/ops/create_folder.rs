//! CreateFolder: new folders under a parent.

use serde::{Deserialize, Serialize};

use crate::types::{Folders, TargetFolderId, response, response_message};

/// `m:CreateFolder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateFolder {
    /// The parent.
    #[serde(rename(serialize = "m:ParentFolderId", deserialize = "ParentFolderId"))]
    pub parent_folder_id: TargetFolderId,
    /// The folders to create (class and name).
    #[serde(rename(serialize = "m:Folders", deserialize = "Folders"))]
    pub folders: Folders,
}

response_message! {
    /// One created folder (its id).
    CreateFolderResponseMessage("m:CreateFolderResponseMessage", "CreateFolderResponseMessage") {
        /// The new folder's id.
        #[serde(
            rename(serialize = "m:Folders", deserialize = "Folders"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        folders: Option<Folders>,
    }
}

response! {
    /// `m:CreateFolderResponse`.
    CreateFolderResponse, CreateFolderResponseMessage
}

super::operation!(
    CreateFolder,
    CreateFolderResponse,
    CreateFolderResponseMessage,
    idempotent = false
);
