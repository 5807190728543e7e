//! A CRM account (a company), the target of contact linking by name.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::Grant;

/// An account as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub website: String,
    pub owner_id: String,
    pub grants: Vec<Grant>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /accounts` (name required) and `PATCH /accounts/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountWrite {
    pub name: Option<String>,
    pub website: Option<String>,
    pub owner_id: Option<String>,
    pub grants: Option<Vec<Grant>>,
}

/// The key accounts are matched on: trimmed and case-folded (SPEC §5).
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}
