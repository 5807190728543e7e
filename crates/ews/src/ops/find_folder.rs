//! FindFolder: subfolders of a folder, shallow or deep.

use serde::{Deserialize, Serialize};

use crate::types::{
    FolderIds, FolderShape, Folders, IndexedPageView, Restriction, response, response_message,
};

/// `Traversal` of FindFolder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FolderTraversal {
    /// Direct children.
    Shallow,
    /// The whole subtree.
    Deep,
    /// Soft-deleted children.
    SoftDeleted,
}

/// `m:FindFolder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindFolder {
    /// Shallow or deep.
    #[serde(rename = "@Traversal")]
    pub traversal: FolderTraversal,
    /// Which properties to return.
    #[serde(rename(serialize = "m:FolderShape", deserialize = "FolderShape"))]
    pub folder_shape: FolderShape,
    /// Paging.
    #[serde(
        rename(
            serialize = "m:IndexedPageFolderView",
            deserialize = "IndexedPageFolderView"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indexed_page_folder_view: Option<IndexedPageView>,
    /// Filter, e.g. `folder:FolderClass` = `IPF.Contact`.
    #[serde(
        rename(serialize = "m:Restriction", deserialize = "Restriction"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub restriction: Option<Restriction>,
    /// Where to start.
    #[serde(rename(serialize = "m:ParentFolderIds", deserialize = "ParentFolderIds"))]
    pub parent_folder_ids: FolderIds,
}

/// `m:RootFolder` of a FindFolder response: a page of folders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindFolderRoot {
    /// Offset of the next page.
    #[serde(
        rename = "@IndexedPagingOffset",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indexed_paging_offset: Option<u32>,
    /// Total folders in the view.
    #[serde(
        rename = "@TotalItemsInView",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_items_in_view: Option<u32>,
    /// Whether this is the last page.
    #[serde(
        rename = "@IncludesLastItemInRange",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub includes_last_item_in_range: Option<bool>,
    /// The folders.
    #[serde(
        rename(serialize = "t:Folders", deserialize = "Folders"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub folders: Option<Folders>,
}

response_message! {
    /// The result of a FindFolder.
    FindFolderResponseMessage("m:FindFolderResponseMessage", "FindFolderResponseMessage") {
        /// The page of folders.
        #[serde(
            rename(serialize = "m:RootFolder", deserialize = "RootFolder"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        root_folder: Option<FindFolderRoot>,
    }
}

response! {
    /// `m:FindFolderResponse`.
    FindFolderResponse, FindFolderResponseMessage
}

super::operation!(FindFolder, FindFolderResponse, FindFolderResponseMessage);
