//! Probes and metrics: `/healthz`, `/readyz`, `/metrics` (no authentication).
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::AppState;

/// A probe's answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// What failed, when unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process is up.
#[utoipa::path(operation_id = "healthz", tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        reason: None,
    })
}

/// The database is reachable and every migration is applied.
#[utoipa::path(operation_id = "readyz", tag = "operations", responses((status = 200, description = "Ready to serve", body = Health), (status = 503, description = "Not ready; `reason` says why", body = Health)))]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let reason = match state.store.is_migrated().await {
        Ok(true) => None,
        Ok(false) => Some("migrations pending: run `contactsync migrate`".to_owned()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Some("database unreachable".to_owned())
        }
    };
    match reason {
        None => HttpResponse::Ok().json(Health {
            status: "ok",
            reason: None,
        }),
        Some(r) => HttpResponse::ServiceUnavailable().json(Health {
            status: "unavailable",
            reason: Some(r),
        }),
    }
}

/// Prometheus text exposition.
#[utoipa::path(operation_id = "metrics", tag = "operations", responses((status = 200, description = "The metrics", content_type = "text/plain", body = String)))]
#[get("/metrics")]
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::telemetry::metrics_handle().render())
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(healthz).service(readyz).service(metrics);
}
