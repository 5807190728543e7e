//! `GET /me`: who the token says the caller is.
use actix_web::{HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::CurrentUser;

/// The authenticated user.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub user_id: String,
    pub is_admin: bool,
}

/// The caller, as its token identifies it.
#[utoipa::path(operation_id = "get_me", tag = "users", security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = Me)))]
#[get("/me")]
async fn me(user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(Me {
        user_id: user.0.user_id,
        is_admin: user.0.is_admin,
    })
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(me);
}
