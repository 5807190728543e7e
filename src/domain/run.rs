//! Sync runs as the API and the worker see them.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::profile::ContactSyncProfile;

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    /// Finished, but some items failed (they are retried by the next run).
    PartiallyFailed,
    Failed,
    Cancelled,
}

impl RunStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::PartiallyFailed => "partially_failed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<RunStatus> {
        Some(match s {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "partially_failed" => RunStatus::PartiallyFailed,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }

    /// Queued or running.
    pub fn is_active(self) -> bool {
        matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// Which directions a run writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    #[default]
    TwoWay,
    ImportOnly,
    ExportOnly,
}

impl RunMode {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::TwoWay => "two_way",
            RunMode::ImportOnly => "import_only",
            RunMode::ExportOnly => "export_only",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> RunMode {
        match s {
            "import_only" => RunMode::ImportOnly,
            "export_only" => RunMode::ExportOnly,
            _ => RunMode::TwoWay,
        }
    }
}

/// Who asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// "Synchronize now".
    Manual,
    /// The scheduler.
    Auto,
}

impl Trigger {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Auto => "auto",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Trigger {
        match s {
            "auto" => Trigger::Auto,
            _ => Trigger::Manual,
        }
    }
}

/// The kind of one operation: what the plan decides, what a run item records (as its
/// string form) and what the item metrics count. One enum, so no operation is ever
/// recognised by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Nothing to do for a pair (counted, never recorded as an item).
    Unchanged,
    CrmCreate,
    CrmUpdate,
    CrmDelete,
    ExchangeCreate,
    ExchangeUpdate,
    ExchangeDelete,
    /// Reading Exchange (a feed page or an item) failed.
    ExchangeRead,
    Link,
    Unlink,
}

impl OpKind {
    pub const ALL: [OpKind; 10] = [
        OpKind::Unchanged,
        OpKind::CrmCreate,
        OpKind::CrmUpdate,
        OpKind::CrmDelete,
        OpKind::ExchangeCreate,
        OpKind::ExchangeUpdate,
        OpKind::ExchangeDelete,
        OpKind::ExchangeRead,
        OpKind::Link,
        OpKind::Unlink,
    ];

    /// Stored form (also the metrics label and the JSON form).
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Unchanged => "unchanged",
            OpKind::CrmCreate => "crm_create",
            OpKind::CrmUpdate => "crm_update",
            OpKind::CrmDelete => "crm_delete",
            OpKind::ExchangeCreate => "exchange_create",
            OpKind::ExchangeUpdate => "exchange_update",
            OpKind::ExchangeDelete => "exchange_delete",
            OpKind::ExchangeRead => "exchange_read",
            OpKind::Link => "link",
            OpKind::Unlink => "unlink",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<OpKind> {
        OpKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether it writes to the CRM or to Exchange.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpKind::CrmCreate
                | OpKind::CrmUpdate
                | OpKind::CrmDelete
                | OpKind::ExchangeCreate
                | OpKind::ExchangeUpdate
                | OpKind::ExchangeDelete
        )
    }
}

/// Operation counts of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RunCounts {
    pub crm_created: u64,
    pub crm_updated: u64,
    pub crm_deleted: u64,
    pub exchange_created: u64,
    pub exchange_updated: u64,
    pub exchange_deleted: u64,
    pub linked: u64,
    pub unlinked: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Contacts and items left for a later run, not failed themselves: while an item
    /// could not be read, nothing is paired by content nor exported, as it may be the
    /// unread item's person (a second item would be made).
    pub deferred: u64,
}

impl RunCounts {
    /// Writes to either side.
    pub fn writes(&self) -> u64 {
        self.crm_created + self.crm_updated + self.crm_deleted + self.exchange_writes()
    }

    /// Writes to Exchange.
    pub fn exchange_writes(&self) -> u64 {
        self.exchange_created + self.exchange_updated + self.exchange_deleted
    }

    /// Counts one more operation done (a failure is counted with `failed` instead; a
    /// read is not an operation on a pair).
    pub fn add(&mut self, kind: OpKind) {
        let n = match kind {
            OpKind::Unchanged => &mut self.unchanged,
            OpKind::CrmCreate => &mut self.crm_created,
            OpKind::CrmUpdate => &mut self.crm_updated,
            OpKind::CrmDelete => &mut self.crm_deleted,
            OpKind::ExchangeCreate => &mut self.exchange_created,
            OpKind::ExchangeUpdate => &mut self.exchange_updated,
            OpKind::ExchangeDelete => &mut self.exchange_deleted,
            OpKind::Link => &mut self.linked,
            OpKind::Unlink => &mut self.unlinked,
            OpKind::ExchangeRead => return,
        };
        *n += 1;
    }

    /// Counts of the given operations.
    pub fn of(kinds: impl IntoIterator<Item = OpKind>) -> RunCounts {
        let mut c = RunCounts::default();
        for k in kinds {
            c.add(k);
        }
        c
    }
}

/// A run as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Run {
    pub id: Uuid,
    pub mailbox_id: Uuid,
    pub status: RunStatus,
    pub mode: RunMode,
    pub dry_run: bool,
    pub full: bool,
    pub trigger: Trigger,
    /// The unsaved profile a dry run previewed (null: the mailbox's saved profile).
    pub profile: Option<ContactSyncProfile>,
    pub counts: RunCounts,
    pub error: Option<String>,
    /// What the run wants its watcher to know while it runs: that Exchange Online's
    /// request budget makes it last at least so many minutes (SPEC §7b).
    pub notice: Option<String>,
    /// A cancel was asked for; a running run stops at its next batch.
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    /// Written.
    Applied,
    /// A dry run's planned operation, not written.
    Planned,
    /// Not written; retried by the next run.
    Failed,
}

/// The outcome of one operation of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunItem {
    /// Order within the run.
    pub seq: i64,
    pub op: OpKind,
    pub outcome: ItemOutcome,
    pub crm_id: Option<Uuid>,
    pub item_id: Option<String>,
    /// The EWS ResponseCode of a failure.
    pub code: Option<String>,
    pub message: Option<String>,
    /// What a CRM write replaced: an update's overwritten values, a deletion's whole contact.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// What a worker asks the engine to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub run_id: Uuid,
    pub mailbox_id: Uuid,
    pub mode: RunMode,
    pub dry_run: bool,
    /// Ignore saved sync states and reconcile everything.
    pub full: bool,
}

/// How a run ended, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Succeeded, PartiallyFailed, Failed or Cancelled.
    pub status: RunStatus,
    pub counts: RunCounts,
    pub error: Option<String>,
}
