//! CreateItem: contacts into a contacts folder, in batches.

use ews::Body;
use ews::ops::{CreateItem, CreateItemResponse, CreateItemResponseMessage};
use ews::types::{BaseFolderId, Contact, Item, ItemId, Items};

use super::{Ctx, OpError, OpOutput, convert, error_message, outcome, respond};
use crate::store::EwsError;

/// Answers one message per item to create.
pub fn handle(ctx: &mut Ctx, req: CreateItem) -> Result<OpOutput, OpError> {
    let folder = req
        .saved_item_folder_id
        .map(|t| t.id)
        .unwrap_or_else(BaseFolderId::contacts);
    let target = ctx.folder_target(&folder);
    let mut messages = Vec::new();
    for item in &req.items.items {
        let created = match item {
            Item::Contact(c) => target.clone().and_then(|(email, f)| {
                ctx.mb_mut(&email).create_item(&f, convert::contact_data(c))
            }),
            // The simulator keeps contacts only, as a contacts folder does.
            _ => Err(EwsError::non_contact_folder()),
        };
        messages.push(match created {
            Ok((id, ck)) => CreateItemResponseMessage {
                items: Items {
                    items: vec![Item::Contact(Contact {
                        item_id: Some(ItemId::new(id, ck)),
                        ..Contact::default()
                    })],
                },
                ..CreateItemResponseMessage::success()
            },
            Err(e) => error_message!(CreateItemResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::CreateItemResponse(CreateItemResponse::new(messages)),
        outcome,
    )
}
