//! The item choice (`t:Contact`, `t:DistributionList`, ...) and item lists.

use serde::{Deserialize, Serialize};

use super::contact::{Contact, GenericItem};
use super::ids::ItemId;

/// Any item a contacts folder (or a sync of it) can return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // contacts are the payload; boxing would only add noise
pub enum Item {
    /// A contact.
    #[serde(rename(serialize = "t:Contact", deserialize = "Contact"))]
    Contact(Contact),
    /// A contact group.
    #[serde(rename(serialize = "t:DistributionList", deserialize = "DistributionList"))]
    DistributionList(GenericItem),
    /// A generic item.
    #[serde(rename(serialize = "t:Item", deserialize = "Item"))]
    Item(GenericItem),
    /// A message.
    #[serde(rename(serialize = "t:Message", deserialize = "Message"))]
    Message(GenericItem),
    /// A sharing message.
    #[serde(rename(serialize = "t:SharingMessage", deserialize = "SharingMessage"))]
    SharingMessage(GenericItem),
    /// A calendar item.
    #[serde(rename(serialize = "t:CalendarItem", deserialize = "CalendarItem"))]
    CalendarItem(GenericItem),
    /// A meeting message.
    #[serde(rename(serialize = "t:MeetingMessage", deserialize = "MeetingMessage"))]
    MeetingMessage(GenericItem),
    /// A meeting request.
    #[serde(rename(serialize = "t:MeetingRequest", deserialize = "MeetingRequest"))]
    MeetingRequest(GenericItem),
    /// A meeting response.
    #[serde(rename(serialize = "t:MeetingResponse", deserialize = "MeetingResponse"))]
    MeetingResponse(GenericItem),
    /// A meeting cancellation.
    #[serde(rename(
        serialize = "t:MeetingCancellation",
        deserialize = "MeetingCancellation"
    ))]
    MeetingCancellation(GenericItem),
    /// A task.
    #[serde(rename(serialize = "t:Task", deserialize = "Task"))]
    Task(GenericItem),
    /// A post.
    #[serde(rename(serialize = "t:PostItem", deserialize = "PostItem"))]
    PostItem(GenericItem),
}

impl Item {
    /// The item's id, when the response carries it.
    pub fn item_id(&self) -> Option<&ItemId> {
        match self {
            Item::Contact(c) => c.item_id.as_ref(),
            Item::DistributionList(i)
            | Item::Item(i)
            | Item::Message(i)
            | Item::SharingMessage(i)
            | Item::CalendarItem(i)
            | Item::MeetingMessage(i)
            | Item::MeetingRequest(i)
            | Item::MeetingResponse(i)
            | Item::MeetingCancellation(i)
            | Item::Task(i)
            | Item::PostItem(i) => i.item_id.as_ref(),
        }
    }

    /// The contact, if this is one.
    pub fn as_contact(&self) -> Option<&Contact> {
        match self {
            Item::Contact(c) => Some(c),
            _ => None,
        }
    }

    /// The contact, if this is one.
    pub fn into_contact(self) -> Option<Contact> {
        match self {
            Item::Contact(c) => Some(c),
            _ => None,
        }
    }
}

impl From<Contact> for Item {
    fn from(contact: Contact) -> Self {
        Item::Contact(contact)
    }
}

/// A list of items (`m:Items` in CreateItem and item responses, `t:Items` in FindItem).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Items {
    /// The items, in order.
    #[serde(rename = "$value", default)]
    pub items: Vec<Item>,
}

impl<T: Into<Item>> FromIterator<T> for Items {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self {
            items: iter.into_iter().map(Into::into).collect(),
        }
    }
}
