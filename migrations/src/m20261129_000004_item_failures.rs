//! Items that failed in sync runs: retried by later runs even once their folder's feed has
//! moved on, and given up after five failed runs in a row (SPEC §5).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261129_000004_item_failures"
    }
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SyncItemFailures {
    Table,
    MailboxId,
    /// The Exchange ItemId, or `crm:<id>` for a CRM contact with no item yet.
    ItemKey,
    /// Failed runs in a row.
    Runs,
    GivenUp,
    Code,
    Message,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SyncItemFailures::Table)
                .col(uuid(SyncItemFailures::MailboxId))
                .col(text(SyncItemFailures::ItemKey))
                .col(integer(SyncItemFailures::Runs))
                .col(boolean(SyncItemFailures::GivenUp))
                .col(text_null(SyncItemFailures::Code))
                .col(text(SyncItemFailures::Message))
                .col(timestamp_with_time_zone(SyncItemFailures::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(SyncItemFailures::MailboxId)
                        .col(SyncItemFailures::ItemKey),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(SyncItemFailures::Table, SyncItemFailures::MailboxId)
                        .to(Mailboxes::Table, Mailboxes::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SyncItemFailures::Table).to_owned())
            .await
    }
}
