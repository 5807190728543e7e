//! `accounts`: companies that contacts link to.
use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::ApiResult;
use super::extract::{IfMatch, Json, Query, RecordId, etag};
use super::pagination::{Page, page_request};
use super::{AppState, CurrentUser};
use crate::domain::account::{Account, AccountWrite};
use crate::store::accounts::AccountFilter;

/// Query of `GET /accounts`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Case-insensitive text in the name.
    pub q: Option<String>,
    /// Only accounts of this owner.
    pub owner_id: Option<String>,
}

/// Lists the accounts the caller may see.
#[utoipa::path(operation_id = "list_accounts", tag = "accounts", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of the accounts the caller may see", body = Page<Account>)))]
#[get("/accounts")]
async fn list(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let filter = AccountFilter {
        q: q.q,
        owner_id: q.owner_id,
    };
    let slice = state.store.list_accounts(&user.0, &filter, page).await?;
    state
        .rendered
        .accounts
        .page(slice, async |rows: &[_]| {
            state.store.listed_accounts(rows).await
        })
        .await
}

/// One account.
#[utoipa::path(operation_id = "get_account", tag = "accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "account id")),
    responses((status = 200, description = "The account", body = Account, headers(("ETag" = String, description = "the version, for `If-Match`")))))]
#[get("/accounts/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let a = state.store.get_account(&user.0, id.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(a.version)))
        .json(a))
}

/// Creates an account.
#[utoipa::path(operation_id = "create_account", tag = "accounts", security(("bearer" = [])), request_body = AccountWrite,
    responses((status = 201, description = "The account, created", body = Account, headers(("ETag" = String, description = "the version, for `If-Match`"), ("Location" = String, description = "the new account"))),
        (status = 403, description = "Only an administrator may give a new account another owner"),
        (status = 422, description = "A field breaks a rule; `errors` names each")))]
#[post("/accounts")]
async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Json<AccountWrite>,
) -> ApiResult<HttpResponse> {
    let a = state.store.create_account(&user.0, body.0).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/accounts/{}", a.id)))
        .insert_header(("ETag", etag(a.version)))
        .json(a))
}

/// Changes the fields given; honours `If-Match`.
#[utoipa::path(operation_id = "update_account", tag = "accounts", security(("bearer" = [])), request_body = AccountWrite,
    params(("id" = uuid::Uuid, Path, description = "account id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 200, description = "The account, changed", body = Account, headers(("ETag" = String, description = "the new version"))),
        (status = 403, description = "A read grant only, or a change of owner or grants by someone else than the owner"),
        (status = 422, description = "A field breaks a rule; `errors` names each")))]
#[patch("/accounts/{id}")]
async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
    body: Json<AccountWrite>,
) -> ApiResult<HttpResponse> {
    let a = state
        .store
        .update_account(&user.0, id.0, body.0, if_match.0)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(a.version)))
        .json(a))
}

/// Deletes an account; its contacts stay, unlinked.
#[utoipa::path(operation_id = "delete_account", tag = "accounts", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "account id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "A read grant only")))]
#[delete("/accounts/{id}")]
async fn remove(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
) -> ApiResult<HttpResponse> {
    state
        .store
        .delete_account(&user.0, id.0, if_match.0)
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
