//! The keys first-sync matching looks contacts up by (SPEC §5): each e-mail address and
//! the full name, trimmed and case-folded by the service when it writes the contact
//! (`sync::matching::stored_keys`), each indexed. Matching compared `LOWER(TRIM(column))`
//! instead, which no index serves: every chunk of new items scanned every contact, so an
//! import's cost grew with the square of its size. NULL means "not computed yet": rows
//! written before this migration get their keys when the service starts
//! (`Store::migrate`), as only the service folds text the way the matcher does.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000009_contact_match_keys"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Contacts {
    Table,
    Email1Key,
    Email2Key,
    Email3Key,
    NameKey,
}

const KEYS: [(Contacts, &str); 4] = [
    (Contacts::Email1Key, "ix_contacts_email1_key"),
    (Contacts::Email2Key, "ix_contacts_email2_key"),
    (Contacts::Email3Key, "ix_contacts_email3_key"),
    (Contacts::NameKey, "ix_contacts_name_key"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds a single column per ALTER TABLE.
        for (column, index) in KEYS {
            m.alter_table(
                Table::alter()
                    .table(Contacts::Table)
                    .add_column(ColumnDef::new(column).string().null())
                    .to_owned(),
            )
            .await?;
            m.create_index(
                Index::create()
                    .name(index)
                    .table(Contacts::Table)
                    .col(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (column, index) in KEYS {
            m.drop_index(Index::drop().name(index).table(Contacts::Table).to_owned())
                .await?;
            m.alter_table(
                Table::alter()
                    .table(Contacts::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
