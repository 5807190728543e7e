//! The EWS HTTP client: auth, timeouts, size limit, retries and a per-host cap.

mod auth;
mod http;
mod limits;
mod methods;
pub mod requests;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use tokio::sync::Semaphore;

pub use auth::Auth;
pub use limits::{DEFAULT_MAX_CONCURRENCY_PER_HOST, host_semaphore};
pub use methods::SyncPage;

use crate::envelope::{self, Body, Header};
use crate::error::{Error, ErrorClass};
use crate::ops::{Operation, OperationResponse};
use crate::types::ResponseMessage;

/// How often and how long to retry throttled and transient failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// First exponential back-off delay (jittered).
    pub min_delay: Duration,
    /// Largest exponential back-off delay.
    pub max_delay: Duration,
    /// Longest server back-off hint waited for in place; a longer one is returned to the
    /// caller as `Error::Throttled` so it can reschedule instead of holding a worker.
    pub max_server_back_off: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_server_back_off: Duration::from_secs(60),
        }
    }
}

/// Everything an [`EwsClient`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The EWS endpoint, e.g. `https://mail.example.com/EWS/Exchange.asmx`.
    pub url: String,
    /// `RequestServerVersion`, e.g. `Exchange2013_SP1` (one of `envelope::EXCHANGE_VERSIONS`).
    pub server_version: String,
    /// Act as this mailbox (ExchangeImpersonation + `X-AnchorMailbox`).
    pub impersonate: Option<String>,
    /// Credentials.
    pub auth: Auth,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (headers and body).
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Concurrent requests per Exchange host, across all clients of the process (≤ 27).
    pub max_concurrency_per_host: usize,
    /// Host names answered from here instead of DNS: the addresses the caller checked, so
    /// that a second lookup (DNS rebinding) cannot send the request somewhere else.
    pub resolved: Vec<(String, Vec<std::net::SocketAddr>)>,
}

impl ClientConfig {
    /// A configuration with the defaults: Exchange2013_SP1, 10 s connect, 120 s request,
    /// 64 MiB responses, 4 attempts, 27 concurrent requests per host.
    pub fn new(url: impl Into<String>, auth: Auth) -> Self {
        Self {
            url: url.into(),
            server_version: "Exchange2013_SP1".into(),
            impersonate: None,
            auth,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_response_bytes: 64 * 1024 * 1024,
            retry: RetryPolicy::default(),
            max_concurrency_per_host: DEFAULT_MAX_CONCURRENCY_PER_HOST,
            resolved: Vec::new(),
        }
    }
}

/// An EWS client for one mailbox (cheap to clone).
#[derive(Clone)]
pub struct EwsClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    url: reqwest::Url,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    /// OAuth2: the app's token, shared with the other clients of the app
    /// (`auth::shared_tokens`).
    tokens: Arc<auth::TokenCache>,
    /// NTLM authenticates a connection: one request at a time on it, handshake once.
    ntlm: Option<tokio::sync::Mutex<bool>>,
    /// The `ServerVersionInfo` of the last answer, for diagnostics.
    server_version: std::sync::Mutex<Option<envelope::ServerVersionInfo>>,
}

impl fmt::Debug for EwsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("EwsClient")
            .field("url", &c.url)
            .field("server_version", &c.server_version)
            .field("impersonate", &c.impersonate)
            .field("auth", &c.auth)
            .finish()
    }
}

/// A transport failure as an error; the message keeps the cause chain (DNS, TLS, reset).
pub(crate) fn transport_error(what: &str, e: &reqwest::Error) -> Error {
    let mut message = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "http"
    };
    Error::Transient {
        code: None,
        message: format!("{kind}: {message}"),
    }
}

impl EwsClient {
    /// Builds a client; fails on an unusable URL, version or TLS setup.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let url =
            reqwest::Url::parse(&config.url).map_err(|e| Error::Config(format!("EWS URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::Config("EWS URL must be http(s)://host/...".into()));
        }
        if !envelope::EXCHANGE_VERSIONS.contains(&config.server_version.as_str()) {
            return Err(Error::Config(format!(
                "unknown server version {:?}",
                config.server_version
            )));
        }
        let is_ntlm = matches!(config.auth, Auth::Ntlm { .. });
        let http = http::client_for(&config)?;
        let host = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(0)
        );
        let permits = host_semaphore(&host, config.max_concurrency_per_host);
        Ok(Self {
            inner: Arc::new(Inner {
                url,
                http,
                permits,
                tokens: auth::shared_tokens(&config.auth, &config.resolved).unwrap_or_default(),
                ntlm: is_ntlm.then(|| tokio::sync::Mutex::new(false)),
                server_version: std::sync::Mutex::new(None),
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The `ServerVersionInfo` Exchange sent with its last successful answer.
    pub fn last_server_version(&self) -> Option<envelope::ServerVersionInfo> {
        self.inner
            .server_version
            .lock()
            .expect("version lock")
            .clone()
    }

    /// The SOAP header every request carries.
    pub fn request_header(&self) -> Header {
        let c = &self.inner.config;
        Header::request(c.server_version.clone(), c.impersonate.as_deref())
    }

    /// Sends one operation with retries; per-item errors stay in the response messages.
    ///
    /// The whole call is retried on HTTP/transport failures and when *every* response
    /// message is throttled (so nothing was done and a retry can't duplicate a write).
    pub async fn call<O: Operation>(&self, op: &O) -> Result<O::Response, Error> {
        let xml =
            envelope::request_xml(&self.request_header(), op).map_err(|e| Error::Permanent {
                code: "ClientSerialization".into(),
                message: e.0,
            })?;
        let policy = &self.inner.config.retry;
        let mut backoff = backon::ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_jitter()
            .with_max_times(policy.max_attempts as usize)
            .build();
        let mut attempt = 1;
        loop {
            let started = std::time::Instant::now();
            let result = self
                .send_once::<O>(&xml)
                .await
                .and_then(all_throttled_is_error);
            record_call(O::NAME, started.elapsed(), result.as_ref().err());
            let error = match result {
                Ok(response) => return Ok(response),
                Err(e) if !O::IDEMPOTENT && may_have_run(&e) => return Err(e),
                Err(e) if e.is_retryable() && attempt < policy.max_attempts => e,
                Err(e) => return Err(e),
            };
            let delay = match &error {
                Error::Throttled {
                    back_off: Some(hint),
                    ..
                } if *hint > policy.max_server_back_off => {
                    return Err(error);
                }
                Error::Throttled {
                    back_off: Some(hint),
                    ..
                } => *hint,
                _ => backoff.next().unwrap_or(policy.max_delay),
            };
            metrics::counter!("contactsync_ews_retries_total", "operation" => O::NAME).increment(1);
            tracing::warn!(operation = O::NAME, attempt, ?delay, error = %error, "EWS call failed, retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One HTTP exchange, holding a per-host permit for its duration.
    async fn send_once<O: Operation>(&self, xml: &str) -> Result<O::Response, Error> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Config("host semaphore closed".into()))?;
        let started = std::time::Instant::now();
        let response = match &self.inner.ntlm {
            Some(state) => self.post_ntlm(state, xml).await?,
            None => self.post(xml, None).await?,
        };
        let status = response.status();
        tracing::debug!(operation = O::NAME, %status, elapsed = ?started.elapsed(), "EWS response");
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            if matches!(self.inner.config.auth, Auth::OAuth2ClientCredentials { .. }) {
                self.inner.tokens.invalidate().await;
            }
            return Err(Error::Auth {
                code: Some(format!("HTTP {}", status.as_u16())),
                message: format!("HTTP {status} from {}", self.inner.url),
            });
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let back_off = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .map(Duration::from_secs);
            return Err(Error::Throttled {
                back_off,
                code: format!("HTTP {}", status.as_u16()),
            });
        }
        let mut body = read_limited(response, self.inner.config.max_response_bytes).await?;
        if status.is_success() || status == StatusCode::INTERNAL_SERVER_ERROR {
            let parsed;
            (body, parsed) = parse_beside(body).await;
            match parsed {
                Ok((_, Body::Fault(fault))) => return Err(Error::from_fault(&fault)),
                Ok((header, body)) if status.is_success() => {
                    if let Some(info) = header.server_version_info {
                        *self.inner.server_version.lock().expect("version lock") = Some(info);
                    }
                    let name = body.name();
                    return O::Response::from_body(body).ok_or_else(|| {
                        Error::MalformedResponse(format!(
                            "expected {}Response, got {name}",
                            O::NAME
                        ))
                    });
                }
                Ok(_) => {}
                Err(e) if status.is_success() => return Err(e.into()),
                Err(_) => {}
            }
        }
        if status.is_server_error() {
            return Err(Error::Transient {
                code: None,
                message: format!("HTTP {status}"),
            });
        }
        Err(Error::Permanent {
            code: format!("HTTP {}", status.as_u16()),
            message: snippet(&body),
        })
    }

    /// POSTs the envelope with the configured credentials (`authorization` overrides them).
    async fn post(
        &self,
        xml: &str,
        authorization: Option<&str>,
    ) -> Result<reqwest::Response, Error> {
        let c = &self.inner.config;
        let mut req = self
            .inner
            .http
            .post(self.inner.url.clone())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("text/xml; charset=utf-8"),
            )
            .body(xml.to_owned());
        if let Some(mailbox) = &c.impersonate {
            // Routes the request to the impersonated mailbox's server (required by Exchange Online).
            req = req.header("X-AnchorMailbox", mailbox.as_str());
        }
        req = match (authorization, &c.auth) {
            (Some(value), _) => req.header(AUTHORIZATION, value),
            (None, Auth::Basic { username, password }) => req.basic_auth(username, Some(password)),
            (None, Auth::Bearer { token }) => req.bearer_auth(token),
            (None, auth @ Auth::OAuth2ClientCredentials { .. }) => {
                req.bearer_auth(self.inner.tokens.token(&self.inner.http, auth).await?)
            }
            (None, Auth::Ntlm { .. }) => req,
        };
        req.send()
            .await
            .map_err(|e| transport_error("EWS request", &e))
    }

    /// NTLM: reuse the authenticated connection; on a 401, run the three-leg handshake.
    async fn post_ntlm(
        &self,
        state: &tokio::sync::Mutex<bool>,
        xml: &str,
    ) -> Result<reqwest::Response, Error> {
        let mut authenticated = state.lock().await;
        if *authenticated {
            let response = self.post(xml, None).await?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            // The connection was closed and a new one is anonymous: drain, then handshake.
            drain(response).await;
            *authenticated = false;
        }
        let negotiate = auth::ntlm_negotiate()?;
        let challenge = self.post("", Some(&negotiate)).await?;
        let header = challenge
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("NTLM "))
            .map(str::to_owned);
        // Drain the 401 body so that the connection (which NTLM authenticates) is reused.
        drain(challenge).await;
        let header = header.ok_or_else(|| Error::Auth {
            code: None,
            message: "server offered no NTLM challenge".into(),
        })?;
        let authenticate = auth::ntlm_authenticate(&header, &self.inner.config.auth)?;
        let response = self.post(xml, Some(&authenticate)).await?;
        *authenticated = response.status() != StatusCode::UNAUTHORIZED;
        Ok(response)
    }
}

/// Records one EWS exchange: `contactsync_ews_request_duration_seconds{operation,
/// outcome}` and, when Exchange asked us to slow down, `contactsync_ews_throttled_total`.
fn record_call(operation: &'static str, elapsed: std::time::Duration, error: Option<&Error>) {
    let outcome = match error {
        None => "ok",
        Some(Error::Throttled { .. }) => "throttled",
        Some(Error::Transient { .. }) => "transient",
        Some(Error::Auth { .. }) => "auth",
        Some(Error::NotFound { .. }) => "not_found",
        Some(Error::ChangeKeyConflict { .. }) => "conflict",
        Some(_) => "error",
    };
    metrics::histogram!("contactsync_ews_request_duration_seconds",
        "operation" => operation, "outcome" => outcome)
    .record(elapsed.as_secs_f64());
    if outcome == "throttled" {
        metrics::counter!("contactsync_ews_throttled_total", "operation" => operation).increment(1);
    }
}

/// Whether the server may have executed a request that failed so: only a throttling
/// answer (Exchange did nothing) or a refused connection (nothing was sent) prove it did not.
fn may_have_run(e: &Error) -> bool {
    match e {
        Error::Throttled { .. } => false,
        Error::Transient {
            code: None,
            message,
        } => !message.starts_with("connect:"),
        _ => true,
    }
}

/// A whole-call error when every message is throttled (single-item calls in particular).
fn all_throttled_is_error<R: OperationResponse>(response: R) -> Result<R, Error> {
    let messages = response.response_messages();
    let throttled = |m: &R::Message| {
        !m.is_success() && crate::error::classify(m.response_code()) == ErrorClass::Throttled
    };
    if !messages.is_empty() && messages.iter().all(throttled) {
        let first = &messages[0];
        return Err(Error::from_code(
            first.response_code(),
            first.message_text().unwrap_or_default(),
            first.message_xml(),
        ));
    }
    Ok(response)
}

/// Largest body read from the token endpoint or an NTLM challenge: they are a few KB.
pub(crate) const MAX_AUTH_BODY_BYTES: usize = 64 * 1024;

/// Responses from this size on are parsed on a blocking thread rather than by the task
/// that awaits them. A GetItem of 100 contacts is some 10 ms of parsing: on the awaiting
/// task (a run's engine, which meanwhile pairs and applies the chunk read before) it
/// would hold the engine; beside it, it runs on the other core.
const PARSED_BESIDE_BYTES: usize = 64 * 1024;

/// Parses an envelope, a large one on a blocking thread; answers the text with it (an
/// error quotes it).
async fn parse_beside(body: String) -> (String, Result<(Header, Body), envelope::XmlError>) {
    if body.len() < PARSED_BESIDE_BYTES {
        let parsed = envelope::parse(&body);
        return (body, parsed);
    }
    let parsing = tokio::task::spawn_blocking(move || {
        let parsed = envelope::parse(&body);
        (body, parsed)
    });
    match parsing.await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Reads the body, refusing more than `limit` bytes (checked while streaming).
async fn read_limited(response: reqwest::Response, limit: usize) -> Result<String, Error> {
    let body = read_limited_bytes(response, limit, "EWS response body").await?;
    String::from_utf8(body).map_err(|_| Error::MalformedResponse("response is not UTF-8".into()))
}

/// The raw body, refusing more than `limit` bytes (checked while streaming).
pub(crate) async fn read_limited_bytes(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(Error::ResponseTooLarge { limit });
    }
    // Sized once when the server says how much comes (the limit was checked above; a
    // length past a few MB is not taken on trust before the bytes arrive).
    const TRUSTED_LENGTH: u64 = 4 * 1024 * 1024;
    let announced = response.content_length().unwrap_or(0).min(TRUSTED_LENGTH);
    let mut body = Vec::with_capacity(announced as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(what, &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(Error::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads and drops a body we do not need (so its connection can be reused), up to a
/// limit: past it the connection is dropped instead.
async fn drain(response: reqwest::Response) {
    let _ = read_limited_bytes(response, MAX_AUTH_BODY_BYTES, "drain").await;
}

/// The start of a body, for error messages.
fn snippet(body: &str) -> String {
    body.chars().take(200).collect()
}

#[cfg(test)]
mod tests;
