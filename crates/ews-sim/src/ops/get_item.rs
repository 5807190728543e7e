//! GetItem: items by id, one response message each.

use ews::Body;
use ews::ops::{GetItem, GetItemResponse, GetItemResponseMessage};
use ews::types::{Item, Items};

use super::{Ctx, OpError, OpOutput, convert, error_message, outcome, respond};

/// Answers one message per requested id.
pub fn handle(ctx: &mut Ctx, req: GetItem) -> Result<OpOutput, OpError> {
    let extra = req
        .item_shape
        .additional_properties
        .map(|a| a.paths)
        .unwrap_or_default();
    let mut messages = Vec::new();
    for id in &req.item_ids.ids {
        let found = match ctx.injected("GetItem", &id.id) {
            Some(e) => Err(e),
            None => ctx.item_mailbox(&id.id).and_then(|email| {
                let it = ctx.mb(&email).item(&id.id)?;
                Ok(convert::contact_view(it, req.item_shape.base_shape, &extra))
            }),
        };
        messages.push(match found {
            Ok(c) => GetItemResponseMessage {
                items: Items {
                    items: vec![Item::Contact(c)],
                },
                ..GetItemResponseMessage::success()
            },
            Err(e) => error_message!(GetItemResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::GetItemResponse(GetItemResponse::new(messages)),
        outcome,
    )
}
