//! The EWS endpoint: authentication, impersonation, injected faults, the request log,
//! and dispatch to one handler per operation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use chrono::Utc;

use crate::envelope;
use crate::faults::{FaultKind, FaultWhen};
use crate::ops::{self, Ctx, OpError};
use crate::reqlog::RequestRecord;
use crate::soap;
use crate::state::Sim;
use crate::store::EwsError;

/// Largest request body accepted (a batch of a few hundred contacts fits easily).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A duplicate of the connection's socket, kept so that `connection_reset` can cut it.
#[cfg(unix)]
struct ConnSocket(std::os::fd::OwnedFd);

/// Binds the server; the caller runs it.
pub fn start(sim: Arc<Sim>) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let data = web::Data::from(sim.clone());
    let control_here = sim.config.control_listen.is_none();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .app_data(web::JsonConfig::default().limit(MAX_BODY))
            .wrap(actix_web::middleware::Compress::default())
            .configure(crate::graph::configure)
            .configure(|cfg| {
                if control_here {
                    crate::control::configure(cfg)
                }
            })
            .default_service(web::to(fallback))
    })
    .workers(2)
    // IIS keeps an idle connection 120 s (Exchange's front end): actix's 5 s let a client
    // send on a pooled connection the server was closing ("connection closed before
    // message completed"), a race no real Exchange server offers that often.
    .keep_alive(std::time::Duration::from_secs(120))
    // Whoever embeds the simulator decides when it stops (`run` on Ctrl-C or SIGTERM):
    // actix's own handler would stop the server and leave the process waiting.
    .disable_signals()
    .on_connect(|conn, ext| {
        #[cfg(unix)]
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            use std::os::fd::AsFd;
            if let Ok(fd) = tcp.as_fd().try_clone_to_owned() {
                ext.insert(ConnSocket(fd));
            }
        }
        let _ = (conn, ext);
    })
    .bind(sim.config.listen)?;
    let addr = server.addrs()[0];
    Ok((server.run(), addr))
}

/// Binds the control API alone on `at` (`--control-listen`); the caller runs it.
pub fn start_control(
    sim: Arc<Sim>,
    at: std::net::SocketAddr,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let data = web::Data::from(sim);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(MAX_BODY))
            .configure(crate::control::configure)
    })
    .workers(1)
    .bind(at)?;
    let addr = server.addrs()[0];
    Ok((server.run(), addr))
}

/// EWS lives at `/EWS/Exchange.asmx`, matched case-insensitively as IIS does.
async fn fallback(req: HttpRequest, body: web::Bytes, sim: web::Data<Sim>) -> HttpResponse {
    if req.path().eq_ignore_ascii_case("/ews/exchange.asmx") {
        if req.method() == actix_web::http::Method::POST {
            return ews(req, body, sim.into_inner()).await;
        }
        return HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", "POST"))
            .body("EWS accepts POST only");
    }
    HttpResponse::NotFound().body("not found")
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Principal {
    /// A mailbox owner.
    Mailbox(String),
    /// A service account that may impersonate everyone.
    Service(String),
}

fn authenticate(req: &HttpRequest, sim: &Sim) -> Option<Principal> {
    let header = req.headers().get("authorization")?.to_str().ok()?.trim();
    let (scheme, rest) = header.split_once(' ')?;
    let rest = rest.trim();
    let store = sim.store.lock().expect("store lock");
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (user, password) = decoded.split_once(':')?;
        if let Some(mb) = store.resolve_login(user)
            && mb.password == password
        {
            return Some(Principal::Mailbox(mb.email.clone()));
        }
        return sim
            .service_account(user, password)
            .map(|c| Principal::Service(c.email.to_ascii_lowercase()));
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        // The token is the password; X-AnchorMailbox picks among mailboxes sharing it.
        let anchor = req
            .headers()
            .get("x-anchormailbox")
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        let mut hits = store.mailboxes.values().filter(|m| m.password == rest);
        let all: Vec<_> = hits.by_ref().collect();
        let chosen = match (all.len(), &anchor) {
            (1, _) => Some(all[0]),
            (_, Some(a)) => all.iter().copied().find(|m| &m.email == a),
            _ => None,
        };
        if let Some(mb) = chosen {
            return Some(Principal::Mailbox(mb.email.clone()));
        }
        return sim
            .config
            .service_accounts
            .iter()
            .find(|c| c.password == rest)
            .map(|c| Principal::Service(c.email.to_ascii_lowercase()));
    }
    None
}

fn xml(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .append_header(("WWW-Authenticate", r#"Basic realm="ews-sim""#))
        .append_header(("WWW-Authenticate", "Bearer"))
        .content_type("text/html")
        .body("401 - Unauthorized: Access is denied due to invalid credentials.")
}

fn fault_response(e: &EwsError) -> HttpResponse {
    let body = soap::error_fault(&e.code, &e.message, e.back_off_ms);
    xml(StatusCode::INTERNAL_SERVER_ERROR, body)
}

#[cfg(unix)]
fn cut_connection(req: &HttpRequest) {
    if let Some(sock) = req.conn_data::<ConnSocket>()
        && let Ok(fd) = sock.0.try_clone()
    {
        let _ = std::net::TcpStream::from(fd).shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(not(unix))]
fn cut_connection(_req: &HttpRequest) {}

/// Writes its record to the request log when dropped, so that a request whose client
/// went away (actix then drops the handler) is logged too.
struct LogOnDrop {
    sim: Arc<Sim>,
    started: Instant,
    record: RequestRecord,
}

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        let mut record = self.record.clone();
        if record.outcome.is_empty() {
            record.outcome = "client disconnected".into();
        }
        record.duration_ms = self.started.elapsed().as_millis() as u64;
        tracing::debug!(operation = %record.operation, outcome = %record.outcome, status = record.status, "EWS request");
        if let Ok(mut log) = self.sim.requests.lock() {
            log.push(record);
        }
    }
}

async fn ews(req: HttpRequest, body: web::Bytes, sim: Arc<Sim>) -> HttpResponse {
    let at = Utc::now();
    let mut guard = LogOnDrop {
        sim: sim.clone(),
        started: Instant::now(),
        record: RequestRecord {
            seq: sim.requests.lock().expect("log lock").arrival(),
            at,
            at_ms: at.timestamp_millis(),
            operation: "-".into(),
            mailbox: None,
            status: 0,
            outcome: String::new(),
            duration_ms: 0,
        },
    };
    let (response, outcome) = answer(&req, &body, &sim, &mut guard.record).await;
    guard.record.status = response.as_ref().map_or(0, |r| r.status().as_u16());
    guard.record.outcome = outcome;
    drop(guard);
    match response {
        Some(r) => r,
        None => {
            cut_connection(&req);
            // The socket is already shut; this answer goes nowhere.
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The answer (None = drop the connection) and the outcome for the log.
async fn answer(
    req: &HttpRequest,
    body: &[u8],
    sim: &Arc<Sim>,
    record: &mut RequestRecord,
) -> (Option<HttpResponse>, String) {
    let latency = sim.latency_ms.load(std::sync::atomic::Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let Some(principal) = authenticate(req, sim) else {
        return (Some(unauthorized()), "Unauthorized".into());
    };
    let text = match std::str::from_utf8(body) {
        Ok(t) => t,
        Err(e) => {
            let (line, pos) = (1, e.valid_up_to() as u64 + 1);
            let f = soap::schema_validation(line, pos, "The request is not valid UTF-8.");
            return (
                Some(xml(StatusCode::INTERNAL_SERVER_ERROR, f)),
                "ErrorSchemaValidation".into(),
            );
        }
    };
    let peeked = match envelope::peek(text) {
        Ok(p) => p,
        Err(u) => {
            let f = soap::schema_validation(u.line, u.position, &u.violation);
            return (
                Some(xml(StatusCode::INTERNAL_SERVER_ERROR, f)),
                "ErrorSchemaValidation".into(),
            );
        }
    };
    record.operation = peeked.operation.clone();

    let (own, privileged) = match &principal {
        Principal::Mailbox(m) => (m.clone(), false),
        Principal::Service(s) => (s.clone(), true),
    };
    let target = match &peeked.impersonate {
        None => own.clone(),
        Some(who) => {
            let who = who.to_ascii_lowercase();
            if !privileged && who != own {
                record.mailbox = Some(own);
                let e = EwsError::impersonate_denied();
                return (Some(fault_response(&e)), e.code);
            }
            let exists = sim
                .store
                .lock()
                .expect("store lock")
                .mailbox(&who)
                .is_some();
            if !exists {
                let e = EwsError::non_existent_mailbox(&who);
                return (Some(fault_response(&e)), e.code);
            }
            who
        }
    };
    record.mailbox = Some(target.clone());

    let injected = sim.faults.lock().expect("faults lock").take_request_faults(
        &peeked.operation,
        Some(&target),
        FaultWhen::Before,
    );
    if let Some(cut) = apply_faults(injected, &peeked.operation).await {
        return cut;
    }

    let result = {
        let mut store = sim.store.lock().expect("store lock");
        let mut faults = sim.faults.lock().expect("faults lock");
        let mut ctx = Ctx {
            store: &mut store,
            faults: &mut faults,
            mailbox: target.clone(),
            caller: own,
            privileged,
        };
        ops::dispatch(&peeked.operation, text, &mut ctx)
    };
    // The operation ran (and may have changed the mailbox); an `after` fault loses or
    // garbles its answer.
    let after = sim.faults.lock().expect("faults lock").take_request_faults(
        &peeked.operation,
        Some(&target),
        FaultWhen::After,
    );
    if let Some((response, outcome)) = apply_faults(after, &peeked.operation).await {
        return (response, format!("{outcome} (after execution)"));
    }
    match result {
        Ok(out) => (Some(xml(StatusCode::OK, out.body)), out.outcome),
        Err(OpError::Unreadable(violation)) => (
            Some(xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                soap::schema_validation(1, 1, &violation),
            )),
            "ErrorSchemaValidation".into(),
        ),
        Err(OpError::Fault(e)) => {
            let code = e.code.clone();
            (Some(fault_response(&e)), code)
        }
    }
}

/// Applies request-level faults in order: delays are slept, the first other fault is the
/// answer (None inside = drop the connection). None when no fault answers.
async fn apply_faults(
    faults: Vec<FaultKind>,
    operation: &str,
) -> Option<(Option<HttpResponse>, String)> {
    for f in faults {
        match f {
            FaultKind::Delay { delay_ms } => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            FaultKind::ServerBusy { back_off_ms } => {
                return Some((
                    Some(xml(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        soap::server_busy(back_off_ms),
                    )),
                    "fault:server_busy".into(),
                ));
            }
            FaultKind::Http500 => {
                let e = EwsError::from_code("ErrorInternalServerError");
                return Some((Some(fault_response(&e)), "fault:http500".into()));
            }
            FaultKind::Http503 => {
                return Some((
                    Some(
                        HttpResponse::ServiceUnavailable()
                            .content_type("text/html")
                            .body("<html><body>Service Unavailable</body></html>"),
                    ),
                    "fault:http503".into(),
                ));
            }
            FaultKind::MalformedXml => {
                return Some((
                    Some(xml(
                        StatusCode::OK,
                        format!(
                            r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{}"><s:Body><m:{}Response xmlns:m="{}"><m:ResponseMessages><oops"#,
                            ews::envelope::SOAP_NS,
                            operation,
                            ews::envelope::MESSAGES_NS
                        ),
                    )),
                    "fault:malformed_xml".into(),
                ));
            }
            FaultKind::ConnectionReset => return Some((None, "fault:connection_reset".into())),
            FaultKind::Unauthorized => {
                return Some((Some(unauthorized()), "fault:unauthorized".into()));
            }
            FaultKind::InvalidSyncState | FaultKind::ItemError { .. } => {}
        }
    }
    None
}
