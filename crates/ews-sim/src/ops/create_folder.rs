//! CreateFolder: subfolders of one parent.

use ews::Body;
use ews::ops::{CreateFolder, CreateFolderResponse, CreateFolderResponseMessage};
use ews::types::{Folder, FolderData, FolderId, Folders};

use super::{Ctx, OpError, OpOutput, error_message, outcome, respond};

/// Answers one message per folder to create.
pub fn handle(ctx: &mut Ctx, req: CreateFolder) -> Result<OpOutput, OpError> {
    let target = ctx.folder_target(&req.parent_folder_id.id);
    let mut messages = Vec::new();
    for folder in &req.folders.folders {
        let data = folder.data();
        // A ContactsFolder element means IPF.Contact even without a FolderClass.
        let class = data.folder_class.clone().or_else(|| match folder {
            Folder::ContactsFolder(_) => Some("IPF.Contact".into()),
            Folder::CalendarFolder(_) => Some("IPF.Appointment".into()),
            Folder::TasksFolder(_) => Some("IPF.Task".into()),
            _ => None,
        });
        let created = target.clone().and_then(|(email, parent)| {
            let name = data.display_name.clone().unwrap_or_default();
            let mb = ctx.mb_mut(&email);
            let id = mb.create_folder(&parent, &name, class.as_deref())?;
            Ok(mb.folders[&id].clone())
        });
        messages.push(match created {
            Ok(f) => {
                let out = FolderData {
                    folder_id: Some(FolderId {
                        id: f.id,
                        change_key: Some(f.change_key),
                    }),
                    ..FolderData::default()
                };
                let folder = match folder {
                    Folder::ContactsFolder(_) => Folder::ContactsFolder(out),
                    Folder::CalendarFolder(_) => Folder::CalendarFolder(out),
                    Folder::TasksFolder(_) => Folder::TasksFolder(out),
                    Folder::SearchFolder(_) => Folder::SearchFolder(out),
                    Folder::Folder(_) => Folder::Folder(out),
                };
                CreateFolderResponseMessage {
                    folders: Some(Folders {
                        folders: vec![folder],
                    }),
                    ..CreateFolderResponseMessage::success()
                }
            }
            Err(e) => error_message!(CreateFolderResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::CreateFolderResponse(CreateFolderResponse::new(messages)),
        outcome,
    )
}
