//! SeaORM entities: storage rows, never API types. They stay inside `store`.
pub mod accounts;
pub mod contact_folder_members;
pub mod contact_folders;
pub mod contact_links;
pub mod contact_sync_profiles;
pub mod contact_types;
pub mod contacts;
pub mod folder_sync_states;
pub mod grants;
pub mod mailbox_schedules;
pub mod mailboxes;
pub mod notifications;
pub mod sync_item_failures;
pub mod sync_run_items;
pub mod sync_runs;
pub mod users;
