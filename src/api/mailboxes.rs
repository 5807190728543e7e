//! `mailboxes`: Exchange mailboxes of users, their connection test and folder tree.
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::ApiResult;
use super::extract::{IfMatch, Json, Query, RecordId, etag};
use super::pagination::{Page, page_request};
use super::{AppState, CurrentUser};
use crate::domain::mailbox::{Mailbox, MailboxWrite};
use crate::transport::{self, Purpose, diagnose};
use crate::transport::{Diagnosis, ExchangeContacts, ExchangeFolder};

/// Query of `GET /mailboxes`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The contacts folders of a mailbox.
#[derive(Serialize, ToSchema)]
pub struct ExchangeFolderTree {
    /// Top-level contacts folders, each with its `children`.
    pub items: Vec<ExchangeFolder>,
}

/// The caller's mailboxes (every mailbox for an administrator).
#[utoipa::path(operation_id = "list_mailboxes", tag = "mailboxes", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of the caller's mailboxes", body = Page<Mailbox>)))]
#[get("/mailboxes")]
async fn list(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let page = page_request(query.0.cursor.as_deref(), query.0.limit)?;
    let slice = state.store.list_mailboxes(&user.0, page).await?;
    Ok(HttpResponse::Ok().json(Page::from(slice)))
}

/// One mailbox (secrets are never returned).
#[utoipa::path(operation_id = "get_mailbox", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "mailbox id")),
    responses((status = 200, description = "The mailbox", body = Mailbox, headers(("ETag" = String, description = "the version, for `If-Match`")))))]
#[get("/mailboxes/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let m = state.store.get_mailbox(&user.0, id.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(m.version)))
        .json(m))
}

/// Connects a mailbox. Secrets are write-only and encrypted at rest.
#[utoipa::path(operation_id = "create_mailbox", tag = "mailboxes", security(("bearer" = [])), request_body = MailboxWrite,
    responses((status = 201, description = "The mailbox, connected", body = Mailbox, headers(("ETag" = String, description = "the version, for `If-Match`"), ("Location" = String, description = "the new mailbox"))),
        (status = 422, description = "A field breaks a rule (e.g. an `ews_url` not allowed); `errors` names each"),
        (status = 409, description = "The owner already has `max_mailboxes_per_user` mailboxes (`quota_exceeded`)")))]
#[post("/mailboxes")]
async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Json<MailboxWrite>,
) -> ApiResult<HttpResponse> {
    let m = state
        .store
        .create_mailbox(
            &state.secrets,
            &user.0,
            body.0,
            &state.settings.ews_allowed_hosts,
            |owner| state.settings.mailbox_quota(owner),
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/mailboxes/{}", m.id)))
        .insert_header(("ETag", etag(m.version)))
        .json(m))
}

/// Changes the fields given. Credentials of the same `kind` keep the stored secret when
/// it is not resent.
#[utoipa::path(operation_id = "update_mailbox", tag = "mailboxes", security(("bearer" = [])), request_body = MailboxWrite,
    params(("id" = uuid::Uuid, Path, description = "mailbox id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 200, description = "The mailbox, changed", body = Mailbox, headers(("ETag" = String, description = "the new version"))),
        (status = 422, description = "A field breaks a rule; `errors` names each")))]
#[patch("/mailboxes/{id}")]
async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
    body: Json<MailboxWrite>,
) -> ApiResult<HttpResponse> {
    let m = state
        .store
        .update_mailbox(
            &state.secrets,
            &user.0,
            id.0,
            body.0,
            if_match.0,
            &state.settings.ews_allowed_hosts,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(m.version)))
        .json(m))
}

/// Disconnects a mailbox: its profile and sync state go; CRM contacts stay.
#[utoipa::path(operation_id = "delete_mailbox", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "mailbox id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 204, description = "Disconnected")))]
#[delete("/mailboxes/{id}")]
async fn remove(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    state
        .store
        .delete_mailbox(&user.0, id.0, if_match.0)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Tests the connection step by step: DNS, connect, TLS, auth, mailbox access, Contacts.
#[utoipa::path(operation_id = "test_mailbox", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "mailbox id")),
    responses((status = 200, description = "The result of each step (a failed step is not an HTTP error)", body = Diagnosis),
        (status = 429, description = "The caller already waits on `max_interactive_calls_per_user` Exchange calls")))]
#[post("/mailboxes/{id}/test")]
async fn test(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let conn = state
        .store
        .mailbox_connection(&state.secrets, &user.0, id.0)
        .await?;
    let _slot = state.interactive_calls.acquire(&user.0.user_id)?;
    let diagnosis = diagnose(&conn, &state.settings.ews_allowed_hosts).await;
    Ok(HttpResponse::Ok().json(diagnosis))
}

/// The mailbox's contacts folders as a tree, for choosing import folders.
#[utoipa::path(operation_id = "list_exchange_folders", tag = "mailboxes", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "mailbox id")),
    responses((status = 200, description = "The contacts folder tree", body = ExchangeFolderTree), (status = 502),
        (status = 429, description = "The caller already waits on `max_interactive_calls_per_user` Exchange calls")))]
#[get("/mailboxes/{id}/exchange-folders")]
async fn exchange_folders(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let conn = state
        .store
        .mailbox_connection(&state.secrets, &user.0, id.0)
        .await?;
    let _slot = state.interactive_calls.acquire(&user.0.user_id)?;
    let transport = transport::open(
        &conn,
        &state.settings.ews_allowed_hosts,
        Purpose::Interactive,
    )
    .await?;
    let items = transport.contact_folders().await?;
    Ok(HttpResponse::Ok().json(ExchangeFolderTree { items }))
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list)
        .service(get_one)
        .service(create)
        .service(update)
        .service(remove)
        .service(test)
        .service(exchange_folders);
}
