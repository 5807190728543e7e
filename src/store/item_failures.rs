//! Items that failed in sync runs (SPEC §5): retried by later runs even once their
//! folder's feed has moved on; after [`GIVE_UP_AFTER`] failed runs in a row given up,
//! with a notification to the mailbox owner. A later change on either side brings the
//! item into a run again, and a success forgets it.
use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use super::entities::sync_item_failures;
use super::{Store, StoreResult};
use crate::domain::schedule::NotificationKind;

/// Failed runs in a row after which an item is given up.
pub const GIVE_UP_AFTER: i32 = 5;

/// An item failing in this run: its key (an ItemId, or `crm:<id>`), and why.
#[derive(Debug, Clone)]
pub struct ItemFailure {
    pub key: String,
    pub code: Option<String>,
    pub message: String,
}

/// The key of a CRM contact with no Exchange item.
pub fn crm_key(id: Uuid) -> String {
    format!("crm:{id}")
}

impl Store {
    /// Keys of the mailbox's failing items not given up (to retry).
    pub async fn failing_items(&self, mailbox_id: Uuid) -> StoreResult<Vec<String>> {
        Ok(sync_item_failures::Entity::find()
            .filter(sync_item_failures::Column::MailboxId.eq(mailbox_id))
            .filter(sync_item_failures::Column::GivenUp.eq(false))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| r.item_key)
            .collect())
    }

    /// Keys of every item of the mailbox with failures on record, given up or not.
    pub async fn item_failure_keys(&self, mailbox_id: Uuid) -> StoreResult<Vec<String>> {
        Ok(sync_item_failures::Entity::find()
            .select_only()
            .column(sync_item_failures::Column::ItemKey)
            .filter(sync_item_failures::Column::MailboxId.eq(mailbox_id))
            .into_tuple()
            .all(&self.db)
            .await?)
    }

    /// Records a run's item outcomes, in one transaction: `failed` items count one more
    /// failed run (given up at [`GIVE_UP_AFTER`], with one notification for the run);
    /// `cleared` items (applied, or retried and found with nothing to do) are forgotten.
    /// Answers how many items were given up now.
    pub async fn record_item_failures(
        &self,
        mailbox_id: Uuid,
        owner_id: &str,
        failed: &[ItemFailure],
        cleared: &[String],
    ) -> StoreResult<usize> {
        if failed.is_empty() && cleared.is_empty() {
            return Ok(0);
        }
        let txn = self.write_txn().await?;
        let now = Utc::now();
        for chunk in cleared.chunks(500) {
            sync_item_failures::Entity::delete_many()
                .filter(sync_item_failures::Column::MailboxId.eq(mailbox_id))
                .filter(sync_item_failures::Column::ItemKey.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await?;
        }
        let mut given_up = 0;
        for f in failed {
            let row = sync_item_failures::Entity::find_by_id((mailbox_id, f.key.clone()))
                .one(&txn)
                .await?;
            match row {
                Some(r) => {
                    let runs = r.runs + 1;
                    let give_up = !r.given_up && runs >= GIVE_UP_AFTER;
                    given_up += usize::from(give_up);
                    let was_given_up = r.given_up;
                    let mut am = r.into_active_model();
                    am.runs = Set(runs);
                    am.given_up = Set(was_given_up || give_up);
                    am.code = Set(f.code.clone());
                    am.message = Set(f.message.clone());
                    am.updated_at = Set(now);
                    sea_orm::ActiveModelTrait::update(am, &txn).await?;
                }
                None => {
                    sync_item_failures::Entity::insert(sync_item_failures::ActiveModel {
                        mailbox_id: Set(mailbox_id),
                        item_key: Set(f.key.clone()),
                        runs: Set(1),
                        given_up: Set(false),
                        code: Set(f.code.clone()),
                        message: Set(f.message.clone()),
                        updated_at: Set(now),
                    })
                    .exec_without_returning(&txn)
                    .await?;
                }
            }
        }
        if given_up > 0 {
            super::notifications::notify(
                &txn,
                owner_id,
                NotificationKind::ItemsGivenUp,
                Some(mailbox_id),
                None,
                format!(
                    "{given_up} item(s) failed in {GIVE_UP_AFTER} runs in a row and are no longer retried; a change on either side tries them again."
                ),
                now,
            )
            .await?;
        }
        txn.commit().await?;
        Ok(given_up)
    }
}
