//! GetFolder: folders by id or well-known name.

use serde::{Deserialize, Serialize};

use crate::types::{FolderIds, FolderShape, Folders, response, response_message};

/// `m:GetFolder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetFolder {
    /// Which properties to return.
    #[serde(rename(serialize = "m:FolderShape", deserialize = "FolderShape"))]
    pub folder_shape: FolderShape,
    /// The folders; one response message per id.
    #[serde(rename(serialize = "m:FolderIds", deserialize = "FolderIds"))]
    pub folder_ids: FolderIds,
}

response_message! {
    /// One folder of a GetFolder response.
    GetFolderResponseMessage("m:GetFolderResponseMessage", "GetFolderResponseMessage") {
        /// The folder (one) on success.
        #[serde(
            rename(serialize = "m:Folders", deserialize = "Folders"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        folders: Option<Folders>,
    }
}

response! {
    /// `m:GetFolderResponse`.
    GetFolderResponse, GetFolderResponseMessage
}

super::operation!(GetFolder, GetFolderResponse, GetFolderResponseMessage);
