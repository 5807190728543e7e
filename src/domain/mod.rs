//! Plain types and rules of the CRM side, with no I/O.
pub mod access;
pub mod account;
pub mod address;
pub mod contact;
pub mod folder;
pub mod mailbox;
pub mod profile;
pub mod run;
pub mod schedule;
pub mod validation;

pub use access::{Access, Caller, Grant};
pub use validation::{FieldError, ValidationErrors};
