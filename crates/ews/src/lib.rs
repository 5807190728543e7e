//! Exchange Web Services (EWS): typed SOAP messages for contacts and folders, one
//! module per operation, an error type that says what to do, and an HTTP client.
//!
//! The same types serve the client (writes requests, reads responses) and the
//! simulator (reads requests, writes responses): see `README.md`.

pub mod envelope;
pub mod ops;
pub mod types;

pub use envelope::{Body, Fault, Header, XmlError};
pub use ops::{Operation, OperationResponse};
pub mod error;

pub use error::{Error, ErrorClass, classify};
pub mod client;

pub use client::{Auth, ClientConfig, EwsClient, RetryPolicy, SyncPage};
