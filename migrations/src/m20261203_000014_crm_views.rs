//! What lets a run with nothing to do skip comparing every contact of its owner with its
//! link (work that grows with the links, 0.2–0.4 s at 100,000):
//! - `crm_views`: a counter per view of the CRM, moved in the same transaction as every
//!   write that can change what a mailbox's CRM phase finds — a user's view (`u:<id>`:
//!   contacts owned by or shared with the user; `u:*`, those shared with everyone), an
//!   administrator's (`all`: every contact) and the export scopes by CRM folder
//!   (`scope`: folder members and folders' visibility);
//! - `mailbox_crm_marks`: per mailbox, the view's counters (and the profile) at which a
//!   comparison last found nothing to do. While they are unchanged, and the links with
//!   them (any run's write removes the mark), a comparison would find nothing again.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000014_crm_views"
    }
}

#[derive(DeriveIden)]
enum CrmViews {
    Table,
    ViewKey,
    Epoch,
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum MailboxCrmMarks {
    Table,
    MailboxId,
    Mark,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CrmViews::Table)
                .col(
                    ColumnDef::new(CrmViews::ViewKey)
                        .text()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(CrmViews::Epoch).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(MailboxCrmMarks::Table)
                .col(
                    ColumnDef::new(MailboxCrmMarks::MailboxId)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(MailboxCrmMarks::Mark).text().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .from(MailboxCrmMarks::Table, MailboxCrmMarks::MailboxId)
                        .to(Mailboxes::Table, Mailboxes::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(MailboxCrmMarks::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(CrmViews::Table).to_owned())
            .await
    }
}
