//! CreateItem: new items (contacts), in batches.

use serde::{Deserialize, Serialize};

use crate::types::{Items, TargetFolderId, response, response_message};

/// `m:CreateItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateItem {
    /// `SaveOnly` etc.; only meaningful for messages.
    #[serde(
        rename = "@MessageDisposition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_disposition: Option<String>,
    /// Only meaningful for calendar items.
    #[serde(
        rename = "@SendMeetingInvitations",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub send_meeting_invitations: Option<String>,
    /// Where to save; default is the item type's well-known folder.
    #[serde(
        rename(serialize = "m:SavedItemFolderId", deserialize = "SavedItemFolderId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub saved_item_folder_id: Option<TargetFolderId>,
    /// The items; one response message per item, in the same order.
    #[serde(rename(serialize = "m:Items", deserialize = "Items"))]
    pub items: Items,
}

response_message! {
    /// One created item (its new ItemId and ChangeKey).
    CreateItemResponseMessage("m:CreateItemResponseMessage", "CreateItemResponseMessage") {
        /// The new item's id.
        #[serde(rename(serialize = "m:Items", deserialize = "Items"), default)]
        items: Items,
    }
}

response! {
    /// `m:CreateItemResponse`.
    CreateItemResponse, CreateItemResponseMessage
}

super::operation!(
    CreateItem,
    CreateItemResponse,
    CreateItemResponseMessage,
    idempotent = false
);
