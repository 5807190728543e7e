//! SeaORM entities: storage rows, never API types. They stay inside `store`.
pub mod accounts;
pub mod contact_folder_members;
pub mod contact_folders;
pub mod contact_sync_profiles;
pub mod contact_types;
pub mod contacts;
pub mod grants;
pub mod mailboxes;
pub mod users;
