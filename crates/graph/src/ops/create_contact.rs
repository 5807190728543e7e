//! `POST /users/{user}/contactFolders/{id}/contacts` (or `/users/{user}/contacts`).

use super::{Method, Operation, Request, segment, user_path};
use crate::types::Contact;

/// Creates a contact (extended properties included) and answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateContact {
    /// UPN or object id.
    pub user: String,
    /// The folder; `None` = the default Contacts folder.
    pub folder_id: Option<String>,
    /// The new contact (read-only properties are left out).
    pub contact: Contact,
}

impl Operation for CreateContact {
    type Response = Contact;

    fn request(&self) -> Request {
        let path = match &self.folder_id {
            None => format!("{}/contacts", user_path(&self.user)),
            Some(f) => format!(
                "{}/contactFolders/{}/contacts",
                user_path(&self.user),
                segment(f)
            ),
        };
        let mut r = Request::new(Method::Post, path);
        r.body = Some(serde_json::to_value(&self.contact).expect("a contact serializes"));
        r
    }
}
