//! OData envelopes: collections with `@odata.nextLink`, delta pages, error bodies.

use serde::{Deserialize, Serialize};

use super::Contact;

/// A page of a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collection<T> {
    /// The entries of this page.
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// The next page, when there is one.
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
}

/// A page of a contacts delta: `@odata.nextLink` while more pages follow, then
/// `@odata.deltaLink` (the state to resume from next time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaPage {
    /// Changed contacts (with the selected properties) and removed ones (`@removed`).
    #[serde(default)]
    pub value: Vec<Contact>,
    /// The next page of this round.
    #[serde(
        rename = "@odata.nextLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_link: Option<String>,
    /// The round is complete; call this next time.
    #[serde(
        rename = "@odata.deltaLink",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delta_link: Option<String>,
}

/// An OData error body: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ODataError {
    /// The error.
    pub error: ODataErrorBody,
}

/// The inside of an OData error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ODataErrorBody {
    /// A stable code, e.g. `ErrorItemNotFound`, `ApplicationThrottled`.
    #[serde(default)]
    pub code: String,
    /// A human message.
    #[serde(default)]
    pub message: String,
    /// Request id and date, when Graph adds them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inner_error: Option<serde_json::Value>,
}

impl ODataError {
    /// An error body with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            error: ODataErrorBody {
                code: code.into(),
                message: message.into(),
                inner_error: None,
            },
        }
    }
}
