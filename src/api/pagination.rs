//! Cursor pagination: `cursor` is opaque to clients (base64url of the last id seen).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ApiError, ErrorCode};
use crate::store::{PageRequest, Slice};

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 500;

/// One page of a collection.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<Slice<T>> for Page<T> {
    fn from(s: Slice<T>) -> Self {
        Page {
            items: s.items,
            next_cursor: s.next_after.map(encode_cursor),
        }
    }
}

fn encode_cursor(after: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{after}"))
}

fn decode_cursor(cursor: &str) -> Option<Uuid> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    Uuid::parse_str(text.strip_prefix("v1:")?).ok()
}

/// Validates `cursor` and `limit` from a query string.
pub fn page_request(cursor: Option<&str>, limit: Option<u32>) -> Result<PageRequest, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::field(
            ErrorCode::InvalidQuery,
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let after = match cursor {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::field(
                ErrorCode::InvalidCursor,
                "cursor",
                "was not issued by this service",
            )
        })?),
    };
    Ok(PageRequest {
        after,
        limit: limit as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_garbage() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("nope"), None);
        assert!(page_request(Some("nope"), None).is_err());
        assert!(page_request(None, Some(0)).is_err());
        assert!(page_request(None, Some(501)).is_err());
        assert_eq!(page_request(None, None).unwrap().limit, 50);
    }
}
