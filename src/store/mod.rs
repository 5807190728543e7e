//! Repositories over SeaORM, one per aggregate. Entities stay inside this module; callers
//! speak domain types.
pub mod accounts;
pub mod contact_types;
pub mod contacts;
pub(crate) mod crm_views;
pub(crate) mod entities;
pub mod folders;
mod grants;
pub mod item_failures;
pub mod mailboxes;
pub mod notifications;
mod run_retention;
pub mod runs;
pub mod schedules;
mod sqlite_tuning;
pub mod sync_state;
pub mod users;

pub use grants::Listed;
pub use run_retention::RunRetention;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use uuid::Uuid;

use crate::domain::ValidationErrors;

/// A storage failure, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist or the caller may not see it.
    #[error("not found")]
    NotFound,
    /// `If-Match` named another version.
    #[error("version {current} is current")]
    PreconditionFailed { current: i32 },
    /// The caller sees the record but may not do this to it.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The mailbox already has a queued or running run (its id).
    #[error("run {0} of this mailbox is queued or running")]
    RunActive(Uuid),
    /// The request conflicts with the record's state.
    #[error("{0}")]
    Conflict(String),
    /// The owner already has as many records of this kind as a user may.
    #[error("{0}")]
    QuotaExceeded(String),
    /// The input breaks a rule; every bad field is named.
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// One page of a keyset-paginated listing, ordered by id (UUIDv7, so by creation time).
#[derive(Debug, Clone)]
pub struct Slice<T> {
    pub items: Vec<T>,
    /// The id to continue after, when more rows may follow.
    pub next_after: Option<Uuid>,
}

/// Where a listing starts and how many rows it returns.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub after: Option<Uuid>,
    pub limit: u64,
}

impl<T> Slice<T> {
    /// Cuts a `limit + 1` fetch to `limit` rows and notes where the next page starts.
    fn from_overfetch(mut rows: Vec<T>, limit: u64, id_of: impl Fn(&T) -> Uuid) -> Slice<T> {
        let next_after = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(&id_of)
        } else {
            None
        };
        Slice {
            items: rows,
            next_after,
        }
    }
}

/// The file of a SQLite URL (`sqlite://path?mode=rwc`, `sqlite:path`); none in memory.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

/// The database handle shared by the API, the workers and the CLI.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Connects to `url` (`sqlite://...` or `postgres://...`); `schema` selects a PostgreSQL
    /// schema (tests use one per test).
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Store, DbErr> {
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(8)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        if url.starts_with("sqlite:") {
            // Every statement checks a connection out of the pool, and sqlx pings each
            // one it hands out: on SQLite a round trip to the connection's own thread
            // (two thread switches) per statement, for a connection that cannot be cut.
            // PostgreSQL keeps the ping: it finds the connections a database restart or
            // a network cut left dead before a statement fails on them.
            opts.test_before_acquire(false);
            sqlite_tuning::configure_library();
            opts.map_sqlx_sqlite_pool_opts(|pool| {
                pool.after_connect(|conn, _| Box::pin(sqlite_tuning::configure_connection(conn)))
            });
        }
        if let Some(file) = sqlite_file(url) {
            // Created here, owner-only, before SQLite would create it with the umask's
            // permissions (its journal files take the database file's).
            crate::private_files::create_private_file_if_missing(&file)
                .map_err(|e| DbErr::Custom(format!("creating {}: {e}", file.display())))?;
            // WAL lets reads go on beside the single writer. A connection's statements
            // run on its own thread, which hands rows over through a buffer: 50 by
            // default, one short of a listing's page of 50 and the row that tells
            // whether another page follows, so the thread would stop and be woken again
            // for the last row of every page.
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    .row_buffer_size(64)
            });
        }
        if let Some(schema) = schema {
            opts.set_schema_search_path(schema.to_owned());
        }
        let db = Database::connect(opts).await?;
        Ok(Store { db })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        migration::Migrator::up(&self.db, None).await?;
        contacts::fill_match_keys(self).await
    }

    /// True when every migration has been applied.
    pub async fn is_migrated(&self) -> Result<bool, DbErr> {
        Ok(migration::Migrator::get_pending_migrations(&self.db)
            .await?
            .is_empty())
    }

    /// Checks the connection.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    /// The raw connection, for tests and the CLI that inspect rows directly.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Starts a short write transaction. SQLite gets `BEGIN IMMEDIATE` so that two
    /// read-then-write transactions queue on the busy timeout instead of failing.
    pub(crate) async fn write_txn(&self) -> Result<DatabaseTransaction, DbErr> {
        let mut options = TransactionOptions::default();
        if self.db.get_database_backend() == DbBackend::Sqlite {
            options.sqlite_transaction_mode = Some(SqliteTransactionMode::Immediate);
        }
        self.db.begin_with_options(options).await
    }
}

/// The next positional parameter of the backend's SQL dialect (for the statements written
/// as SQL text).
pub(crate) fn placeholder(backend: DbBackend, next: &mut usize) -> String {
    *next += 1;
    match backend {
        DbBackend::Postgres => format!("${next}"),
        _ => "?".into(),
    }
}

/// `n` of them, comma-separated: the inside of an `IN (...)`.
pub(crate) fn placeholders(backend: DbBackend, next: &mut usize, n: usize) -> String {
    (0..n)
        .map(|_| placeholder(backend, next))
        .collect::<Vec<_>>()
        .join(", ")
}

/// New ids are UUIDv7: time-ordered, so keyset pagination by id follows creation order.
pub(crate) fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Checks an `If-Match` version against the stored one.
pub(crate) fn check_version(expected: Option<i32>, current: i32) -> StoreResult<()> {
    match expected {
        Some(v) if v != current => Err(StoreError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}

/// A case-insensitive `LIKE` pattern for a user's search text, with wildcards escaped.
pub(crate) fn like_pattern(q: &str) -> String {
    let escaped = q
        .trim()
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

impl From<crate::domain::access::OwnershipError> for StoreError {
    fn from(e: crate::domain::access::OwnershipError) -> Self {
        match e {
            crate::domain::access::OwnershipError::Invalid(v) => StoreError::Invalid(v),
            crate::domain::access::OwnershipError::Forbidden(m) => StoreError::Forbidden(m),
        }
    }
}
