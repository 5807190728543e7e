//! Automatic sync bookkeeping per mailbox: when the next run is due, failures in a row,
//! suspension and resumption.
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    JoinType, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{contact_sync_profiles, mailbox_schedules, mailboxes, sync_runs};
use super::runs::{Enqueued, NewRun, active_run, enqueue_locked, lock_mailbox, to_run};
use super::{Store, StoreError, StoreResult};
use crate::domain::access::Caller;
use crate::domain::mailbox::MailboxStatus;
use crate::domain::profile::{AutoSync, ContactSyncProfile};
use crate::domain::run::{Run, RunMode, RunStatus, Trigger};
use crate::domain::schedule::{
    NotificationKind, SUSPEND_AFTER_FAILURES, SyncStatus, next_due, suspension_reason,
};

/// Due mailboxes enqueued per write transaction (see [`Store::enqueue_auto`]): a few
/// milliseconds of the write lock, so the workers' writes never wait long behind it.
pub const ENQUEUE_BATCH: usize = 64;

async fn auto_sync_of(db: &impl ConnectionTrait, mailbox_id: Uuid) -> StoreResult<AutoSync> {
    Ok(contact_sync_profiles::Entity::find_by_id(mailbox_id)
        .one(db)
        .await?
        .map(|r| serde_json::from_str::<ContactSyncProfile>(&r.profile).unwrap_or_default())
        .unwrap_or_default()
        .auto_sync)
}

fn empty_schedule(mailbox_id: Uuid) -> mailbox_schedules::Model {
    mailbox_schedules::Model {
        mailbox_id,
        next_due_at: None,
        consecutive_failures: 0,
        last_run_id: None,
        last_run_at: None,
        last_run_status: None,
        suspended_reason: None,
    }
}

async fn save_schedule(
    db: &impl ConnectionTrait,
    existed: bool,
    s: mailbox_schedules::Model,
) -> StoreResult<()> {
    let am = mailbox_schedules::ActiveModel {
        mailbox_id: Set(s.mailbox_id),
        next_due_at: Set(s.next_due_at),
        consecutive_failures: Set(s.consecutive_failures),
        last_run_id: Set(s.last_run_id),
        last_run_at: Set(s.last_run_at),
        last_run_status: Set(s.last_run_status),
        suspended_reason: Set(s.suspended_reason),
    };
    if existed {
        am.update(db).await?;
    } else {
        mailbox_schedules::Entity::insert(am)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn set_mailbox_status(
    db: &impl ConnectionTrait,
    mailbox: mailboxes::Model,
    status: MailboxStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    // Not a user edit of the mailbox: the version (ETag) stays.
    let mut am = mailbox.into_active_model();
    am.status = Set(status.as_str().to_owned());
    am.status_reason = Set(reason);
    am.updated_at = Set(now);
    am.update(db).await?;
    Ok(())
}

/// After a run: success resets the failures and lifts a suspension; a failure counts,
/// backs the next automatic run off, and the tenth in a row suspends automatic sync.
/// Failed and partially failed runs notify the owner.
pub(crate) async fn after_run(
    db: &impl ConnectionTrait,
    run: &Run,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let Some(mailbox) = mailboxes::Entity::find_by_id(run.mailbox_id)
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let auto = auto_sync_of(db, run.mailbox_id).await?;
    let found = mailbox_schedules::Entity::find_by_id(run.mailbox_id)
        .one(db)
        .await?;
    let existed = found.is_some();
    let mut s = found.unwrap_or_else(|| empty_schedule(run.mailbox_id));
    s.last_run_id = Some(run.id);
    s.last_run_at = Some(now);
    s.last_run_status = Some(run.status.as_str().to_owned());
    let mut suspend = false;
    let mut resume = false;
    match run.status {
        RunStatus::Succeeded | RunStatus::PartiallyFailed => {
            resume =
                s.suspended_reason.is_some() || mailbox.status == MailboxStatus::Suspended.as_str();
            s.consecutive_failures = 0;
            s.suspended_reason = None;
        }
        RunStatus::Failed => {
            s.consecutive_failures += 1;
            if s.consecutive_failures >= SUSPEND_AFTER_FAILURES && s.suspended_reason.is_none() {
                s.suspended_reason = Some(suspension_reason(
                    s.consecutive_failures,
                    run.error.as_deref(),
                ));
                suspend = true;
            }
        }
        // A cancel says nothing about the mailbox's health.
        _ => {}
    }
    s.next_due_at = (auto.enabled && s.suspended_reason.is_none())
        .then(|| next_due(now, auto.interval_minutes, s.consecutive_failures));
    let reason = s.suspended_reason.clone();
    save_schedule(db, existed, s).await?;
    let owner = mailbox.owner_id.clone();
    let label = mailbox.email.clone();
    if suspend {
        set_mailbox_status(db, mailbox, MailboxStatus::Suspended, reason.clone(), now).await?;
        super::notifications::notify(
            db,
            &owner,
            NotificationKind::MailboxSuspended,
            Some(run.mailbox_id),
            Some(run.id),
            format!("{label}: {}", reason.unwrap_or_default()),
            now,
        )
        .await?;
    } else if resume {
        set_mailbox_status(db, mailbox, MailboxStatus::Active, None, now).await?;
    }
    let note = match run.status {
        RunStatus::Failed => Some((
            NotificationKind::RunFailed,
            format!(
                "{label}: the sync run failed: {}",
                run.error.as_deref().unwrap_or("unknown error")
            ),
        )),
        RunStatus::PartiallyFailed => Some((
            NotificationKind::RunPartiallyFailed,
            format!(
                "{label}: {} items could not be synchronized; they are retried by the next run",
                run.counts.failed
            ),
        )),
        _ => None,
    };
    if let Some((kind, message)) = note {
        super::notifications::notify(
            db,
            &owner,
            kind,
            Some(run.mailbox_id),
            Some(run.id),
            message,
            now,
        )
        .await?;
    }
    Ok(())
}

impl Store {
    /// A profile was saved: automatic sync resumes (failures forgotten, suspension
    /// lifted) and, when enabled, is due now if it was suspended or never scheduled, and
    /// no later than one interval from now otherwise.
    pub async fn profile_saved(&self, mailbox_id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        let mailbox = lock_mailbox(&txn, None, mailbox_id).await?;
        let auto = auto_sync_of(&txn, mailbox_id).await?;
        let found = mailbox_schedules::Entity::find_by_id(mailbox_id)
            .one(&txn)
            .await?;
        let existed = found.is_some();
        let mut s = found.unwrap_or_else(|| empty_schedule(mailbox_id));
        let was_suspended = s.suspended_reason.is_some();
        s.consecutive_failures = 0;
        s.suspended_reason = None;
        s.next_due_at = if !auto.enabled {
            None
        } else {
            match s.next_due_at {
                Some(due) if !was_suspended => {
                    Some(due.min(next_due(now, auto.interval_minutes, 0)))
                }
                _ => Some(now),
            }
        };
        save_schedule(&txn, existed, s).await?;
        if mailbox.status == MailboxStatus::Suspended.as_str() {
            set_mailbox_status(&txn, mailbox, MailboxStatus::Active, None, now).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Mailboxes whose profile has automatic sync on, that are not suspended and are due
    /// at `now` (a mailbox never scheduled is due). The database picks the due ones
    /// (`is_due` in SQL), so a tick reads and parses only their profiles, not every
    /// mailbox's.
    pub async fn due_mailboxes(&self, now: DateTime<Utc>) -> StoreResult<Vec<Uuid>> {
        let schedule = contact_sync_profiles::Entity::belongs_to(mailbox_schedules::Entity)
            .from(contact_sync_profiles::Column::MailboxId)
            .to(mailbox_schedules::Column::MailboxId)
            .into();
        let due = Condition::any()
            .add(mailbox_schedules::Column::MailboxId.is_null())
            .add(
                Condition::all()
                    .add(mailbox_schedules::Column::SuspendedReason.is_null())
                    .add(
                        Condition::any()
                            .add(mailbox_schedules::Column::NextDueAt.is_null())
                            .add(mailbox_schedules::Column::NextDueAt.lte(now)),
                    ),
            );
        let profiles: Vec<(Uuid, String)> = contact_sync_profiles::Entity::find()
            .select_only()
            .column(contact_sync_profiles::Column::MailboxId)
            .column(contact_sync_profiles::Column::Profile)
            .join(JoinType::LeftJoin, schedule)
            .filter(due)
            .order_by_asc(contact_sync_profiles::Column::MailboxId)
            .into_tuple()
            .all(&self.db)
            .await?;
        Ok(profiles
            .into_iter()
            .filter(|(_, profile)| {
                serde_json::from_str::<ContactSyncProfile>(profile)
                    .is_ok_and(|p| p.auto_sync.enabled)
            })
            .map(|(id, _)| id)
            .collect())
    }

    /// Enqueues an automatic run of each of these mailboxes that is still due (checked
    /// again under the mailbox lock, so that two schedulers never enqueue one twice) and
    /// has no active run; answers the runs enqueued. [`ENQUEUE_BATCH`] mailboxes share a
    /// write transaction: a tick that finds thousands due (a service started after a
    /// pause, every mailbox on one interval) commits a few times instead of once per
    /// mailbox, which on SQLite is a flush to disk each, queued with the workers' writes.
    pub async fn enqueue_auto(
        &self,
        mailbox_ids: &[Uuid],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Enqueued>> {
        let mut ids = mailbox_ids.to_vec();
        // Locked in id order by every batch, so that two schedulers never deadlock.
        ids.sort_unstable();
        ids.dedup();
        let new = NewRun {
            mode: RunMode::TwoWay,
            dry_run: false,
            full: false,
            trigger: Trigger::Auto,
            idempotency_key: None,
            profile: None,
        };
        let mut out = Vec::new();
        for batch in ids.chunks(ENQUEUE_BATCH) {
            let txn = self.write_txn().await?;
            // Deleted meanwhile: not found, nothing to enqueue.
            let locked = mailboxes::Entity::find()
                .filter(mailboxes::Column::Id.is_in(batch.iter().copied()))
                .order_by_asc(mailboxes::Column::Id)
                .lock_exclusive()
                .all(&txn)
                .await?;
            let mut autos: HashMap<Uuid, AutoSync> = contact_sync_profiles::Entity::find()
                .filter(contact_sync_profiles::Column::MailboxId.is_in(batch.iter().copied()))
                .all(&txn)
                .await?
                .into_iter()
                .map(|r| {
                    let profile: ContactSyncProfile =
                        serde_json::from_str(&r.profile).unwrap_or_default();
                    (r.mailbox_id, profile.auto_sync)
                })
                .collect();
            let mut schedules: HashMap<Uuid, mailbox_schedules::Model> =
                mailbox_schedules::Entity::find()
                    .filter(mailbox_schedules::Column::MailboxId.is_in(batch.iter().copied()))
                    .all(&txn)
                    .await?
                    .into_iter()
                    .map(|s| (s.mailbox_id, s))
                    .collect();
            for mailbox in locked {
                let auto = autos.remove(&mailbox.id).unwrap_or_default();
                let found = schedules.remove(&mailbox.id);
                if !auto.enabled || found.as_ref().is_some_and(|s| !is_due(s, now)) {
                    continue;
                }
                let enqueued = match enqueue_locked(&txn, &mailbox, &new, now).await {
                    Err(StoreError::RunActive(_)) => continue,
                    other => other?,
                };
                let existed = found.is_some();
                let mut s = found.unwrap_or_else(|| empty_schedule(mailbox.id));
                // Not due again while this run is pending; its end sets the real next time.
                s.next_due_at = Some(next_due(now, auto.interval_minutes, s.consecutive_failures));
                save_schedule(&txn, existed, s).await?;
                out.push(enqueued);
            }
            txn.commit().await?;
        }
        Ok(out)
    }

    /// The sync status of a mailbox the caller owns (or administers).
    pub async fn sync_status(&self, caller: &Caller, mailbox_id: Uuid) -> StoreResult<SyncStatus> {
        let mut q = mailboxes::Entity::find_by_id(mailbox_id);
        if !caller.is_admin {
            q = q.filter(mailboxes::Column::OwnerId.eq(caller.user_id.clone()));
        }
        let mailbox = q.one(&self.db).await?.ok_or(StoreError::NotFound)?;
        let auto = auto_sync_of(&self.db, mailbox_id).await?;
        let s = mailbox_schedules::Entity::find_by_id(mailbox_id)
            .one(&self.db)
            .await?
            .unwrap_or_else(|| empty_schedule(mailbox_id));
        let active = active_run(&self.db, mailbox_id).await?.map(to_run);
        let last = sync_runs::Entity::find()
            .filter(sync_runs::Column::MailboxId.eq(mailbox_id))
            .filter(sync_runs::Column::FinishedAt.is_not_null())
            .order_by_desc(sync_runs::Column::FinishedAt)
            .one(&self.db)
            .await?
            .map(to_run);
        Ok(SyncStatus {
            mailbox_id,
            mailbox_status: MailboxStatus::parse(&mailbox.status),
            status_reason: mailbox.status_reason,
            auto_sync_enabled: auto.enabled,
            interval_minutes: auto.interval_minutes,
            next_due_at: if auto.enabled { s.next_due_at } else { None },
            consecutive_failures: s.consecutive_failures,
            suspended_reason: s.suspended_reason,
            active_run: active,
            last_run: last,
        })
    }
}

fn is_due(s: &mailbox_schedules::Model, now: DateTime<Utc>) -> bool {
    s.suspended_reason.is_none() && s.next_due_at.is_none_or(|due| due <= now)
}
