//! One span per request carrying its id (so every log line of the request names it), one
//! access log line when it ends, and the request metrics.
use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The header that carries the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it is sane (short, `[A-Za-z0-9-]`), else a new one.
fn request_id_of(req: &ServiceRequest) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The method as a metric label; anything a client invents is `other`, so a client cannot
/// create series at will.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

/// Gives every response a request id, runs the handler inside the request's span, logs
/// one access line and records `contactsync_http_requests_total` and
/// `contactsync_http_request_duration_seconds` by method, route pattern and status.
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request_id_of(&req);
    let method = method_label(req.method());
    // The route pattern (`/api/v1/contacts/{id}`), not the path: bounded label values and
    // no record ids in the access log's route field.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let status_label = status.to_string();
    metrics::counter!("contactsync_http_requests_total",
        "method" => method, "route" => route.clone(), "status" => status_label.clone())
    .increment(1);
    metrics::histogram!("contactsync_http_request_duration_seconds",
        "method" => method, "route" => route.clone(), "status" => status_label)
    .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(
            target: "contactsync::access",
            method,
            route = %route,
            status,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        )
    });
    let mut res = result?;
    res.headers_mut().insert(
        HeaderName::from_static(REQUEST_ID),
        HeaderValue::from_str(&id).expect("request id is ASCII"),
    );
    Ok(res)
}
