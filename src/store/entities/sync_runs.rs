use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub mailbox_id: Uuid,
    pub owner_id: String,
    pub status: String,
    pub mode: String,
    pub dry_run: bool,
    pub full: bool,
    pub trigger: String,
    pub counts: String,
    pub error: Option<String>,
    pub idempotency_key: Option<String>,
    pub cancel_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// The unsaved profile a dry run previews (JSON).
    pub profile: Option<String>,
    /// What the run wants its watcher to know.
    pub notice: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
