//! The one integration test binary: the real HTTP server on a random port over a fresh
//! database per test (SQLite by default; PostgreSQL with CONTACTSYNC_TEST_DATABASE).
mod access_matrix;
mod accounts;
mod auth;
mod bad_input;
mod contacts;
mod cors;
mod crash;
mod fault_matrix;
mod folders;
mod graph_mailboxes;
mod hostile;
mod local_secrets;
mod mailboxes;
mod observability;
mod openapi_document;
mod operations;
mod quotas;
mod round_trips;
mod runs;
mod scheduler;
mod support;
mod sync;
mod sync_model;
mod sync_support;
mod sync_weeks;
mod workers;
