//! Microsoft Graph for contactsync: the typed JSON of contacts, contact folders, delta
//! pages, `$batch` and OData errors (shared by the client and the simulator, so they
//! cannot disagree), one module per operation, and [`GraphClient`].
//!
//! The crate knows nothing of the CRM: the extended property that carries the CRM id is
//! named by the caller.

pub mod client;
pub mod error;
pub mod ops;
pub mod types;

pub use client::{ClientConfig, Credential, GraphClient, RetryPolicy};
pub use error::{Error, ErrorClass};
