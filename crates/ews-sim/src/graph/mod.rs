//! The Microsoft Graph front end over the same mailbox store as EWS (SPEC §8b): the token
//! endpoint, `/v1.0/users/{user}/...` for contact folders, contacts, delta and `$batch`,
//! Graph's limits per app and mailbox, and the Graph faults of `/_sim/graph/faults`.

mod apps;
mod control;
mod convert;
mod delta;
pub mod faults;
mod ids;
mod ops;
mod reply;
mod route;

/// A folder's Graph id.
pub fn folder_graph_id(mb: &crate::store::Mailbox, f: &crate::store::Folder) -> String {
    ids::folder_id(mb, f)
}

/// The EWS id of a folder or contact named by a Graph id.
pub fn ews_id(mb: &crate::store::Mailbox, graph_id: &str) -> Option<String> {
    ids::folder(mb, graph_id)
        .map(|f| f.id.clone())
        .or_else(|_| ids::item(mb, graph_id).map(|it| it.id.clone()))
        .ok()
}

/// A contact's immutable Graph id.
pub fn item_graph_id(mb: &crate::store::Mailbox, it: &crate::store::Item) -> String {
    ids::item_id(mb, it, true)
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use graph::types::{BatchRequest, BatchResponse};

pub use apps::{GraphApp, GraphAppParseError};
pub use faults::{GraphFault, GraphFaultRule};

use faults::GraphFaults;
use reply::Reply;
use route::{Query, Route};

use crate::reqlog::RequestRecord;
use crate::state::Sim;

/// Concurrent requests Graph allows per app and mailbox.
pub const MAILBOX_CONCURRENCY: usize = 4;
/// Entries a `$batch` may carry.
pub const MAX_BATCH: usize = 20;

/// The Graph side of the simulator's state.
#[derive(Default)]
pub struct GraphState {
    /// Issued tokens.
    pub tokens: Mutex<apps::Tokens>,
    /// Injected Graph faults.
    pub faults: Mutex<GraphFaults>,
    /// Requests executing per (app, mailbox).
    in_flight: Mutex<HashMap<(String, String), usize>>,
    /// Delta refuses `$expand` (400), as on Graph deltas that cannot carry extended
    /// properties; served when off (the default).
    pub delta_expand_refused: std::sync::atomic::AtomicBool,
}

impl GraphState {
    /// Whether delta serves `$expand` now.
    pub fn delta_expand(&self) -> bool {
        !self
            .delta_expand_refused
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Concurrency slots of one app on one mailbox, given back when dropped.
struct Slots {
    sim: Arc<Sim>,
    key: (String, String),
    n: usize,
}

impl Slots {
    /// Takes up to `want` free slots (none when the mailbox is at its limit).
    fn take(sim: &Arc<Sim>, app: &str, mailbox: &str, want: usize) -> Slots {
        let key = (app.to_owned(), mailbox.to_owned());
        let mut map = sim.graph.in_flight.lock().expect("in-flight lock");
        let used = map.entry(key.clone()).or_insert(0);
        let n = want.min(MAILBOX_CONCURRENCY.saturating_sub(*used));
        *used += n;
        Slots {
            sim: sim.clone(),
            key,
            n,
        }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        if let Ok(mut map) = self.sim.graph.in_flight.lock()
            && let Some(used) = map.get_mut(&self.key)
        {
            *used -= self.n;
        }
    }
}

/// Registers the token endpoint, the Graph API and the Graph control routes (before
/// the `/_sim` scope, which would otherwise take `/_sim/graph`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    control::configure(cfg);
    cfg.route("/{tenant}/oauth2/v2.0/token", web::post().to(apps::token))
        .route("/v1.0/{tail:.*}", web::route().to(serve));
}

fn prefer(req_prefer: Option<&str>) -> (bool, Option<u32>) {
    let Some(p) = req_prefer else {
        return (false, None);
    };
    let immutable = p
        .to_ascii_lowercase()
        .replace(' ', "")
        .contains("idtype=\"immutableid\"");
    let page = p.split(',').find_map(|part| {
        part.trim()
            .strip_prefix("odata.maxpagesize=")
            .and_then(|n| n.trim().parse().ok())
    });
    (immutable, page)
}

fn bearer_app(req: &HttpRequest, sim: &Sim) -> Option<String> {
    let h = req.headers().get("authorization")?.to_str().ok()?.trim();
    let (scheme, token) = h.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    sim.graph
        .tokens
        .lock()
        .expect("tokens lock")
        .app_of(token.trim())
        .map(str::to_owned)
}

fn unauthorized() -> Reply {
    let mut r = Reply::error(
        401,
        "InvalidAuthenticationToken",
        "Access token is empty, expired or invalid.",
    );
    r.headers.push((
        "WWW-Authenticate".into(),
        "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\"".into(),
    ));
    r
}

/// The outcome of the request-level faults: delays to sleep, or a failure to answer.
fn request_faults(sim: &Sim, operation: &str, mailbox: Option<&str>) -> (u64, Option<Reply>) {
    let mut delay = 0;
    for f in sim
        .graph
        .faults
        .lock()
        .expect("faults lock")
        .take(operation, mailbox)
    {
        match f {
            GraphFault::Delay { delay_ms } => delay += delay_ms,
            GraphFault::Throttled {
                retry_after_s,
                code,
            } => {
                return (
                    delay,
                    Some(Reply::throttled(429, &code, Some(retry_after_s))),
                );
            }
            GraphFault::Unavailable { retry_after_s } => {
                return (
                    delay,
                    Some(Reply::throttled(503, "ServiceUnavailable", retry_after_s)),
                );
            }
            GraphFault::Unauthorized => return (delay, Some(unauthorized())),
            GraphFault::DeltaGone | GraphFault::BatchItem { .. } => {}
        }
    }
    (delay, None)
}

/// Everything under `/v1.0`.
async fn serve(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    let sim = sim.into_inner();
    let at = Utc::now();
    let started = Instant::now();
    let seq = sim.requests.lock().expect("log lock").arrival();
    let mut record = RequestRecord {
        seq,
        at,
        at_ms: at.timestamp_millis(),
        operation: "graph".into(),
        mailbox: None,
        status: 0,
        outcome: String::new(),
        duration_ms: 0,
    };
    let reply = answer(&req, &body, &sim, &mut record).await;
    record.status = reply.status;
    record.outcome = reply.outcome();
    record.duration_ms = started.elapsed().as_millis() as u64;
    sim.requests.lock().expect("log lock").push(record);
    reply.into_http()
}

async fn answer(
    req: &HttpRequest,
    body: &[u8],
    sim: &Arc<Sim>,
    record: &mut RequestRecord,
) -> Reply {
    let latency = sim.latency_ms.load(std::sync::atomic::Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let Some(app) = bearer_app(req, sim) else {
        return unauthorized();
    };
    let base = {
        let info = req.connection_info();
        format!("{}://{}/v1.0", info.scheme(), info.host())
    };
    let path = req
        .path()
        .get("/v1.0".len()..)
        .unwrap_or_default()
        .to_owned();
    let query = Query::parse(req.query_string());
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (immutable, page_size) = prefer(header("prefer"));
    let json: Option<serde_json::Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => Some(v),
            Err(e) => return Reply::error(400, "BadRequest", &format!("Unreadable JSON: {e}")),
        }
    };
    let method = req.method().as_str().to_ascii_uppercase();
    if path.eq_ignore_ascii_case("/$batch") {
        record.operation = "graph:batch".into();
        if method != "POST" {
            return Reply::error(405, "Request_BadRequest", "POST a batch.");
        }
        let batch: BatchRequest = match json.map(serde_json::from_value) {
            Some(Ok(b)) => b,
            Some(Err(e)) => {
                return Reply::error(400, "BadRequest", &format!("Unreadable batch: {e}"));
            }
            None => return Reply::error(400, "BadRequest", "A batch body is required."),
        };
        return run_batch(sim, &app, &base, immutable, batch, record).await;
    }
    let route = match route::parse(&path) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let operation = route.operation(&method);
    record.operation = format!("graph:{operation}");
    let mailbox = ops::mailbox_email(&sim.store.lock().expect("store lock"), &route.user);
    record.mailbox = mailbox.clone();
    let (delay, failure) = request_faults(sim, operation, mailbox.as_deref());
    let _slots = match &mailbox {
        Some(mb) => {
            let s = Slots::take(sim, &app, mb, 1);
            if s.n == 0 {
                return Reply::throttled(429, "MailboxConcurrency", Some(1));
            }
            Some(s)
        }
        None => None,
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Some(r) = failure {
        return r;
    }
    let delta_gone = operation == "delta"
        && (query.get("$skiptoken").is_some() || query.get("$deltatoken").is_some())
        && mailbox.as_deref().is_some_and(|m| {
            sim.graph
                .faults
                .lock()
                .expect("faults lock")
                .take_delta_gone(m)
        });
    let call = ops::Call {
        base: &base,
        path: &path,
        method: &method,
        route: &route,
        query: &query,
        immutable,
        page_size,
        if_match: header("if-match"),
        body: json.as_ref(),
        delta_gone,
        delta_expand: sim.graph.delta_expand(),
    };
    ops::dispatch(&mut sim.store.lock().expect("store lock"), &call)
}

/// One parsed batch entry.
struct Entry {
    id: String,
    method: String,
    path: String,
    query: Query,
    route: Result<Route, Reply>,
    mailbox: Option<String>,
    headers: std::collections::BTreeMap<String, String>,
    body: Option<serde_json::Value>,
}

async fn run_batch(
    sim: &Arc<Sim>,
    app: &str,
    base: &str,
    outer_immutable: bool,
    batch: BatchRequest,
    record: &mut RequestRecord,
) -> Reply {
    if batch.requests.len() > MAX_BATCH {
        return Reply::error(
            400,
            "BadRequest",
            &format!(
                "The batch has {} requests; at most {MAX_BATCH} are allowed.",
                batch.requests.len()
            ),
        );
    }
    let mut seen = std::collections::HashSet::new();
    if !batch.requests.iter().all(|r| seen.insert(r.id.clone())) {
        return Reply::error(400, "BadRequest", "Batch request ids must be unique.");
    }
    let (delay, failure) = request_faults(sim, "batch", None);
    if let Some(r) = failure {
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        return r;
    }
    let entries: Vec<Entry> = {
        let store = sim.store.lock().expect("store lock");
        batch
            .requests
            .into_iter()
            .map(|r| {
                let url = r.url.trim();
                let url = url.strip_prefix("/v1.0").unwrap_or(url);
                let (path, q) = url.split_once('?').unwrap_or((url, ""));
                let route = if path.eq_ignore_ascii_case("/$batch") {
                    Err(Reply::error(
                        400,
                        "BadRequest",
                        "A batch cannot hold a batch.",
                    ))
                } else {
                    route::parse(path)
                };
                let mailbox = route
                    .as_ref()
                    .ok()
                    .and_then(|rt| ops::mailbox_email(&store, &rt.user));
                Entry {
                    id: r.id,
                    method: r.method.to_ascii_uppercase(),
                    path: path.to_owned(),
                    query: Query::parse(q),
                    route,
                    mailbox,
                    headers: r.headers,
                    body: r.body,
                }
            })
            .collect()
    };
    record.mailbox = entries.iter().find_map(|e| e.mailbox.clone());
    // Graph runs a batch's entries four at a time: per mailbox, up to four slots.
    let mut slots: HashMap<String, Slots> = HashMap::new();
    for e in &entries {
        if let Some(mb) = &e.mailbox
            && !slots.contains_key(mb)
        {
            let want = entries
                .iter()
                .filter(|x| x.mailbox.as_ref() == Some(mb))
                .count()
                .min(MAILBOX_CONCURRENCY);
            slots.insert(mb.clone(), Slots::take(sim, app, mb, want));
        }
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let mut responses = Vec::with_capacity(entries.len());
    {
        let mut store = sim.store.lock().expect("store lock");
        let mut faults = sim.graph.faults.lock().expect("faults lock");
        for (position, e) in entries.iter().enumerate() {
            let header = |name: &str| {
                e.headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            };
            let reply = match &e.route {
                Err(r) => r.clone(),
                Ok(route) => {
                    let operation = route.operation(&e.method);
                    let url = format!(
                        "{}?{}",
                        e.path,
                        e.query
                            .0
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join("&")
                    );
                    let injected =
                        faults.take_batch_item(operation, e.mailbox.as_deref(), position, &url);
                    let no_slot = e
                        .mailbox
                        .as_ref()
                        .is_some_and(|mb| slots.get(mb).is_some_and(|s| s.n == 0));
                    if let Some(GraphFault::BatchItem {
                        status,
                        code,
                        retry_after_s,
                        ..
                    }) = injected
                    {
                        let code = code.unwrap_or_else(|| {
                            match status {
                                429 => "ApplicationThrottled",
                                503 => "ServiceUnavailable",
                                404 => "ErrorItemNotFound",
                                412 => "ErrorIrresolvableConflict",
                                s if s >= 500 => "UnknownError",
                                _ => "BadRequest",
                            }
                            .to_owned()
                        });
                        let mut r = if matches!(status, 429 | 503) {
                            Reply::throttled(status, &code, None)
                        } else {
                            Reply::error(status, &code, "Injected failure.")
                        };
                        if let Some(s) = retry_after_s {
                            r.headers.push(("Retry-After".into(), s.to_string()));
                        }
                        r
                    } else if no_slot {
                        Reply::throttled(429, "MailboxConcurrency", Some(1))
                    } else {
                        let (immutable, page_size) = prefer(header("prefer"));
                        let call = ops::Call {
                            base,
                            path: &e.path,
                            method: &e.method,
                            route,
                            query: &e.query,
                            immutable: immutable || outer_immutable,
                            page_size,
                            if_match: header("if-match"),
                            body: e.body.as_ref(),
                            delta_gone: false,
                            delta_expand: sim.graph.delta_expand(),
                        };
                        ops::dispatch(&mut store, &call)
                    }
                }
            };
            responses.push(reply.into_batch(e.id.clone()));
        }
    }
    drop(slots);
    Reply::ok(serde_json::to_value(BatchResponse { responses }).expect("serializes"))
}
