//! What every response message carries: class, code, text and MessageXml.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `ResponseClass` of a response message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseClass {
    /// It worked.
    #[default]
    Success,
    /// It worked, with a warning.
    Warning,
    /// It failed; see the code.
    Error,
}

/// One `t:Value Name="...">` of a MessageXml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageXmlValue {
    /// The name, e.g. `BackOffMilliseconds`.
    #[serde(rename = "@Name")]
    pub name: String,
    /// The value (trim it: servers indent it).
    #[serde(rename = "$text", default)]
    pub value: String,
}

/// `MessageXml`: machine-readable details of an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageXml {
    /// Named values (`BackOffMilliseconds`, `InnerErrorResponseCode`, ...).
    #[serde(
        rename(serialize = "t:Value", deserialize = "Value"),
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub values: Vec<MessageXmlValue>,
    /// Schema-validation line.
    #[serde(
        rename(serialize = "t:LineNumber", deserialize = "LineNumber"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub line_number: Option<u32>,
    /// Schema-validation column.
    #[serde(
        rename(serialize = "t:LinePosition", deserialize = "LinePosition"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub line_position: Option<u32>,
    /// Schema-validation message.
    #[serde(
        rename(serialize = "t:Violation", deserialize = "Violation"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub violation: Option<String>,
}

impl MessageXml {
    /// The trimmed value named `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.trim())
    }

    /// The server's back-off hint (`BackOffMilliseconds`).
    pub fn back_off(&self) -> Option<Duration> {
        self.value("BackOffMilliseconds")?
            .parse()
            .ok()
            .map(Duration::from_millis)
    }

    /// A MessageXml that carries only a back-off hint.
    pub fn with_back_off(back_off: Duration) -> Self {
        Self {
            values: vec![MessageXmlValue {
                name: "BackOffMilliseconds".into(),
                value: back_off.as_millis().to_string(),
            }],
            ..Self::default()
        }
    }
}

/// Access to the common part of every response message.
pub trait ResponseMessage {
    /// `ResponseClass`.
    fn response_class(&self) -> ResponseClass;
    /// `ResponseCode` (trimmed; `NoError` on success).
    fn response_code(&self) -> &str;
    /// `MessageText`.
    fn message_text(&self) -> Option<&str>;
    /// `MessageXml`.
    fn message_xml(&self) -> Option<&MessageXml>;

    /// Whether the message reports success (or a warning).
    fn is_success(&self) -> bool {
        self.response_class() != ResponseClass::Error
    }

    /// The back-off hint of the message, if any.
    fn back_off(&self) -> Option<Duration> {
        self.message_xml().and_then(MessageXml::back_off)
    }
}

/// Defines a response message struct: the common fields, then the given ones.
macro_rules! response_message {
    (
        $(#[$meta:meta])*
        $name:ident ($ser:literal, $de:literal) {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(rename(serialize = $ser, deserialize = $de))]
        pub struct $name {
            /// `ResponseClass`.
            #[serde(rename = "@ResponseClass")]
            pub response_class: $crate::types::ResponseClass,
            /// `MessageText`.
            #[serde(
                rename(serialize = "m:MessageText", deserialize = "MessageText"),
                default,
                skip_serializing_if = "Option::is_none"
            )]
            pub message_text: Option<String>,
            /// `ResponseCode`.
            #[serde(
                rename(serialize = "m:ResponseCode", deserialize = "ResponseCode"),
                default,
                skip_serializing_if = "Option::is_none"
            )]
            pub response_code: Option<String>,
            /// `DescriptiveLinkKey`.
            #[serde(
                rename(serialize = "m:DescriptiveLinkKey", deserialize = "DescriptiveLinkKey"),
                default,
                skip_serializing_if = "Option::is_none"
            )]
            pub descriptive_link_key: Option<i32>,
            /// `MessageXml`.
            #[serde(
                rename(serialize = "m:MessageXml", deserialize = "MessageXml"),
                default,
                skip_serializing_if = "Option::is_none"
            )]
            pub message_xml: Option<$crate::types::MessageXml>,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::types::ResponseMessage for $name {
            fn response_class(&self) -> $crate::types::ResponseClass {
                self.response_class
            }
            fn response_code(&self) -> &str {
                self.response_code.as_deref().map(str::trim).unwrap_or("NoError")
            }
            fn message_text(&self) -> Option<&str> {
                self.message_text.as_deref()
            }
            fn message_xml(&self) -> Option<&$crate::types::MessageXml> {
                self.message_xml.as_ref()
            }
        }

        impl $name {
            /// A successful message (`Success`, `NoError`).
            pub fn success() -> Self {
                Self { response_code: Some("NoError".into()), ..Self::default() }
            }

            /// An error message with code and text (and `DescriptiveLinkKey` 0, as Exchange sends).
            pub fn error(code: impl Into<String>, text: impl Into<String>) -> Self {
                Self {
                    response_class: $crate::types::ResponseClass::Error,
                    message_text: Some(text.into()),
                    response_code: Some(code.into()),
                    descriptive_link_key: Some(0),
                    ..Self::default()
                }
            }
        }
    };
}
pub(crate) use response_message;

/// Defines a response (`m:XxxResponse`) holding a list of messages of one type.
macro_rules! response {
    ($(#[$meta:meta])* $name:ident, $msg:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            /// The messages, one per id / item / change of the request.
            #[serde(rename(serialize = "m:ResponseMessages", deserialize = "ResponseMessages"))]
            pub response_messages: $crate::types::ResponseMessages<$msg>,
        }

        impl $name {
            /// A response holding the given messages.
            pub fn new(messages: Vec<$msg>) -> Self {
                Self { response_messages: $crate::types::ResponseMessages { messages } }
            }

            /// The messages.
            pub fn messages(&self) -> &[$msg] {
                &self.response_messages.messages
            }

            /// The messages, owned.
            pub fn into_messages(self) -> Vec<$msg> {
                self.response_messages.messages
            }
        }
    };
}
pub(crate) use response;

/// `m:ResponseMessages`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "M: Deserialize<'de>"))]
pub struct ResponseMessages<M> {
    /// The messages.
    #[serde(rename = "$value", default)]
    pub messages: Vec<M>,
}
