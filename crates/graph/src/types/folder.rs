//! `microsoft.graph.contactFolder`.

use serde::{Deserialize, Serialize};

/// A contact folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactFolder {
    /// The folder id.
    #[serde(default)]
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub display_name: String,
    /// The parent folder's id (for a top-level folder: the default Contacts folder, or
    /// for the default Contacts folder: the mailbox root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_folder_id: Option<String>,
    /// `contacts` for the default Contacts folder (when the server says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub well_known_name: Option<String>,
    /// How many child folders it has (when the server says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_folder_count: Option<u32>,
}
