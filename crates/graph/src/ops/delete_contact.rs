//! `DELETE /users/{user}/contacts/{id}` (into Deleted Items, as Outlook does).

use super::{Method, Operation, Request, segment, user_path};

/// Deletes a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteContact {
    /// UPN or object id.
    pub user: String,
    /// The contact id.
    pub id: String,
}

impl Operation for DeleteContact {
    type Response = ();

    fn request(&self) -> Request {
        Request::new(
            Method::Delete,
            format!("{}/contacts/{}", user_path(&self.user), segment(&self.id)),
        )
    }
}
