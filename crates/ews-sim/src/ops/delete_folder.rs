//! DeleteFolder: folders with their subfolders and items.

use ews::Body;
use ews::ops::{DeleteFolder, DeleteFolderResponse, DeleteFolderResponseMessage};

use super::{Ctx, OpError, OpOutput, delete_type, error_message, outcome, respond};

/// Answers one message per folder.
pub fn handle(ctx: &mut Ctx, req: DeleteFolder) -> Result<OpOutput, OpError> {
    let how = delete_type(req.delete_type);
    let mut messages = Vec::new();
    for id in &req.folder_ids.ids {
        let done = ctx
            .folder_target(id)
            .and_then(|(email, r)| ctx.mb_mut(&email).delete_folder(&r, how));
        messages.push(match done {
            Ok(()) => DeleteFolderResponseMessage::success(),
            Err(e) => error_message!(DeleteFolderResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::DeleteFolderResponse(DeleteFolderResponse::new(messages)),
        outcome,
    )
}
