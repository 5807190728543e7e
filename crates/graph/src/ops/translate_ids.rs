//! `POST /users/{user}/translateExchangeIds`: EWS ids to Graph (REST) ids, e.g. a
//! mailbox's folder ids when it moves from EWS to Graph (SPEC §7b).

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Method, Operation, Request, user_path};

/// Graph's limit of ids per call.
pub const MAX_TRANSLATE: usize = 1000;

/// Translates ids of one type to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateIds {
    /// UPN or object id.
    pub user: String,
    /// At most [`MAX_TRANSLATE`] ids.
    pub input_ids: Vec<String>,
    /// `ewsId`, `restId`, `restImmutableEntryId`, `entryId`, `immutableEntryId`.
    pub source_id_type: String,
    /// The same set.
    pub target_id_type: String,
}

/// One translated id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConvertIdResult {
    /// The id as given.
    #[serde(default)]
    pub source_id: String,
    /// The id in the target type, when it could be translated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

/// The answer: one entry per id Graph could read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranslateIdsResponse {
    /// The results.
    #[serde(default)]
    pub value: Vec<ConvertIdResult>,
}

impl Operation for TranslateIds {
    type Response = TranslateIdsResponse;

    fn request(&self) -> Request {
        let mut r = Request::new(
            Method::Post,
            format!("{}/translateExchangeIds", user_path(&self.user)),
        );
        r.body = Some(json!({
            "inputIds": self.input_ids,
            "sourceIdType": self.source_id_type,
            "targetIdType": self.target_id_type,
        }));
        r
    }
}
