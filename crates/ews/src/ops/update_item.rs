//! UpdateItem: field-level changes to items, in batches.

use serde::{Deserialize, Serialize};

use crate::types::paths::{join_path, split_path};
use crate::types::{
    AddressKey, AddressPart, Contact, EmailKey, ExtendedFieldUri, ExtendedProperty, FieldUri,
    IndexedFieldUri, ItemId, Items, PhoneKey, PhysicalAddress, PropertyPath, TargetFolderId,
    response, response_message,
};

/// What to do when the ChangeKey sent is not the item's current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConflictResolution {
    /// Fail with ErrorIrresolvableConflict (what a sync engine wants).
    NeverOverwrite,
    /// Let the server merge.
    AutoResolve,
    /// Overwrite whatever changed.
    AlwaysOverwrite,
}

/// `m:UpdateItem`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateItem {
    /// Required by the schema.
    #[serde(rename = "@ConflictResolution")]
    pub conflict_resolution: ConflictResolution,
    /// Only meaningful for messages.
    #[serde(
        rename = "@MessageDisposition",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_disposition: Option<String>,
    /// Only meaningful for calendar items.
    #[serde(
        rename = "@SendMeetingInvitationsOrCancellations",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub send_meeting_invitations_or_cancellations: Option<String>,
    /// Only meaningful for messages.
    #[serde(
        rename = "@SuppressReadReceipts",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub suppress_read_receipts: Option<bool>,
    /// Folder to save into (messages only).
    #[serde(
        rename(serialize = "m:SavedItemFolderId", deserialize = "SavedItemFolderId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub saved_item_folder_id: Option<TargetFolderId>,
    /// The changes; one response message per change, in the same order.
    #[serde(rename(serialize = "m:ItemChanges", deserialize = "ItemChanges"))]
    pub item_changes: ItemChanges,
}

/// `m:ItemChanges`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemChanges {
    /// One per item.
    #[serde(
        rename(serialize = "t:ItemChange", deserialize = "ItemChange"),
        default
    )]
    pub changes: Vec<ItemChange>,
}

/// `t:ItemChange`: the updates of one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemChange {
    /// The item with the ChangeKey the updates are based on.
    #[serde(rename(serialize = "t:ItemId", deserialize = "ItemId"))]
    pub item_id: ItemId,
    /// The updates, applied in order.
    #[serde(rename(serialize = "t:Updates", deserialize = "Updates"))]
    pub updates: Updates,
}

impl ItemChange {
    /// The given updates of one item.
    pub fn new(item_id: ItemId, updates: impl IntoIterator<Item = ItemUpdate>) -> Self {
        Self {
            item_id,
            updates: Updates {
                updates: updates.into_iter().collect(),
            },
        }
    }
}

/// `t:Updates`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Updates {
    /// The updates, in order (a request may delete an entry and set it again).
    #[serde(rename = "$value", default)]
    pub updates: Vec<ItemUpdate>,
}

/// One update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // built one at a time; boxing would only add noise
pub enum ItemUpdate {
    /// Set a field to the value it has in the carried item.
    #[serde(rename(serialize = "t:SetItemField", deserialize = "SetItemField"))]
    Set(SetItemField),
    /// Append to a field (not used for contacts; parsed for completeness).
    #[serde(rename(serialize = "t:AppendToItemField", deserialize = "AppendToItemField"))]
    Append(SetItemField),
    /// Clear a field.
    #[serde(rename(serialize = "t:DeleteItemField", deserialize = "DeleteItemField"))]
    Delete(DeleteItemField),
}

/// `t:SetItemField`: a path and an item carrying the new value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetItemField {
    /// Plain field path (one of the three path slots is set).
    #[serde(
        rename(serialize = "t:FieldURI", deserialize = "FieldURI"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub field_uri: Option<FieldUri>,
    /// Indexed field path.
    #[serde(
        rename(serialize = "t:IndexedFieldURI", deserialize = "IndexedFieldURI"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indexed_field_uri: Option<IndexedFieldUri>,
    /// Extended property path.
    #[serde(
        rename(serialize = "t:ExtendedFieldURI", deserialize = "ExtendedFieldURI"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub extended_field_uri: Option<ExtendedFieldUri>,
    /// The contact carrying the value.
    #[serde(
        rename(serialize = "t:Contact", deserialize = "Contact"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub contact: Option<Contact>,
}

impl SetItemField {
    /// The path being set.
    pub fn path(&self) -> Option<PropertyPath> {
        join_path(
            &self.field_uri,
            &self.indexed_field_uri,
            &self.extended_field_uri,
        )
    }
}

/// `t:DeleteItemField`: a path to clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteItemField {
    /// Plain field path (one of the three path slots is set).
    #[serde(
        rename(serialize = "t:FieldURI", deserialize = "FieldURI"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub field_uri: Option<FieldUri>,
    /// Indexed field path.
    #[serde(
        rename(serialize = "t:IndexedFieldURI", deserialize = "IndexedFieldURI"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub indexed_field_uri: Option<IndexedFieldUri>,
    /// Extended property path.
    #[serde(
        rename(serialize = "t:ExtendedFieldURI", deserialize = "ExtendedFieldURI"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub extended_field_uri: Option<ExtendedFieldUri>,
}

impl DeleteItemField {
    /// The path being cleared.
    pub fn path(&self) -> Option<PropertyPath> {
        join_path(
            &self.field_uri,
            &self.indexed_field_uri,
            &self.extended_field_uri,
        )
    }
}

impl ItemUpdate {
    /// Sets `path` to its value in `contact` (which should carry only that value).
    pub fn set(path: PropertyPath, contact: Contact) -> Self {
        let (field_uri, indexed_field_uri, extended_field_uri) = split_path(path);
        Self::Set(SetItemField {
            field_uri,
            indexed_field_uri,
            extended_field_uri,
            contact: Some(contact),
        })
    }

    /// Clears `path`.
    pub fn delete(path: PropertyPath) -> Self {
        let (field_uri, indexed_field_uri, extended_field_uri) = split_path(path);
        Self::Delete(DeleteItemField {
            field_uri,
            indexed_field_uri,
            extended_field_uri,
        })
    }

    /// Sets a plain contact field (e.g. `contacts:JobTitle`) from the same field of `value`.
    pub fn set_field(field_uri: &str, value: Contact) -> Self {
        Self::set(PropertyPath::field(field_uri), value)
    }

    /// Sets one e-mail entry.
    pub fn set_email(key: EmailKey, address: impl Into<String>) -> Self {
        let mut c = Contact::default();
        c.set_email(key, Some(address.into()));
        Self::set(
            PropertyPath::indexed("contacts:EmailAddress", key.as_str()),
            c,
        )
    }

    /// Clears one e-mail entry.
    pub fn delete_email(key: EmailKey) -> Self {
        Self::delete(PropertyPath::indexed("contacts:EmailAddress", key.as_str()))
    }

    /// Sets one phone entry.
    pub fn set_phone(key: PhoneKey, number: impl Into<String>) -> Self {
        let mut c = Contact::default();
        c.set_phone(key, Some(number.into()));
        Self::set(
            PropertyPath::indexed("contacts:PhoneNumber", key.as_str()),
            c,
        )
    }

    /// Clears one phone entry.
    pub fn delete_phone(key: PhoneKey) -> Self {
        Self::delete(PropertyPath::indexed("contacts:PhoneNumber", key.as_str()))
    }

    /// Sets one part of one postal address (addresses are updated part by part).
    pub fn set_address_part(key: AddressKey, part: AddressPart, value: impl Into<String>) -> Self {
        let mut address = PhysicalAddress::new(key);
        *address.part_mut(part) = Some(value.into());
        let mut c = Contact::default();
        c.set_address(key, Some(address));
        Self::set(address_path(key, part), c)
    }

    /// Clears one part of one postal address.
    pub fn delete_address_part(key: AddressKey, part: AddressPart) -> Self {
        Self::delete(address_path(key, part))
    }

    /// Sets an extended property.
    pub fn set_extended(uri: ExtendedFieldUri, value: impl Into<String>) -> Self {
        let c = Contact {
            extended_properties: vec![ExtendedProperty::new(uri.clone(), value)],
            ..Contact::default()
        };
        Self::set(PropertyPath::Extended(uri), c)
    }

    /// Clears an extended property.
    pub fn delete_extended(uri: ExtendedFieldUri) -> Self {
        Self::delete(PropertyPath::Extended(uri))
    }

    /// The path the update is about.
    pub fn path(&self) -> Option<PropertyPath> {
        match self {
            ItemUpdate::Set(s) | ItemUpdate::Append(s) => s.path(),
            ItemUpdate::Delete(d) => d.path(),
        }
    }
}

/// `contacts:PhysicalAddress:<Part>` indexed by the address key.
pub fn address_path(key: AddressKey, part: AddressPart) -> PropertyPath {
    PropertyPath::indexed(
        format!("contacts:PhysicalAddress:{}", part.as_str()),
        key.as_str(),
    )
}

/// `t:ConflictResults`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictResults {
    /// Number of conflicting properties the server resolved.
    #[serde(rename(serialize = "t:Count", deserialize = "Count"))]
    pub count: i32,
}

response_message! {
    /// The outcome for one item (its new ChangeKey on success).
    UpdateItemResponseMessage("m:UpdateItemResponseMessage", "UpdateItemResponseMessage") {
        /// The item's new id and ChangeKey.
        #[serde(rename(serialize = "m:Items", deserialize = "Items"), default)]
        items: Items,
        /// Conflicts resolved by the server.
        #[serde(
            rename(serialize = "m:ConflictResults", deserialize = "ConflictResults"),
            default,
            skip_serializing_if = "Option::is_none"
        )]
        conflict_results: Option<ConflictResults>,
    }
}

response! {
    /// `m:UpdateItemResponse`.
    UpdateItemResponse, UpdateItemResponseMessage
}

super::operation!(UpdateItem, UpdateItemResponse, UpdateItemResponseMessage);
