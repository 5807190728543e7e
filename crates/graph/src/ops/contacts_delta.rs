//! `GET /users/{user}/contactFolders/{id}/contacts/delta` (or `/users/{user}/contacts/delta`
//! for the default folder): the first page of a round; the client follows the links.

use super::get_contact::expand_extended;
use super::{Method, Operation, Request, segment, select, user_path};
use crate::types::{DeltaPage, PropertyId};

/// Exchange Online's largest delta page.
pub const MAX_DELTA_PAGE: u32 = 200;

/// Starts a delta round over one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactsDelta {
    /// UPN or object id.
    pub user: String,
    /// The folder; `None` = the default Contacts folder.
    pub folder_id: Option<String>,
    /// Properties to return (`$select`); empty = Graph's default set.
    pub select: Vec<String>,
    /// Extended properties to expand on every entry; empty = none. Not every Graph delta
    /// serves `$expand`: such a server refuses the round with a 400
    /// ([`Error::refuses_expand`](crate::Error::refuses_expand)).
    pub extended: Vec<PropertyId>,
    /// Entries per page (`Prefer: odata.maxpagesize`, at most 200).
    pub page_size: u32,
}

impl Operation for ContactsDelta {
    type Response = DeltaPage;

    fn request(&self) -> Request {
        let path = match &self.folder_id {
            None => format!("{}/contacts/delta", user_path(&self.user)),
            Some(f) => format!(
                "{}/contactFolders/{}/contacts/delta",
                user_path(&self.user),
                segment(f)
            ),
        };
        let mut r = Request::new(Method::Get, path);
        if let Some(s) = select(&self.select) {
            r = r.with_query("$select", s);
        }
        if let Some(e) = expand_extended(&self.extended) {
            r = r.with_query("$expand", e);
        }
        r.page_size = Some(self.page_size.clamp(1, MAX_DELTA_PAGE));
        r
    }
}
