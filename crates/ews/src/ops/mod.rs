//! One module per EWS operation: the request, its response message and response.
//!
//! [`Operation`] ties a request type to its response type and operation name, so the
//! client can send any request generically and the simulator can answer it.

use serde::{Deserialize, Serialize};

use crate::envelope::Body;
use crate::types::ResponseMessage;

pub mod create_folder;
pub mod create_item;
pub mod delete_folder;
pub mod delete_item;
pub mod find_folder;
pub mod find_item;
pub mod get_folder;
pub mod get_item;
pub mod sync_folder_items;
pub mod update_item;

pub use create_folder::{CreateFolder, CreateFolderResponse, CreateFolderResponseMessage};
pub use create_item::{CreateItem, CreateItemResponse, CreateItemResponseMessage};
pub use delete_folder::{DeleteFolder, DeleteFolderResponse, DeleteFolderResponseMessage};
pub use delete_item::{DeleteItem, DeleteItemResponse, DeleteItemResponseMessage};
pub use find_folder::{
    FindFolder, FindFolderResponse, FindFolderResponseMessage, FindFolderRoot, FolderTraversal,
};
pub use find_item::{
    FindItem, FindItemResponse, FindItemResponseMessage, FindItemRoot, ItemTraversal,
};
pub use get_folder::{GetFolder, GetFolderResponse, GetFolderResponseMessage};
pub use get_item::{GetItem, GetItemResponse, GetItemResponseMessage};
pub use sync_folder_items::{
    MAX_CHANGES_RETURNED, SyncChange, SyncChanges, SyncDelete, SyncFolderItems,
    SyncFolderItemsResponse, SyncFolderItemsResponseMessage, SyncItem, SyncReadFlagChange,
};
pub use update_item::{
    ConflictResolution, ConflictResults, DeleteItemField, ItemChange, ItemChanges, ItemUpdate,
    SetItemField, UpdateItem, UpdateItemResponse, UpdateItemResponseMessage, Updates, address_path,
};

/// How DeleteItem / DeleteFolder dispose of what they delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeleteType {
    /// Gone for good.
    HardDelete,
    /// Into the recoverable items (dumpster).
    SoftDelete,
    /// Into Deleted Items.
    MoveToDeletedItems,
}

/// A request type, its response type and its operation name.
pub trait Operation: Serialize + Into<Body> {
    /// The operation (root element local name), e.g. `GetItem`.
    const NAME: &'static str;
    /// The request element as written, e.g. `m:GetItem`.
    const ELEMENT: &'static str;
    /// Whether sending it twice does no more than sending it once. A request that is not
    /// (CreateItem, CreateFolder) is retried only when it surely did not run: a lost answer
    /// to an executed create must not become a second item.
    const IDEMPOTENT: bool = true;
    /// The response.
    type Response: OperationResponse;
}

/// A response type: how to find it in a parsed body and get its messages.
pub trait OperationResponse: Sized + Into<Body> {
    /// The message type (one per requested id / item / change).
    type Message: ResponseMessage;
    /// Takes the response out of a parsed body, if the body holds this response.
    fn from_body(body: Body) -> Option<Self>;
    /// The messages.
    fn response_messages(&self) -> &[Self::Message];
    /// The messages, owned.
    fn into_response_messages(self) -> Vec<Self::Message>;
}

/// Implements [`Operation`] and [`OperationResponse`] for a request/response pair.
macro_rules! operation {
    ($req:ident, $resp:ident, $msg:ident) => {
        $crate::ops::operation!($req, $resp, $msg, idempotent = true);
    };
    ($req:ident, $resp:ident, $msg:ident, idempotent = $idempotent:literal) => {
        impl $crate::ops::Operation for $req {
            const NAME: &'static str = stringify!($req);
            const ELEMENT: &'static str = concat!("m:", stringify!($req));
            const IDEMPOTENT: bool = $idempotent;
            type Response = $resp;
        }

        impl $crate::ops::OperationResponse for $resp {
            type Message = $msg;
            fn from_body(body: $crate::envelope::Body) -> Option<Self> {
                match body {
                    $crate::envelope::Body::$resp(r) => Some(r),
                    _ => None,
                }
            }
            fn response_messages(&self) -> &[$msg] {
                self.messages()
            }
            fn into_response_messages(self) -> Vec<$msg> {
                self.into_messages()
            }
        }
    };
}
pub(crate) use operation;
