//! SyncFolderItems: the change feed of one folder.

use serde::{Deserialize, Serialize};

use crate::types::{Item, ItemId, ItemIds, ItemShape, TargetFolderId, response, response_message};

/// Most changes one SyncFolderItems call may ask for (MaxSyncChangesReturnedType).
pub const MAX_CHANGES_RETURNED: u32 = 512;

/// `m:SyncFolderItems`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncFolderItems {
    /// Shape of the returned items (IdOnly is best: fetch the rest with GetItem).
    #[serde(rename(serialize = "m:ItemShape", deserialize = "ItemShape"))]
    pub item_shape: ItemShape,
    /// The folder.
    #[serde(rename(serialize = "m:SyncFolderId", deserialize = "SyncFolderId"))]
    pub sync_folder_id: TargetFolderId,
    /// The state returned by the previous call; `None` for a full sync.
    #[serde(
        rename(serialize = "m:SyncState", deserialize = "SyncState"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sync_state: Option<String>,
    /// Items whose changes should not be reported (our own writes).
    #[serde(
        rename(serialize = "m:Ignore", deserialize = "Ignore"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ignore: Option<ItemIds>,
    /// Page size, 1..=512.
    #[serde(rename(serialize = "m:MaxChangesReturned", deserialize = "MaxChangesReturned"))]
    pub max_changes_returned: u32,
    /// `NormalItems` or `NormalAndAssociatedItems`.
    #[serde(
        rename(serialize = "m:SyncScope", deserialize = "SyncScope"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sync_scope: Option<String>,
}

/// A created or updated item (`t:Create`, `t:Update`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncItem {
    /// The item, in the requested shape.
    #[serde(rename = "$value")]
    pub item: Item,
}

/// A deleted item (`t:Delete`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncDelete {
    /// The id of the deleted item.
    #[serde(rename(serialize = "t:ItemId", deserialize = "ItemId"))]
    pub item_id: ItemId,
}

/// A read-flag change (`t:ReadFlagChange`); contacts syncs ignore it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReadFlagChange {
    /// The item.
    #[serde(rename(serialize = "t:ItemId", deserialize = "ItemId"))]
    pub item_id: ItemId,
    /// The new flag.
    #[serde(rename(serialize = "t:IsRead", deserialize = "IsRead"))]
    pub is_read: bool,
}

/// One change of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SyncChange {
    /// A new item.
    #[serde(rename(serialize = "t:Create", deserialize = "Create"))]
    Create(SyncItem),
    /// A changed item (with its new ChangeKey).
    #[serde(rename(serialize = "t:Update", deserialize = "Update"))]
    Update(SyncItem),
    /// A deleted (or moved away) item.
    #[serde(rename(serialize = "t:Delete", deserialize = "Delete"))]
    Delete(SyncDelete),
    /// A read-flag change.
    #[serde(rename(serialize = "t:ReadFlagChange", deserialize = "ReadFlagChange"))]
    ReadFlagChange(SyncReadFlagChange),
}

impl SyncChange {
    /// The id the change is about.
    pub fn item_id(&self) -> Option<&ItemId> {
        match self {
            SyncChange::Create(c) | SyncChange::Update(c) => c.item.item_id(),
            SyncChange::Delete(d) => Some(&d.item_id),
            SyncChange::ReadFlagChange(r) => Some(&r.item_id),
        }
    }
}

/// `m:Changes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncChanges {
    /// The changes, oldest first.
    #[serde(rename = "$value", default)]
    pub changes: Vec<SyncChange>,
}

response_message! {
    /// A page of the change feed.
    SyncFolderItemsResponseMessage("m:SyncFolderItemsResponseMessage", "SyncFolderItemsResponseMessage") {
        /// The state to send next time (empty on error).
        #[serde(
            rename(serialize = "m:SyncState", deserialize = "SyncState"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        sync_state: Option<String>,
        /// `true` when there are no more changes after this page.
        #[serde(
            rename(serialize = "m:IncludesLastItemInRange", deserialize = "IncludesLastItemInRange"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        includes_last_item_in_range: Option<bool>,
        /// The changes.
        #[serde(
            rename(serialize = "m:Changes", deserialize = "Changes"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        changes: Option<SyncChanges>,
    }
}

response! {
    /// `m:SyncFolderItemsResponse`.
    SyncFolderItemsResponse, SyncFolderItemsResponseMessage
}

super::operation!(
    SyncFolderItems,
    SyncFolderItemsResponse,
    SyncFolderItemsResponseMessage
);
