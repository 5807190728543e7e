//! `GET /users/{user}/contactFolders` (the folders under the default Contacts folder) and
//! `GET /users/{user}/contactFolders/{id}/childFolders`.

use super::{Method, Operation, Request, segment, user_path};
use crate::types::{Collection, ContactFolder};

/// Lists contact folders: top-level ones, or the children of `parent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListContactFolders {
    /// UPN or object id.
    pub user: String,
    /// `None`: the top-level folders; `Some(id)`: that folder's children.
    pub parent: Option<String>,
}

/// Folders per page (Graph's maximum is 1000; the client follows `@odata.nextLink`).
pub const FOLDER_PAGE: u32 = 100;

impl Operation for ListContactFolders {
    type Response = Collection<ContactFolder>;

    fn request(&self) -> Request {
        let path = match &self.parent {
            None => format!("{}/contactFolders", user_path(&self.user)),
            Some(p) => format!(
                "{}/contactFolders/{}/childFolders",
                user_path(&self.user),
                segment(p)
            ),
        };
        Request::new(Method::Get, path).with_query("$top", FOLDER_PAGE.to_string())
    }
}
