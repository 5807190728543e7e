//! Sync runs as a persistent queue: enqueue (one active run per mailbox, idempotency
//! keys), leases for workers, items, cancel. Runs are visible to the mailbox owner and
//! administrators only.
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{mailboxes, sync_run_items, sync_runs};
use super::{PageRequest, Slice, Store, StoreError, StoreResult, new_id};
use crate::domain::access::Caller;
use crate::domain::profile::ContactSyncProfile;
use crate::domain::run::{
    ItemOutcome, OpKind, Run, RunCounts, RunItem, RunMode, RunReport, RunRequest, RunStatus,
    Trigger,
};

/// A run to enqueue.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub mode: RunMode,
    pub dry_run: bool,
    pub full: bool,
    pub trigger: Trigger,
    /// The client's `Idempotency-Key`: the same key (per owner) answers the same run.
    pub idempotency_key: Option<String>,
    /// An unsaved profile a dry run previews (checked by the caller like a profile save).
    pub profile: Option<ContactSyncProfile>,
}

/// The answer to an enqueue: the run, and whether this call created it.
#[derive(Debug, Clone)]
pub struct Enqueued {
    pub run: Run,
    pub created: bool,
}

/// Filters of `GET /contact-sync/runs`.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub mailbox_id: Option<Uuid>,
    pub status: Option<RunStatus>,
}

/// A run a worker holds a lease on.
#[derive(Debug, Clone)]
pub struct Claim {
    pub request: RunRequest,
    pub owner_id: String,
    /// The lease of another worker had expired: that worker died or hung.
    pub takeover: bool,
    /// A worker released the lease on shutdown; this claim resumes the run.
    pub resumed: bool,
    pub cancel_requested: bool,
    /// Counts saved by earlier attempts; this attempt adds to them.
    pub counts: RunCounts,
    /// The `seq` of this attempt's first item.
    pub next_seq: i64,
    pub attempts: i32,
}

/// What a worker learns between batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunControl {
    pub cancel_requested: bool,
    /// False when the lease went to another worker.
    pub owned: bool,
}

pub(crate) fn to_run(m: sync_runs::Model) -> Run {
    Run {
        id: m.id,
        mailbox_id: m.mailbox_id,
        status: RunStatus::parse(&m.status).unwrap_or(RunStatus::Failed),
        mode: RunMode::parse(&m.mode),
        dry_run: m.dry_run,
        full: m.full,
        trigger: Trigger::parse(&m.trigger),
        profile: m
            .profile
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok()),
        counts: serde_json::from_str(&m.counts).unwrap_or_default(),
        error: m.error,
        notice: m.notice,
        cancel_requested: m.cancel_requested,
        created_at: m.created_at,
        started_at: m.started_at,
        finished_at: m.finished_at,
    }
}

fn outcome_str(o: ItemOutcome) -> &'static str {
    match o {
        ItemOutcome::Applied => "applied",
        ItemOutcome::Planned => "planned",
        ItemOutcome::Failed => "failed",
    }
}

fn to_item(m: sync_run_items::Model) -> RunItem {
    RunItem {
        seq: m.seq,
        // Written by `append_run_items` from an `OpKind`.
        op: OpKind::parse(&m.op).unwrap_or(OpKind::ExchangeRead),
        outcome: match m.outcome.as_str() {
            "applied" => ItemOutcome::Applied,
            "planned" => ItemOutcome::Planned,
            _ => ItemOutcome::Failed,
        },
        crm_id: m.crm_id,
        item_id: m.item_id,
        code: m.code,
        message: m.message,
        before: m.before.and_then(|b| serde_json::from_str(&b).ok()),
        created_at: m.created_at,
    }
}

fn counts_json(c: &RunCounts) -> String {
    serde_json::to_string(c).expect("counts serialize")
}

/// Runs of mailboxes the caller owns (every run for an administrator).
fn visible(caller: &Caller) -> Condition {
    if caller.is_admin {
        Condition::all()
    } else {
        Condition::all().add(sync_runs::Column::OwnerId.eq(caller.user_id.clone()))
    }
}

fn active() -> Condition {
    Condition::any()
        .add(sync_runs::Column::Status.eq(RunStatus::Queued.as_str()))
        .add(sync_runs::Column::Status.eq(RunStatus::Running.as_str()))
}

/// The mailbox row, locked until the transaction ends: enqueues of one mailbox queue
/// behind each other on PostgreSQL (on SQLite the IMMEDIATE transaction already does).
pub(crate) async fn lock_mailbox(
    db: &impl ConnectionTrait,
    caller: Option<&Caller>,
    id: Uuid,
) -> StoreResult<mailboxes::Model> {
    let mut q = mailboxes::Entity::find_by_id(id);
    if let Some(c) = caller.filter(|c| !c.is_admin) {
        q = q.filter(mailboxes::Column::OwnerId.eq(c.user_id.clone()));
    }
    q.lock_exclusive()
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// The queued or running run of a mailbox.
pub(crate) async fn active_run(
    db: &impl ConnectionTrait,
    mailbox_id: Uuid,
) -> StoreResult<Option<sync_runs::Model>> {
    Ok(sync_runs::Entity::find()
        .filter(sync_runs::Column::MailboxId.eq(mailbox_id))
        .filter(active())
        .one(db)
        .await?)
}

/// Enqueues on a locked mailbox: an idempotent replay, a conflict with the active run,
/// or a new queued run.
pub(crate) async fn enqueue_locked(
    db: &impl ConnectionTrait,
    mailbox: &mailboxes::Model,
    new: &NewRun,
    now: DateTime<Utc>,
) -> StoreResult<Enqueued> {
    if let Some(key) = &new.idempotency_key {
        let earlier = sync_runs::Entity::find()
            .filter(sync_runs::Column::OwnerId.eq(mailbox.owner_id.clone()))
            .filter(sync_runs::Column::IdempotencyKey.eq(key.clone()))
            .one(db)
            .await?;
        if let Some(r) = earlier {
            if r.mailbox_id != mailbox.id {
                return Err(StoreError::Conflict(
                    "this Idempotency-Key was used for a run of another mailbox".into(),
                ));
            }
            return Ok(Enqueued {
                run: to_run(r),
                created: false,
            });
        }
    }
    if let Some(r) = active_run(db, mailbox.id).await? {
        return Err(StoreError::RunActive(r.id));
    }
    let row = sync_runs::ActiveModel {
        id: Set(new_id()),
        mailbox_id: Set(mailbox.id),
        owner_id: Set(mailbox.owner_id.clone()),
        status: Set(RunStatus::Queued.as_str().to_owned()),
        mode: Set(new.mode.as_str().to_owned()),
        dry_run: Set(new.dry_run),
        full: Set(new.full),
        trigger: Set(new.trigger.as_str().to_owned()),
        counts: Set(counts_json(&RunCounts::default())),
        error: Set(None),
        notice: Set(None),
        idempotency_key: Set(new.idempotency_key.clone()),
        cancel_requested: Set(false),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        attempts: Set(0),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        profile: Set(new
            .profile
            .as_ref()
            .map(|p| serde_json::to_string(p).expect("profile serializes"))),
    };
    let m = sync_runs::Entity::insert(row)
        .exec_with_returning(db)
        .await?;
    metrics::counter!("contactsync_sync_runs_enqueued_total", "trigger" => new.trigger.as_str())
        .increment(1);
    Ok(Enqueued {
        run: to_run(m),
        created: true,
    })
}

/// Inserts item outcomes (their `seq` given by the caller) in one statement.
async fn insert_run_items(
    db: &impl ConnectionTrait,
    run_id: Uuid,
    items: &[RunItem],
) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let rows = items.iter().map(|i| sync_run_items::ActiveModel {
        id: Set(new_id()),
        run_id: Set(run_id),
        seq: Set(i.seq),
        op: Set(i.op.as_str().to_owned()),
        outcome: Set(outcome_str(i.outcome).to_owned()),
        crm_id: Set(i.crm_id),
        item_id: Set(i.item_id.clone()),
        code: Set(i.code.clone()),
        message: Set(i.message.clone()),
        before: Set(i.before.as_ref().map(|b| b.to_string())),
        created_at: Set(i.created_at),
    });
    sync_run_items::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

impl Store {
    /// The profile a run plans against: an unsaved one a dry run previews, stored with
    /// the run, if any.
    pub async fn run_profile(&self, run_id: Uuid) -> StoreResult<Option<ContactSyncProfile>> {
        let row = sync_runs::Entity::find_by_id(run_id).one(&self.db).await?;
        Ok(row
            .and_then(|r| r.profile)
            .and_then(|p| serde_json::from_str(&p).ok()))
    }

    /// "Synchronize now" for one mailbox of the caller.
    pub async fn enqueue_run(
        &self,
        caller: &Caller,
        mailbox_id: Uuid,
        new: NewRun,
        now: DateTime<Utc>,
    ) -> StoreResult<Enqueued> {
        let txn = self.write_txn().await?;
        let mailbox = lock_mailbox(&txn, Some(caller), mailbox_id).await?;
        let out = enqueue_locked(&txn, &mailbox, &new, now).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// "Synchronize now" for every mailbox the caller owns: a new run each, or the one
    /// already active. An idempotency key applies per mailbox.
    pub async fn enqueue_all(
        &self,
        caller: &Caller,
        new: NewRun,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Enqueued>> {
        let ids: Vec<Uuid> = mailboxes::Entity::find()
            .filter(mailboxes::Column::OwnerId.eq(caller.user_id.clone()))
            .order_by_asc(mailboxes::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let mut one = new.clone();
            one.idempotency_key = new.idempotency_key.as_ref().map(|k| format!("{k}/{id}"));
            let txn = self.write_txn().await?;
            let mailbox = match lock_mailbox(&txn, Some(caller), id).await {
                Ok(m) => m,
                // Deleted meanwhile.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e),
            };
            let result = match enqueue_locked(&txn, &mailbox, &one, now).await {
                Err(StoreError::RunActive(run_id)) => {
                    let run = sync_runs::Entity::find_by_id(run_id)
                        .one(&txn)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    Enqueued {
                        run: to_run(run),
                        created: false,
                    }
                }
                other => other?,
            };
            txn.commit().await?;
            out.push(result);
        }
        Ok(out)
    }

    /// Runs the caller may see, newest last.
    pub async fn list_runs(
        &self,
        caller: &Caller,
        filter: RunFilter,
        page: PageRequest,
    ) -> StoreResult<Slice<Run>> {
        let mut cond = visible(caller);
        if let Some(m) = filter.mailbox_id {
            cond = cond.add(sync_runs::Column::MailboxId.eq(m));
        }
        if let Some(s) = filter.status {
            cond = cond.add(sync_runs::Column::Status.eq(s.as_str()));
        }
        if let Some(after) = page.after {
            cond = cond.add(sync_runs::Column::Id.gt(after));
        }
        let rows = sync_runs::Entity::find()
            .filter(cond)
            .order_by_asc(sync_runs::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let slice = Slice::from_overfetch(rows, page.limit, |r| r.id);
        Ok(Slice {
            items: slice.items.into_iter().map(to_run).collect(),
            next_after: slice.next_after,
        })
    }

    /// One run the caller may see.
    pub async fn get_run(&self, caller: &Caller, id: Uuid) -> StoreResult<Run> {
        sync_runs::Entity::find_by_id(id)
            .filter(visible(caller))
            .one(&self.db)
            .await?
            .map(to_run)
            .ok_or(StoreError::NotFound)
    }

    /// One run, whoever owns it (workers and event streams).
    pub async fn run_by_id(&self, id: Uuid) -> StoreResult<Run> {
        sync_runs::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(to_run)
            .ok_or(StoreError::NotFound)
    }

    /// The item outcomes of a run the caller may see, in order.
    pub async fn list_run_items(
        &self,
        caller: &Caller,
        run_id: Uuid,
        outcome: Option<ItemOutcome>,
        page: PageRequest,
    ) -> StoreResult<Slice<RunItem>> {
        self.get_run(caller, run_id).await?;
        let mut cond = Condition::all().add(sync_run_items::Column::RunId.eq(run_id));
        if let Some(o) = outcome {
            cond = cond.add(sync_run_items::Column::Outcome.eq(outcome_str(o)));
        }
        if let Some(after) = page.after {
            cond = cond.add(sync_run_items::Column::Id.gt(after));
        }
        let rows = sync_run_items::Entity::find()
            .filter(cond)
            .order_by_asc(sync_run_items::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let slice = Slice::from_overfetch(rows, page.limit, |r| r.id);
        Ok(Slice {
            items: slice.items.into_iter().map(to_item).collect(),
            next_after: slice.next_after,
        })
    }

    /// Cancels a run: a queued one at once, a running one at its next batch. A finished
    /// run cannot be cancelled.
    pub async fn cancel_run(
        &self,
        caller: &Caller,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<Run> {
        let txn = self.write_txn().await?;
        let m = sync_runs::Entity::find_by_id(id)
            .filter(visible(caller))
            .lock_exclusive()
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let status = RunStatus::parse(&m.status).unwrap_or(RunStatus::Failed);
        if !status.is_active() {
            return Err(StoreError::Conflict(format!(
                "the run has already finished ({})",
                status.as_str()
            )));
        }
        let mut am = m.into_active_model();
        am.cancel_requested = Set(true);
        if status == RunStatus::Queued {
            am.status = Set(RunStatus::Cancelled.as_str().to_owned());
            am.finished_at = Set(Some(now));
        }
        let m = am.update(&txn).await?;
        txn.commit().await?;
        Ok(to_run(m))
    }

    /// Queued runs (the queue depth).
    pub async fn queued_runs(&self) -> StoreResult<u64> {
        Ok(sync_runs::Entity::find()
            .filter(sync_runs::Column::Status.eq(RunStatus::Queued.as_str()))
            .count(&self.db)
            .await?)
    }

    /// Takes the oldest queued run, or a running one whose lease expired, as a lease for
    /// `worker` until `now + lease`. PostgreSQL skips rows other workers are claiming
    /// (`FOR UPDATE SKIP LOCKED`); SQLite drops that clause, and the IMMEDIATE
    /// transaction makes the claim single-writer instead.
    pub async fn claim_run(
        &self,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Claim>> {
        let txn = self.write_txn().await?;
        let expired = Condition::all()
            .add(sync_runs::Column::Status.eq(RunStatus::Running.as_str()))
            .add(
                Condition::any()
                    .add(sync_runs::Column::LeaseExpiresAt.is_null())
                    .add(sync_runs::Column::LeaseExpiresAt.lte(now)),
            );
        let claimable = Condition::any()
            .add(sync_runs::Column::Status.eq(RunStatus::Queued.as_str()))
            .add(expired);
        let mut found = None;
        for id in fair_order(&txn, claimable.clone(), now).await? {
            found = sync_runs::Entity::find_by_id(id)
                .filter(claimable.clone())
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .one(&txn)
                .await?;
            if found.is_some() {
                break;
            }
        }
        let Some(m) = found else {
            txn.commit().await?;
            return Ok(None);
        };
        let was_running = m.status == RunStatus::Running.as_str();
        let takeover = was_running && m.lease_owner.is_some();
        let next_seq = sync_run_items::Entity::find()
            .filter(sync_run_items::Column::RunId.eq(m.id))
            .select_only()
            .column_as(sync_run_items::Column::Seq.max(), "max_seq")
            .into_tuple::<Option<i64>>()
            .one(&txn)
            .await?
            .flatten()
            .map_or(1, |s| s + 1);
        let attempts = m.attempts + 1;
        let mut am = m.clone().into_active_model();
        am.status = Set(RunStatus::Running.as_str().to_owned());
        am.lease_owner = Set(Some(worker.to_owned()));
        am.lease_expires_at = Set(Some(now + lease));
        am.attempts = Set(attempts);
        am.started_at = Set(Some(m.started_at.unwrap_or(now)));
        am.update(&txn).await?;
        txn.commit().await?;
        Ok(Some(Claim {
            request: RunRequest {
                run_id: m.id,
                mailbox_id: m.mailbox_id,
                mode: RunMode::parse(&m.mode),
                dry_run: m.dry_run,
                full: m.full,
            },
            owner_id: m.owner_id,
            takeover,
            resumed: was_running && !takeover,
            cancel_requested: m.cancel_requested,
            counts: serde_json::from_str(&m.counts).unwrap_or_default(),
            next_seq,
            attempts,
        }))
    }

    /// Extends the lease of `worker` on a run; false when the lease is no longer its own.
    pub async fn heartbeat(
        &self,
        run_id: Uuid,
        worker: &str,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let res = sync_runs::Entity::update_many()
            .col_expr(
                sync_runs::Column::LeaseExpiresAt,
                Expr::value(Some(now + lease)),
            )
            .filter(sync_runs::Column::Id.eq(run_id))
            .filter(sync_runs::Column::LeaseOwner.eq(worker))
            .filter(sync_runs::Column::Status.eq(RunStatus::Running.as_str()))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Whether a cancel was asked for and whether `worker` still holds the lease.
    pub async fn run_control(&self, run_id: Uuid, worker: &str) -> StoreResult<RunControl> {
        let m = sync_runs::Entity::find_by_id(run_id)
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(RunControl {
            cancel_requested: m.cancel_requested,
            owned: m.status == RunStatus::Running.as_str()
                && m.lease_owner.as_deref() == Some(worker),
        })
    }

    /// Saves the counts so far of a run `worker` holds, with the item outcomes recorded
    /// since the last save: one commit, not two (a run saves after each chunk).
    pub async fn record_progress(
        &self,
        run_id: Uuid,
        worker: &str,
        counts: &RunCounts,
        items: &[RunItem],
    ) -> StoreResult<()> {
        let update = sync_runs::Entity::update_many()
            .col_expr(sync_runs::Column::Counts, Expr::value(counts_json(counts)))
            .filter(sync_runs::Column::Id.eq(run_id))
            .filter(sync_runs::Column::LeaseOwner.eq(worker));
        if items.is_empty() {
            update.exec(&self.db).await?;
            return Ok(());
        }
        let txn = self.write_txn().await?;
        insert_run_items(&txn, run_id, items).await?;
        update.exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Records what the run wants its watcher to know (while the worker holds the lease).
    pub async fn record_notice(&self, run_id: Uuid, worker: &str, notice: &str) -> StoreResult<()> {
        sync_runs::Entity::update_many()
            .col_expr(sync_runs::Column::Notice, Expr::value(notice))
            .filter(sync_runs::Column::Id.eq(run_id))
            .filter(sync_runs::Column::LeaseOwner.eq(worker))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Appends item outcomes (their `seq` given by the caller) in one statement.
    pub async fn append_run_items(&self, run_id: Uuid, items: &[RunItem]) -> StoreResult<()> {
        insert_run_items(&self.db, run_id, items).await
    }

    /// Gives the lease up (graceful shutdown): the run stays `running` with an expired
    /// lease, so the next claim by any worker resumes it.
    pub async fn release_run(
        &self,
        run_id: Uuid,
        worker: &str,
        counts: &RunCounts,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sync_runs::Entity::update_many()
            .col_expr(sync_runs::Column::LeaseOwner, Expr::value(None::<String>))
            .col_expr(sync_runs::Column::LeaseExpiresAt, Expr::value(Some(now)))
            .col_expr(sync_runs::Column::Counts, Expr::value(counts_json(counts)))
            .filter(sync_runs::Column::Id.eq(run_id))
            .filter(sync_runs::Column::LeaseOwner.eq(worker))
            .filter(sync_runs::Column::Status.eq(RunStatus::Running.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records how a run ended, and what it means for the mailbox's automatic sync
    /// (back-off, suspension, notifications), in one transaction. `None` when `worker`
    /// no longer holds the lease: the run is someone else's to finish.
    pub async fn finish_run(
        &self,
        run_id: Uuid,
        worker: &str,
        report: &RunReport,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Run>> {
        let txn = self.write_txn().await?;
        // Gone with its mailbox (deleted meanwhile): nothing left to record.
        let Some(m) = sync_runs::Entity::find_by_id(run_id)
            .lock_exclusive()
            .one(&txn)
            .await?
        else {
            return Ok(None);
        };
        if m.status != RunStatus::Running.as_str() || m.lease_owner.as_deref() != Some(worker) {
            return Ok(None);
        }
        let mut am = m.into_active_model();
        am.status = Set(report.status.as_str().to_owned());
        am.counts = Set(counts_json(&report.counts));
        am.error = Set(report.error.clone());
        am.finished_at = Set(Some(now));
        // The lease owner stays as the record of who finished it.
        am.lease_expires_at = Set(None);
        let m = am.update(&txn).await?;
        let run = to_run(m);
        super::schedules::after_run(&txn, &run, now).await?;
        txn.commit().await?;
        Ok(Some(run))
    }
}

/// Claimable runs looked at per claim (each owner has at most one active run per mailbox,
/// so this covers the whole queue but for the largest installations).
const CLAIM_WINDOW: u64 = 2_000;
/// Candidates tried in turn when other workers hold the first ones locked.
const CLAIM_TRIES: usize = 16;

/// The claimable runs in fair order: round robin across owners, each owner's runs oldest
/// first, and an owner's runs already executing count as its earlier turns. A due run
/// therefore waits behind at most one run of each other owner, however many that owner
/// queued.
async fn fair_order(
    txn: &impl ConnectionTrait,
    claimable: Condition,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Uuid>> {
    let candidates: Vec<(Uuid, String)> = sync_runs::Entity::find()
        .select_only()
        .column(sync_runs::Column::Id)
        .column(sync_runs::Column::OwnerId)
        .filter(claimable)
        .order_by_asc(sync_runs::Column::CreatedAt)
        .order_by_asc(sync_runs::Column::Id)
        .limit(CLAIM_WINDOW)
        .into_tuple()
        .all(txn)
        .await?;
    if candidates.len() <= 1 {
        return Ok(candidates.into_iter().map(|(id, _)| id).collect());
    }
    let executing: Vec<(String, i64)> = sync_runs::Entity::find()
        .select_only()
        .column(sync_runs::Column::OwnerId)
        .column_as(sync_runs::Column::Id.count(), "n")
        .filter(sync_runs::Column::Status.eq(RunStatus::Running.as_str()))
        .filter(sync_runs::Column::LeaseExpiresAt.gt(now))
        .group_by(sync_runs::Column::OwnerId)
        .into_tuple()
        .all(txn)
        .await?;
    let mut turns: std::collections::HashMap<String, i64> = executing.into_iter().collect();
    let mut ranked: Vec<(i64, usize, Uuid)> = candidates
        .into_iter()
        .enumerate()
        .map(|(age, (id, owner))| {
            let turn = turns.entry(owner).or_default();
            *turn += 1;
            (*turn, age, id)
        })
        .collect();
    ranked.sort_unstable();
    Ok(ranked
        .into_iter()
        .take(CLAIM_TRIES)
        .map(|(_, _, id)| id)
        .collect())
}
