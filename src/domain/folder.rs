//! CRM contact folders: static member lists or dynamic filters.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::Grant;
use super::validation::ValidationErrors;

/// How a folder gets its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FolderKind {
    /// Explicit members added and removed by hand.
    Static,
    /// The visible contacts that match `filter` now.
    Dynamic,
}

impl FolderKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            FolderKind::Static => "static",
            FolderKind::Dynamic => "dynamic",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> FolderKind {
        if s == "dynamic" {
            FolderKind::Dynamic
        } else {
            FolderKind::Static
        }
    }
}

/// The filter of a dynamic folder; every part given must match (AND), lists match any entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FolderFilter {
    pub type_ids: Vec<Uuid>,
    pub account_ids: Vec<Uuid>,
    pub owner_ids: Vec<String>,
    /// Case-insensitive text in the name, company or e-mail addresses.
    pub q: Option<String>,
    /// Only contacts with (true) or without (false) an e-mail address.
    pub has_email: Option<bool>,
}

impl FolderFilter {
    /// Checks list sizes and that the filter is not empty.
    pub fn validate(&self, errors: &mut ValidationErrors) {
        for (name, len) in [
            ("filter.type_ids", self.type_ids.len()),
            ("filter.account_ids", self.account_ids.len()),
            ("filter.owner_ids", self.owner_ids.len()),
        ] {
            if len > 100 {
                errors.add(name, "at most 100 entries");
            }
        }
        if let Some(q) = &self.q {
            errors.check_len("filter.q", q, 250);
        }
    }
}

/// A contact folder as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ContactFolder {
    pub id: Uuid,
    pub name: String,
    pub kind: FolderKind,
    /// Present on dynamic folders.
    pub filter: Option<FolderFilter>,
    pub owner_id: String,
    pub grants: Vec<Grant>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /contact-folders` (name required; without `kind` a static folder)
/// and `PATCH` (kind fixed).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactFolderWrite {
    pub name: Option<String>,
    /// `static` (the default) or `dynamic` (needs `filter`).
    pub kind: Option<FolderKind>,
    pub filter: Option<FolderFilter>,
    pub owner_id: Option<String>,
    pub grants: Option<Vec<Grant>>,
}

/// The body of `POST /contact-folders/{id}/members`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersWrite {
    #[schema(min_items = 1, max_items = 500)]
    pub contact_ids: Vec<Uuid>,
}
