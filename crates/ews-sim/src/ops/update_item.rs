//! UpdateItem: field updates applied in request order, with ConflictResolution.

use ews::Body;
use ews::ops::{
    ConflictResolution, ConflictResults, ItemUpdate, UpdateItem, UpdateItemResponse,
    UpdateItemResponseMessage,
};
use ews::types::{Contact, Item, ItemId, Items};

use super::{Ctx, OpError, OpOutput, convert, error_message, outcome, respond};
use crate::store::{self, EwsError, Update};

fn conflict(c: ConflictResolution) -> store::ConflictResolution {
    match c {
        ConflictResolution::NeverOverwrite => store::ConflictResolution::NeverOverwrite,
        ConflictResolution::AutoResolve => store::ConflictResolution::AutoResolve,
        ConflictResolution::AlwaysOverwrite => store::ConflictResolution::AlwaysOverwrite,
    }
}

fn updates(list: &[ItemUpdate]) -> Result<Vec<Update>, EwsError> {
    list.iter()
        .map(|u| {
            let path = u
                .path()
                .map(|p| convert::field_path(&p))
                .ok_or_else(|| EwsError::invalid_property("an update names no property"))?;
            Ok(match u {
                ItemUpdate::Set(s) | ItemUpdate::Append(s) => Update::Set {
                    path,
                    value: Box::new(
                        s.contact
                            .as_ref()
                            .map(convert::contact_data)
                            .unwrap_or_default(),
                    ),
                },
                ItemUpdate::Delete(_) => Update::Delete(path),
            })
        })
        .collect()
}

/// Answers one message per ItemChange.
pub fn handle(ctx: &mut Ctx, req: UpdateItem) -> Result<OpOutput, OpError> {
    let mode = conflict(req.conflict_resolution);
    let mut messages = Vec::new();
    for change in &req.item_changes.changes {
        let id = &change.item_id;
        let done = match ctx.injected("UpdateItem", &id.id) {
            Some(e) => Err(e),
            None => ctx.item_mailbox(&id.id).and_then(|email| {
                let ups = updates(&change.updates.updates)?;
                ctx.mb_mut(&email)
                    .update_item(&id.id, id.change_key.as_deref(), mode, &ups)
            }),
        };
        messages.push(match done {
            Ok((id, ck)) => UpdateItemResponseMessage {
                items: Items {
                    items: vec![Item::Contact(Contact {
                        item_id: Some(ItemId::new(id, ck)),
                        ..Contact::default()
                    })],
                },
                conflict_results: Some(ConflictResults { count: 0 }),
                ..UpdateItemResponseMessage::success()
            },
            Err(e) => error_message!(UpdateItemResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::UpdateItemResponse(UpdateItemResponse::new(messages)),
        outcome,
    )
}
