//! GetFolder: folders by id; an unknown one is a per-folder ErrorFolderNotFound.

use ews::Body;
use ews::ops::{GetFolder, GetFolderResponse, GetFolderResponseMessage};
use ews::types::Folders;

use super::{Ctx, OpError, OpOutput, convert, error_message, outcome, respond};

/// Answers one message per requested folder.
pub fn handle(ctx: &mut Ctx, req: GetFolder) -> Result<OpOutput, OpError> {
    let extra = req
        .folder_shape
        .additional_properties
        .map(|a| a.paths)
        .unwrap_or_default();
    let mut messages = Vec::new();
    for id in &req.folder_ids.ids {
        let found = ctx.folder_target(id).and_then(|(email, r)| {
            let mb = ctx.mb(&email);
            let f = mb.folder(&r)?;
            let counts = mb.counts();
            Ok(convert::folder_view(
                mb,
                f,
                &counts,
                req.folder_shape.base_shape,
                &extra,
            ))
        });
        messages.push(match found {
            Ok(folder) => GetFolderResponseMessage {
                folders: Some(Folders {
                    folders: vec![folder],
                }),
                ..GetFolderResponseMessage::success()
            },
            Err(e) => error_message!(GetFolderResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::GetFolderResponse(GetFolderResponse::new(messages)),
        outcome,
    )
}
