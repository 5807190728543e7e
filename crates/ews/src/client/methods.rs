//! Typed convenience methods over [`EwsClient::call`].

use super::EwsClient;
use super::requests;
use crate::error::Error;
use crate::ops::*;
use crate::types::*;

/// Most results gathered by a paged Find call: a server that never says "last page" (or
/// pages backwards) must not hold the caller or grow its memory without bound.
pub const MAX_FIND_RESULTS: usize = 10_000;

/// The offset of the next page of a Find call, or an error when paging went wrong.
fn next_offset(
    op: &str,
    total: usize,
    offset: u32,
    got: u32,
    hint: Option<u32>,
) -> Result<u32, Error> {
    if total > MAX_FIND_RESULTS {
        return Err(Error::Permanent {
            code: "TooManyResults".into(),
            message: format!("{op} returned more than {MAX_FIND_RESULTS} results"),
        });
    }
    let next = hint.unwrap_or(offset.saturating_add(got));
    if next <= offset {
        return Err(Error::MalformedResponse(format!(
            "{op} paging does not advance (offset {offset}, next {next})"
        )));
    }
    Ok(next)
}

/// One page of a folder's change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncPage {
    /// The state to store (after applying the changes) and send next time.
    pub sync_state: String,
    /// `true` when the feed is drained.
    pub includes_last_item_in_range: bool,
    /// The changes, oldest first.
    pub changes: Vec<SyncChange>,
}

/// Checks that a batch answered one message per input.
fn one_per_input<M>(messages: Vec<M>, inputs: usize, op: &str) -> Result<Vec<M>, Error> {
    if messages.len() != inputs {
        return Err(Error::MalformedResponse(format!(
            "{op}: {} response messages for {inputs} inputs",
            messages.len()
        )));
    }
    Ok(messages)
}

/// The single message of a single-item call, as a result.
fn single<M: ResponseMessage>(messages: Vec<M>, op: &str) -> Result<M, Error> {
    let message = messages
        .into_iter()
        .next()
        .ok_or_else(|| Error::MalformedResponse(format!("{op}: no response message")))?;
    match Error::from_message(&message) {
        Some(e) => Err(e),
        None => Ok(message),
    }
}

/// The first item's id of an item response message.
fn first_item_id(items: &Items, op: &str) -> Result<ItemId, Error> {
    items
        .items
        .first()
        .and_then(Item::item_id)
        .cloned()
        .ok_or_else(|| Error::MalformedResponse(format!("{op}: success without an ItemId")))
}

impl EwsClient {
    /// One folder, with its class, parent and counts.
    pub async fn get_folder(&self, id: BaseFolderId) -> Result<Folder, Error> {
        let req = requests::get_folder(id);
        let message = single(self.call(&req).await?.into_messages(), "GetFolder")?;
        message
            .folders
            .and_then(|f| f.folders.into_iter().next())
            .ok_or_else(|| Error::MalformedResponse("GetFolder: success without a folder".into()))
    }

    /// Every folder below `parent` (all pages), optionally restricted
    /// (e.g. `Restriction::is_equal_to(PropertyPath::field("folder:FolderClass"), "IPF.Contact")`).
    pub async fn find_folders(
        &self,
        parent: BaseFolderId,
        traversal: FolderTraversal,
        restriction: Option<Restriction>,
    ) -> Result<Vec<Folder>, Error> {
        let mut folders = Vec::new();
        let mut offset = 0;
        loop {
            let req =
                requests::find_folders(parent.clone(), traversal, restriction.clone(), offset);
            let message = single(self.call(&req).await?.into_messages(), "FindFolder")?;
            let root = message.root_folder.unwrap_or_default();
            let page = root.folders.map(|f| f.folders).unwrap_or_default();
            let got = page.len() as u32;
            folders.extend(page);
            if root.includes_last_item_in_range.unwrap_or(true) || got == 0 {
                return Ok(folders);
            }
            offset = next_offset(
                "FindFolder",
                folders.len(),
                offset,
                got,
                root.indexed_paging_offset,
            )?;
        }
    }

    /// Creates a contacts folder (class `IPF.Contact`) under `parent`; returns its id.
    pub async fn create_folder(
        &self,
        parent: BaseFolderId,
        display_name: &str,
    ) -> Result<FolderId, Error> {
        let req = requests::create_folder(parent, display_name);
        let message = single(self.call(&req).await?.into_messages(), "CreateFolder")?;
        message
            .folders
            .and_then(|f| f.folders.into_iter().next())
            .and_then(|f| f.into_data().folder_id)
            .ok_or_else(|| {
                Error::MalformedResponse("CreateFolder: success without a FolderId".into())
            })
    }

    /// One page of the change feed of `folder` since `sync_state` (`None` = from the start).
    /// `max_changes` is clamped to 1..=512; `ignore` lists our own recent writes.
    pub async fn sync_folder_items(
        &self,
        folder: BaseFolderId,
        sync_state: Option<&str>,
        max_changes: u32,
        ignore: Vec<ItemId>,
    ) -> Result<SyncPage, Error> {
        let req = requests::sync_folder_items(folder, sync_state, max_changes, ignore);
        let message = single(self.call(&req).await?.into_messages(), "SyncFolderItems")?;
        Ok(SyncPage {
            sync_state: message.sync_state.unwrap_or_default(),
            includes_last_item_in_range: message.includes_last_item_in_range.unwrap_or(true),
            changes: message.changes.map(|c| c.changes).unwrap_or_default(),
        })
    }

    /// Items by id in one batch; one result per id, in order.
    pub async fn get_items(
        &self,
        ids: &[ItemId],
        shape: ItemShape,
    ) -> Result<Vec<Result<Item, Error>>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let req = requests::get_items(ids, shape);
        let messages = one_per_input(self.call(&req).await?.into_messages(), ids.len(), "GetItem")?;
        Ok(messages
            .into_iter()
            .map(|m| match Error::from_message(&m) {
                Some(e) => Err(e),
                None => m.items.items.into_iter().next().ok_or_else(|| {
                    Error::MalformedResponse("GetItem: success without an item".into())
                }),
            })
            .collect())
    }

    /// Items of `folder` whose extended property `uri` equals `value` (all pages).
    pub async fn find_items_by_extended_property(
        &self,
        folder: BaseFolderId,
        uri: &ExtendedFieldUri,
        value: &str,
        shape: ItemShape,
    ) -> Result<Vec<Item>, Error> {
        let mut items = Vec::new();
        let mut offset = 0;
        loop {
            let req = requests::find_items_by_extended_property(
                folder.clone(),
                uri,
                value,
                shape.clone(),
                offset,
            );
            let message = single(self.call(&req).await?.into_messages(), "FindItem")?;
            let root = message.root_folder.unwrap_or_default();
            let got = root.items.items.len() as u32;
            items.extend(root.items.items);
            if root.includes_last_item_in_range.unwrap_or(true) || got == 0 {
                return Ok(items);
            }
            offset = next_offset(
                "FindItem",
                items.len(),
                offset,
                got,
                root.indexed_paging_offset,
            )?;
        }
    }

    /// Creates items in one batch (in `folder`, or the default Contacts folder);
    /// one result (the new id and ChangeKey) per item, in order.
    pub async fn create_items(
        &self,
        folder: Option<BaseFolderId>,
        items: Vec<Item>,
    ) -> Result<Vec<Result<ItemId, Error>>, Error> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let count = items.len();
        let req = requests::create_items(folder, items);
        let messages = one_per_input(self.call(&req).await?.into_messages(), count, "CreateItem")?;
        Ok(messages
            .into_iter()
            .map(|m| match Error::from_message(&m) {
                Some(e) => Err(e),
                None => first_item_id(&m.items, "CreateItem"),
            })
            .collect())
    }

    /// Applies item changes in one batch; one result (the new ChangeKey) per change.
    pub async fn update_items(
        &self,
        changes: Vec<ItemChange>,
        conflict_resolution: ConflictResolution,
    ) -> Result<Vec<Result<ItemId, Error>>, Error> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        let count = changes.len();
        let req = requests::update_items(changes, conflict_resolution);
        let messages = one_per_input(self.call(&req).await?.into_messages(), count, "UpdateItem")?;
        Ok(messages
            .into_iter()
            .map(|m| match Error::from_message(&m) {
                Some(e) => Err(e),
                None => first_item_id(&m.items, "UpdateItem"),
            })
            .collect())
    }

    /// Deletes items in one batch; one result per id, in order.
    pub async fn delete_items(
        &self,
        ids: &[ItemId],
        delete_type: DeleteType,
    ) -> Result<Vec<Result<(), Error>>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let req = requests::delete_items(ids, delete_type);
        let messages = one_per_input(
            self.call(&req).await?.into_messages(),
            ids.len(),
            "DeleteItem",
        )?;
        Ok(messages
            .into_iter()
            .map(|m| Error::from_message(&m).map_or(Ok(()), Err))
            .collect())
    }

    /// Deletes a folder.
    pub async fn delete_folder(
        &self,
        id: BaseFolderId,
        delete_type: DeleteType,
    ) -> Result<(), Error> {
        let req = requests::delete_folder(id, delete_type);
        single(self.call(&req).await?.into_messages(), "DeleteFolder").map(|_| ())
    }
}
