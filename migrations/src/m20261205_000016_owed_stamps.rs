//! Links whose item still owes its `CrmContactId` stamp. Over a transport whose item ids
//! survive a move (Graph with immutable ids) an import no longer stamps on its own critical
//! path: the link holds the pair meanwhile, and a later run writes the stamps it finds
//! here. The index answers "this mailbox's owed stamps" without reading its other links,
//! so a run with nothing owed pays one index probe, whatever the number of links.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000016_owed_stamps"
    }
}

#[derive(DeriveIden)]
enum ContactLinks {
    Table,
    MailboxId,
    StampOwed,
    ItemId,
}

const INDEX: &str = "ix_links_mailbox_stamp_owed";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ContactLinks::Table)
                .add_column(
                    ColumnDef::new(ContactLinks::StampOwed)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(ContactLinks::Table)
                .col(ContactLinks::MailboxId)
                .col(ContactLinks::StampOwed)
                .col(ContactLinks::ItemId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(INDEX)
                .table(ContactLinks::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(ContactLinks::Table)
                .drop_column(ContactLinks::StampOwed)
                .to_owned(),
        )
        .await
    }
}
