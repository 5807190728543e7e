//! `GET /users/{user}/contacts/{id}` with `$select` and the extended properties asked for.

use super::{Method, Operation, Request, segment, select, user_path};
use crate::types::{Contact, PropertyId};

/// Reads one contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetContact {
    /// UPN or object id.
    pub user: String,
    /// The contact id.
    pub id: String,
    /// Properties to return; empty = all.
    pub select: Vec<String>,
    /// Extended properties to expand.
    pub extended: Vec<PropertyId>,
}

/// `$expand=singleValueExtendedProperties($filter=id eq '..' or id eq '..')`.
pub fn expand_extended(props: &[PropertyId]) -> Option<String> {
    if props.is_empty() {
        return None;
    }
    let filter = props
        .iter()
        .map(|p| format!("id eq '{p}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    Some(format!("singleValueExtendedProperties($filter={filter})"))
}

impl Operation for GetContact {
    type Response = Contact;

    fn request(&self) -> Request {
        let mut r = Request::new(
            Method::Get,
            format!("{}/contacts/{}", user_path(&self.user), segment(&self.id)),
        );
        if let Some(s) = select(&self.select) {
            r = r.with_query("$select", s);
        }
        if let Some(e) = expand_extended(&self.extended) {
            r = r.with_query("$expand", e);
        }
        r
    }
}
