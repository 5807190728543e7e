//! One typed settings tree, loaded once from defaults < TOML file < environment.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize};

/// Every setting of the service; see README "Configuration" for the environment names.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// Size of the sync worker pool inside `serve` and `worker`.
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
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Browser origins (`https://crm.example.com`) allowed to call the API (CORS).
    #[serde(deserialize_with = "comma_list")]
    pub cors_origins: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            migrate_on_start: true,
            workers: 2,
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
            log_format: "text".into(),
            cors_origins: Vec::new(),
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
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .merge(Env::prefixed("CONTACTSYNC_").ignore(&["CONFIG", "TEST_DATABASE"]));
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
