//! The match keys indexed with the owner: `(key, owner_id)` instead of `(key)`. A new
//! item is matched among the contacts its mailbox's owner may see, and the owner's own are
//! found by key and owner together, reading what matches — not every copy of a common
//! name or address in the CRM, one per user who has it (what the key alone read, in every
//! run of every mailbox), nor every contact of the owner (what SQLite chose with the owner
//! beside an `OR` of keys). Lookups by the key alone (an administrator's) use the prefix.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000013_match_keys_by_owner"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Contacts {
    Table,
    Email1Key,
    Email2Key,
    Email3Key,
    NameKey,
    OwnerId,
}

/// Each key column, its old index and its new one.
const KEYS: [(Contacts, &str, &str); 4] = [
    (
        Contacts::Email1Key,
        "ix_contacts_email1_key",
        "ix_contacts_email1_key_owner",
    ),
    (
        Contacts::Email2Key,
        "ix_contacts_email2_key",
        "ix_contacts_email2_key_owner",
    ),
    (
        Contacts::Email3Key,
        "ix_contacts_email3_key",
        "ix_contacts_email3_key_owner",
    ),
    (
        Contacts::NameKey,
        "ix_contacts_name_key",
        "ix_contacts_name_key_owner",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (column, old, new) in KEYS {
            m.create_index(
                Index::create()
                    .name(new)
                    .table(Contacts::Table)
                    .col(column)
                    .col(Contacts::OwnerId)
                    .to_owned(),
            )
            .await?;
            m.drop_index(Index::drop().name(old).table(Contacts::Table).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (column, old, new) in KEYS {
            m.create_index(
                Index::create()
                    .name(old)
                    .table(Contacts::Table)
                    .col(column)
                    .to_owned(),
            )
            .await?;
            m.drop_index(Index::drop().name(new).table(Contacts::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
