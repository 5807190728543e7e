//! FindFolder: subfolders, Shallow or Deep, with an optional FolderClass restriction.

use ews::Body;
use ews::ops::{
    FindFolder, FindFolderResponse, FindFolderResponseMessage, FindFolderRoot, FolderTraversal,
};
use ews::types::{Folders, PropertyPath, SearchExpression};

use super::{Ctx, OpError, OpOutput, convert, error_message, outcome, respond};
use crate::store::Folder;

/// Whether a folder passes a restriction (IsEqualTo/IsNotEqualTo on FolderClass or
/// DisplayName, Exists, And, Or); other expressions match everything.
fn matches(f: &Folder, e: &SearchExpression) -> bool {
    let value_of = |p: Option<PropertyPath>| match p {
        Some(PropertyPath::Field(u)) if u.field_uri == "folder:FolderClass" => {
            Some(f.folder_class.clone().unwrap_or_default())
        }
        Some(PropertyPath::Field(u)) if u.field_uri == "folder:DisplayName" => {
            Some(f.display_name.clone())
        }
        _ => None,
    };
    match e {
        SearchExpression::IsEqualTo(c) => match value_of(c.path()) {
            Some(v) => c.constant().is_some_and(|k| k.eq_ignore_ascii_case(&v)),
            None => true,
        },
        SearchExpression::IsNotEqualTo(c) => match value_of(c.path()) {
            Some(v) => !c.constant().is_some_and(|k| k.eq_ignore_ascii_case(&v)),
            None => true,
        },
        SearchExpression::Exists(_) => true,
        SearchExpression::And(l) => l.expressions.iter().all(|x| matches(f, x)),
        SearchExpression::Or(l) => l.expressions.iter().any(|x| matches(f, x)),
    }
}

/// Answers one message per parent folder.
pub fn handle(ctx: &mut Ctx, req: FindFolder) -> Result<OpOutput, OpError> {
    let extra = req
        .folder_shape
        .additional_properties
        .map(|a| a.paths)
        .unwrap_or_default();
    let (offset, max) = req
        .indexed_page_folder_view
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
            let parent = mb.folder(&r)?;
            let list = match req.traversal {
                FolderTraversal::Deep => mb.descendants(&parent.id),
                FolderTraversal::Shallow => mb.children(&parent.id),
                FolderTraversal::SoftDeleted => Vec::new(),
            };
            let list: Vec<&Folder> = list
                .into_iter()
                .filter(|f| {
                    req.restriction
                        .as_ref()
                        .is_none_or(|r| matches(f, &r.expression))
                })
                .collect();
            let total = list.len();
            let page: Vec<&Folder> = list
                .into_iter()
                .skip(offset)
                .take(max.unwrap_or(usize::MAX))
                .collect();
            let end = offset + page.len();
            let counts = mb.counts();
            let folders = page
                .into_iter()
                .map(|f| convert::folder_view(mb, f, &counts, req.folder_shape.base_shape, &extra))
                .collect();
            Ok(FindFolderRoot {
                indexed_paging_offset: Some(end as u32),
                total_items_in_view: Some(total as u32),
                includes_last_item_in_range: Some(end >= total),
                folders: Some(Folders { folders }),
            })
        });
        messages.push(match found {
            Ok(root) => FindFolderResponseMessage {
                root_folder: Some(root),
                ..FindFolderResponseMessage::success()
            },
            Err(e) => error_message!(FindFolderResponseMessage, &e),
        });
    }
    let outcome = outcome(&messages);
    respond(
        Body::FindFolderResponse(FindFolderResponse::new(messages)),
        outcome,
    )
}
