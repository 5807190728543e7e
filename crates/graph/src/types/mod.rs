//! The JSON Graph speaks for contacts: one struct per resource, used both ways.
//!
//! Field names are Graph's (camelCase); `None` is left out when writing, and `null`
//! reads as `None`. Unknown properties are ignored when reading a resource.

pub mod batch;
pub mod contact;
pub mod extended;
pub mod folder;
pub mod odata;

pub use batch::{BatchItem, BatchItemResponse, BatchRequest, BatchResponse};
pub use contact::{Contact, ContactPatch, EmailAddress, PhysicalAddress, Removed, nullable};
pub use extended::{ExtendedProperty, PropertyId, PropertyIdError};
pub use folder::ContactFolder;
pub use odata::{Collection, DeltaPage, ODataError, ODataErrorBody};
