//! Exchange mailboxes of users and their contact sync profiles.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000002_mailboxes"
    }
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    Id,
    OwnerId,
    Email,
    DisplayName,
    EwsUrl,
    AuthKind,
    /// The non-secret parts of the credentials (user name, domain, token URL...), JSON.
    AuthPublic,
    /// The secret parts, encrypted (XChaCha20-Poly1305, base64).
    AuthSecret,
    Impersonate,
    ServerVersion,
    Status,
    StatusReason,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContactSyncProfiles {
    Table,
    MailboxId,
    Profile,
    Version,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Mailboxes::Table)
                .col(pk_uuid(Mailboxes::Id))
                .col(string(Mailboxes::OwnerId))
                .col(string(Mailboxes::Email))
                .col(string(Mailboxes::DisplayName))
                .col(string(Mailboxes::EwsUrl))
                .col(string(Mailboxes::AuthKind))
                .col(text(Mailboxes::AuthPublic))
                .col(text(Mailboxes::AuthSecret))
                .col(boolean(Mailboxes::Impersonate))
                .col(string(Mailboxes::ServerVersion))
                .col(string(Mailboxes::Status))
                .col(string_null(Mailboxes::StatusReason))
                .col(integer(Mailboxes::Version))
                .col(timestamp_with_time_zone(Mailboxes::CreatedAt))
                .col(timestamp_with_time_zone(Mailboxes::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // One connection of a mailbox per user.
        m.create_index(
            Index::create()
                .name("ux_mailboxes_owner_email")
                .table(Mailboxes::Table)
                .col(Mailboxes::OwnerId)
                .col(Mailboxes::Email)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ContactSyncProfiles::Table)
                .col(pk_uuid(ContactSyncProfiles::MailboxId))
                .col(text(ContactSyncProfiles::Profile))
                .col(integer(ContactSyncProfiles::Version))
                .col(timestamp_with_time_zone(ContactSyncProfiles::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ContactSyncProfiles::Table, ContactSyncProfiles::MailboxId)
                        .to(Mailboxes::Table, Mailboxes::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ContactSyncProfiles::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Mailboxes::Table).to_owned())
            .await?;
        Ok(())
    }
}
