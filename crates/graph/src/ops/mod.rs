//! One module per Graph operation: the request struct and its response type.
//!
//! [`Operation`] turns a request into a [`Request`] (method, path below the version
//! root, query, body), which the client sends on its own or inside a `$batch`.

use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

use crate::types::BatchItem;

pub mod batch;
pub mod contacts_delta;
pub mod create_contact;
pub mod delete_contact;
pub mod get_contact;
pub mod get_contact_folder;
pub mod get_user;
pub mod list_contact_folders;
pub mod translate_ids;
pub mod update_contact;

pub use batch::Batch;
pub use contacts_delta::ContactsDelta;
pub use create_contact::CreateContact;
pub use delete_contact::DeleteContact;
pub use get_contact::GetContact;
pub use get_contact_folder::GetContactFolder;
pub use get_user::{GetUser, User};
pub use list_contact_folders::ListContactFolders;
pub use translate_ids::TranslateIds;
pub use update_contact::UpdateContact;

/// An HTTP method Graph contact sync uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Whether sending it twice does no more harm than once (a POST may create twice).
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post)
    }
}

/// A request, relative to the Graph version root (`https://graph.microsoft.com/v1.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The path below the version root, segments already escaped (`/users/a%40b/contacts`).
    pub path: String,
    /// Query parameters, unescaped (`$select` → `id,givenName`).
    pub query: Vec<(String, String)>,
    /// Extra headers (`If-Match`).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<serde_json::Value>,
    /// `Prefer: odata.maxpagesize=N`.
    pub page_size: Option<u32>,
}

/// What must be escaped in a path segment: all but unreserved characters and `@`
/// (user principal names read better unescaped and Graph accepts them).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@');

/// What must be escaped in a query value (OData keeps `$`, `,`, `(`, `)`, `'` readable).
const QUERY: &AsciiSet = &SEGMENT
    .remove(b'$')
    .remove(b',')
    .remove(b'(')
    .remove(b')')
    .remove(b'\'')
    .remove(b'/')
    .remove(b':');

/// One escaped path segment.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// `/users/{user}`.
pub fn user_path(user: &str) -> String {
    format!("/users/{}", segment(user))
}

impl Request {
    /// A request without query, headers or body.
    pub fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            page_size: None,
        }
    }

    /// Adds a query parameter.
    pub fn with_query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    /// The path and query, escaped (what a `$batch` entry's `url` holds).
    pub fn relative_url(&self) -> String {
        let mut url = self.path.clone();
        for (i, (k, v)) in self.query.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            let _ = write!(url, "{sep}{k}={}", utf8_percent_encode(v, QUERY));
        }
        url
    }

    /// The `Prefer` header: immutable ids and the page size.
    pub fn prefer(&self, immutable_ids: bool) -> Option<String> {
        let mut parts = Vec::new();
        if immutable_ids {
            parts.push("IdType=\"ImmutableId\"".to_owned());
        }
        if let Some(n) = self.page_size {
            parts.push(format!("odata.maxpagesize={n}"));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// This request as entry `id` of a `$batch`.
    pub fn to_batch_item(&self, id: String, immutable_ids: bool) -> BatchItem {
        let mut headers: std::collections::BTreeMap<String, String> =
            self.headers.iter().cloned().collect();
        if let Some(p) = self.prefer(immutable_ids) {
            headers.insert("Prefer".into(), p);
        }
        if self.body.is_some() {
            headers.insert("Content-Type".into(), "application/json".into());
        }
        BatchItem {
            id,
            method: self.method.as_str().into(),
            url: self.relative_url(),
            headers,
            body: self.body.clone(),
            depends_on: Vec::new(),
        }
    }
}

/// A request type and the type its success body parses into (`()` for no body).
pub trait Operation {
    /// The success body.
    type Response: DeserializeOwned;
    /// The HTTP request.
    fn request(&self) -> Request;
}

/// `$select` of a list of properties.
pub(crate) fn select(props: &[String]) -> Option<String> {
    (!props.is_empty()).then(|| props.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_queries_are_escaped_where_needed() {
        let r = Request::new(
            Method::Get,
            format!(
                "{}/contacts/{}",
                user_path("ann lee@contoso.com"),
                segment("AAMk/x=")
            ),
        )
        .with_query("$select", "id,givenName")
        .with_query(
            "$expand",
            "singleValueExtendedProperties($filter=id eq 'String 0x3A45')",
        );
        assert_eq!(
            r.relative_url(),
            "/users/ann%20lee@contoso.com/contacts/AAMk%2Fx%3D?$select=id,givenName&$expand=singleValueExtendedProperties($filter%3Did%20eq%20'String%200x3A45')"
        );
    }
}
