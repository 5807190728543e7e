//! `GET /users/{user}/contactFolders/{id}` (`contacts` names the default folder).

use super::{Method, Operation, Request, segment, user_path};
use crate::types::ContactFolder;

/// Reads one contact folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetContactFolder {
    /// UPN or object id.
    pub user: String,
    /// The folder id, or `contacts` for the default Contacts folder.
    pub folder_id: String,
}

impl Operation for GetContactFolder {
    type Response = ContactFolder;

    fn request(&self) -> Request {
        Request::new(
            Method::Get,
            format!(
                "{}/contactFolders/{}",
                user_path(&self.user),
                segment(&self.folder_id)
            ),
        )
    }
}
