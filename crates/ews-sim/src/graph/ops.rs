//! The Graph operations on the store: one answer per (method, resource), shared by
//! plain requests and `$batch` entries. Runs under the store lock.

use graph::types::{Contact, ContactFolder, ContactPatch, PropertyId};
use serde_json::{Value, json};

use super::convert::{self, Expand};
use super::delta::{self, DeltaRequest};
use super::ids;
use super::reply::Reply;
use super::route::{Query, Route, Target};
use crate::store::{DeleteType, Folder, FolderRef, Mailbox, Store};

/// One request to answer.
pub struct Call<'a> {
    /// `scheme://host/v1.0`.
    pub base: &'a str,
    /// The path below the version root.
    pub path: &'a str,
    /// GET, POST, PATCH, DELETE.
    pub method: &'a str,
    /// The parsed path.
    pub route: &'a Route,
    /// The query.
    pub query: &'a Query,
    /// `Prefer: IdType="ImmutableId"`.
    pub immutable: bool,
    /// `Prefer: odata.maxpagesize`.
    pub page_size: Option<u32>,
    /// `If-Match`.
    pub if_match: Option<&'a str>,
    /// The JSON body.
    pub body: Option<&'a Value>,
    /// An injected 410 is due (delta only).
    pub delta_gone: bool,
    /// Delta serves `$expand` (else it refuses it with a 400, as some Graph deltas do).
    pub delta_expand: bool,
}

/// A stable object id for a mailbox (Graph addresses users by UPN or by it).
pub fn user_object_id(email: &str) -> String {
    let h = |seed: u64| {
        email.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let (a, b) = (h(0xcbf2_9ce4_8422_2325), h(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The mailbox a user segment names (UPN / SMTP address, or object id).
pub fn mailbox_email(store: &Store, user: &str) -> Option<String> {
    if let Some(mb) = store.mailbox(user) {
        return Some(mb.email.clone());
    }
    store
        .mailboxes
        .values()
        .find(|m| user_object_id(&m.email).eq_ignore_ascii_case(user.trim()))
        .map(|m| m.email.clone())
}

fn folder_json(mb: &Mailbox, f: &Folder) -> Value {
    let parent = f
        .parent_id
        .as_ref()
        .and_then(|p| mb.folders.get(p))
        .map(|p| ids::folder_id(mb, p));
    let children = mb
        .children(&f.id)
        .into_iter()
        .filter(|c| c.is_contact_folder())
        .count();
    let v = ContactFolder {
        id: ids::folder_id(mb, f),
        display_name: f.display_name.clone(),
        parent_folder_id: parent,
        well_known_name: (f.distinguished.as_deref() == Some("contacts"))
            .then(|| "contacts".to_owned()),
        child_folder_count: Some(children as u32),
    };
    serde_json::to_value(v).expect("serializes")
}

fn folder_list(mb: &Mailbox, parent: &Folder) -> Reply {
    let value: Vec<Value> = mb
        .children(&parent.id)
        .into_iter()
        .filter(|f| f.is_contact_folder())
        .map(|f| folder_json(mb, f))
        .collect();
    Reply::ok(json!({ "value": value }))
}

fn method_not_allowed() -> Reply {
    Reply::error(
        405,
        "Request_BadRequest",
        "The method is not allowed on this resource.",
    )
}

fn bad_body(e: impl std::fmt::Display) -> Reply {
    Reply::error(400, "RequestBodyRead", &e.to_string())
}

/// `$expand=singleValueExtendedProperties($filter=id eq '..' or id eq '..')`.
pub(super) fn expand(query: &Query) -> Result<Option<Vec<PropertyId>>, Reply> {
    query.get("$expand").map(parse_expand).transpose()
}

/// The extended properties an `$expand` value asks for (empty: every one).
pub(super) fn parse_expand(e: &str) -> Result<Vec<PropertyId>, Reply> {
    let e = e.trim();
    let Some(inner) = e.strip_prefix("singleValueExtendedProperties") else {
        return Err(Reply::error(
            400,
            "ErrorInvalidUrlQuery",
            &format!("Cannot expand {e}."),
        ));
    };
    let inner = inner.trim();
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    let filter = inner
        .strip_prefix("($filter=")
        .and_then(|f| f.strip_suffix(')'))
        .ok_or_else(|| Reply::error(400, "ErrorInvalidUrlQueryFilter", "Unreadable $filter."))?;
    filter
        .split(" or ")
        .map(|clause| {
            let id = clause
                .trim()
                .strip_prefix("id eq '")
                .and_then(|c| c.strip_suffix('\''))
                .ok_or_else(|| {
                    Reply::error(
                        400,
                        "ErrorInvalidUrlQueryFilter",
                        "Only `id eq '...'` is supported.",
                    )
                })?;
            PropertyId::parse(id)
                .map_err(|e| Reply::error(400, "ErrorInvalidProperty", &e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
}

fn etag_matches(if_match: &str, change_key: &str) -> bool {
    let v = if_match.trim();
    if v == "*" {
        return true;
    }
    let v = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
    v == change_key
}

/// Answers one request.
pub fn dispatch(store: &mut Store, call: &Call<'_>) -> Reply {
    let Some(email) = mailbox_email(store, &call.route.user) else {
        return Reply::error(
            404,
            "ErrorInvalidUser",
            &format!("The requested user '{}' is invalid.", call.route.user),
        );
    };
    let mb = store.mailbox_mut(&email).expect("resolved");
    match answer(mb, call) {
        Ok(r) | Err(r) => r,
    }
}

fn contacts_root(mb: &Mailbox) -> String {
    mb.folder_by_any("contacts").expect("well-known").id.clone()
}

fn answer(mb: &mut Mailbox, call: &Call<'_>) -> Result<Reply, Reply> {
    let method = call.method;
    match (&call.route.target, method) {
        (Target::User, "GET") => Ok(Reply::ok(json!({
            "id": user_object_id(&mb.email),
            "displayName": mb.email.split('@').next().unwrap_or_default(),
            "mail": mb.email,
            "userPrincipalName": mb.email,
        }))),
        (Target::TranslateIds, "POST") => {
            let body = call.body.ok_or_else(|| bad_body("inputIds are required"))?;
            Ok(ids::translate(mb, body, call.immutable)?)
        }
        (Target::TopFolders, "GET") => {
            let root = contacts_root(mb);
            Ok(folder_list(mb, &mb.folders[&root]))
        }
        (Target::Folder(f), "GET") => {
            let f = ids::folder(mb, f)?;
            if !f.is_contact_folder() {
                return Err(Reply::error(
                    404,
                    "ErrorItemNotFound",
                    "Not a contact folder.",
                ));
            }
            Ok(Reply::ok(folder_json(mb, f)))
        }
        (Target::ChildFolders(f), "GET") => {
            let f = ids::folder(mb, f)?;
            Ok(folder_list(mb, f))
        }
        (Target::Delta(f), "GET") => {
            let folder = match f {
                Some(f) => ids::folder(mb, f)?,
                None => &mb.folders[&contacts_root(mb)],
            };
            Ok(delta::page(
                mb,
                folder,
                &DeltaRequest {
                    base: call.base,
                    path: call.path,
                    query: call.query,
                    page_size: call.page_size,
                    immutable: call.immutable,
                    gone: call.delta_gone,
                    expand_supported: call.delta_expand,
                },
            ))
        }
        (Target::Contacts(f), "GET") => {
            let folder = match f {
                Some(f) => ids::folder(mb, f)?.id.clone(),
                None => contacts_root(mb),
            };
            let select = call.query.select();
            let value: Vec<Value> = mb
                .items_in(&folder)
                .into_iter()
                .map(|it| {
                    convert::to_graph(mb, it, call.immutable, select.as_deref(), &Expand::Nothing)
                })
                .collect();
            Ok(Reply::ok(json!({ "value": value })))
        }
        (Target::Contacts(f), "POST") => {
            let folder = match f {
                Some(f) => ids::folder(mb, f)?.id.clone(),
                None => contacts_root(mb),
            };
            let body = call.body.ok_or_else(|| bad_body("a contact is required"))?;
            let contact: Contact = serde_json::from_value(body.clone()).map_err(bad_body)?;
            let data = convert::from_graph(&contact)?;
            let (id, _) = mb
                .create_item(&FolderRef::Id(folder), data)
                .map_err(|e| Reply::error(400, &e.code, &e.message))?;
            let it = &mb.items[&id];
            Ok(Reply::with(
                201,
                convert::to_graph(mb, it, call.immutable, None, &Expand::Nothing),
            ))
        }
        (Target::Contact { folder, id }, "GET" | "PATCH" | "DELETE") => {
            let it = ids::item(mb, id)?;
            if let Some(f) = folder {
                let f = ids::folder(mb, f)?;
                if f.id != it.folder_id {
                    return Err(Reply::error(
                        404,
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                    ));
                }
            }
            let ews_id = it.id.clone();
            match method {
                "GET" => {
                    let wanted = expand(call.query)?;
                    let how = match &wanted {
                        None => Expand::Nothing,
                        Some(v) if v.is_empty() => Expand::All,
                        Some(v) => Expand::Only(v),
                    };
                    let select = call.query.select();
                    Ok(Reply::ok(convert::to_graph(
                        mb,
                        it,
                        call.immutable,
                        select.as_deref(),
                        &how,
                    )))
                }
                "PATCH" => {
                    if let Some(m) = call.if_match
                        && !etag_matches(m, &it.change_key)
                    {
                        return Err(Reply::error(
                            412,
                            "ErrorIrresolvableConflict",
                            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
                        ));
                    }
                    let body = call.body.ok_or_else(|| bad_body("a patch is required"))?;
                    let patch: ContactPatch =
                        serde_json::from_value(body.clone()).map_err(bad_body)?;
                    let mut data = it.data.clone();
                    convert::apply_patch(&mut data, &patch)?;
                    mb.write_item(&ews_id, data);
                    let it = &mb.items[&ews_id];
                    Ok(Reply::ok(convert::to_graph(
                        mb,
                        it,
                        call.immutable,
                        None,
                        &Expand::Nothing,
                    )))
                }
                _ => {
                    mb.delete_item(&ews_id, DeleteType::MoveToDeletedItems)
                        .map_err(|e| Reply::error(404, &e.code, &e.message))?;
                    Ok(Reply::no_content())
                }
            }
        }
        _ => Err(method_not_allowed()),
    }
}
