//! SyncFolderItems: the folder's change log, paged, from an opaque state.

use std::collections::HashSet;

use ews::Body;
use ews::ops::{
    SyncChange, SyncChanges, SyncDelete, SyncFolderItems, SyncFolderItemsResponse,
    SyncFolderItemsResponseMessage, SyncItem,
};
use ews::types::{Item, ItemId};

use super::{Ctx, OpError, OpOutput, convert, error_message, outcome, respond};
use crate::store::{self, EwsError};

/// Answers the one message of a SyncFolderItems.
pub fn handle(ctx: &mut Ctx, req: SyncFolderItems) -> Result<OpOutput, OpError> {
    if !(1..=512).contains(&req.max_changes_returned) {
        return Err(OpError::Unreadable(format!(
            "The value '{}' of MaxChangesReturned is invalid: it must be between 1 and 512.",
            req.max_changes_returned
        )));
    }
    let extra = req
        .item_shape
        .additional_properties
        .map(|a| a.paths)
        .unwrap_or_default();
    let ignore: HashSet<String> = req
        .ignore
        .map(|l| l.ids.into_iter().map(|i| i.id).collect())
        .unwrap_or_default();
    let mailbox = ctx.mailbox.clone();
    let forced_invalid = ctx.faults.take_invalid_sync_state(Some(&mailbox));
    let page = ctx
        .folder_target(&req.sync_folder_id.id)
        .and_then(|(email, f)| {
            if forced_invalid {
                return Err(EwsError::invalid_sync_state());
            }
            let mb = ctx.mb(&email);
            let page = mb.sync_items(
                &f,
                req.sync_state.as_deref(),
                req.max_changes_returned as usize,
                &ignore,
            )?;
            let view = |id: &str| {
                let it = &mb.items[id];
                SyncItem {
                    item: Item::Contact(convert::contact_view(
                        it,
                        req.item_shape.base_shape,
                        &extra,
                    )),
                }
            };
            let changes = page
                .changes
                .iter()
                .map(|c| match c {
                    store::SyncChange::Create(id) => SyncChange::Create(view(id)),
                    store::SyncChange::Update(id) => SyncChange::Update(view(id)),
                    store::SyncChange::Delete(id) => SyncChange::Delete(SyncDelete {
                        item_id: ItemId::id_only(id.clone()),
                    }),
                })
                .collect();
            Ok((page, changes))
        });
    let message = match page {
        Ok((page, changes)) => SyncFolderItemsResponseMessage {
            sync_state: Some(page.sync_state),
            includes_last_item_in_range: Some(page.includes_last_item_in_range),
            changes: Some(SyncChanges { changes }),
            ..SyncFolderItemsResponseMessage::success()
        },
        Err(e) => {
            // As Exchange: an empty SyncState and IncludesLastItemInRange=true (sample 17).
            let mut m = error_message!(SyncFolderItemsResponseMessage, &e);
            m.sync_state = Some(String::new());
            m.includes_last_item_in_range = Some(true);
            m
        }
    };
    let messages = vec![message];
    let outcome = outcome(&messages);
    respond(
        Body::SyncFolderItemsResponse(SyncFolderItemsResponse::new(messages)),
        outcome,
    )
}
