//! A dry run may preview an unsaved profile (SPEC §3 runs, §5): the run keeps the profile
//! it planned against.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000005_run_profile"
    }
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    /// The profile a dry run previews, as JSON; null: the mailbox's saved profile.
    Profile,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SyncRuns::Table)
                .add_column(text_null(SyncRuns::Profile))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SyncRuns::Table)
                .drop_column(SyncRuns::Profile)
                .to_owned(),
        )
        .await
    }
}
