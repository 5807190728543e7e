//! `contacts`: the CRM contacts that sync imports into and exports from.
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::error::ApiResult;
use super::extract::{IfMatch, Json, Query, RecordId, etag};
use super::pagination::{Page, page_request};
use super::{AppState, CurrentUser};
use crate::domain::contact::{Contact, ContactWrite};
use crate::store::contacts::ContactFilter;

/// Query of `GET /contacts`; every filter given must match.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Case-insensitive text in the full name, company or e-mail addresses.
    pub q: Option<String>,
    pub type_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    /// Members of this contact folder (static or dynamic); a folder the caller may not
    /// see is a 404.
    pub folder_id: Option<Uuid>,
    /// Only contacts changed at or after this instant (RFC 3339).
    pub updated_since: Option<DateTime<Utc>>,
    /// Also list tombstones of deleted contacts (with `deleted_at`).
    pub include_deleted: Option<bool>,
}

/// Lists the contacts the caller may see.
#[utoipa::path(operation_id = "list_contacts", tag = "contacts", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of the contacts the caller may see", body = Page<Contact>),
        (status = 404, description = "`folder_id` names no folder the caller may see")))]
#[get("/contacts")]
async fn list(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let filter = ContactFilter {
        q: q.q,
        type_id: q.type_id,
        account_id: q.account_id,
        folder_id: q.folder_id,
        updated_since: q.updated_since,
        include_deleted: q.include_deleted.unwrap_or(false),
    };
    let slice = state.store.list_contacts(&user.0, &filter, page).await?;
    let include_deleted = filter.include_deleted;
    state
        .rendered
        .contacts
        .page(slice, async |rows: &[_]| {
            state.store.listed_contacts(rows, include_deleted).await
        })
        .await
}

/// One contact.
#[utoipa::path(operation_id = "get_contact", tag = "contacts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "contact id")),
    responses((status = 200, description = "The contact", body = Contact, headers(("ETag" = String, description = "the version, for `If-Match`")))))]
#[get("/contacts/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let c = state.store.get_contact(&user.0, id.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(c.version)))
        .json(c))
}

/// Creates a contact.
#[utoipa::path(operation_id = "create_contact", tag = "contacts", security(("bearer" = [])), request_body = ContactWrite,
    responses((status = 201, description = "The contact, created", body = Contact, headers(("ETag" = String, description = "the version, for `If-Match`"), ("Location" = String, description = "the new contact"))),
        (status = 403, description = "Only an administrator may give a new contact another owner"),
        (status = 422, description = "A field breaks a rule; `errors` names each")))]
#[post("/contacts")]
async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Json<ContactWrite>,
) -> ApiResult<HttpResponse> {
    let c = state.store.create_contact(&user.0, body.0).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/contacts/{}", c.id)))
        .insert_header(("ETag", etag(c.version)))
        .json(c))
}

/// Changes the fields given (`null` clears nullable ones); honours `If-Match`.
#[utoipa::path(operation_id = "update_contact", tag = "contacts", security(("bearer" = [])), request_body = ContactWrite,
    params(("id" = Uuid, Path, description = "contact id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 200, description = "The contact, changed", body = Contact, headers(("ETag" = String, description = "the new version"))),
        (status = 403, description = "A read grant only, or a change of owner or grants by someone else than the owner"),
        (status = 422, description = "A field breaks a rule; `errors` names each")))]
#[patch("/contacts/{id}")]
async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
    body: Json<ContactWrite>,
) -> ApiResult<HttpResponse> {
    let c = state
        .store
        .update_contact(&user.0, id.0, body.0, if_match.0)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(c.version)))
        .json(c))
}

/// Deletes a contact (kept as a tombstone for sync until purged).
#[utoipa::path(operation_id = "delete_contact", tag = "contacts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "contact id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 204, description = "Deleted (a tombstone stays for sync)"), (status = 403, description = "A read grant only")))]
#[delete("/contacts/{id}")]
async fn remove(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    state
        .store
        .delete_contact(&user.0, id.0, if_match.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(get_one)
        .service(create)
        .service(update)
        .service(remove);
}
