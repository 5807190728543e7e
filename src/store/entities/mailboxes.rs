use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mailboxes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: String,
    pub email: String,
    pub display_name: String,
    pub ews_url: String,
    pub auth_kind: String,
    pub auth_public: String,
    /// Encrypted; never logged, so this model has no derived Debug.
    pub auth_secret: String,
    pub impersonate: bool,
    pub server_version: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub version: i32,
    /// `ews` or `graph`.
    pub transport: String,
    /// The Graph settings without the secret (JSON), for transport `graph`.
    pub graph_public: Option<String>,
    /// After a switch: the transport whose folder ids the profile still holds.
    pub carry_over_from: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("id", &self.id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
