//! Folders.

use serde::{Deserialize, Serialize};

use super::extended::ExtendedProperty;
use super::ids::FolderId;

/// The properties of a folder, shared by every folder element.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FolderData {
    /// Id and change key.
    #[serde(
        rename(serialize = "t:FolderId", deserialize = "FolderId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub folder_id: Option<FolderId>,
    /// The parent folder.
    #[serde(
        rename(serialize = "t:ParentFolderId", deserialize = "ParentFolderId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_folder_id: Option<FolderId>,
    /// `IPF.Contact` for contact folders.
    #[serde(
        rename(serialize = "t:FolderClass", deserialize = "FolderClass"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub folder_class: Option<String>,
    /// Name.
    #[serde(
        rename(serialize = "t:DisplayName", deserialize = "DisplayName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// Number of items.
    #[serde(
        rename(serialize = "t:TotalCount", deserialize = "TotalCount"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_count: Option<i32>,
    /// Number of subfolders.
    #[serde(
        rename(serialize = "t:ChildFolderCount", deserialize = "ChildFolderCount"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub child_folder_count: Option<i32>,
    /// Extended properties asked for.
    #[serde(
        rename(serialize = "t:ExtendedProperty", deserialize = "ExtendedProperty"),
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extended_properties: Vec<ExtendedProperty>,
    /// What the caller may do.
    #[serde(
        rename(serialize = "t:EffectiveRights", deserialize = "EffectiveRights"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub effective_rights: Option<EffectiveRights>,
    /// The well-known name, when the folder has one.
    #[serde(
        rename(
            serialize = "t:DistinguishedFolderId",
            deserialize = "DistinguishedFolderId"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub distinguished_folder_id: Option<String>,
    /// Unread items; valid for `t:Folder`, `t:SearchFolder`, `t:TasksFolder` only.
    #[serde(
        rename(serialize = "t:UnreadCount", deserialize = "UnreadCount"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unread_count: Option<i32>,
}

/// What the caller may do with a folder or item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveRights {
    /// CreateAssociated.
    #[serde(
        rename(serialize = "t:CreateAssociated", deserialize = "CreateAssociated"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_associated: Option<bool>,
    /// CreateContents.
    #[serde(
        rename(serialize = "t:CreateContents", deserialize = "CreateContents"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_contents: Option<bool>,
    /// CreateHierarchy.
    #[serde(
        rename(serialize = "t:CreateHierarchy", deserialize = "CreateHierarchy"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub create_hierarchy: Option<bool>,
    /// Delete.
    #[serde(
        rename(serialize = "t:Delete", deserialize = "Delete"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub delete: Option<bool>,
    /// Modify.
    #[serde(
        rename(serialize = "t:Modify", deserialize = "Modify"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub modify: Option<bool>,
    /// Read.
    #[serde(
        rename(serialize = "t:Read", deserialize = "Read"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub read: Option<bool>,
    /// ViewPrivateItems.
    #[serde(
        rename(serialize = "t:ViewPrivateItems", deserialize = "ViewPrivateItems"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub view_private_items: Option<bool>,
}

/// A folder, tagged with its element (and so its kind).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Folder {
    /// A generic folder (`t:Folder`).
    #[serde(rename(serialize = "t:Folder", deserialize = "Folder"))]
    Folder(FolderData),
    /// A contacts folder (`t:ContactsFolder`).
    #[serde(rename(serialize = "t:ContactsFolder", deserialize = "ContactsFolder"))]
    ContactsFolder(FolderData),
    /// A calendar folder.
    #[serde(rename(serialize = "t:CalendarFolder", deserialize = "CalendarFolder"))]
    CalendarFolder(FolderData),
    /// A search folder.
    #[serde(rename(serialize = "t:SearchFolder", deserialize = "SearchFolder"))]
    SearchFolder(FolderData),
    /// A tasks folder.
    #[serde(rename(serialize = "t:TasksFolder", deserialize = "TasksFolder"))]
    TasksFolder(FolderData),
}

impl Folder {
    /// The folder's properties.
    pub fn data(&self) -> &FolderData {
        match self {
            Folder::Folder(d)
            | Folder::ContactsFolder(d)
            | Folder::CalendarFolder(d)
            | Folder::SearchFolder(d)
            | Folder::TasksFolder(d) => d,
        }
    }

    /// The folder's properties.
    pub fn into_data(self) -> FolderData {
        match self {
            Folder::Folder(d)
            | Folder::ContactsFolder(d)
            | Folder::CalendarFolder(d)
            | Folder::SearchFolder(d)
            | Folder::TasksFolder(d) => d,
        }
    }

    /// Whether it holds contacts (element `ContactsFolder` or class `IPF.Contact*`).
    pub fn is_contacts(&self) -> bool {
        matches!(self, Folder::ContactsFolder(_))
            || self
                .data()
                .folder_class
                .as_deref()
                .is_some_and(|c| c.starts_with("IPF.Contact"))
    }

    /// A new contacts folder to create: a `t:Folder` with class
    /// `IPF.Contact`, the way real clients send it.
    pub fn new_contacts(display_name: impl Into<String>) -> Self {
        Folder::Folder(FolderData {
            folder_class: Some("IPF.Contact".into()),
            display_name: Some(display_name.into()),
            ..FolderData::default()
        })
    }
}

/// A list of folders (`m:Folders`, `t:Folders`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Folders {
    /// The folders.
    #[serde(rename = "$value", default)]
    pub folders: Vec<Folder>,
}
