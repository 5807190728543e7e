//! `contact-types`: the seeded lookup (Employee, Customer, Partner, Contractor, Supplier).
use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::{Json, RecordId};
use super::{AppState, CurrentUser};
use crate::store::contact_types::ContactType;

/// Every contact type (a short lookup, so not paginated).
#[derive(Serialize, ToSchema)]
pub struct ContactTypeList {
    pub items: Vec<ContactType>,
}

/// The body of `POST /contact-types`.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactTypeWrite {
    pub name: String,
}

/// Lists contact types.
#[utoipa::path(operation_id = "list_contact_types", tag = "contact-types", security(("bearer" = [])),
    responses((status = 200, description = "Every contact type", body = ContactTypeList)))]
#[get("/contact-types")]
async fn list(state: web::Data<AppState>, _user: CurrentUser) -> ApiResult<HttpResponse> {
    let items = state.store.list_contact_types().await?;
    Ok(HttpResponse::Ok().json(ContactTypeList { items }))
}

/// One contact type.
#[utoipa::path(operation_id = "get_contact_type", tag = "contact-types", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "contact type id")),
    responses((status = 200, description = "The contact type", body = ContactType)))]
#[get("/contact-types/{id}")]
async fn get_one(
    state: web::Data<AppState>,
    _user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.store.get_contact_type(id.0).await?))
}

/// Adds a contact type (administrators only).
#[utoipa::path(operation_id = "create_contact_type", tag = "contact-types", security(("bearer" = [])), request_body = ContactTypeWrite,
    responses((status = 201, description = "The contact type, added", body = ContactType, headers(("Location" = String, description = "the new type"))),
        (status = 403, description = "Not an administrator"), (status = 422, description = "A blank, too long or taken name")))]
#[post("/contact-types")]
async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: Json<ContactTypeWrite>,
) -> ApiResult<HttpResponse> {
    if !user.0.is_admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only an administrator may add contact types",
        ));
    }
    let t = state.store.create_contact_type(&body.0.name).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/contact-types/{}", t.id)))
        .json(t))
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list).service(get_one).service(create);
}
