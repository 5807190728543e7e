//! The EWS data types shared by requests and responses.
//!
//! Every type serializes with prefixed names (`t:` types, `m:` messages; the envelope
//! declares both) and deserializes by local name, so the client and the simulator use
//! the same structs in both directions.

pub mod contact;
pub mod dates;
pub mod extended;
pub mod folder;
pub mod ids;
pub mod item;
pub mod paths;
pub mod response;
pub mod restriction;

pub use contact::{
    AddressKey, AddressPart, Body, Categories, CompleteName, Contact, EmailAddresses, EmailEntry,
    EmailKey, GenericItem, PhoneEntry, PhoneKey, PhoneNumbers, PhysicalAddress, PhysicalAddresses,
};
pub use extended::{ExtendedFieldUri, ExtendedProperty, ExtendedValues};
pub use folder::{EffectiveRights, Folder, FolderData, Folders};
pub use ids::{
    BaseFolderId, DistinguishedFolderId, FolderId, FolderIds, ItemId, ItemIds, Mailbox,
    TargetFolderId,
};
pub use item::{Item, Items};
pub use paths::{
    AdditionalProperties, BaseShape, FieldUri, FolderShape, IndexedFieldUri, IndexedPageView,
    ItemShape, PropertyPath,
};
pub use response::{MessageXml, MessageXmlValue, ResponseClass, ResponseMessage, ResponseMessages};
pub(crate) use response::{response, response_message};
pub use restriction::{
    Comparison, Constant, Exists, ExpressionList, FieldUriOrConstant, Restriction, SearchExpression,
};
