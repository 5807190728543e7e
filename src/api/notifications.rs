//! `notifications`: what the caller must know (suspended mailboxes, failed runs).
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::ApiResult;
use super::extract::Query;
use super::pagination::{Page, page_request};
use super::{AppState, CurrentUser};
use crate::domain::schedule::Notification;

/// Query of `GET /notifications`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// The caller's notifications, oldest first.
#[utoipa::path(operation_id = "list_notifications", tag = "notifications", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of the caller's notifications", body = Page<Notification>)))]
#[get("/notifications")]
async fn list(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let page = page_request(query.0.cursor.as_deref(), query.0.limit)?;
    let slice = state.store.list_notifications(&user.0, page).await?;
    Ok(HttpResponse::Ok().json(Page::from(slice)))
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list);
}
