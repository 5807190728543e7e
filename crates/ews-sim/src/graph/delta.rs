//! Contacts delta over a folder's change log: pages of at most 200, `@odata.nextLink`
//! while more is waiting, then `@odata.deltaLink`; `@removed` for what left the folder;
//! 410 for a token the store no longer knows. `$expand` of extended properties is served
//! (its links keep it), unless switched off: then it is refused with a 400, as Graph
//! does on deltas that cannot carry them.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::convert::{Expand, to_graph};
use super::ids;
use super::ops::parse_expand;
use super::reply::Reply;
use super::route::Query;
use crate::store::sync::ChangeKind;
use crate::store::{Folder, Mailbox};

/// Exchange Online's largest delta page.
pub const MAX_PAGE: usize = 200;
/// The page size when the client does not prefer one.
pub const DEFAULT_PAGE: usize = 100;

/// What a skip or delta token holds: where in which folder's log, and the `$select`.
#[derive(Debug, Serialize, Deserialize)]
struct Token {
    e: u32,
    m: u32,
    f: u64,
    w: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Option<Vec<String>>,
    /// The round's `$expand`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
}

fn encode(t: &Token) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(t).expect("serializes"))
}

fn decode(s: &str) -> Option<Token> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s.trim()).ok()?).ok()
}

/// The inputs of one delta request.
pub struct DeltaRequest<'a> {
    /// `scheme://host/v1.0`.
    pub base: &'a str,
    /// The request's path below the version root (for the links).
    pub path: &'a str,
    /// Its query.
    pub query: &'a Query,
    /// `Prefer: odata.maxpagesize`.
    pub page_size: Option<u32>,
    /// `Prefer: IdType="ImmutableId"`.
    pub immutable: bool,
    /// An injected 410 is due.
    pub gone: bool,
    /// `$expand` is served (else refused with a 400).
    pub expand_supported: bool,
}

/// The 400 of a delta that cannot expand.
fn expand_refused() -> Reply {
    Reply::error(
        400,
        "ErrorInvalidUrlQuery",
        "The query parameter '$expand' is not supported with change tracking over the 'Contacts' resource.",
    )
}

/// One page of the folder's delta.
pub fn page(mb: &Mailbox, folder: &Folder, r: &DeltaRequest<'_>) -> Reply {
    let token = r.query.get("$skiptoken").or(r.query.get("$deltatoken"));
    let (watermark, select, expand) = match token {
        None => (
            0,
            r.query.select(),
            r.query.get("$expand").map(str::to_owned),
        ),
        Some(_) if r.gone => {
            return Reply::error(
                410,
                "SyncStateNotFound",
                "The sync state generation is not found.",
            );
        }
        Some(t) => match decode(t) {
            Some(t) if t.e == mb.epoch && t.m == mb.n && t.f == folder.n && t.w <= mb.seq => {
                (t.w, t.s, t.x)
            }
            _ => {
                return Reply::error(
                    410,
                    "SyncStateInvalid",
                    "The sync state is invalid or expired.",
                );
            }
        },
    };
    let wanted = match &expand {
        Some(_) if !r.expand_supported => return expand_refused(),
        Some(e) => match parse_expand(e) {
            Ok(w) => Some(w),
            Err(reply) => return reply,
        },
        None => None,
    };
    let how = match &wanted {
        None => Expand::Nothing,
        Some(w) if w.is_empty() => Expand::All,
        Some(w) => Expand::Only(w),
    };
    let max = r
        .page_size
        .map_or(DEFAULT_PAGE, |n| n as usize)
        .clamp(1, MAX_PAGE);
    let log = &folder.log;
    let mut pos = log.partition_point(|e| e.seq <= watermark);
    let mut seen: HashSet<&str> = HashSet::new();
    let mut value = Vec::new();
    while pos < log.len() {
        let e = &log[pos];
        if !seen.contains(e.item_id.as_str()) {
            if value.len() == max {
                break;
            }
            seen.insert(&e.item_id);
            let here = mb
                .items
                .get(&e.item_id)
                .filter(|it| it.folder_id == folder.id);
            match (e.kind, here) {
                // Created and gone again since the token: the client never knew it.
                (ChangeKind::Created, None) => {}
                (_, Some(it)) => value.push(to_graph(mb, it, r.immutable, select.as_deref(), &how)),
                (_, None) => value.push(json!({
                    "@odata.type": "#microsoft.graph.contact",
                    "id": ids::gone_item_id(mb, &e.item_id, e.origin, r.immutable),
                    "@removed": { "reason": "deleted" },
                })),
            }
        }
        pos += 1;
    }
    let done = pos == log.len();
    let mark = if done { mb.seq } else { log[pos - 1].seq };
    let next = encode(&Token {
        e: mb.epoch,
        m: mb.n,
        f: folder.n,
        w: mark.max(watermark),
        s: select,
        x: expand,
    });
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#Collection(contact)", r.base),
        "value": Value::Array(value),
    });
    let (key, param) = if done {
        ("@odata.deltaLink", "$deltatoken")
    } else {
        ("@odata.nextLink", "$skiptoken")
    };
    body[key] = Value::String(format!("{}{}?{param}={next}", r.base, r.path));
    Reply::ok(body)
}
