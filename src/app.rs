//! Builds the state and the actix App; `serve` and the tests both call it.
use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, Error, HttpResponse, HttpServer, web};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::error::{ApiError, ErrorCode};
use crate::api::{self, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "contactsync",
        description = "Keeps CRM contacts and Microsoft Exchange mailbox contacts in sync.",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "accounts", description = "Companies contacts link to"),
        (name = "contacts", description = "CRM contacts"),
        (name = "contact-types", description = "Contact type lookup"),
        (name = "contact-folders", description = "Static and dynamic contact folders"),
        (name = "users", description = "The caller"),
        (name = "mailboxes", description = "Exchange mailboxes of users"),
        (name = "contact-sync", description = "Contact sync profiles, the field map and sync runs"),
        (name = "notifications", description = "What the caller must know about its mailboxes and runs"),
        (name = "operations", description = "Probes and metrics"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The header that carries the request id.
pub const REQUEST_ID: &str = "x-request-id";

/// Gives every response a request id (the caller's, if it sent a sane one) and counts
/// requests by method and status.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let _guard = span.enter();
    drop(_guard);
    let mut res = next.call(req).await?;
    let status = res.status();
    metrics::counter!("http_requests_total", "method" => method, "status" => status.as_u16().to_string())
        .increment(1);
    res.headers_mut().insert(
        HeaderName::from_static(REQUEST_ID),
        HeaderValue::from_str(&id).expect("request id is ASCII"),
    );
    Ok(res)
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, "no such route"))
}

fn routes<T>(app: utoipa_actix_web::UtoipaApp<T>) -> utoipa_actix_web::UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = Error, InitError = ()>,
{
    app.configure(api::health::configure).service(
        utoipa_actix_web::scope("/api/v1")
            .configure(api::me::configure)
            .configure(api::accounts::configure)
            .configure(api::contact_types::configure)
            .configure(api::contacts::configure)
            .configure(api::folders::configure)
            .configure(api::mailboxes::configure)
            .configure(api::contact_sync::configure)
            .configure(api::runs::configure)
            .configure(api::notifications::configure),
    )
}

/// The OpenAPI document of the service, as `contactsync openapi` prints it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) =
        routes(App::new().into_utoipa_app().openapi(ApiDoc::openapi())).split_for_parts();
    api
}

/// The pretty JSON form checked in at `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let mut s = openapi().to_pretty_json().expect("OpenAPI serializes");
    s.push('\n');
    s
}

/// The whole HTTP application over shared state.
pub fn build(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    let max_body = state.settings.max_body_bytes;
    let (app, api) = routes(
        App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .app_data(state)
            .app_data(web::PayloadConfig::new(max_body)),
    )
    .split_for_parts();
    app.service(web::redirect("/docs", "/docs/"))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .default_service(web::to(not_found))
        .wrap(from_fn(request_id))
        .wrap(actix_web::middleware::Compress::default())
}

/// A running HTTP server.
pub struct Running {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// Stops the server.
    pub handle: ServerHandle,
    /// Completes when the server stops.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds `listen` and serves the API in the background.
pub fn start(state: web::Data<AppState>, listen: SocketAddr) -> std::io::Result<Running> {
    // Counters recorded before the recorder exists are lost: install it first.
    crate::telemetry::metrics_handle();
    // Nagle's algorithm holds back the last small segment of a response until the client
    // ACKs the previous one, and clients delay that ACK by up to 40 ms: a gzip-compressed
    // body leaves in several writes and would wait on it for every request.
    let server = HttpServer::new(move || build(state.clone()))
        .workers(2)
        .tcp_nodelay(true)
        .bind(listen)?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    let task = tokio::spawn(server);
    Ok(Running { addr, handle, task })
}
