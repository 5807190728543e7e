//! Extended (MAPI) properties: by tag, or by property set + name.

use serde::{Deserialize, Serialize};

/// Identifies an extended property (`t:ExtendedFieldURI`).
///
/// Valid combinations: `PropertyTag` alone, or (`DistinguishedPropertySetId` |
/// `PropertySetId`) + (`PropertyName` | `PropertyId`); `PropertyType` always.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExtendedFieldUri {
    /// A well-known property set (`PublicStrings`, `Address`, ...).
    #[serde(
        rename = "@DistinguishedPropertySetId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub distinguished_property_set_id: Option<String>,
    /// A property set GUID.
    #[serde(
        rename = "@PropertySetId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub property_set_id: Option<String>,
    /// A MAPI property tag without its type part, e.g. `0x3A45`.
    #[serde(
        rename = "@PropertyTag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub property_tag: Option<String>,
    /// A named property's name.
    #[serde(
        rename = "@PropertyName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub property_name: Option<String>,
    /// A named property's numeric id.
    #[serde(
        rename = "@PropertyId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub property_id: Option<i32>,
    /// The MAPI type: `String`, `Short`, `Integer`, `Boolean`, `SystemTime`, ...
    #[serde(rename = "@PropertyType")]
    pub property_type: String,
}

impl ExtendedFieldUri {
    /// A property by MAPI tag (`0x3A45`); the tag is written as `0x` + 4 upper-case hex digits.
    pub fn tag(tag: u16, property_type: impl Into<String>) -> Self {
        Self {
            property_tag: Some(format!("0x{tag:04X}")),
            property_type: property_type.into(),
            ..Self::default()
        }
    }

    /// A named property in a custom property set (the way to store an external id).
    pub fn named(
        property_set_id: impl Into<String>,
        name: impl Into<String>,
        property_type: impl Into<String>,
    ) -> Self {
        Self {
            property_set_id: Some(property_set_id.into()),
            property_name: Some(name.into()),
            property_type: property_type.into(),
            ..Self::default()
        }
    }

    /// The numeric tag, whether written in hex (`0x3a45`) or decimal (`14917`).
    pub fn tag_value(&self) -> Option<u16> {
        let tag = self.property_tag.as_deref()?.trim();
        match tag.strip_prefix("0x").or_else(|| tag.strip_prefix("0X")) {
            Some(hex) => u16::from_str_radix(hex, 16).ok(),
            None => tag.parse().ok(),
        }
    }

    /// Whether both name the same property (servers may change the case of GUIDs and tags).
    pub fn same_property(&self, other: &Self) -> bool {
        fn eq_ci(a: &Option<String>, b: &Option<String>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            }
        }
        if self.property_tag.is_some() || other.property_tag.is_some() {
            return self.tag_value().is_some() && self.tag_value() == other.tag_value();
        }
        eq_ci(
            &self.distinguished_property_set_id,
            &other.distinguished_property_set_id,
        ) && eq_ci(&self.property_set_id, &other.property_set_id)
            && self.property_name == other.property_name
            && self.property_id == other.property_id
    }
}

/// Several values of a multi-valued extended property.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedValues {
    /// The values.
    #[serde(rename(serialize = "t:Value", deserialize = "Value"), default)]
    pub values: Vec<String>,
}

/// An extended property with its value (`t:ExtendedProperty`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedProperty {
    /// Which property.
    #[serde(rename(serialize = "t:ExtendedFieldURI", deserialize = "ExtendedFieldURI"))]
    pub field_uri: ExtendedFieldUri,
    /// Single value (text form of any MAPI type).
    #[serde(
        rename(serialize = "t:Value", deserialize = "Value"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    /// Values of an array-typed property.
    #[serde(
        rename(serialize = "t:Values", deserialize = "Values"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub values: Option<ExtendedValues>,
}

impl ExtendedProperty {
    /// A single-valued property.
    pub fn new(field_uri: ExtendedFieldUri, value: impl Into<String>) -> Self {
        Self {
            field_uri,
            value: Some(value.into()),
            values: None,
        }
    }
}
