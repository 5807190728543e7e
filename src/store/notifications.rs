//! Notifications: what a user must know about its mailboxes and runs.
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::notifications;
use super::{PageRequest, Slice, Store, StoreResult, new_id};
use crate::domain::access::Caller;
use crate::domain::schedule::{Notification, NotificationKind};

/// Records a notification for `user_id`.
pub(crate) async fn notify(
    db: &impl ConnectionTrait,
    user_id: &str,
    kind: NotificationKind,
    mailbox_id: Option<Uuid>,
    run_id: Option<Uuid>,
    message: String,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    notifications::Entity::insert(notifications::ActiveModel {
        id: Set(new_id()),
        user_id: Set(user_id.to_owned()),
        kind: Set(kind.as_str().to_owned()),
        mailbox_id: Set(mailbox_id),
        run_id: Set(run_id),
        message: Set(message),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

impl Store {
    /// The caller's own notifications, oldest first.
    pub async fn list_notifications(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> StoreResult<Slice<Notification>> {
        let mut q = notifications::Entity::find()
            .filter(notifications::Column::UserId.eq(caller.user_id.clone()));
        if let Some(after) = page.after {
            q = q.filter(notifications::Column::Id.gt(after));
        }
        let rows = q
            .order_by_asc(notifications::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let slice = Slice::from_overfetch(rows, page.limit, |n| n.id);
        Ok(Slice {
            items: slice
                .items
                .into_iter()
                .map(|n| Notification {
                    id: n.id,
                    kind: NotificationKind::parse(&n.kind),
                    mailbox_id: n.mailbox_id,
                    run_id: n.run_id,
                    message: n.message,
                    created_at: n.created_at,
                })
                .collect(),
            next_after: slice.next_after,
        })
    }
}
