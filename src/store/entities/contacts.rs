use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub type_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub company: String,
    pub given_name: String,
    pub middle_name: String,
    pub surname: String,
    pub full_name: String,
    pub salutation: String,
    pub gender: String,
    pub job_title: String,
    pub department: String,
    pub birthday: Option<Date>,
    pub web_page: String,
    pub email1: String,
    pub email2: String,
    pub email3: String,
    pub business_phone: String,
    pub home_phone: String,
    pub mobile_phone: String,
    pub business_street: String,
    pub business_city: String,
    pub business_state: String,
    pub business_postal_code: String,
    pub business_country: String,
    pub home_street: String,
    pub home_city: String,
    pub home_state: String,
    pub home_postal_code: String,
    pub home_country: String,
    pub owner_id: String,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub deleted_at: Option<DateTimeUtc>,
    /// First-sync matching's keys (`sync::matching::stored_keys`); NULL until computed.
    pub email1_key: Option<String>,
    pub email2_key: Option<String>,
    pub email3_key: Option<String>,
    pub name_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
