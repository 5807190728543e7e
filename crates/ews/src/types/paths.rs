//! Property paths (`FieldURI`, `IndexedFieldURI`, `ExtendedFieldURI`) and response shapes.

use serde::{Deserialize, Serialize};

use super::extended::ExtendedFieldUri;

/// A plain property path, e.g. `contacts:GivenName`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldUri {
    /// The property, e.g. `contacts:CompanyName`.
    #[serde(rename = "@FieldURI")]
    pub field_uri: String,
}

/// A path to one entry of a dictionary property, e.g. `contacts:PhoneNumber` + `MobilePhone`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IndexedFieldUri {
    /// The dictionary, e.g. `contacts:EmailAddress` or `contacts:PhysicalAddress:City`.
    #[serde(rename = "@FieldURI")]
    pub field_uri: String,
    /// The key, e.g. `EmailAddress1`, `Business`.
    #[serde(rename = "@FieldIndex")]
    pub field_index: String,
}

/// Any property path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PropertyPath {
    /// `t:FieldURI`.
    #[serde(rename(serialize = "t:FieldURI", deserialize = "FieldURI"))]
    Field(FieldUri),
    /// `t:IndexedFieldURI`.
    #[serde(rename(serialize = "t:IndexedFieldURI", deserialize = "IndexedFieldURI"))]
    Indexed(IndexedFieldUri),
    /// `t:ExtendedFieldURI`.
    #[serde(rename(serialize = "t:ExtendedFieldURI", deserialize = "ExtendedFieldURI"))]
    Extended(ExtendedFieldUri),
}

impl PropertyPath {
    /// A plain field, e.g. `field("contacts:JobTitle")`.
    pub fn field(uri: impl Into<String>) -> Self {
        Self::Field(FieldUri {
            field_uri: uri.into(),
        })
    }

    /// A dictionary entry, e.g. `indexed("contacts:PhoneNumber", "MobilePhone")`.
    pub fn indexed(uri: impl Into<String>, index: impl Into<String>) -> Self {
        Self::Indexed(IndexedFieldUri {
            field_uri: uri.into(),
            field_index: index.into(),
        })
    }
}

impl From<ExtendedFieldUri> for PropertyPath {
    fn from(uri: ExtendedFieldUri) -> Self {
        Self::Extended(uri)
    }
}

/// The three optional path slots of the schema's `t:Path` choice when it sits inside a
/// sequence (SetItemField, DeleteItemField, IsEqualTo), where a `$value` field can't be used.
pub(crate) type PathSlots = (
    Option<FieldUri>,
    Option<IndexedFieldUri>,
    Option<ExtendedFieldUri>,
);

/// Splits a path into its slot.
pub(crate) fn split_path(path: PropertyPath) -> PathSlots {
    match path {
        PropertyPath::Field(f) => (Some(f), None, None),
        PropertyPath::Indexed(i) => (None, Some(i), None),
        PropertyPath::Extended(e) => (None, None, Some(e)),
    }
}

/// The path held by the slots, if any.
pub(crate) fn join_path(
    field: &Option<FieldUri>,
    indexed: &Option<IndexedFieldUri>,
    extended: &Option<ExtendedFieldUri>,
) -> Option<PropertyPath> {
    field
        .clone()
        .map(PropertyPath::Field)
        .or_else(|| indexed.clone().map(PropertyPath::Indexed))
        .or_else(|| extended.clone().map(PropertyPath::Extended))
}

/// The additional properties of a shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdditionalProperties {
    /// The paths, in request order.
    #[serde(rename = "$value", default)]
    pub paths: Vec<PropertyPath>,
}

/// Which properties a response carries before `AdditionalProperties`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BaseShape {
    /// Ids only.
    IdOnly,
    /// The default set.
    Default,
    /// Every first-class property (no extended properties).
    AllProperties,
}

/// `m:ItemShape`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemShape {
    /// The base set.
    #[serde(rename(serialize = "t:BaseShape", deserialize = "BaseShape"))]
    pub base_shape: BaseShape,
    /// `Best`, `HTML` or `Text`.
    #[serde(
        rename(serialize = "t:BodyType", deserialize = "BodyType"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub body_type: Option<String>,
    /// Extra properties (extended properties must be asked for here).
    #[serde(
        rename(
            serialize = "t:AdditionalProperties",
            deserialize = "AdditionalProperties"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_properties: Option<AdditionalProperties>,
}

impl ItemShape {
    /// A shape with a base set and the given extra paths.
    pub fn new(base_shape: BaseShape, extra: impl IntoIterator<Item = PropertyPath>) -> Self {
        let paths: Vec<_> = extra.into_iter().collect();
        Self {
            base_shape,
            body_type: None,
            additional_properties: (!paths.is_empty()).then_some(AdditionalProperties { paths }),
        }
    }

    /// `IdOnly` with nothing else (what SyncFolderItems should ask for).
    pub fn id_only() -> Self {
        Self::new(BaseShape::IdOnly, [])
    }
}

/// `m:FolderShape`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderShape {
    /// The base set.
    #[serde(rename(serialize = "t:BaseShape", deserialize = "BaseShape"))]
    pub base_shape: BaseShape,
    /// Extra properties.
    #[serde(
        rename(
            serialize = "t:AdditionalProperties",
            deserialize = "AdditionalProperties"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_properties: Option<AdditionalProperties>,
}

impl FolderShape {
    /// A shape with a base set and the given extra paths.
    pub fn new(base_shape: BaseShape, extra: impl IntoIterator<Item = PropertyPath>) -> Self {
        let paths: Vec<_> = extra.into_iter().collect();
        Self {
            base_shape,
            additional_properties: (!paths.is_empty()).then_some(AdditionalProperties { paths }),
        }
    }
}

/// `IndexedPageItemView` / `IndexedPageFolderView`: offset paging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedPageView {
    /// Page size.
    #[serde(
        rename = "@MaxEntriesReturned",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_entries_returned: Option<u32>,
    /// Offset from the base point.
    #[serde(rename = "@Offset")]
    pub offset: u32,
    /// `Beginning` or `End`.
    #[serde(rename = "@BasePoint")]
    pub base_point: String,
}

impl IndexedPageView {
    /// A page of `max` entries starting at `offset` from the beginning.
    pub fn new(max: u32, offset: u32) -> Self {
        Self {
            max_entries_returned: Some(max),
            offset,
            base_point: "Beginning".into(),
        }
    }
}
