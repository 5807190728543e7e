//! A run tells its watcher what it should know while it runs (SPEC §7b: an export that
//! Exchange Online's request budget makes last at least ten minutes says so).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000007_run_notice"
    }
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    /// What the run wants its watcher to know; null: nothing.
    Notice,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SyncRuns::Table)
                .add_column(text_null(SyncRuns::Notice))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(SyncRuns::Table)
                .drop_column(SyncRuns::Notice)
                .to_owned(),
        )
        .await
    }
}
