//! contactsync: keeps CRM contacts and Microsoft Exchange mailbox contacts in sync.
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod middleware;
pub mod private_files;
pub mod service;
mod sim;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod transport;
pub mod ui;
pub mod worker;
