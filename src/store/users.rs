//! Users are known from the first request that carries their `sub`.
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::Store;
use super::entities::users;
use crate::domain::Caller;

impl Store {
    /// Inserts the user or refreshes its name, role and last-seen time.
    pub async fn upsert_user(&self, caller: &Caller, name: &str) -> Result<(), sea_orm::DbErr> {
        let now = Utc::now();
        let row = users::ActiveModel {
            id: Set(caller.user_id.clone()),
            name: Set(name.to_owned()),
            is_admin: Set(caller.is_admin),
            created_at: Set(now),
            last_seen_at: Set(now),
        };
        users::Entity::insert(row)
            .on_conflict(
                OnConflict::column(users::Column::Id)
                    .update_columns([
                        users::Column::Name,
                        users::Column::IsAdmin,
                        users::Column::LastSeenAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        Ok(())
    }
}

/// The caller a stored user acts as (its last known role), for work done on its behalf.
pub(crate) async fn acting_as(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Caller, sea_orm::DbErr> {
    let is_admin = users::Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await?
        .is_some_and(|u| u.is_admin);
    Ok(Caller {
        user_id: user_id.to_owned(),
        is_admin,
    })
}

/// The caller a stored user acts as, for the worker (see [`acting_as`]).
pub async fn acting_as_user(store: &Store, user_id: &str) -> Result<Caller, sea_orm::DbErr> {
    acting_as(&store.db, user_id).await
}
