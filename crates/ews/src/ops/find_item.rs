//! FindItem: items of a folder matching a restriction (e.g. our CRM id property).

use serde::{Deserialize, Serialize};

use crate::types::{
    FolderIds, IndexedPageView, ItemShape, Items, Restriction, response, response_message,
};

/// `Traversal` of FindItem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemTraversal {
    /// Normal items.
    Shallow,
    /// Soft-deleted items.
    SoftDeleted,
    /// Associated (hidden) items.
    Associated,
}

/// `m:FindItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindItem {
    /// Which items.
    #[serde(rename = "@Traversal")]
    pub traversal: ItemTraversal,
    /// Which properties to return.
    #[serde(rename(serialize = "m:ItemShape", deserialize = "ItemShape"))]
    pub item_shape: ItemShape,
    /// Paging.
    #[serde(
        rename(
            serialize = "m:IndexedPageItemView",
            deserialize = "IndexedPageItemView"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indexed_page_item_view: Option<IndexedPageView>,
    /// The filter.
    #[serde(
        rename(serialize = "m:Restriction", deserialize = "Restriction"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub restriction: Option<Restriction>,
    /// The folders to search.
    #[serde(rename(serialize = "m:ParentFolderIds", deserialize = "ParentFolderIds"))]
    pub parent_folder_ids: FolderIds,
}

/// `m:RootFolder` of a FindItem response: a page of items.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindItemRoot {
    /// Offset of the next page.
    #[serde(
        rename = "@IndexedPagingOffset",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indexed_paging_offset: Option<u32>,
    /// Total items in the view.
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
    /// The items.
    #[serde(rename(serialize = "t:Items", deserialize = "Items"), default)]
    pub items: Items,
}

response_message! {
    /// The result of a FindItem.
    FindItemResponseMessage("m:FindItemResponseMessage", "FindItemResponseMessage") {
        /// The page of items.
        #[serde(
            rename(serialize = "m:RootFolder", deserialize = "RootFolder"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        root_folder: Option<FindItemRoot>,
    }
}

response! {
    /// `m:FindItemResponse`.
    FindItemResponse, FindItemResponseMessage
}

super::operation!(FindItem, FindItemResponse, FindItemResponseMessage);
