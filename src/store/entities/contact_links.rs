use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contact_links")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub mailbox_id: Uuid,
    pub crm_id: Uuid,
    pub item_id: String,
    pub change_key: String,
    pub folder_id: String,
    pub crm_version: i32,
    pub crm_in_export_scope: bool,
    pub crm_base: String,
    pub ex_base: String,
    pub crm_fingerprint: String,
    pub ex_fingerprint: String,
    pub detached: bool,
    pub stamp_owed: bool,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
