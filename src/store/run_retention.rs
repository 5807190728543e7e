//! Run history is kept for `run_retention_days`, like contact tombstones: a run that
//! finished before that goes, with its items. Without it the database grows with every
//! run (5,000 mailboxes on a 5-minute interval finish 1.4 million runs a day).
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::entities::{sync_run_items, sync_runs};
use super::{Store, StoreResult};

/// Runs deleted per transaction, so that the single SQLite writer is never held long.
const PURGE_BATCH: u64 = 500;

impl Store {
    /// Deletes the runs that finished before `cutoff` and their items, except the last
    /// finished run of each mailbox (its sync status names it, however old it is).
    /// Queued and running runs are never touched. Answers how many runs went.
    pub async fn purge_run_history(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let newer = Alias::new("newer");
        // A later finished run of the same mailbox exists: this one is not the last.
        let superseded = Query::select()
            .expr(Expr::val(1))
            .from_as(sync_runs::Entity, newer.clone())
            .and_where(
                Expr::col((newer.clone(), sync_runs::Column::MailboxId))
                    .equals((sync_runs::Entity, sync_runs::Column::MailboxId)),
            )
            .and_where(
                Expr::col((newer, sync_runs::Column::FinishedAt)).gt(Expr::col((
                    sync_runs::Entity,
                    sync_runs::Column::FinishedAt,
                ))),
            )
            .to_owned();
        let mut purged = 0;
        loop {
            let txn = self.write_txn().await?;
            let ids: Vec<Uuid> = sync_runs::Entity::find()
                .select_only()
                .column(sync_runs::Column::Id)
                .filter(sync_runs::Column::FinishedAt.lt(cutoff))
                .filter(Expr::exists(superseded.clone()))
                .limit(PURGE_BATCH)
                .into_tuple()
                .all(&txn)
                .await?;
            if ids.is_empty() {
                txn.commit().await?;
                return Ok(purged);
            }
            sync_run_items::Entity::delete_many()
                .filter(sync_run_items::Column::RunId.is_in(ids.iter().copied()))
                .exec(&txn)
                .await?;
            sync_runs::Entity::delete_many()
                .filter(sync_runs::Column::Id.is_in(ids.iter().copied()))
                .exec(&txn)
                .await?;
            txn.commit().await?;
            purged += ids.len() as u64;
        }
    }
}
