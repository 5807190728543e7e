//! `PATCH /users/{user}/contacts/{id}` with `If-Match`: a stale etag answers 412.

use super::{Method, Operation, Request, segment, user_path};
use crate::types::{Contact, ContactPatch};

/// Changes a contact if it is still as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateContact {
    /// UPN or object id.
    pub user: String,
    /// The contact id.
    pub id: String,
    /// The `@odata.etag` it was read with; `None` overwrites whatever is there.
    pub if_match: Option<String>,
    /// What to change.
    pub patch: ContactPatch,
}

impl Operation for UpdateContact {
    type Response = Contact;

    fn request(&self) -> Request {
        let mut r = Request::new(
            Method::Patch,
            format!("{}/contacts/{}", user_path(&self.user), segment(&self.id)),
        );
        if let Some(etag) = &self.if_match {
            r.headers.push(("If-Match".into(), etag.clone()));
        }
        r.body = Some(serde_json::to_value(&self.patch).expect("a patch serializes"));
        r
    }
}
