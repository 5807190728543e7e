//! Builds the state and the actix App; `serve` and the tests both call it.
use std::net::SocketAddr;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::from_fn;
use actix_web::{App, Error, HttpResponse, HttpServer, ResponseError, web};
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
    // Every error answer carries a `Problem` (see `api::responses`).
    components(schemas(crate::api::error::Problem)),
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

pub use crate::middleware::request_log::REQUEST_ID;

/// The methods each documented path answers, so that a request no route takes is told
/// apart: a known path with another method is a 405 naming the methods (RFC 9110), any
/// other path a 404.
struct RouteTable(Vec<(Vec<String>, Vec<&'static str>)>);

impl RouteTable {
    fn from_document(api: &utoipa::openapi::OpenApi) -> RouteTable {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, present)| present.then_some(m))
                .collect();
                (segments, methods)
            })
            .collect();
        RouteTable(routes)
    }

    /// The methods of the documented path `path` matches, if any.
    fn methods_of(&self, path: &str) -> Option<&[&'static str]> {
        let wanted: Vec<&str> = path.split('/').collect();
        let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
        // A literal segment beats a parameter, as in the router: the match with the
        // fewest parameters wins.
        self.0
            .iter()
            .filter(|(segments, _)| {
                segments.len() == wanted.len()
                    && segments
                        .iter()
                        .zip(&wanted)
                        .all(|(s, w)| s == w || (is_param(s) && !w.is_empty()))
            })
            .min_by_key(|(segments, _)| segments.iter().filter(|s| is_param(s)).count())
            .map(|(_, methods)| methods.as_slice())
    }
}

async fn no_route(
    req: actix_web::HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    match routes.methods_of(req.path()) {
        Some(methods) => {
            let allow = methods.join(", ");
            let mut res = ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{} is not allowed here; use {allow}", req.method()),
            )
            .error_response();
            res.headers_mut().insert(
                actix_web::http::header::ALLOW,
                HeaderValue::from_str(&allow).expect("method names are ASCII"),
            );
            Ok(res)
        }
        None => Err(ApiError::new(ErrorCode::NotFound, "no such route")),
    }
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
    let (_, mut api) =
        routes(App::new().into_utoipa_app().openapi(ApiDoc::openapi())).split_for_parts();
    api::responses::declare(&mut api);
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
    let (app, mut api) = routes(
        App::new()
            .into_utoipa_app()
            .openapi(ApiDoc::openapi())
            .app_data(state)
            .app_data(web::PayloadConfig::new(max_body)),
    )
    .split_for_parts();
    api::responses::declare(&mut api);
    let route_table = web::Data::new(RouteTable::from_document(&api));
    app.app_data(route_table)
        .service(web::redirect("/docs", "/docs/"))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", api))
        .configure(crate::ui::configure)
        .default_service(web::to(no_route))
        .wrap(from_fn(crate::middleware::cors::cors))
        .wrap(from_fn(crate::middleware::compress::compress))
        // Outermost, so the access log sees every answer (preflights included) and the
        // request's span covers everything below.
        .wrap(from_fn(crate::middleware::request_log::request_log))
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
    // ACKs the previous one, and clients delay that ACK by up to 40 ms: any answer that
    // leaves in more than one write (an event stream, a body past the write buffer)
    // would wait on it. Bodies are compressed whole (`middleware::compress`), so a page
    // leaves in one write anyway.
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
