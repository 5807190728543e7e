//! Item and folder identifiers.

use serde::{Deserialize, Serialize};

/// An item id: the immutable `Id` plus the `ChangeKey` of the version it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemId {
    /// The item's id.
    #[serde(rename = "@Id")]
    pub id: String,
    /// The change key; changes on every write of the item.
    #[serde(
        rename = "@ChangeKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_key: Option<String>,
}

impl ItemId {
    /// An id with a change key (needed for writes).
    pub fn new(id: impl Into<String>, change_key: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            change_key: Some(change_key.into()),
        }
    }

    /// An id without a change key (enough for reads and deletes).
    pub fn id_only(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            change_key: None,
        }
    }
}

/// A folder id: `Id` plus `ChangeKey`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FolderId {
    /// The folder's id.
    #[serde(rename = "@Id")]
    pub id: String,
    /// The folder's change key.
    #[serde(
        rename = "@ChangeKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_key: Option<String>,
}

impl FolderId {
    /// A folder id without a change key.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            change_key: None,
        }
    }
}

/// A mailbox named inside a `DistinguishedFolderId` (delegate access).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Display name.
    #[serde(
        rename(serialize = "t:Name", deserialize = "Name"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// SMTP address of the mailbox owner.
    #[serde(
        rename(serialize = "t:EmailAddress", deserialize = "EmailAddress"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub email_address: Option<String>,
    /// Routing type, normally `SMTP`.
    #[serde(
        rename(serialize = "t:RoutingType", deserialize = "RoutingType"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub routing_type: Option<String>,
    /// Mailbox type, normally `Mailbox`.
    #[serde(
        rename(serialize = "t:MailboxType", deserialize = "MailboxType"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailbox_type: Option<String>,
}

/// A well-known folder (`contacts`, `msgfolderroot`, `root`, ...), optionally of another mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistinguishedFolderId {
    /// The well-known name; kept as text so that unknown names reach the server (or simulator).
    #[serde(rename = "@Id")]
    pub id: String,
    /// Optional change key.
    #[serde(
        rename = "@ChangeKey",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub change_key: Option<String>,
    /// The mailbox that owns the folder (delegate access); `None` = the caller's own.
    #[serde(
        rename(serialize = "t:Mailbox", deserialize = "Mailbox"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailbox: Option<Mailbox>,
}

impl DistinguishedFolderId {
    /// A well-known folder of the caller's (or impersonated) mailbox.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            change_key: None,
            mailbox: None,
        }
    }
}

/// Either kind of folder id (`t:FolderId` or `t:DistinguishedFolderId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaseFolderId {
    /// A folder by id.
    #[serde(rename(serialize = "t:FolderId", deserialize = "FolderId"))]
    FolderId(FolderId),
    /// A well-known folder.
    #[serde(rename(
        serialize = "t:DistinguishedFolderId",
        deserialize = "DistinguishedFolderId"
    ))]
    Distinguished(DistinguishedFolderId),
}

impl BaseFolderId {
    /// The `contacts` well-known folder.
    pub fn contacts() -> Self {
        Self::Distinguished(DistinguishedFolderId::new("contacts"))
    }

    /// The `msgfolderroot` well-known folder (Top of Information Store).
    pub fn msgfolderroot() -> Self {
        Self::Distinguished(DistinguishedFolderId::new("msgfolderroot"))
    }

    /// A well-known folder by name.
    pub fn distinguished(name: impl Into<String>) -> Self {
        Self::Distinguished(DistinguishedFolderId::new(name))
    }

    /// A folder by id.
    pub fn id(id: impl Into<String>) -> Self {
        Self::FolderId(FolderId::new(id))
    }
}

impl From<FolderId> for BaseFolderId {
    fn from(id: FolderId) -> Self {
        Self::FolderId(id)
    }
}

impl From<DistinguishedFolderId> for BaseFolderId {
    fn from(id: DistinguishedFolderId) -> Self {
        Self::Distinguished(id)
    }
}

/// A list of folder ids (`m:FolderIds`, `m:ParentFolderIds`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderIds {
    /// The ids, in request order.
    #[serde(rename = "$value", default)]
    pub ids: Vec<BaseFolderId>,
}

impl<T: Into<BaseFolderId>> FromIterator<T> for FolderIds {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self {
            ids: iter.into_iter().map(Into::into).collect(),
        }
    }
}

/// Exactly one folder id (`m:SyncFolderId`, `m:ParentFolderId`, `m:SavedItemFolderId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetFolderId {
    /// The folder.
    #[serde(rename = "$value")]
    pub id: BaseFolderId,
}

impl<T: Into<BaseFolderId>> From<T> for TargetFolderId {
    fn from(id: T) -> Self {
        Self { id: id.into() }
    }
}

/// A list of item ids (`m:ItemIds`, `m:Ignore`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemIds {
    /// The ids, in request order.
    #[serde(rename(serialize = "t:ItemId", deserialize = "ItemId"), default)]
    pub ids: Vec<ItemId>,
}

impl FromIterator<ItemId> for ItemIds {
    fn from_iter<I: IntoIterator<Item = ItemId>>(iter: I) -> Self {
        Self {
            ids: iter.into_iter().collect(),
        }
    }
}
