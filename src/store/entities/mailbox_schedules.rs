use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mailbox_schedules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mailbox_id: Uuid,
    pub next_due_at: Option<DateTimeUtc>,
    pub consecutive_failures: i32,
    pub last_run_id: Option<Uuid>,
    pub last_run_at: Option<DateTimeUtc>,
    pub last_run_status: Option<String>,
    pub suspended_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
