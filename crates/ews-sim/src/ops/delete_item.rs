//! DeleteItem: Hard, Soft or MoveToDeletedItems, in batches.

use ews::Body;
use ews::ops::{DeleteItem, DeleteItemResponse, DeleteItemResponseMessage};

use super::{Ctx, OpError, OpOutput, delete_type, error_message, outcome, respond};

/// Answers one message per id.
pub fn handle(ctx: &mut Ctx, req: DeleteItem) -> Result<OpOutput, OpError> {
    let how = delete_type(req.delete_type);
    let mut messages = Vec::new();
    for id in &req.item_ids.ids {
        let done = match ctx.injected("DeleteItem", &id.id) {
            Some(e) => Err(e),
            None => ctx
                .item_mailbox(&id.id)
                .and_then(|email| ctx.mb_mut(&email).delete_item(&id.id, how)),
        };
        messages.push(match done {
            Ok(()) => DeleteItemResponseMessage::success(),
            Err(e) => error_message!(DeleteItemResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::DeleteItemResponse(DeleteItemResponse::new(messages)),
        outcome,
    )
}
