//! Run history is kept for `run_retention_days`, like contact tombstones, and at most
//! `run_retention_runs` finished runs a mailbox: a run past either goes, with its items.
//! Without the days the database grows with every run; without the count it grows with
//! the number of runs a mailbox makes in those days (5,000 mailboxes on a 5-minute
//! interval finish 1.4 million runs a day, and keeping 30 days of them is hundreds of GB).
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query, WindowStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::entities::{sync_run_items, sync_runs};
use super::{Store, StoreResult};

/// Runs deleted per transaction, so that the single SQLite writer is never held long.
const PURGE_BATCH: usize = 500;

/// What run history to keep.
#[derive(Debug, Clone, Copy)]
pub struct RunRetention {
    /// Runs that finished before this go.
    pub cutoff: DateTime<Utc>,
    /// Most finished runs kept a mailbox, the newest (at least 1).
    pub runs_per_mailbox: u32,
}

impl Store {
    /// Deletes the finished runs past `keep` and their items, except the last finished
    /// run of each mailbox (its sync status names it, however old it is). Queued and
    /// running runs are never touched. Answers how many runs went.
    ///
    /// A mailbox at a time: each reads only its own runs (by the `(mailbox_id, id)`
    /// index), so a history grown long before this purge first ran costs one read of
    /// every run, not a sort of all of them per batch, and what is held in memory is one
    /// mailbox's surplus.
    pub async fn purge_run_history(&self, keep: RunRetention) -> StoreResult<u64> {
        let mailboxes: Vec<Uuid> = sync_runs::Entity::find()
            .select_only()
            .column(sync_runs::Column::MailboxId)
            .distinct()
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut purged = 0;
        for mailbox in mailboxes {
            let ids = self.runs_past_retention(mailbox, keep).await?;
            for batch in ids.chunks(PURGE_BATCH) {
                let txn = self.write_txn().await?;
                sync_run_items::Entity::delete_many()
                    .filter(sync_run_items::Column::RunId.is_in(batch.iter().copied()))
                    .exec(&txn)
                    .await?;
                // Counted as deleted, not as found: two processes may purge at once.
                purged += sync_runs::Entity::delete_many()
                    .filter(sync_runs::Column::Id.is_in(batch.iter().copied()))
                    .exec(&txn)
                    .await?
                    .rows_affected;
                txn.commit().await?;
            }
        }
        Ok(purged)
    }

    /// The finished runs of `mailbox` past `keep`, read outside any write: each numbered
    /// by recency, 1 the newest, which always stays.
    async fn runs_past_retention(
        &self,
        mailbox: Uuid,
        keep: RunRetention,
    ) -> StoreResult<Vec<Uuid>> {
        let (ranked, recency) = (Alias::new("ranked"), Alias::new("recency"));
        let by_recency = Query::select()
            .columns([sync_runs::Column::Id, sync_runs::Column::FinishedAt])
            .expr_window_as(
                Func::cust(Alias::new("ROW_NUMBER")),
                WindowStatement::new()
                    .order_by(sync_runs::Column::FinishedAt, Order::Desc)
                    .order_by(sync_runs::Column::Id, Order::Desc)
                    .to_owned(),
                recency.clone(),
            )
            .from(sync_runs::Entity)
            .and_where(sync_runs::Column::MailboxId.eq(mailbox))
            .and_where(sync_runs::Column::FinishedAt.is_not_null())
            .to_owned();
        let newest_kept = i64::from(Ord::max(keep.runs_per_mailbox, 1));
        let past = Query::select()
            .column((ranked.clone(), sync_runs::Column::Id))
            .from_subquery(by_recency, ranked.clone())
            .cond_where(
                Expr::col((ranked.clone(), recency.clone()))
                    .gt(newest_kept)
                    .or(Expr::col((ranked.clone(), recency))
                        .gt(1)
                        .and(Expr::col((ranked, sync_runs::Column::FinishedAt)).lt(keep.cutoff))),
            )
            .to_owned();
        let backend = self.db.get_database_backend();
        let rows = self.db.query_all_raw(backend.build(&past)).await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get::<Uuid>("", "id"))
            .collect::<Result<_, _>>()?)
    }
}
