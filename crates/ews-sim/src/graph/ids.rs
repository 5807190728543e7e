//! Graph ids of folders and contacts: unlike EWS ItemIds, and, as in Exchange Online, a
//! contact's REST id changes when it moves while its immutable id does not.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::reply::Reply;
use crate::store::{Folder, Item, Mailbox, ids};

const FOLDER: u8 = b'F';
const REST: u8 = b'R';
const IMMUTABLE: u8 = b'M';

fn encode(kind: u8, mb: &Mailbox, n: u64) -> String {
    let mut b = Vec::with_capacity(21);
    b.extend_from_slice(b"SIMG");
    b.push(kind);
    b.extend_from_slice(&mb.epoch.to_be_bytes());
    b.extend_from_slice(&mb.n.to_be_bytes());
    b.extend_from_slice(&n.to_be_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

/// (kind, n) of one of our ids for this mailbox; None when it is not one.
fn decode(mb: &Mailbox, s: &str) -> Option<(u8, u64)> {
    let b = URL_SAFE_NO_PAD
        .decode(s.trim().trim_end_matches('='))
        .ok()?;
    if b.len() != 21 || &b[..4] != b"SIMG" {
        return None;
    }
    let epoch = u32::from_be_bytes(b[5..9].try_into().ok()?);
    let mailbox = u32::from_be_bytes(b[9..13].try_into().ok()?);
    let n = u64::from_be_bytes(b[13..21].try_into().ok()?);
    // An id of another mailbox or from before a reset is simply not found.
    if epoch != mb.epoch || mailbox != mb.n {
        return Some((b[4], u64::MAX));
    }
    Some((b[4], n))
}

/// A folder's Graph id.
pub fn folder_id(mb: &Mailbox, f: &Folder) -> String {
    encode(FOLDER, mb, f.n)
}

/// A contact's Graph id: immutable, or the REST id of where it is now.
pub fn item_id(mb: &Mailbox, it: &Item, immutable: bool) -> String {
    if immutable {
        encode(IMMUTABLE, mb, it.origin())
    } else {
        let n = ids::decode_item(&it.id).map_or(it.created_seq, |d| d.n);
        encode(REST, mb, n)
    }
}

/// The id of a contact that is gone, from its change-log entry.
pub fn gone_item_id(mb: &Mailbox, ews_id: &str, origin: u64, immutable: bool) -> String {
    let n = ids::decode_item(ews_id).map_or(0, |d| d.n);
    if immutable {
        encode(IMMUTABLE, mb, if origin == 0 { n } else { origin })
    } else {
        encode(REST, mb, n)
    }
}

/// The folder a Graph id (or the well-known name `contacts`) names.
pub fn folder<'a>(mb: &'a Mailbox, s: &str) -> Result<&'a Folder, Reply> {
    if s.eq_ignore_ascii_case("contacts") {
        return mb
            .folder_by_any("contacts")
            .ok_or_else(|| Reply::error(404, "ErrorFolderNotFound", "The folder was not found."));
    }
    match decode(mb, s) {
        Some((FOLDER, n)) => mb.folders.values().find(|f| f.n == n).ok_or_else(|| {
            Reply::error(
                404,
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            )
        }),
        _ => Err(Reply::error(
            400,
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
        )),
    }
}

/// The contact a Graph id (REST or immutable) names.
pub fn item<'a>(mb: &'a Mailbox, s: &str) -> Result<&'a Item, Reply> {
    let not_found = || {
        Reply::error(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    };
    match decode(mb, s) {
        Some((REST, n)) => mb
            .items
            .get(&ids::item_id(mb.epoch, mb.n, n))
            .ok_or_else(not_found),
        Some((IMMUTABLE, n)) => mb.item_by_origin(n).ok_or_else(not_found),
        _ => Err(Reply::error(
            400,
            "ErrorInvalidIdMalformed",
            "Id is malformed.",
        )),
    }
}

/// `POST /users/{u}/translateExchangeIds`: EWS ids of folders and contacts to Graph ids
/// (`restId`, or `restImmutableEntryId` for contacts), or Graph ids back to EWS ids. Ids
/// the mailbox does not know are left out of the answer, as Graph does.
pub fn translate(mb: &Mailbox, body: &serde_json::Value, _immutable: bool) -> Result<Reply, Reply> {
    let bad = |m: &str| Reply::error(400, "ErrorInvalidRequest", m);
    let input: Vec<String> = body
        .get("inputIds")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or_else(|| bad("inputIds must be a list of strings"))?;
    if input.len() > 1000 {
        return Err(bad("at most 1000 inputIds"));
    }
    let source = body
        .get("sourceIdType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let target = body
        .get("targetIdType")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let immutable = target.eq_ignore_ascii_case("restImmutableEntryId");
    let known = ["ewsId", "restId", "restImmutableEntryId"];
    if !known.iter().any(|k| k.eq_ignore_ascii_case(source))
        || !known.iter().any(|k| k.eq_ignore_ascii_case(target))
    {
        return Err(bad(
            "sourceIdType and targetIdType must be ewsId, restId or restImmutableEntryId",
        ));
    }
    let from_ews = source.eq_ignore_ascii_case("ewsId");
    let to_ews = target.eq_ignore_ascii_case("ewsId");
    let value: Vec<serde_json::Value> = input
        .iter()
        .filter_map(|id| {
            let translated = if from_ews {
                mb.folders
                    .get(id)
                    .map(|f| folder_id(mb, f))
                    .or_else(|| mb.items.get(id).map(|it| item_id(mb, it, immutable)))
            } else {
                let ews = folder(mb, id)
                    .map(|f| f.id.clone())
                    .or_else(|_| item(mb, id).map(|it| it.id.clone()))
                    .ok()?;
                if to_ews {
                    Some(ews)
                } else {
                    mb.folders
                        .get(&ews)
                        .map(|f| folder_id(mb, f))
                        .or_else(|| mb.items.get(&ews).map(|it| item_id(mb, it, immutable)))
                }
            }?;
            Some(serde_json::json!({ "sourceId": id, "targetId": translated }))
        })
        .collect();
    Ok(Reply::ok(serde_json::json!({ "value": value })))
}
