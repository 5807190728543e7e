//! Sync state and the run queue: links between CRM contacts and Exchange items, per-folder
//! sync states, runs with their item outcomes, per-mailbox scheduling, notifications.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000003_sync"
    }
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ContactLinks {
    Table,
    Id,
    MailboxId,
    CrmId,
    ItemId,
    ChangeKey,
    FolderId,
    CrmVersion,
    CrmInExportScope,
    /// JSON snapshots of each side's mapped fields as last synced (the merge bases).
    CrmBase,
    ExBase,
    CrmFingerprint,
    ExFingerprint,
    Detached,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum FolderSyncStates {
    Table,
    MailboxId,
    FolderId,
    SyncState,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SyncRuns {
    Table,
    Id,
    MailboxId,
    OwnerId,
    Status,
    Mode,
    DryRun,
    Full,
    /// `manual` or `auto`.
    Trigger,
    Counts,
    Error,
    IdempotencyKey,
    CancelRequested,
    LeaseOwner,
    LeaseExpiresAt,
    Attempts,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum SyncRunItems {
    Table,
    Id,
    RunId,
    Seq,
    Op,
    Outcome,
    CrmId,
    ItemId,
    Code,
    Message,
    /// The CRM values before an overwrite or delete, JSON.
    Before,
    CreatedAt,
}

#[derive(DeriveIden)]
enum MailboxSchedules {
    Table,
    MailboxId,
    NextDueAt,
    ConsecutiveFailures,
    LastRunId,
    LastRunAt,
    LastRunStatus,
    SuspendedReason,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    Kind,
    MailboxId,
    RunId,
    Message,
    CreatedAt,
}

fn cascade_to_mailbox<T: IntoIden + 'static>(table: T, col: T) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Mailboxes::Table, Mailboxes::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ContactLinks::Table)
                .col(pk_uuid(ContactLinks::Id))
                .col(uuid(ContactLinks::MailboxId))
                .col(uuid(ContactLinks::CrmId))
                .col(text(ContactLinks::ItemId))
                .col(text(ContactLinks::ChangeKey))
                .col(text(ContactLinks::FolderId))
                .col(integer(ContactLinks::CrmVersion))
                .col(boolean(ContactLinks::CrmInExportScope))
                .col(text(ContactLinks::CrmBase))
                .col(text(ContactLinks::ExBase))
                .col(string(ContactLinks::CrmFingerprint))
                .col(string(ContactLinks::ExFingerprint))
                .col(boolean(ContactLinks::Detached))
                .col(timestamp_with_time_zone(ContactLinks::UpdatedAt))
                .foreign_key(&mut cascade_to_mailbox(
                    ContactLinks::Table,
                    ContactLinks::MailboxId,
                ))
                .to_owned(),
        )
        .await?;
        // One link per CRM contact and per Exchange item of a mailbox: a second one would
        // be a duplicate on the other side.
        m.create_index(
            Index::create()
                .name("ux_links_mailbox_crm")
                .table(ContactLinks::Table)
                .col(ContactLinks::MailboxId)
                .col(ContactLinks::CrmId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_links_mailbox_item")
                .table(ContactLinks::Table)
                .col(ContactLinks::MailboxId)
                .col(ContactLinks::ItemId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(FolderSyncStates::Table)
                .col(uuid(FolderSyncStates::MailboxId))
                .col(text(FolderSyncStates::FolderId))
                .col(text(FolderSyncStates::SyncState))
                .col(timestamp_with_time_zone(FolderSyncStates::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(FolderSyncStates::MailboxId)
                        .col(FolderSyncStates::FolderId),
                )
                .foreign_key(&mut cascade_to_mailbox(
                    FolderSyncStates::Table,
                    FolderSyncStates::MailboxId,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SyncRuns::Table)
                .col(pk_uuid(SyncRuns::Id))
                .col(uuid(SyncRuns::MailboxId))
                .col(string(SyncRuns::OwnerId))
                .col(string(SyncRuns::Status))
                .col(string(SyncRuns::Mode))
                .col(boolean(SyncRuns::DryRun))
                .col(boolean(SyncRuns::Full))
                .col(string(SyncRuns::Trigger))
                .col(text(SyncRuns::Counts))
                .col(text_null(SyncRuns::Error))
                .col(string_null(SyncRuns::IdempotencyKey))
                .col(boolean(SyncRuns::CancelRequested))
                .col(string_null(SyncRuns::LeaseOwner))
                .col(timestamp_with_time_zone_null(SyncRuns::LeaseExpiresAt))
                .col(integer(SyncRuns::Attempts))
                .col(timestamp_with_time_zone(SyncRuns::CreatedAt))
                .col(timestamp_with_time_zone_null(SyncRuns::StartedAt))
                .col(timestamp_with_time_zone_null(SyncRuns::FinishedAt))
                .foreign_key(&mut cascade_to_mailbox(
                    SyncRuns::Table,
                    SyncRuns::MailboxId,
                ))
                .to_owned(),
        )
        .await?;
        for (name, cols) in [
            (
                "ix_runs_status",
                vec![SyncRuns::Status, SyncRuns::CreatedAt],
            ),
            (
                "ix_runs_mailbox",
                vec![SyncRuns::MailboxId, SyncRuns::Status],
            ),
            ("ix_runs_owner", vec![SyncRuns::OwnerId]),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(SyncRuns::Table);
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx.to_owned()).await?;
        }
        m.create_index(
            Index::create()
                .name("ux_runs_idempotency")
                .table(SyncRuns::Table)
                .col(SyncRuns::OwnerId)
                .col(SyncRuns::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SyncRunItems::Table)
                .col(pk_uuid(SyncRunItems::Id))
                .col(uuid(SyncRunItems::RunId))
                .col(big_integer(SyncRunItems::Seq))
                .col(string(SyncRunItems::Op))
                .col(string(SyncRunItems::Outcome))
                .col(uuid_null(SyncRunItems::CrmId))
                .col(text_null(SyncRunItems::ItemId))
                .col(string_null(SyncRunItems::Code))
                .col(text_null(SyncRunItems::Message))
                .col(text_null(SyncRunItems::Before))
                .col(timestamp_with_time_zone(SyncRunItems::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(SyncRunItems::Table, SyncRunItems::RunId)
                        .to(SyncRuns::Table, SyncRuns::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_run_items_run")
                .table(SyncRunItems::Table)
                .col(SyncRunItems::RunId)
                .col(SyncRunItems::Seq)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(MailboxSchedules::Table)
                .col(pk_uuid(MailboxSchedules::MailboxId))
                .col(timestamp_with_time_zone_null(MailboxSchedules::NextDueAt))
                .col(integer(MailboxSchedules::ConsecutiveFailures))
                .col(uuid_null(MailboxSchedules::LastRunId))
                .col(timestamp_with_time_zone_null(MailboxSchedules::LastRunAt))
                .col(string_null(MailboxSchedules::LastRunStatus))
                .col(text_null(MailboxSchedules::SuspendedReason))
                .foreign_key(&mut cascade_to_mailbox(
                    MailboxSchedules::Table,
                    MailboxSchedules::MailboxId,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Notifications::Table)
                .col(pk_uuid(Notifications::Id))
                .col(string(Notifications::UserId))
                .col(string(Notifications::Kind))
                .col(uuid_null(Notifications::MailboxId))
                .col(uuid_null(Notifications::RunId))
                .col(text(Notifications::Message))
                .col(timestamp_with_time_zone(Notifications::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_notifications_user")
                .table(Notifications::Table)
                .col(Notifications::UserId)
                .col(Notifications::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Notifications::Table.into_iden(),
            MailboxSchedules::Table.into_iden(),
            SyncRunItems::Table.into_iden(),
            SyncRuns::Table.into_iden(),
            FolderSyncStates::Table.into_iden(),
            ContactLinks::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
