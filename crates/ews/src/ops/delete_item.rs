//! DeleteItem: items by id, in batches.

use serde::{Deserialize, Serialize};

use super::DeleteType;
use crate::types::{ItemIds, response, response_message};

/// `m:DeleteItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteItem {
    /// How to delete.
    #[serde(rename = "@DeleteType")]
    pub delete_type: DeleteType,
    /// Only meaningful for calendar items.
    #[serde(
        rename = "@SendMeetingCancellations",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub send_meeting_cancellations: Option<String>,
    /// Only meaningful for tasks.
    #[serde(
        rename = "@AffectedTaskOccurrences",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub affected_task_occurrences: Option<String>,
    /// Only meaningful for messages.
    #[serde(
        rename = "@SuppressReadReceipts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub suppress_read_receipts: Option<bool>,
    /// The items; one response message per id.
    #[serde(rename(serialize = "m:ItemIds", deserialize = "ItemIds"))]
    pub item_ids: ItemIds,
}

response_message! {
    /// The outcome for one item.
    DeleteItemResponseMessage("m:DeleteItemResponseMessage", "DeleteItemResponseMessage") {}
}

response! {
    /// `m:DeleteItemResponse`.
    DeleteItemResponse, DeleteItemResponseMessage
}

super::operation!(DeleteItem, DeleteItemResponse, DeleteItemResponseMessage);
