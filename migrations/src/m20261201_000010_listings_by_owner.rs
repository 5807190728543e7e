//! Accounts, contact folders, mailboxes and runs by owner in id order, as
//! `m20261130_000008_contacts_by_owner` did for contacts: a listing page of the caller's
//! own records is read straight off `(owner_id, id)` and stops at the page's end, instead
//! of reading every record of the owner and sorting them (a page cost as much as all the
//! owner's records: an administrator's or service user's runs are millions after 30
//! days). The new indexes replace `ix_accounts_owner` and `ix_runs_owner`, which they
//! cover; a mailbox's runs get `(mailbox_id, id)` for the listing filtered by mailbox.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000010_listings_by_owner"
    }
}

/// (new index, table, its columns, the index it replaces)
const INDEXES: [(&str, &str, [&str; 2], Option<&str>); 5] = [
    (
        "ix_accounts_owner_id",
        "accounts",
        ["owner_id", "id"],
        Some("ix_accounts_owner"),
    ),
    (
        "ix_contact_folders_owner_id",
        "contact_folders",
        ["owner_id", "id"],
        None,
    ),
    (
        "ix_mailboxes_owner_id",
        "mailboxes",
        ["owner_id", "id"],
        None,
    ),
    (
        "ix_runs_owner_id",
        "sync_runs",
        ["owner_id", "id"],
        Some("ix_runs_owner"),
    ),
    (
        "ix_runs_mailbox_id",
        "sync_runs",
        ["mailbox_id", "id"],
        None,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols, replaces) in INDEXES {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Alias::new(table))
                    .col(Alias::new(cols[0]))
                    .col(Alias::new(cols[1]))
                    .to_owned(),
            )
            .await?;
            if let Some(old) = replaces {
                m.drop_index(Index::drop().name(old).table(Alias::new(table)).to_owned())
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, cols, replaces) in INDEXES {
            if let Some(old) = replaces {
                m.create_index(
                    Index::create()
                        .name(old)
                        .table(Alias::new(table))
                        .col(Alias::new(cols[0]))
                        .to_owned(),
                )
                .await?;
            }
            m.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
