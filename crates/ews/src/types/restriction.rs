//! Search restrictions (`m:Restriction`), enough to find items by an extended property.

use serde::{Deserialize, Serialize};

use super::extended::ExtendedFieldUri;
use super::paths::{FieldUri, IndexedFieldUri, PropertyPath, join_path, split_path};

/// `m:Restriction`: one search expression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    /// The expression.
    #[serde(rename = "$value")]
    pub expression: SearchExpression,
}

impl Restriction {
    /// `path = value`.
    pub fn is_equal_to(path: impl Into<PropertyPath>, value: impl Into<String>) -> Self {
        Self {
            expression: SearchExpression::IsEqualTo(Comparison::new(path.into(), value)),
        }
    }
}

/// The search expressions this crate speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SearchExpression {
    /// `t:IsEqualTo`.
    #[serde(rename(serialize = "t:IsEqualTo", deserialize = "IsEqualTo"))]
    IsEqualTo(Comparison),
    /// `t:IsNotEqualTo`.
    #[serde(rename(serialize = "t:IsNotEqualTo", deserialize = "IsNotEqualTo"))]
    IsNotEqualTo(Comparison),
    /// `t:Exists`.
    #[serde(rename(serialize = "t:Exists", deserialize = "Exists"))]
    Exists(Exists),
    /// `t:And`.
    #[serde(rename(serialize = "t:And", deserialize = "And"))]
    And(ExpressionList),
    /// `t:Or`.
    #[serde(rename(serialize = "t:Or", deserialize = "Or"))]
    Or(ExpressionList),
}

/// A comparison of a property with a constant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
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
    /// The right-hand side.
    #[serde(rename(serialize = "t:FieldURIOrConstant", deserialize = "FieldURIOrConstant"))]
    pub field_uri_or_constant: FieldUriOrConstant,
}

impl Comparison {
    /// `path` compared with a constant.
    pub fn new(path: PropertyPath, value: impl Into<String>) -> Self {
        let (field_uri, indexed_field_uri, extended_field_uri) = split_path(path);
        Self {
            field_uri,
            indexed_field_uri,
            extended_field_uri,
            field_uri_or_constant: FieldUriOrConstant {
                constant: Some(Constant {
                    value: value.into(),
                }),
            },
        }
    }

    /// The left-hand path.
    pub fn path(&self) -> Option<PropertyPath> {
        join_path(
            &self.field_uri,
            &self.indexed_field_uri,
            &self.extended_field_uri,
        )
    }

    /// The constant on the right-hand side.
    pub fn constant(&self) -> Option<&str> {
        self.field_uri_or_constant
            .constant
            .as_ref()
            .map(|c| c.value.as_str())
    }
}

/// `t:FieldURIOrConstant` (only the constant form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldUriOrConstant {
    /// The constant.
    #[serde(
        rename(serialize = "t:Constant", deserialize = "Constant"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub constant: Option<Constant>,
}

/// `t:Constant`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constant {
    /// The value.
    #[serde(rename = "@Value")]
    pub value: String,
}

/// `t:Exists`: the property is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exists {
    /// The property.
    #[serde(rename = "$value")]
    pub path: PropertyPath,
}

/// Operands of `And` / `Or`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpressionList {
    /// The operands.
    #[serde(rename = "$value", default)]
    pub expressions: Vec<SearchExpression>,
}
