//! FindItem: items of a folder, optionally restricted by IsEqualTo on a property
//! (the service finds its contacts by the CrmContactId extended property).

use ews::Body;
use ews::ops::{FindItem, FindItemResponse, FindItemResponseMessage, FindItemRoot};
use ews::types::{Item, Items, SearchExpression};

use super::{Ctx, OpError, OpOutput, convert, error_message, outcome, respond};
use crate::store::EwsError;

/// Answers one message per parent folder.
pub fn handle(ctx: &mut Ctx, req: FindItem) -> Result<OpOutput, OpError> {
    let filter = match req.restriction.as_ref().map(|r| &r.expression) {
        None => None,
        Some(SearchExpression::IsEqualTo(c)) => match (c.path(), c.constant()) {
            (Some(p), Some(v)) => Some((convert::field_path(&p), v.to_string())),
            _ => {
                return Err(OpError::Fault(EwsError::invalid_request(
                    "IsEqualTo needs a property and a Constant",
                )));
            }
        },
        Some(_) => {
            return Err(OpError::Fault(EwsError::new(
                "ErrorUnsupportedQueryFilter",
                "The simulator supports IsEqualTo restrictions only.",
            )));
        }
    };
    let extra = req
        .item_shape
        .additional_properties
        .map(|a| a.paths)
        .unwrap_or_default();
    let (offset, max) = req
        .indexed_page_item_view
        .as_ref()
        .map(|v| {
            (
                v.offset as usize,
                v.max_entries_returned.map(|m| m as usize),
            )
        })
        .unwrap_or((0, None));
    let mut messages = Vec::new();
    for id in &req.parent_folder_ids.ids {
        let found = ctx.folder_target(id).and_then(|(email, r)| {
            let mb = ctx.mb(&email);
            let folder = mb.folder(&r)?;
            let hits = mb.find_items(&folder.id, filter.as_ref());
            let total = hits.len();
            let items: Vec<Item> = hits
                .into_iter()
                .skip(offset)
                .take(max.unwrap_or(usize::MAX))
                .map(|it| {
                    Item::Contact(convert::contact_view(it, req.item_shape.base_shape, &extra))
                })
                .collect();
            let end = offset + items.len();
            Ok(FindItemRoot {
                indexed_paging_offset: Some(end as u32),
                total_items_in_view: Some(total as u32),
                includes_last_item_in_range: Some(end >= total),
                items: Items { items },
            })
        });
        messages.push(match found {
            Ok(root) => FindItemResponseMessage {
                root_folder: Some(root),
                ..FindItemResponseMessage::success()
            },
            Err(e) => error_message!(FindItemResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::FindItemResponse(FindItemResponse::new(messages)),
        outcome,
    )
}
