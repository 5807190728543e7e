//! Automatic sync: when the next run is due, back-off after failures, suspension; and the
//! notifications the owner receives.
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::mailbox::MailboxStatus;
use super::run::Run;

/// Failed runs in a row after which automatic sync is suspended.
pub const SUSPEND_AFTER_FAILURES: i32 = 10;

/// The longest wait between automatic runs, whatever the back-off says.
pub const MAX_BACKOFF: Duration = Duration::hours(24);

/// When the next automatic run is due after a run that ended at `now`: the interval,
/// doubled for each failure in a row, capped at [`MAX_BACKOFF`] (never below the interval).
pub fn next_due(now: DateTime<Utc>, interval_minutes: u32, failures: i32) -> DateTime<Utc> {
    let interval = Duration::minutes(i64::from(interval_minutes.max(1)));
    let factor = 1_i64 << failures.clamp(0, 20);
    let wait = interval
        .checked_mul(factor as i32)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
        .max(interval);
    now + wait
}

/// Why automatic sync stopped, as the mailbox and the schedule say it.
pub fn suspension_reason(failures: i32, last_error: Option<&str>) -> String {
    let mut reason = format!(
        "automatic sync suspended after {failures} failed runs in a row; fix the cause, then save the sync profile or run a sync"
    );
    if let Some(e) = last_error {
        reason.push_str("; last error: ");
        reason.push_str(e);
    }
    reason
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Automatic sync of a mailbox was suspended.
    MailboxSuspended,
    /// A run failed as a whole.
    RunFailed,
    /// A run finished but some items failed.
    RunPartiallyFailed,
    /// An Exchange folder the profile synced is gone; its pairs were unlinked.
    ExchangeFolderGone,
    /// Items failed in five runs in a row and are no longer retried.
    ItemsGivenUp,
}

impl NotificationKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::MailboxSuspended => "mailbox_suspended",
            NotificationKind::RunFailed => "run_failed",
            NotificationKind::RunPartiallyFailed => "run_partially_failed",
            NotificationKind::ExchangeFolderGone => "exchange_folder_gone",
            NotificationKind::ItemsGivenUp => "items_given_up",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> NotificationKind {
        match s {
            "mailbox_suspended" => NotificationKind::MailboxSuspended,
            "run_partially_failed" => NotificationKind::RunPartiallyFailed,
            "exchange_folder_gone" => NotificationKind::ExchangeFolderGone,
            "items_given_up" => NotificationKind::ItemsGivenUp,
            _ => NotificationKind::RunFailed,
        }
    }
}

/// Something the owner of a mailbox must know.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Notification {
    pub id: Uuid,
    pub kind: NotificationKind,
    pub mailbox_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// The sync status of one mailbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncStatus {
    pub mailbox_id: Uuid,
    pub mailbox_status: MailboxStatus,
    pub status_reason: Option<String>,
    pub auto_sync_enabled: bool,
    pub interval_minutes: u32,
    /// When the scheduler enqueues the next automatic run (`null`: not scheduled).
    pub next_due_at: Option<DateTime<Utc>>,
    pub consecutive_failures: i32,
    /// Set while automatic sync is suspended.
    pub suspended_reason: Option<String>,
    /// The queued or running run, if any.
    pub active_run: Option<Run>,
    /// The last finished run.
    pub last_run: Option<Run>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_per_failure_and_is_capped() {
        let t = Utc::now();
        assert_eq!(next_due(t, 60, 0), t + Duration::minutes(60));
        assert_eq!(next_due(t, 60, 1), t + Duration::minutes(120));
        assert_eq!(next_due(t, 60, 3), t + Duration::minutes(480));
        assert_eq!(next_due(t, 60, 9), t + MAX_BACKOFF);
        assert_eq!(next_due(t, 1440, 30), t + MAX_BACKOFF);
        assert_eq!(next_due(t, 5, 2), t + Duration::minutes(20));
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            NotificationKind::MailboxSuspended,
            NotificationKind::RunFailed,
            NotificationKind::RunPartiallyFailed,
        ] {
            assert_eq!(NotificationKind::parse(k.as_str()), k);
        }
    }
}
