//! The sync engine: one run for one mailbox.
pub mod engine;
