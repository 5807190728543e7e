//! Mailboxes on Microsoft Graph (SPEC §3, §7b): the transport of each mailbox, its Graph
//! settings (the secret stays in `auth_secret`, sealed), and the transport whose folder ids
//! the profile still holds after a switch, until the next run carries them over.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000006_graph_transport"
    }
}

#[derive(DeriveIden)]
enum Mailboxes {
    Table,
    Transport,
    GraphPublic,
    CarryOverFrom,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        let columns = [
            string(Mailboxes::Transport).default("ews").to_owned(),
            text_null(Mailboxes::GraphPublic),
            string_null(Mailboxes::CarryOverFrom),
        ];
        for mut column in columns {
            m.alter_table(
                Table::alter()
                    .table(Mailboxes::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Mailboxes::CarryOverFrom,
            Mailboxes::GraphPublic,
            Mailboxes::Transport,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Mailboxes::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
