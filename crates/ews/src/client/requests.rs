//! The requests the typed methods send, built here so tests can check them against the schema.

use crate::ops::*;
use crate::types::*;

/// Page size for FindFolder / FindItem paging.
pub const FIND_PAGE: u32 = 256;

fn folder_shape() -> FolderShape {
    FolderShape::new(
        BaseShape::Default,
        [
            PropertyPath::field("folder:FolderClass"),
            PropertyPath::field("folder:ParentFolderId"),
        ],
    )
}

/// GetFolder of one folder.
pub fn get_folder(id: BaseFolderId) -> GetFolder {
    GetFolder {
        folder_shape: folder_shape(),
        folder_ids: [id].into_iter().collect(),
    }
}

/// One page of FindFolder.
pub fn find_folders(
    parent: BaseFolderId,
    traversal: FolderTraversal,
    restriction: Option<Restriction>,
    offset: u32,
) -> FindFolder {
    FindFolder {
        traversal,
        folder_shape: folder_shape(),
        indexed_page_folder_view: Some(IndexedPageView::new(FIND_PAGE, offset)),
        restriction,
        parent_folder_ids: [parent].into_iter().collect(),
    }
}

/// CreateFolder of one contacts folder.
pub fn create_folder(parent: BaseFolderId, display_name: &str) -> CreateFolder {
    CreateFolder {
        parent_folder_id: parent.into(),
        folders: Folders {
            folders: vec![Folder::new_contacts(display_name)],
        },
    }
}

/// One SyncFolderItems page (IdOnly; `max_changes` clamped to 1..=512).
pub fn sync_folder_items(
    folder: BaseFolderId,
    sync_state: Option<&str>,
    max_changes: u32,
    ignore: Vec<ItemId>,
) -> SyncFolderItems {
    SyncFolderItems {
        item_shape: ItemShape::id_only(),
        sync_folder_id: folder.into(),
        sync_state: sync_state.filter(|s| !s.is_empty()).map(str::to_owned),
        ignore: (!ignore.is_empty()).then(|| ignore.into_iter().collect()),
        max_changes_returned: max_changes.clamp(1, MAX_CHANGES_RETURNED),
        sync_scope: Some("NormalItems".into()),
    }
}

/// GetItem of a batch.
pub fn get_items(ids: &[ItemId], shape: ItemShape) -> GetItem {
    GetItem {
        item_shape: shape,
        item_ids: ids.iter().cloned().collect(),
    }
}

/// One page of FindItem restricted to `uri` = `value`.
pub fn find_items_by_extended_property(
    folder: BaseFolderId,
    uri: &ExtendedFieldUri,
    value: &str,
    shape: ItemShape,
    offset: u32,
) -> FindItem {
    FindItem {
        traversal: ItemTraversal::Shallow,
        item_shape: shape,
        indexed_page_item_view: Some(IndexedPageView::new(FIND_PAGE, offset)),
        restriction: Some(Restriction::is_equal_to(uri.clone(), value)),
        parent_folder_ids: [folder].into_iter().collect(),
    }
}

/// CreateItem of a batch.
pub fn create_items(folder: Option<BaseFolderId>, items: Vec<Item>) -> CreateItem {
    CreateItem {
        message_disposition: None,
        send_meeting_invitations: None,
        saved_item_folder_id: folder.map(Into::into),
        items: Items { items },
    }
}

/// UpdateItem of a batch.
pub fn update_items(
    changes: Vec<ItemChange>,
    conflict_resolution: ConflictResolution,
) -> UpdateItem {
    UpdateItem {
        conflict_resolution,
        message_disposition: None,
        send_meeting_invitations_or_cancellations: None,
        suppress_read_receipts: None,
        saved_item_folder_id: None,
        item_changes: ItemChanges { changes },
    }
}

/// DeleteItem of a batch.
pub fn delete_items(ids: &[ItemId], delete_type: DeleteType) -> DeleteItem {
    DeleteItem {
        delete_type,
        send_meeting_cancellations: None,
        affected_task_occurrences: None,
        suppress_read_receipts: None,
        item_ids: ids.iter().cloned().collect(),
    }
}

/// DeleteFolder of one folder.
pub fn delete_folder(id: BaseFolderId, delete_type: DeleteType) -> DeleteFolder {
    DeleteFolder {
        delete_type,
        folder_ids: [id].into_iter().collect(),
    }
}
