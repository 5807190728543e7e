//! `TestApp`: spawns the service like `serve` does and talks HTTP to it.
use std::time::Duration;

use actix_web::web;
use contactsync::api::AppState;
use contactsync::auth::{JwtVerifier, mint_hs256};
use contactsync::config::Settings;
use contactsync::crypto::SecretBox;
use contactsync::store::Store;
use contactsync::worker::EngineContext;
use contactsync::worker::clock::{Clock, SystemClock};
use contactsync::worker::events::RunEvents;
use contactsync::worker::pool::PoolConfig;
use contactsync::worker::queue::Worker;
use contactsync::worker::scheduler::Scheduler;
use contactsync::worker::{Background, Shutdown};
use reqwest::Method;
use reqwest::header::HeaderMap;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::sync::Arc;

pub const SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

/// Which database the tests run on: `CONTACTSYNC_TEST_DATABASE=postgres://...` selects
/// PostgreSQL (a fresh schema per test), anything else a fresh SQLite file per test.
pub fn postgres_url() -> Option<String> {
    std::env::var("CONTACTSYNC_TEST_DATABASE")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub settings: Settings,
    /// The live run events shared by the API and the workers of this app.
    pub events: RunEvents,
    /// The worker pool and scheduler, when `settings.workers` > 0.
    _background: Option<Background>,
    running: contactsync::app::Running,
    pg_schema: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// An HTTP answer with its body parsed as JSON (or `Null`).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and code; returns the body.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(self.body["title"].is_string());
        assert!(
            self.body["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:contactsync:problem:")
        );
        &self.body
    }

    /// The `field` names of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            jwt_secret: Some(SECRET.into()),
            max_body_bytes: 64 * 1024,
            // Tests drive workers by hand unless they ask for a pool.
            workers: 0,
            ..Settings::default()
        };
        settings.ews_allowed_hosts = vec!["127.0.0.1".into()];
        configure(&mut settings);
        settings.validate().expect("valid test settings");
        capture_logs();
        let (store, pg_schema) = match postgres_url() {
            Some(url) => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = Store::connect(&url, None)
                    .await
                    .expect("postgres reachable");
                admin
                    .connection()
                    .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .expect("create schema");
                let store = Store::connect(&url, Some(&schema))
                    .await
                    .expect("connect schema");
                (store, Some((url, schema)))
            }
            None => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                (Store::connect(&url, None).await.expect("sqlite"), None)
            }
        };
        store.migrate().await.expect("migrations apply");
        let verifier = JwtVerifier::from_settings(&settings).expect("verifier");
        let secrets = SecretBox::from_settings(&settings).expect("secret box");
        let events = RunEvents::default();
        let background = (settings.workers > 0).then(|| {
            let config = PoolConfig {
                workers: settings.workers,
                poll: Duration::from_millis(100),
                ..PoolConfig::default()
            };
            Background::start_with(
                store.clone(),
                secrets.clone(),
                &settings,
                events.clone(),
                &config,
                Arc::new(SystemClock),
            )
        });
        let state = web::Data::new(
            AppState::new(store.clone(), verifier, secrets, settings.clone())
                .with_events(events.clone()),
        );
        let running = contactsync::app::start(state, settings.listen).expect("server starts");
        TestApp {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                // The server drops a keep-alive connection idle for 5 s (actix's
                // default); a request sent on it just then fails as an incomplete
                // message. Idle connections are let go well before that.
                .pool_idle_timeout(Duration::from_secs(2))
                .build()
                .unwrap(),
            store,
            settings,
            events,
            _background: background,
            running,
            pg_schema,
            _dir: dir,
        }
    }

    /// What the sync engine needs, over this app's database.
    pub fn engine(&self) -> EngineContext {
        EngineContext {
            store: self.store.clone(),
            secrets: SecretBox::from_settings(&self.settings).expect("secret box"),
            allowed_hosts: self.settings.ews_allowed_hosts.clone(),
            limits: contactsync::sync::limits::RunLimits::from_settings(&self.settings),
        }
    }

    /// A queue worker over this app's database, publishing to its events.
    pub fn worker(&self, name: &str, clock: Arc<dyn Clock>, lease: chrono::Duration) -> Worker {
        Worker::new(
            name,
            self.engine(),
            self.events.clone(),
            clock,
            lease,
            Shutdown::default(),
        )
    }

    /// The scheduler over this app's database.
    pub fn scheduler(&self, clock: Arc<dyn Clock>) -> Scheduler {
        Scheduler::new(self.store.clone(), clock, self.events.clone())
    }

    /// Connects a mailbox of the simulator with Basic credentials; returns its id.
    pub async fn connect_mailbox(
        &self,
        token: &str,
        sim: &ews_sim::SimHandle,
        email: &str,
        password: &str,
    ) -> String {
        let body = serde_json::json!({"email": email, "display_name": email, "ews_url": sim.ews_url(),
            "auth": {"kind": "basic", "username": email, "password": password}});
        let m = self.create("/api/v1/mailboxes", token, body).await;
        m["id"].as_str().unwrap().to_owned()
    }

    /// The database URL another process uses to reach this app's database (its
    /// PostgreSQL schema rides in the `options` parameter).
    pub fn database_url_for_processes(&self) -> String {
        match &self.pg_schema {
            Some((url, schema)) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}options=-c%20search_path%3D{schema}")
            }
            None => format!(
                "sqlite://{}?mode=rwc",
                self._dir.path().join("test.db").display()
            ),
        }
    }

    /// True when the tests run on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.pg_schema.is_some()
    }

    /// A valid token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        mint_hs256(
            SECRET,
            sub,
            false,
            Duration::from_secs(3600),
            &self.settings,
        )
        .unwrap()
    }

    /// A valid administrator token.
    pub fn admin_token(&self, sub: &str) -> String {
        mint_hs256(SECRET, sub, true, Duration::from_secs(3600), &self.settings).unwrap()
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.expect("request sent");
        Self::read(res).await
    }

    pub async fn read(res: reqwest::Response) -> Resp {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.send(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(token), Some(&body), &[])
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PATCH, path, Some(token), Some(&body), &[])
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(token), Some(&body), &[])
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.send(Method::DELETE, path, Some(token), None, &[])
            .await
    }

    /// Creates a record and returns its body, asserting 201.
    pub async fn create(&self, path: &str, token: &str, body: Value) -> Value {
        let r = self.post(path, token, body).await;
        assert_eq!(r.status, 201, "create {path}: {}", r.text);
        r.body
    }

    /// Every item of a paginated listing, following `next_cursor`.
    pub async fn list_all(&self, path: &str, token: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = path.to_owned();
        loop {
            let r = self.get(&url, token).await;
            assert_eq!(r.status, 200, "{url}: {}", r.text);
            items.extend(r.body["items"].as_array().unwrap().iter().cloned());
            match r.body["next_cursor"].as_str() {
                Some(c) => url = format!("{path}{sep}cursor={c}"),
                None => return items,
            }
        }
    }

    /// Counts rows of a table straight from the database.
    pub async fn count_rows(&self, table: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let db = self.store.connection();
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.running.handle.clone();
        drop(handle.stop(false));
        if let Some((url, schema)) = self.pg_schema.take() {
            // Drop is synchronous; clean the schema up on a runtime of its own.
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    if let Ok(s) = Store::connect(&url, None).await {
                        let _ = s
                            .connection()
                            .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
                            .await;
                    }
                });
            })
            .join()
            .ok();
        }
    }
}

/// Every log line the service wrote in this test process.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends the service's logs, at every level, to a buffer the tests can search.
fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(|| LogSink)
        .with_ansi(false)
        .try_init();
}

/// The captured logs so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// An EWS simulator with alice and bob (password `<name>-pw-S3cret`) and a service account.
pub async fn spawn_sim() -> ews_sim::SimHandle {
    ews_sim::spawn(ews_sim::SimConfig {
        control_listen: None,
        listen: "127.0.0.1:0".parse().unwrap(),
        mailboxes: vec![
            ews_sim::Credential::new("alice@example.com", "alice-pw-S3cret"),
            ews_sim::Credential::new("bob@example.com", "bob-pw-S3cret"),
        ],
        service_accounts: vec![ews_sim::Credential::new("svc@example.com", "svc-pw-S3cret")],
        latency_ms: 0,
        state_file: None,
        apps: vec![GRAPH_APP.parse().expect("an app")],
    })
    .await
    .expect("simulator starts")
}

/// The app registered on every test simulator for Microsoft Graph: tenant, client id,
/// secret.
pub const GRAPH_APP: &str = "contoso:contactsync-app:app-S3cret";

/// One Server-Sent Event: its name and its JSON data.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub event: String,
    pub data: Value,
}

/// Splits an event stream's text into events (comments such as keep-alives skipped).
pub fn parse_sse(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            Some(SseEvent {
                event: event?,
                data: serde_json::from_str(&data).unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// Polls `check` every 20 ms until it holds, for at most `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
