//! Contacts by owner in id order: a page of the caller's own contacts is read straight
//! off this index and stops at the page's end, instead of reading every contact of the
//! owner and sorting them (what `(owner_id)` alone gave: a page cost as much as the
//! owner's whole CRM). It replaces `ix_contacts_owner`, which it covers.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000008_contacts_by_owner"
    }
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    OwnerId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_contacts_owner_id")
                .table(Contacts::Table)
                .col(Contacts::OwnerId)
                .col(Contacts::Id)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_contacts_owner")
                .table(Contacts::Table)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_contacts_owner")
                .table(Contacts::Table)
                .col(Contacts::OwnerId)
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("ix_contacts_owner_id")
                .table(Contacts::Table)
                .to_owned(),
        )
        .await
    }
}
