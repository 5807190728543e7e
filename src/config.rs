//! One typed settings tree, loaded once from defaults < TOML file < environment.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

/// Every setting of the service; see README "Configuration" for the environment names.
/// `Debug` is written by hand: it must never print a secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Folder for the SQLite database, the generated JWT secret and the encryption key.
    pub data_dir: PathBuf,
    /// Database URL; `None` means the SQLite file `<data_dir>/contactsync.db`.
    pub database_url: Option<String>,
    /// Apply pending migrations when `serve`/`worker` start.
    pub migrate_on_start: bool,
    /// Size of the sync worker pool inside `serve` and `worker`. A run waits on Exchange
    /// most of its time (a few round trips of tens of milliseconds each), so one process
    /// overlaps several: 8 keep 5,000 mailboxes on a 5-minute interval (1,000 runs a
    /// minute; 2 managed about 600).
    pub workers: usize,
    /// How long a worker's claim on a run lasts without a heartbeat (heartbeats come every
    /// third of it); after it, another worker takes the run over.
    pub lease_seconds: u32,
    /// HS256 secret; when neither it nor a public key is set, one is generated into `data_dir`.
    pub jwt_secret: Option<String>,
    /// PEM file with an RS256 or ES256 public key (used instead of the secret).
    pub jwt_public_key_file: Option<PathBuf>,
    /// Algorithm of `jwt_public_key_file`: `RS256` or `ES256`.
    pub jwt_algorithm: Option<String>,
    /// Required `iss` claim, when set.
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim, when set.
    pub jwt_audience: Option<String>,
    /// Base64 of the 32-byte key that encrypts mailbox secrets at rest; when unset, one is
    /// generated into `<data_dir>/encryption-key`.
    pub encryption_key: Option<String>,
    /// Hosts that may be reached over http or on loopback/private addresses.
    #[serde(deserialize_with = "comma_list")]
    pub ews_allowed_hosts: Vec<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Days a deleted contact's tombstone is kept for sync before it is purged.
    pub tombstone_retention_days: u32,
    /// Days a finished run and its items are kept; the last run of each mailbox stays.
    pub run_retention_days: u32,
    /// Most finished runs (with their items) kept a mailbox, the newest.
    pub run_retention_runs: u32,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Browser origins (`https://crm.example.com`) allowed to call the API (CORS).
    #[serde(deserialize_with = "comma_list")]
    pub cors_origins: Vec<String>,
    /// Most change-feed pages read from one folder in one run (a server that never says
    /// "last page" must not hold a worker forever).
    pub max_feed_pages: u32,
    /// Most change-feed pages read in one run, all folders together.
    pub max_run_pages: u32,
    /// Longest one attempt of a run may take; past it the run fails with a clear error.
    pub max_run_seconds: u64,
    /// Longest one EWS request may take, headers and body (a server that answers one byte
    /// a second is cut off here).
    pub ews_request_timeout_seconds: u64,
    /// Pace each Graph mailbox under its 10,000 requests per 10 minutes. On in service;
    /// off only for benchmarks against the simulator (SPEC §10 measures without it).
    pub graph_pacing: bool,
    /// Mailboxes one user may connect (administrators creating for others count for the owner).
    pub max_mailboxes_per_user: u32,
    /// Users allowed more mailboxes than `max_mailboxes_per_user`: `user=limit`, comma-separated
    /// (a service user that legitimately holds hundreds of mailboxes).
    #[serde(deserialize_with = "comma_list")]
    pub mailbox_quota_overrides: Vec<String>,
    /// Live event streams one user may hold open at once.
    pub max_event_streams_per_user: u32,
    /// Calls that reach Exchange while the user waits (`/test`, `/exchange-folders`) one
    /// user may have in flight at once.
    pub max_interactive_calls_per_user: u32,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url_password),
            )
            .field("migrate_on_start", &self.migrate_on_start)
            .field("workers", &self.workers)
            .field("lease_seconds", &self.lease_seconds)
            .field("jwt_secret", &hidden(&self.jwt_secret))
            .field("jwt_public_key_file", &self.jwt_public_key_file)
            .field("jwt_algorithm", &self.jwt_algorithm)
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_audience", &self.jwt_audience)
            .field("encryption_key", &hidden(&self.encryption_key))
            .field("ews_allowed_hosts", &self.ews_allowed_hosts)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("tombstone_retention_days", &self.tombstone_retention_days)
            .field("run_retention_days", &self.run_retention_days)
            .field("run_retention_runs", &self.run_retention_runs)
            .field("log_format", &self.log_format)
            .field("cors_origins", &self.cors_origins)
            .field("max_feed_pages", &self.max_feed_pages)
            .field("max_run_pages", &self.max_run_pages)
            .field("max_run_seconds", &self.max_run_seconds)
            .field(
                "ews_request_timeout_seconds",
                &self.ews_request_timeout_seconds,
            )
            .field("graph_pacing", &self.graph_pacing)
            .field("max_mailboxes_per_user", &self.max_mailboxes_per_user)
            .field("mailbox_quota_overrides", &self.mailbox_quota_overrides)
            .field(
                "max_event_streams_per_user",
                &self.max_event_streams_per_user,
            )
            .field(
                "max_interactive_calls_per_user",
                &self.max_interactive_calls_per_user,
            )
            .finish()
    }
}

/// A database URL with its password replaced (`postgres://u:<redacted>@host/db`).
fn redact_url_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("<redacted>"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            migrate_on_start: true,
            workers: 8,
            lease_seconds: 30,
            jwt_secret: None,
            jwt_public_key_file: None,
            jwt_algorithm: None,
            jwt_issuer: None,
            jwt_audience: None,
            encryption_key: None,
            ews_allowed_hosts: Vec::new(),
            max_body_bytes: 256 * 1024,
            tombstone_retention_days: 30,
            run_retention_days: 30,
            run_retention_runs: 1_000,
            log_format: "text".into(),
            cors_origins: Vec::new(),
            max_feed_pages: 2_000,
            max_run_pages: 10_000,
            max_run_seconds: 4 * 3600,
            ews_request_timeout_seconds: 120,
            graph_pacing: true,
            max_mailboxes_per_user: 50,
            mailbox_quota_overrides: Vec::new(),
            max_event_streams_per_user: 8,
            max_interactive_calls_per_user: 2,
        }
    }
}

/// A configuration problem, naming the key at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads defaults, then the TOML file (if given or `CONTACTSYNC_CONFIG` names one),
    /// then `CONTACTSYNC_*` variables and `DATABASE_URL`, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("CONTACTSYNC_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::raw().only(&["DATABASE_URL"])).merge(
            Env::prefixed("CONTACTSYNC_").ignore(&["CONFIG", "TEST_DATABASE", "TEST_CRASH_POINT"]),
        );
        let settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: ranges and combinations.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.workers > 64 {
            return Err(ConfigError(
                "workers (CONTACTSYNC_WORKERS) must be 0..=64".into(),
            ));
        }
        if !(2..=3600).contains(&self.lease_seconds) {
            return Err(ConfigError(
                "lease_seconds (CONTACTSYNC_LEASE_SECONDS) must be 2..=3600".into(),
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError(
                "max_body_bytes (CONTACTSYNC_MAX_BODY_BYTES) must be at least 1024".into(),
            ));
        }
        if self.run_retention_days == 0 {
            return Err(ConfigError(
                "run_retention_days (CONTACTSYNC_RUN_RETENTION_DAYS) must be at least 1".into(),
            ));
        }
        if self.run_retention_runs == 0 {
            return Err(ConfigError(
                "run_retention_runs (CONTACTSYNC_RUN_RETENTION_RUNS) must be at least 1".into(),
            ));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError(
                "log_format (CONTACTSYNC_LOG_FORMAT) must be `text` or `json`".into(),
            ));
        }
        if let Some(bad) = self.cors_origins.iter().find(|o| !is_origin(o)) {
            return Err(ConfigError(format!(
                "cors_origins (CONTACTSYNC_CORS_ORIGINS): `{bad}` is not an origin like https://crm.example.com (scheme and host, no path)"
            )));
        }
        if self.jwt_public_key_file.is_some() {
            match self.jwt_algorithm.as_deref() {
                Some("RS256" | "ES256") => {}
                _ => {
                    return Err(ConfigError(
                        "jwt_algorithm (CONTACTSYNC_JWT_ALGORITHM) must be RS256 or ES256 when jwt_public_key_file is set".into(),
                    ));
                }
            }
            if self.jwt_secret.is_some() {
                return Err(ConfigError(
                    "set either jwt_secret or jwt_public_key_file, not both".into(),
                ));
            }
        }
        if let Some(secret) = &self.jwt_secret
            && secret.len() < 32
        {
            return Err(ConfigError(
                "jwt_secret (CONTACTSYNC_JWT_SECRET) must be at least 32 characters".into(),
            ));
        }
        if let Some(key) = &self.encryption_key
            && crate::crypto::decode_key(key).is_none()
        {
            return Err(ConfigError(
                "encryption_key (CONTACTSYNC_ENCRYPTION_KEY) must be base64 of 32 bytes".into(),
            ));
        }
        if self.max_feed_pages == 0 || self.max_run_pages < self.max_feed_pages {
            return Err(ConfigError(
                "max_feed_pages (CONTACTSYNC_MAX_FEED_PAGES) must be at least 1 and at most max_run_pages (CONTACTSYNC_MAX_RUN_PAGES)".into(),
            ));
        }
        if !(1..=3600).contains(&self.ews_request_timeout_seconds) {
            return Err(ConfigError(
                "ews_request_timeout_seconds (CONTACTSYNC_EWS_REQUEST_TIMEOUT_SECONDS) must be 1..=3600".into(),
            ));
        }
        if self.max_run_seconds < 10 {
            return Err(ConfigError(
                "max_run_seconds (CONTACTSYNC_MAX_RUN_SECONDS) must be at least 10".into(),
            ));
        }
        for (key, value) in [
            (
                "max_mailboxes_per_user (CONTACTSYNC_MAX_MAILBOXES_PER_USER)",
                self.max_mailboxes_per_user,
            ),
            (
                "max_event_streams_per_user (CONTACTSYNC_MAX_EVENT_STREAMS_PER_USER)",
                self.max_event_streams_per_user,
            ),
            (
                "max_interactive_calls_per_user (CONTACTSYNC_MAX_INTERACTIVE_CALLS_PER_USER)",
                self.max_interactive_calls_per_user,
            ),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{key} must be at least 1")));
            }
        }
        for entry in &self.mailbox_quota_overrides {
            let ok = entry.split_once('=').is_some_and(|(user, n)| {
                !user.trim().is_empty() && n.trim().parse::<u32>().is_ok()
            });
            if !ok {
                return Err(ConfigError(format!(
                    "mailbox_quota_overrides (CONTACTSYNC_MAILBOX_QUOTA_OVERRIDES): `{entry}` is not user=limit"
                )));
            }
        }
        for entry in &self.ews_allowed_hosts {
            if !crate::domain::address::is_valid_entry(entry) {
                return Err(ConfigError(format!(
                    "ews_allowed_hosts (CONTACTSYNC_EWS_ALLOWED_HOSTS): `{entry}` is not host or host:port"
                )));
            }
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err(ConfigError(
                "database_url (DATABASE_URL) must start with sqlite:, postgres:// or postgresql://"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The most mailboxes `user` may connect.
    pub fn mailbox_quota(&self, user: &str) -> u32 {
        self.mailbox_quota_overrides
            .iter()
            .filter_map(|e| e.split_once('='))
            .find(|(u, _)| u.trim() == user)
            .and_then(|(_, n)| n.trim().parse().ok())
            .unwrap_or(self.max_mailboxes_per_user)
    }

    /// The database URL in force: the configured one or the SQLite file in the data directory.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("contactsync.db").display()
            ),
        }
    }
}

/// `http(s)://host[:port]`, nothing after: what a browser sends in `Origin`.
fn is_origin(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Accepts `"a,b"` (as environment variables give it) or a TOML array.
fn comma_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Either::Many(v) => v,
    })
}
