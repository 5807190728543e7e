//! The CRM side: users, accounts, contact types, contacts, contact folders, grants.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261127_000001_crm"
    }
}

/// Seeded contact types with fixed ids, so that profiles and clients can name them.
pub const CONTACT_TYPES: [(&str, &str); 5] = [
    ("00000000-0000-7000-8000-000000000001", "Employee"),
    ("00000000-0000-7000-8000-000000000002", "Customer"),
    ("00000000-0000-7000-8000-000000000003", "Partner"),
    ("00000000-0000-7000-8000-000000000004", "Contractor"),
    ("00000000-0000-7000-8000-000000000005", "Supplier"),
];

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    IsAdmin,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
    Name,
    NameKey,
    Website,
    OwnerId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContactTypes {
    Table,
    Id,
    Name,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    TypeId,
    AccountId,
    Company,
    GivenName,
    MiddleName,
    Surname,
    FullName,
    Salutation,
    Gender,
    JobTitle,
    Department,
    Birthday,
    WebPage,
    Email1,
    Email2,
    Email3,
    BusinessPhone,
    HomePhone,
    MobilePhone,
    BusinessStreet,
    BusinessCity,
    BusinessState,
    BusinessPostalCode,
    BusinessCountry,
    HomeStreet,
    HomeCity,
    HomeState,
    HomePostalCode,
    HomeCountry,
    OwnerId,
    Version,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
enum ContactFolders {
    Table,
    Id,
    Name,
    Kind,
    Filter,
    OwnerId,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ContactFolderMembers {
    Table,
    FolderId,
    ContactId,
    AddedAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    RecordId,
    Grantee,
    RecordKind,
    Access,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(string(Users::Id).primary_key())
                .col(string(Users::Name))
                .col(boolean(Users::IsAdmin))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(timestamp_with_time_zone(Users::LastSeenAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Accounts::Table)
                .col(pk_uuid(Accounts::Id))
                .col(string(Accounts::Name))
                .col(string(Accounts::NameKey))
                .col(string(Accounts::Website))
                .col(string(Accounts::OwnerId))
                .col(integer(Accounts::Version))
                .col(timestamp_with_time_zone(Accounts::CreatedAt))
                .col(timestamp_with_time_zone(Accounts::UpdatedAt))
                .to_owned(),
        )
        .await?;
        // Import links contacts to accounts by normalized company name.
        m.create_index(
            Index::create()
                .name("ix_accounts_name_key")
                .table(Accounts::Table)
                .col(Accounts::NameKey)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_accounts_owner")
                .table(Accounts::Table)
                .col(Accounts::OwnerId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ContactTypes::Table)
                .col(pk_uuid(ContactTypes::Id))
                .col(string_uniq(ContactTypes::Name))
                .to_owned(),
        )
        .await?;
        let mut seed = Query::insert()
            .into_table(ContactTypes::Table)
            .columns([ContactTypes::Id, ContactTypes::Name])
            .to_owned();
        for (id, name) in CONTACT_TYPES {
            let id = uuid::Uuid::parse_str(id).expect("valid seed id");
            seed.values_panic([id.into(), name.into()]);
        }
        m.exec_stmt(seed).await?;

        let mut contacts = Table::create();
        contacts
            .table(Contacts::Table)
            .col(pk_uuid(Contacts::Id))
            .col(uuid_null(Contacts::TypeId))
            .col(uuid_null(Contacts::AccountId))
            .col(string(Contacts::Company));
        for c in [
            Contacts::GivenName,
            Contacts::MiddleName,
            Contacts::Surname,
            Contacts::FullName,
            Contacts::Salutation,
            Contacts::Gender,
            Contacts::JobTitle,
            Contacts::Department,
        ] {
            contacts.col(string(c));
        }
        contacts.col(date_null(Contacts::Birthday));
        for c in [
            Contacts::WebPage,
            Contacts::Email1,
            Contacts::Email2,
            Contacts::Email3,
            Contacts::BusinessPhone,
            Contacts::HomePhone,
            Contacts::MobilePhone,
            Contacts::BusinessStreet,
            Contacts::BusinessCity,
            Contacts::BusinessState,
            Contacts::BusinessPostalCode,
            Contacts::BusinessCountry,
            Contacts::HomeStreet,
            Contacts::HomeCity,
            Contacts::HomeState,
            Contacts::HomePostalCode,
            Contacts::HomeCountry,
            Contacts::OwnerId,
        ] {
            contacts.col(string(c));
        }
        contacts
            .col(integer(Contacts::Version))
            .col(timestamp_with_time_zone(Contacts::CreatedAt))
            .col(timestamp_with_time_zone(Contacts::UpdatedAt))
            .col(timestamp_with_time_zone_null(Contacts::DeletedAt))
            .foreign_key(
                ForeignKey::create()
                    .from(Contacts::Table, Contacts::TypeId)
                    .to(ContactTypes::Table, ContactTypes::Id)
                    .on_delete(ForeignKeyAction::SetNull),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(Contacts::Table, Contacts::AccountId)
                    .to(Accounts::Table, Accounts::Id)
                    .on_delete(ForeignKeyAction::SetNull),
            );
        m.create_table(contacts.to_owned()).await?;
        for (name, col) in [
            ("ix_contacts_owner", Contacts::OwnerId),
            ("ix_contacts_account", Contacts::AccountId),
            ("ix_contacts_type", Contacts::TypeId),
            ("ix_contacts_updated", Contacts::UpdatedAt),
            ("ix_contacts_email1", Contacts::Email1),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Contacts::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(ContactFolders::Table)
                .col(pk_uuid(ContactFolders::Id))
                .col(string(ContactFolders::Name))
                .col(string(ContactFolders::Kind))
                .col(text_null(ContactFolders::Filter))
                .col(string(ContactFolders::OwnerId))
                .col(integer(ContactFolders::Version))
                .col(timestamp_with_time_zone(ContactFolders::CreatedAt))
                .col(timestamp_with_time_zone(ContactFolders::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ContactFolderMembers::Table)
                .col(uuid(ContactFolderMembers::FolderId))
                .col(uuid(ContactFolderMembers::ContactId))
                .col(timestamp_with_time_zone(ContactFolderMembers::AddedAt))
                .primary_key(
                    Index::create()
                        .col(ContactFolderMembers::FolderId)
                        .col(ContactFolderMembers::ContactId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ContactFolderMembers::Table, ContactFolderMembers::FolderId)
                        .to(ContactFolders::Table, ContactFolders::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ContactFolderMembers::Table, ContactFolderMembers::ContactId)
                        .to(Contacts::Table, Contacts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_folder_members_contact")
                .table(ContactFolderMembers::Table)
                .col(ContactFolderMembers::ContactId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Grants::Table)
                .col(uuid(Grants::RecordId))
                .col(string(Grants::Grantee))
                .col(string(Grants::RecordKind))
                .col(string(Grants::Access))
                .primary_key(Index::create().col(Grants::RecordId).col(Grants::Grantee))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_grants_grantee")
                .table(Grants::Table)
                .col(Grants::Grantee)
                .col(Grants::RecordKind)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            Grants::Table.into_iden(),
            ContactFolderMembers::Table.into_iden(),
            ContactFolders::Table.into_iden(),
            Contacts::Table.into_iden(),
            ContactTypes::Table.into_iden(),
            Accounts::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
