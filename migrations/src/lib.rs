//! Versioned schema migrations, shared by SQLite and PostgreSQL. A landed migration is
//! never edited: add a new file instead.
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_crm;
mod m20261127_000002_mailboxes;
mod m20261127_000003_sync;
mod m20261129_000004_item_failures;
mod m20261130_000005_run_profile;
mod m20261130_000006_graph_transport;
mod m20261130_000007_run_notice;
mod m20261130_000008_contacts_by_owner;
mod m20261201_000009_contact_match_keys;
mod m20261201_000010_listings_by_owner;
mod m20261201_000011_links_by_folder;
mod m20261202_000012_sync_state_indexes;
mod m20261202_000013_match_keys_by_owner;
mod m20261203_000014_crm_views;
mod m20261204_000015_shared_records_in_id_order;
mod m20261205_000016_owed_stamps;

/// Applies every migration of the service in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_crm::Migration),
            Box::new(m20261127_000002_mailboxes::Migration),
            Box::new(m20261127_000003_sync::Migration),
            Box::new(m20261129_000004_item_failures::Migration),
            Box::new(m20261130_000005_run_profile::Migration),
            Box::new(m20261130_000006_graph_transport::Migration),
            Box::new(m20261130_000007_run_notice::Migration),
            Box::new(m20261130_000008_contacts_by_owner::Migration),
            Box::new(m20261201_000009_contact_match_keys::Migration),
            Box::new(m20261201_000010_listings_by_owner::Migration),
            Box::new(m20261201_000011_links_by_folder::Migration),
            Box::new(m20261202_000012_sync_state_indexes::Migration),
            Box::new(m20261202_000013_match_keys_by_owner::Migration),
            Box::new(m20261203_000014_crm_views::Migration),
            Box::new(m20261204_000015_shared_records_in_id_order::Migration),
            Box::new(m20261205_000016_owed_stamps::Migration),
        ]
    }
}
