//! `contact-folders`: static member lists and dynamic filters, as in the CRM.
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::ApiResult;
use super::extract::{ContactIdPath, IfMatch, Json, Query, RecordId, etag};
use super::pagination::{Page, page_request};
use super::{AppState, CurrentUser};
use crate::domain::folder::{ContactFolder, ContactFolderWrite, MembersWrite};

/// Query of `GET /contact-folders`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Lists the folders the caller may see.
#[utoipa::path(operation_id = "list_contact_folders", tag = "contact-folders", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of the folders the caller may see", body = Page<ContactFolder>)))]
#[get("/contact-folders")]
async fn list(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let page = page_request(query.0.cursor.as_deref(), query.0.limit)?;
    let slice = state.store.list_folders(&user.0, page).await?;
    state
        .rendered
        .folders
        .page(slice, async |rows: &[_]| {
            state.store.listed_folders(rows).await
        })
        .await
}

/// One folder (its members: `GET /contacts?folder_id=`).
#[utoipa::path(operation_id = "get_contact_folder", tag = "contact-folders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "folder id")),
    responses((status = 200, description = "The folder", body = ContactFolder, headers(("ETag" = String, description = "the version, for `If-Match`")))))]
#[get("/contact-folders/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let f = state.store.get_folder(&user.0, id.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(f.version)))
        .json(f))
}

/// Creates a folder: `static`, or `dynamic` with a `filter`.
#[utoipa::path(operation_id = "create_contact_folder", tag = "contact-folders", security(("bearer" = [])), request_body = ContactFolderWrite,
    responses((status = 201, description = "The folder, created", body = ContactFolder, headers(("ETag" = String, description = "the version, for `If-Match`"), ("Location" = String, description = "the new folder"))),
        (status = 403, description = "Only an administrator may give a new folder another owner"),
        (status = 422, description = "A field breaks a rule; `errors` names each")))]
#[post("/contact-folders")]
async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Json<ContactFolderWrite>,
) -> ApiResult<HttpResponse> {
    let f = state.store.create_folder(&user.0, body.0).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/contact-folders/{}", f.id)))
        .insert_header(("ETag", etag(f.version)))
        .json(f))
}

/// Renames, refilters or reshares a folder; honours `If-Match`.
#[utoipa::path(operation_id = "update_contact_folder", tag = "contact-folders", security(("bearer" = [])), request_body = ContactFolderWrite,
    params(("id" = uuid::Uuid, Path, description = "folder id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 200, description = "The folder, changed", body = ContactFolder, headers(("ETag" = String, description = "the new version"))),
        (status = 403, description = "A read grant only, or a change of owner or grants by someone else than the owner"),
        (status = 422, description = "A field breaks a rule; `errors` names each")))]
#[patch("/contact-folders/{id}")]
async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
    body: Json<ContactFolderWrite>,
) -> ApiResult<HttpResponse> {
    let f = state
        .store
        .update_folder(&user.0, id.0, body.0, if_match.0)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(f.version)))
        .json(f))
}

/// Deletes a folder; its contacts stay.
#[utoipa::path(operation_id = "delete_contact_folder", tag = "contact-folders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "folder id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 204, description = "Deleted; its contacts stay"), (status = 403, description = "A read grant only")))]
#[delete("/contact-folders/{id}")]
async fn remove(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    state.store.delete_folder(&user.0, id.0, if_match.0).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Adds contacts to a static folder.
#[utoipa::path(operation_id = "add_contact_folder_members", tag = "contact-folders", security(("bearer" = [])), request_body = MembersWrite,
    params(("id" = uuid::Uuid, Path, description = "folder id")),
    responses((status = 204, description = "The contacts are members"), (status = 403, description = "A read grant only"),
        (status = 422, description = "Not a static folder, or a contact id names no visible contact; `errors` names each")))]
#[post("/contact-folders/{id}/members")]
async fn add_members(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    body: Json<MembersWrite>,
) -> ApiResult<HttpResponse> {
    state
        .store
        .add_folder_members(&user.0, id.0, &body.0.contact_ids)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a contact from a static folder.
#[utoipa::path(operation_id = "remove_contact_folder_member", tag = "contact-folders", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "folder id"),
        ("contact_id" = uuid::Uuid, Path, description = "member contact id")),
    responses((status = 204, description = "The contact is no longer a member"), (status = 403, description = "A read grant only"),
        (status = 422, description = "Not a static folder")))]
#[delete("/contact-folders/{id}/members/{contact_id}")]
async fn remove_member(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    contact: ContactIdPath,
) -> ApiResult<HttpResponse> {
    state
        .store
        .remove_folder_member(&user.0, id.0, contact.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(get_one)
        .service(create)
        .service(update)
        .service(remove)
        .service(add_members)
        .service(remove_member);
}
