//! The grants indexed by `(grantee, record_kind, record_id)` instead of
//! `(grantee, record_kind)`: the records shared with a user, of one kind, come out of the
//! index in id order, so a listing reads its shared side as a join it can stop at the
//! page's end. By the old index SQLite copied the shared ids of every request into a
//! temporary B-tree (a temporary database opened and sized per page) to look them up in
//! order. Lookups by grantee and kind alone use the prefix.
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000015_shared_records_in_id_order"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Grants {
    Table,
    Grantee,
    RecordKind,
    RecordId,
}

const OLD: &str = "ix_grants_grantee";
const NEW: &str = "ix_grants_grantee_records";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(NEW)
                .table(Grants::Table)
                .col(Grants::Grantee)
                .col(Grants::RecordKind)
                .col(Grants::RecordId)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(OLD).table(Grants::Table).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(OLD)
                .table(Grants::Table)
                .col(Grants::Grantee)
                .col(Grants::RecordKind)
                .to_owned(),
        )
        .await?;
        m.drop_index(Index::drop().name(NEW).table(Grants::Table).to_owned())
            .await
    }
}
