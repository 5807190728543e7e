//! The processes a benchmark drives: the simulator and the service, each its own
//! `contactsync` process, so that the service's peak RSS is its own.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use contactsync::config::Settings;
use contactsync::crypto::SecretBox;
use contactsync::domain::Caller;
use contactsync::domain::mailbox::{AuthWrite, GraphWrite, MailboxTransport, MailboxWrite};
use contactsync::domain::profile::ContactSyncProfile;
use contactsync::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

/// The HS256 secret the service is started with (the bench mints its tokens).
pub const JWT_SECRET: &str = "benchmark-secret-benchmark-secret-0123456789";

/// The app registered on the simulator's Graph front end: tenant, client id, secret.
const GRAPH_APP: (&str, &str, &str) = ("bench", "bench-app", "bench-S3cret");

/// The protocol the benchmark's mailboxes use: `SYNC_BENCH_TRANSPORT=graph` for Microsoft
/// Graph, EWS otherwise.
pub fn transport() -> MailboxTransport {
    match std::env::var("SYNC_BENCH_TRANSPORT").as_deref() {
        Ok("graph") => MailboxTransport::Graph,
        _ => MailboxTransport::Ews,
    }
}

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_contactsync")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn wait_until_up(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

/// Peak and current resident set of a process, in MiB (Linux).
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU time a process has used so far, all its threads, in seconds (Linux): with the
/// requests served in between, the CPU one request costs, which depends far less on the
/// machine's load than latency does.
pub fn cpu_seconds(pid: u32) -> f64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten();
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        // The first field: nanoseconds on a CPU.
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e9
}

/// `contactsync ews-sim` in its own process.
pub struct Sim {
    child: Child,
    pub http: reqwest::Client,
    base: String,
}

impl Sim {
    pub async fn start() -> Sim {
        let port = free_port();
        let (tenant, client, secret) = GRAPH_APP;
        let child = Command::new(binary())
            .args(["ews-sim", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--app", &format!("{tenant}:{client}:{secret}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("simulator starts");
        let sim = Sim {
            child,
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_until_up(&sim.http, &sim.control("/stats")).await;
        sim
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ews_url(&self) -> String {
        format!("{}/EWS/Exchange.asmx", self.base)
    }

    /// How a mailbox of this simulator is connected, over the benchmark's transport.
    pub fn mailbox_write(&self, email: &str) -> MailboxWrite {
        match transport() {
            MailboxTransport::Ews => MailboxWrite {
                email: Some(email.into()),
                ews_url: Some(self.ews_url()),
                auth: Some(AuthWrite::Basic {
                    username: Some(email.into()),
                    password: Some("pw".into()),
                }),
                ..Default::default()
            },
            MailboxTransport::Graph => MailboxWrite {
                email: Some(email.into()),
                transport: Some(MailboxTransport::Graph),
                graph: Some(GraphWrite {
                    tenant_id: Some(GRAPH_APP.0.into()),
                    client_id: Some(GRAPH_APP.1.into()),
                    client_secret: Some(GRAPH_APP.2.into()),
                    graph_url: Some(format!("{}/v1.0", self.base)),
                    authority_url: Some(self.base.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        }
    }

    fn control(&self, path: &str) -> String {
        format!("{}/_sim{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Value {
        let res = req.send().await.expect("simulator answers");
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        assert!(status.is_success(), "simulator: {status} {body}");
        serde_json::from_str(&body).unwrap_or(Value::Null)
    }

    pub async fn add_mailbox(&self, email: &str) {
        self.send(
            self.http
                .post(self.control("/mailboxes"))
                .json(&json!({"email": email, "password": "pw"})),
        )
        .await;
    }

    pub async fn seed(&self, email: &str, contacts: Vec<Value>) {
        for chunk in contacts.chunks(5000) {
            self.send(
                self.http
                    .post(self.control(&format!("/mailboxes/{email}/seed")))
                    .json(&json!({"contacts": chunk})),
            )
            .await;
        }
    }

    pub async fn set_latency(&self, ms: u64) {
        self.send(
            self.http
                .put(self.control("/latency"))
                .json(&json!({"latency_ms": ms})),
        )
        .await;
    }

    /// Edits, creates and deletes contacts in every mailbox's Contacts folder.
    pub async fn churn(&self, edits: usize, creates: usize, deletes: usize) {
        self.send(
            self.http
                .post(self.control("/churn"))
                .json(&json!({"edits": edits, "creates": creates, "deletes": deletes})),
        )
        .await;
    }

    pub async fn clear_stats(&self) {
        self.send(self.http.delete(self.control("/requests"))).await;
    }

    /// The simulator's request log (the last 10,000 requests), as JSON.
    pub async fn requests(&self) -> Value {
        self.send(self.http.get(self.control("/requests"))).await
    }

    pub async fn stats(&self) -> ews_sim::RequestStats {
        serde_json::from_value(self.send(self.http.get(self.control("/stats"))).await)
            .expect("stats")
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A contact as the simulator seeds it; `tag` keeps addresses apart between mailboxes.
pub fn sim_contact(tag: &str, i: usize) -> Value {
    json!({
        "given_name": format!("Given{i}"), "surname": format!("Surname{i}"),
        "display_name": format!("Given{i} Surname{i}"), "company_name": format!("Company {}", i % 97),
        "job_title": "Engineer",
        "email_addresses": {"EmailAddress1": format!("person{i}@{tag}.test")},
        "phone_numbers": {"MobilePhone": format!("+47 {i:08}")}
    })
}

/// A service's database and data directory, prepared in this process before the service
/// starts (mailboxes, profiles and CRM contacts are written straight to the store).
pub struct Data {
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    pub store: Store,
    pub secrets: SecretBox,
}

/// `SYNC_BENCH_DATABASE=postgres://user@host:port/name`: the service's database, on
/// PostgreSQL; SQLite in the data directory when unset.
fn postgres_url() -> Option<String> {
    std::env::var("SYNC_BENCH_DATABASE")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

/// Empties the PostgreSQL database at `url` (its `public` schema dropped and made
/// again), creating it first when it does not exist, so that each scenario starts alike.
async fn fresh_postgres(url: &str) {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let (server, name) = url.rsplit_once('/').expect("postgres://host/database");
    let admin = Store::connect(&format!("{server}/postgres"), None)
        .await
        .expect("PostgreSQL answers");
    let exists = admin
        .connection()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .expect("database list");
    if exists.is_none() {
        admin
            .connection()
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("database created");
    }
    let db = Store::connect(url, None).await.expect("PostgreSQL answers");
    db.connection()
        .execute_unprepared("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
        .await
        .expect("database emptied");
}

impl Data {
    pub async fn new() -> Data {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ews_allowed_hosts: vec!["127.0.0.1".into()],
            database_url: postgres_url(),
            ..Settings::default()
        };
        if let Some(url) = &settings.database_url {
            fresh_postgres(url).await;
        }
        let store = Store::connect(&settings.effective_database_url(), None)
            .await
            .expect("database");
        store.migrate().await.expect("migrations");
        let secrets = SecretBox::from_settings(&settings).expect("encryption key");
        Data {
            dir,
            settings,
            store,
            secrets,
        }
    }

    /// A mailbox of `owner` on the simulator with this profile.
    pub async fn mailbox(
        &self,
        sim: &Sim,
        owner: &str,
        email: &str,
        profile: ContactSyncProfile,
    ) -> Uuid {
        let caller = Caller {
            user_id: owner.into(),
            is_admin: false,
        };
        let m = self
            .store
            .create_mailbox(
                &self.secrets,
                &caller,
                sim.mailbox_write(email),
                &self.settings.ews_allowed_hosts,
                |_| u32::MAX,
            )
            .await
            .expect("mailbox");
        self.store
            .put_profile(&caller, m.id, profile, None)
            .await
            .expect("profile");
        m.id
    }

    /// The SQLite file (none on PostgreSQL: its size reads 0).
    pub fn db_file(&self) -> PathBuf {
        self.dir.path().join("contactsync.db")
    }
}

/// Bytes of the SQLite database and its WAL.
pub fn db_bytes(db: &Path) -> u64 {
    let size = |p: PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    size(db.to_path_buf()) + size(PathBuf::from(format!("{}-wal", db.display())))
}

/// `contactsync serve` in its own process over a prepared data directory.
pub struct Service {
    child: Child,
    pub http: reqwest::Client,
    pub base: String,
}

/// A finished run as the API reports it.
#[derive(Debug)]
pub struct RunResult {
    pub status: String,
    pub seconds: f64,
    pub items: u64,
}

impl Service {
    pub async fn start(data: &Data, workers: usize) -> Service {
        if postgres_url().is_some() {
            // What was seeded straight into the tables has no planner statistics yet (a
            // service's autovacuum gathers them within a minute or so): without them
            // PostgreSQL reads every contact of the owner for a listing page.
            use sea_orm::ConnectionTrait;
            data.store
                .connection()
                .execute_unprepared("ANALYZE")
                .await
                .expect("statistics gathered");
        }
        let port = free_port();
        let log = std::fs::File::create(data.dir.path().join("service.log")).expect("log file");
        let mut command = Command::new(binary());
        if let Some(url) = &data.settings.database_url {
            command.env("CONTACTSYNC_DATABASE_URL", url);
        }
        let child = command
            .arg("serve")
            .env("CONTACTSYNC_LISTEN", format!("127.0.0.1:{port}"))
            .env("CONTACTSYNC_DATA_DIR", data.dir.path())
            .env("CONTACTSYNC_JWT_SECRET", JWT_SECRET)
            .env("CONTACTSYNC_EWS_ALLOWED_HOSTS", "127.0.0.1")
            .env("CONTACTSYNC_WORKERS", workers.to_string())
            // SPEC §10 measures Graph without the 10-minute budget's pacing.
            .env("CONTACTSYNC_GRAPH_PACING", "false")
            .env("RUST_LOG", "warn")
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("service starts");
        let service = Service {
            child,
            http: reqwest::Client::new(),
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_until_up(&service.http, &format!("{}/readyz", service.base)).await;
        service
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn token(user: &str) -> String {
        contactsync::auth::mint_hs256(
            JWT_SECRET,
            user,
            false,
            Duration::from_secs(3600),
            &Settings::default(),
        )
        .expect("token")
    }

    /// "Synchronize now" through the API, then waits for the run's end.
    pub async fn run(&self, owner: &str, mailbox: Uuid) -> RunResult {
        let token = Self::token(owner);
        let res = self
            .http
            .post(format!(
                "{}/api/v1/mailboxes/{mailbox}/contact-sync/runs",
                self.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .expect("service answers");
        assert_eq!(
            res.status(),
            202,
            "{}",
            res.text().await.unwrap_or_default()
        );
        let run: Value = res.json().await.expect("run");
        let id = run["id"].as_str().expect("run id").to_owned();
        loop {
            // The run's time is its own record's (started to finished), not when this sees
            // it end: polling more often would only take CPU from the run it measures.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let run: Value = self
                .http
                .get(format!("{}/api/v1/contact-sync/runs/{id}", self.base))
                .bearer_auth(&token)
                .send()
                .await
                .expect("service answers")
                .json()
                .await
                .expect("run");
            if run["finished_at"].is_string() {
                return run_result(&run);
            }
        }
    }

    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.to_utc())
        .expect("a time")
}

fn run_result(run: &Value) -> RunResult {
    let seconds = (time(&run["finished_at"]) - time(&run["started_at"]))
        .num_microseconds()
        .unwrap_or(0) as f64
        / 1e6;
    let counts = &run["counts"];
    let items = [
        "crm_created",
        "crm_updated",
        "crm_deleted",
        "exchange_created",
        "exchange_updated",
        "exchange_deleted",
    ]
    .iter()
    .map(|k| counts[k].as_u64().unwrap_or(0))
    .sum();
    RunResult {
        status: run["status"].as_str().unwrap_or("?").to_owned(),
        seconds,
        items,
    }
}
