//! `singleValueExtendedProperties`: MAPI properties by Graph's id strings, e.g.
//! `String {6f1d3c2a-...} Name CrmContactId`, `String 0x3A45`, `Short 0x3A4D`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One single-value extended property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedProperty {
    /// The property id string (see [`PropertyId`]).
    pub id: String,
    /// The value as text (numbers too).
    #[serde(default)]
    pub value: Option<String>,
}

impl ExtendedProperty {
    /// A property with a value.
    pub fn new(id: &PropertyId, value: impl Into<String>) -> Self {
        Self {
            id: id.to_string(),
            value: Some(value.into()),
        }
    }
}

/// A parsed extended property id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyId {
    /// `{type} 0x{tag}`: a MAPI property tag.
    Tag {
        /// MAPI type as Graph spells it (`String`, `Short`, `Integer`, ...).
        ty: String,
        /// The property tag (`0x3A45`).
        tag: u16,
    },
    /// `{type} {guid} Name {name}`: a named property.
    Named {
        /// MAPI type.
        ty: String,
        /// The property set GUID, lower case.
        set: String,
        /// The name.
        name: String,
    },
    /// `{type} {guid} Id 0x{id}`: a numbered property of a set.
    Numbered {
        /// MAPI type.
        ty: String,
        /// The property set GUID, lower case.
        set: String,
        /// The id.
        id: u32,
    },
}

/// Why an id string is not an extended property id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an extended property id: {0:?}")]
pub struct PropertyIdError(pub String);

fn hex(s: &str) -> Option<u32> {
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u32::from_str_radix(h, 16).ok()
}

fn guid(s: &str) -> Option<String> {
    let g = s.strip_prefix('{')?.strip_suffix('}')?;
    let ok = g.len() == 36
        && g.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    ok.then(|| g.to_ascii_lowercase())
}

impl PropertyId {
    /// A named string property of a property set (the CRM stamp).
    pub fn named_string(set: &str, name: &str) -> Self {
        PropertyId::Named {
            ty: "String".into(),
            set: set.trim_matches(['{', '}']).to_ascii_lowercase(),
            name: name.into(),
        }
    }

    /// A property by tag, e.g. `tag("String", 0x3A45)`.
    pub fn tag(ty: &str, tag: u16) -> Self {
        PropertyId::Tag { ty: ty.into(), tag }
    }

    /// Parses Graph's id string.
    pub fn parse(s: &str) -> Result<Self, PropertyIdError> {
        let bad = || PropertyIdError(s.to_owned());
        let parts: Vec<&str> = s.split_whitespace().collect();
        match parts.as_slice() {
            [ty, tag] => Ok(PropertyId::Tag {
                ty: (*ty).into(),
                tag: hex(tag)
                    .and_then(|t| u16::try_from(t).ok())
                    .ok_or_else(bad)?,
            }),
            [ty, set, kind, name] if kind.eq_ignore_ascii_case("name") => Ok(PropertyId::Named {
                ty: (*ty).into(),
                set: guid(set).ok_or_else(bad)?,
                name: (*name).into(),
            }),
            [ty, set, kind, id] if kind.eq_ignore_ascii_case("id") => Ok(PropertyId::Numbered {
                ty: (*ty).into(),
                set: guid(set).ok_or_else(bad)?,
                id: hex(id).ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        }
    }

    /// The MAPI type.
    pub fn ty(&self) -> &str {
        match self {
            PropertyId::Tag { ty, .. }
            | PropertyId::Named { ty, .. }
            | PropertyId::Numbered { ty, .. } => ty,
        }
    }

    /// Same property whatever the spelling (GUID case, hex case); the type is not part
    /// of the identity, as in Exchange.
    pub fn same_property(&self, other: &PropertyId) -> bool {
        match (self, other) {
            (PropertyId::Tag { tag: a, .. }, PropertyId::Tag { tag: b, .. }) => a == b,
            (
                PropertyId::Named {
                    set: s, name: n, ..
                },
                PropertyId::Named {
                    set: s2, name: n2, ..
                },
            ) => s == s2 && n == n2,
            (
                PropertyId::Numbered { set: s, id: i, .. },
                PropertyId::Numbered {
                    set: s2, id: i2, ..
                },
            ) => s == s2 && i == i2,
            _ => false,
        }
    }
}

impl fmt::Display for PropertyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PropertyId::Tag { ty, tag } => write!(f, "{ty} 0x{tag:04X}"),
            PropertyId::Named { ty, set, name } => write!(f, "{ty} {{{set}}} Name {name}"),
            PropertyId::Numbered { ty, set, id } => write!(f, "{ty} {{{set}}} Id 0x{id:04X}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_compare_by_identity() {
        let stamp =
            PropertyId::named_string("6F1D3C2A-8B54-4E0F-9A7D-2C1B5E4F8A90", "CrmContactId");
        assert_eq!(
            stamp.to_string(),
            "String {6f1d3c2a-8b54-4e0f-9a7d-2c1b5e4f8a90} Name CrmContactId"
        );
        let parsed =
            PropertyId::parse("String {6F1D3C2A-8B54-4E0F-9A7D-2C1B5E4F8A90} Name CrmContactId")
                .unwrap();
        assert!(parsed.same_property(&stamp));
        let gender = PropertyId::parse("Short 0x3a4d").unwrap();
        assert_eq!(gender, PropertyId::tag("Short", 0x3A4D));
        assert_eq!(gender.to_string(), "Short 0x3A4D");
        assert!(!gender.same_property(&PropertyId::tag("String", 0x3A45)));
        for bad in [
            "",
            "String",
            "String 3A45",
            "String {nope} Name X",
            "String {6f1d3c2a-8b54-4e0f-9a7d-2c1b5e4f8a90} Tag X",
        ] {
            assert!(PropertyId::parse(bad).is_err(), "{bad}");
        }
    }
}
