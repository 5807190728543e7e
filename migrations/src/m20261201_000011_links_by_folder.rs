//! A mailbox's live links by folder: the folders that hold linked items, which every run
//! looks up (they stay watched), are read off this index alone — small entries already in
//! folder order — instead of every link row of the mailbox (with its two snapshots) and a
//! sort: on SQLite 7 ms against 1.5 ms for 10,000 links. Forgetting a gone folder finds
//! that folder's live links by it too.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000011_links_by_folder"
    }
}

#[derive(DeriveIden)]
enum ContactLinks {
    Table,
    MailboxId,
    Detached,
    FolderId,
}

const NAME: &str = "ix_links_mailbox_folder";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(NAME)
                .table(ContactLinks::Table)
                .col(ContactLinks::MailboxId)
                .col(ContactLinks::Detached)
                .col(ContactLinks::FolderId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name(NAME)
                .table(ContactLinks::Table)
                .to_owned(),
        )
        .await
    }
}
