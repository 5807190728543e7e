//! GetItem: items by id, in batches.

use serde::{Deserialize, Serialize};

use crate::types::{ItemIds, ItemShape, Items, response, response_message};

/// `m:GetItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetItem {
    /// Which properties to return.
    #[serde(rename(serialize = "m:ItemShape", deserialize = "ItemShape"))]
    pub item_shape: ItemShape,
    /// The items; one response message per id, in the same order.
    #[serde(rename(serialize = "m:ItemIds", deserialize = "ItemIds"))]
    pub item_ids: ItemIds,
}

response_message! {
    /// One item of a GetItem response.
    GetItemResponseMessage("m:GetItemResponseMessage", "GetItemResponseMessage") {
        /// The item (empty on error).
        #[serde(rename(serialize = "m:Items", deserialize = "Items"), default)]
        items: Items,
    }
}

response! {
    /// `m:GetItemResponse`.
    GetItemResponse, GetItemResponseMessage
}

super::operation!(GetItem, GetItemResponse, GetItemResponseMessage);
