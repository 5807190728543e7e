//! The Graph HTTP client: app token, `Prefer: IdType="ImmutableId"`, per-mailbox limits,
//! `Retry-After`, size limits, links followed only on the configured host, and `$batch`.

mod auth;
mod batch;
mod http;
mod limits;
mod methods;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backoff_free::Backoff;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, IF_MATCH, RETRY_AFTER};

pub use auth::Credential;
pub use limits::{BUDGET_WINDOW, MAILBOX_BUDGET, MAILBOX_CONCURRENCY};
pub use methods::FolderNode;

use crate::error::Error;
use crate::ops::{Method, Operation, Request};

/// How often and how long to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// First back-off delay for failures without `Retry-After` (doubled, jittered).
    pub min_delay: Duration,
    /// Largest such delay.
    pub max_delay: Duration,
    /// Longest `Retry-After` waited for in place; a longer one fails the call with
    /// `Error::Throttled` so the caller can reschedule instead of holding a worker.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// Everything a [`GraphClient`] needs.
#[derive(Clone)]
pub struct ClientConfig {
    /// The version root, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: String,
    /// e.g. `https://login.microsoftonline.com`.
    pub authority_url: String,
    /// Directory (tenant) id or domain.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// Secret or certificate.
    pub credential: Credential,
    /// The mailbox: UPN or object id.
    pub user: String,
    /// Send `Prefer: IdType="ImmutableId"` (ids survive moves between folders).
    pub immutable_ids: bool,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Requests in flight for this app and mailbox (at most 4; batch entries count).
    pub max_concurrency: usize,
    /// Requests per 10 minutes for this app and mailbox; `None` = no pacing.
    pub budget_per_10_minutes: Option<u32>,
    /// Checked addresses per host name: requests to these hosts go only there (the caller
    /// resolved and vetted them; a second DNS answer cannot lead elsewhere).
    pub resolved: Vec<(String, Vec<std::net::SocketAddr>)>,
}

impl ClientConfig {
    /// Defaults: the global cloud, immutable ids, 10 s connect, 100 s request (Graph's
    /// own limit), 32 MiB responses, 5 attempts, 4 in flight, 10,000 per 10 minutes.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: Credential,
        user: impl Into<String>,
    ) -> Self {
        Self {
            graph_url: "https://graph.microsoft.com/v1.0".into(),
            authority_url: "https://login.microsoftonline.com".into(),
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
            user: user.into(),
            immutable_ids: true,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(100),
            max_response_bytes: 32 * 1024 * 1024,
            retry: RetryPolicy::default(),
            max_concurrency: MAILBOX_CONCURRENCY,
            budget_per_10_minutes: Some(MAILBOX_BUDGET),
            resolved: Vec::new(),
        }
    }

    /// `{authority_url}/{tenant_id}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url.trim_end_matches('/'),
            self.tenant_id.trim()
        )
    }

    /// `https://<graph host>/.default`, so that national clouds get their own audience.
    pub fn scope(&self) -> Result<String, Error> {
        let url = parse_http_url("graph_url", &self.graph_url)?;
        let host = url.host_str().unwrap_or_default();
        Ok(match url.port() {
            Some(p) => format!("{}://{host}:{p}/.default", url.scheme()),
            None => format!("{}://{host}/.default", url.scheme()),
        })
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("graph_url", &self.graph_url)
            .field("authority_url", &self.authority_url)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("credential", &self.credential)
            .field("user", &self.user)
            .field("immutable_ids", &self.immutable_ids)
            .field("max_concurrency", &self.max_concurrency)
            .field("budget_per_10_minutes", &self.budget_per_10_minutes)
            .finish_non_exhaustive()
    }
}

fn parse_http_url(what: &str, s: &str) -> Result<reqwest::Url, Error> {
    let url = reqwest::Url::parse(s.trim()).map_err(|e| Error::Config(format!("{what}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::Config(format!("{what} must be http(s)://host/...")));
    }
    Ok(url)
}

/// A Graph client for one app on one mailbox (cheap to clone).
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    /// The version root without a trailing slash.
    base: reqwest::Url,
    http: reqwest::Client,
    token_request: auth::TokenRequest,
    /// The app's token, shared with the other clients of the app (`auth::shared_tokens`).
    tokens: Arc<auth::TokenCache>,
    limits: Arc<limits::MailboxLimits>,
}

impl fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphClient")
            .field("config", &self.inner.config)
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

/// Reads the body, refusing more than `limit` bytes (checked while streaming).
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, Error> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(Error::ResponseTooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error("Graph response body", &e))?
    {
        if body.len() + chunk.len() > limit {
            return Err(Error::ResponseTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses a success body (an empty one reads as JSON `null`, i.e. `()`).
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| Error::MalformedResponse(e.to_string()))
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Graph).
pub(crate) fn retry_after(value: Option<&str>) -> Option<Duration> {
    value
        .and_then(|v| v.trim().parse::<f64>().ok())
        // A value too large for a Duration (`1e300`) is no hint rather than a panic; a
        // long one is the caller's to cap (`max_retry_after`).
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

/// Jittered exponential back-off without a dependency: doubling, ±25 %.
mod backoff_free {
    use std::time::Duration;

    pub struct Backoff {
        next: Duration,
        max: Duration,
    }

    impl Backoff {
        pub fn new(min: Duration, max: Duration) -> Self {
            Self { next: min, max }
        }

        pub fn next_delay(&mut self) -> Duration {
            let base = self.next.min(self.max);
            self.next = (self.next * 2).min(self.max);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let jitter = 0.75 + f64::from(nanos % 1000) / 2000.0;
            base.mul_f64(jitter)
        }
    }
}

impl GraphClient {
    /// Builds a client; fails on unusable URLs or credentials.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = parse_http_url("graph_url", &config.graph_url)?;
        parse_http_url("authority_url", &config.authority_url)?;
        if config.tenant_id.trim().is_empty()
            || config.tenant_id.contains(['/', '?', '#'])
            || config.client_id.trim().is_empty()
            || config.user.trim().is_empty()
        {
            return Err(Error::Config(
                "tenant_id, client_id and user must be set (and tenant_id be one path segment)"
                    .into(),
            ));
        }
        config.credential.validate()?;
        let http = http::client_for(&config)?;
        let mut base = base;
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        base.set_query(None);
        let token_request = auth::TokenRequest {
            token_url: config.token_url(),
            client_id: config.client_id.trim().to_owned(),
            scope: config.scope()?,
            credential: config.credential.clone(),
        };
        let key = format!(
            "{}|{}|{}|{}|{}",
            base.host_str().unwrap_or_default(),
            config.authority_url.trim_end_matches('/'),
            config.tenant_id.trim(),
            config.client_id.trim(),
            config.user.trim()
        );
        let tokens = auth::shared_tokens(&token_request, &config.resolved);
        let limits =
            limits::mailbox_limits(&key, config.max_concurrency, config.budget_per_10_minutes);
        Ok(Self {
            inner: Arc::new(Inner {
                base,
                http,
                token_request,
                tokens,
                limits,
                config,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The mailbox the client addresses.
    pub fn user(&self) -> &str {
        &self.inner.config.user
    }

    /// A token for the app (cached), e.g. to test the credentials alone.
    pub async fn token(&self) -> Result<String, Error> {
        self.inner
            .tokens
            .token(&self.inner.http, &self.inner.token_request)
            .await
    }

    /// Sends one operation (with retries) and parses its answer.
    pub async fn execute<O: Operation>(&self, op: &O) -> Result<O::Response, Error> {
        let req = op.request();
        let url = self.url_for(&req);
        let body = self.send(&req, url, 1).await?;
        parse_body(&body)
    }

    /// The absolute URL of a request.
    fn url_for(&self, req: &Request) -> reqwest::Url {
        let mut url = self.inner.base.clone();
        let relative = req.relative_url();
        let (path, query) = relative.split_once('?').unwrap_or((&relative, ""));
        let full_path = format!("{}{}", self.inner.base.path(), path);
        url.set_path(&full_path);
        url.set_query((!query.is_empty()).then_some(query));
        url
    }

    /// Checks that a link from an answer (`@odata.nextLink`, `@odata.deltaLink`) points at
    /// the configured Graph host: the token goes with it.
    pub fn check_link(&self, link: &str) -> Result<reqwest::Url, Error> {
        let url = reqwest::Url::parse(link)
            .map_err(|e| Error::MalformedResponse(format!("unreadable link: {e}")))?;
        let base = &self.inner.base;
        let same = url.scheme() == base.scheme()
            && url.host_str().map(str::to_ascii_lowercase)
                == base.host_str().map(str::to_ascii_lowercase)
            && url.port_or_known_default() == base.port_or_known_default()
            && url.path().starts_with(base.path());
        if !same {
            return Err(Error::SyncStateInvalid {
                code: "LinkNotOnGraphHost".into(),
                message: format!(
                    "refusing to follow a link to {} (the configured Graph host is {})",
                    url.host_str().unwrap_or("?"),
                    base.host_str().unwrap_or("?")
                ),
            });
        }
        Ok(url)
    }

    /// Sends a request to `url` with retries; answers the success body.
    ///
    /// Retried: 429/503 (after `Retry-After`, up to the cap; nothing was done), a 401
    /// once after a new token, and for idempotent methods 5xx and transport failures.
    pub(crate) async fn send(
        &self,
        req: &Request,
        url: reqwest::Url,
        requests: u32,
    ) -> Result<Vec<u8>, Error> {
        let policy = &self.inner.config.retry;
        let mut backoff = Backoff::new(policy.min_delay, policy.max_delay);
        let mut refreshed = false;
        let mut attempt = 1;
        loop {
            let error = match self.send_once(req, url.clone(), requests).await {
                Ok((status, _, body)) if status.is_success() => return Ok(body),
                Ok((StatusCode::UNAUTHORIZED, _, _)) if !refreshed => {
                    // The token may have been revoked or expired early: one new token.
                    refreshed = true;
                    self.inner.tokens.invalidate().await;
                    continue;
                }
                Ok((status, hint, body)) => Error::from_response(status.as_u16(), hint, &body),
                Err(e) => e,
            };
            let retry = attempt < policy.max_attempts
                && match &error {
                    Error::Throttled { .. } => true,
                    e if e.is_retryable() => req.method.is_idempotent(),
                    _ => false,
                };
            if !retry {
                return Err(error);
            }
            let delay = match &error {
                Error::Throttled {
                    retry_after: Some(hint),
                    ..
                } if *hint > policy.max_retry_after => return Err(error),
                Error::Throttled {
                    retry_after: Some(hint),
                    ..
                } => *hint,
                _ => backoff.next_delay(),
            };
            tracing::warn!(method = req.method.as_str(), path = %req.path, attempt, ?delay, error = %error, "Graph request failed, retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One HTTP exchange carrying `requests` Graph requests (a `$batch` carries its
    /// entries): each counts against the 10-minute budget, and they hold as many of the
    /// mailbox's in-flight permits as Graph runs at once (at most 4).
    async fn send_once(
        &self,
        req: &Request,
        url: reqwest::Url,
        requests: u32,
    ) -> Result<(StatusCode, Option<Duration>, Vec<u8>), Error> {
        let weight = requests.clamp(1, self.inner.config.max_concurrency.max(1) as u32);
        // The mailbox's budget is shared by its clients and set by the first; a client
        // configured without one (a benchmark's) is not paced by it.
        let wait = match self.inner.config.budget_per_10_minutes {
            None => Duration::ZERO,
            Some(_) => self
                .inner
                .limits
                .budget
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take(requests.max(1), Instant::now()),
        };
        if !wait.is_zero() {
            tracing::info!(?wait, "Graph request budget of the mailbox spent, pacing");
            tokio::time::sleep(wait).await;
        }
        let token = self.token().await?;
        let _permit = self
            .inner
            .limits
            .permits
            .acquire_many(weight)
            .await
            .map_err(|_| Error::Config("mailbox semaphore closed".into()))?;
        let started = Instant::now();
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .inner
            .http
            .request(method, url)
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if let Some(prefer) = req.prefer(self.inner.config.immutable_ids) {
            builder = builder.header("Prefer", prefer);
        }
        for (k, v) in &req.headers {
            if k.eq_ignore_ascii_case("if-match") {
                builder = builder.header(IF_MATCH, v.as_str());
            } else {
                builder = builder.header(k.as_str(), v.as_str());
            }
        }
        if let Some(body) = &req.body {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(serde_json::to_vec(body).expect("JSON serializes"));
        }
        let response = builder
            .send()
            .await
            .map_err(|e| transport_error("Graph request", &e))?;
        let status = response.status();
        let hint = retry_after(
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
        );
        let body = read_limited(response, self.inner.config.max_response_bytes).await?;
        tracing::debug!(method = req.method.as_str(), path = %req.path, %status, elapsed = ?started.elapsed(), "Graph response");
        Ok((status, hint, body))
    }
}

#[cfg(test)]
mod tests;
