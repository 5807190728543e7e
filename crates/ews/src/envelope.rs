//! The SOAP 1.1 envelope: header, body (one operation element) and faults.
//!
//! [`to_xml`] writes an envelope that declares `s:`, `m:` and `t:` once on the root;
//! [`parse`] reads any envelope (whatever the prefixes) into its [`Header`] and a
//! [`Body`] that names the operation, so a server can dispatch on it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ops::*;
use crate::types::MessageXml;

/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// EWS messages namespace (`m:`).
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS types namespace (`t:`).
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS errors namespace (`e:`, SOAP fault details).
pub const ERRORS_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// The `Version` values of `RequestServerVersion` (ExchangeVersionType).
pub const EXCHANGE_VERSIONS: &[&str] = &[
    "Exchange2007",
    "Exchange2007_SP1",
    "Exchange2009",
    "Exchange2010",
    "Exchange2010_SP1",
    "Exchange2010_SP2",
    "Exchange2012",
    "Exchange2013",
    "Exchange2013_SP1",
    "Exchange2015",
    "Exchange2016",
    "V2015_10_05",
    "V2016_01_06",
    "V2016_04_13",
    "V2016_07_13",
    "V2016_10_10",
    "V2017_01_07",
    "V2017_04_14",
    "V2017_07_11",
    "V2017_10_09",
    "V2018_01_08",
];

/// The SOAP header: what requests and responses carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Request: the schema version the client speaks.
    #[serde(
        rename(
            serialize = "t:RequestServerVersion",
            deserialize = "RequestServerVersion"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub request_server_version: Option<RequestServerVersion>,
    /// Request: act as another mailbox.
    #[serde(
        rename(
            serialize = "t:ExchangeImpersonation",
            deserialize = "ExchangeImpersonation"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exchange_impersonation: Option<ExchangeImpersonation>,
    /// Request: the client's time zone (some clients send it).
    #[serde(
        rename(serialize = "t:TimeZoneContext", deserialize = "TimeZoneContext"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub time_zone_context: Option<TimeZoneContext>,
    /// Response: the server's version.
    #[serde(
        rename(serialize = "t:ServerVersionInfo", deserialize = "ServerVersionInfo"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub server_version_info: Option<ServerVersionInfo>,
}

impl Header {
    /// A request header for `version`, optionally impersonating `smtp_address`.
    pub fn request(version: impl Into<String>, impersonate: Option<&str>) -> Self {
        Self {
            request_server_version: Some(RequestServerVersion {
                version: version.into(),
            }),
            exchange_impersonation: impersonate.map(ExchangeImpersonation::primary_smtp_address),
            ..Self::default()
        }
    }

    /// A response header carrying `info`.
    pub fn response(info: ServerVersionInfo) -> Self {
        Self {
            server_version_info: Some(info),
            ..Self::default()
        }
    }

    /// The mailbox to act as, whichever form the client used to name it.
    pub fn impersonated_address(&self) -> Option<&str> {
        let sid = &self.exchange_impersonation.as_ref()?.connecting_sid;
        sid.primary_smtp_address
            .as_deref()
            .or(sid.smtp_address.as_deref())
            .or(sid.principal_name.as_deref())
            .map(str::trim)
    }

    fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// `t:RequestServerVersion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestServerVersion {
    /// One of [`EXCHANGE_VERSIONS`].
    #[serde(rename = "@Version")]
    pub version: String,
}

/// `t:ExchangeImpersonation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeImpersonation {
    /// Who to act as.
    #[serde(rename(serialize = "t:ConnectingSID", deserialize = "ConnectingSID"))]
    pub connecting_sid: ConnectingSid,
}

impl ExchangeImpersonation {
    /// Impersonation by primary SMTP address.
    pub fn primary_smtp_address(address: &str) -> Self {
        Self {
            connecting_sid: ConnectingSid {
                primary_smtp_address: Some(address.to_owned()),
                ..ConnectingSid::default()
            },
        }
    }
}

/// `t:ConnectingSID`: exactly one of the fields is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectingSid {
    /// User principal name.
    #[serde(
        rename(serialize = "t:PrincipalName", deserialize = "PrincipalName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub principal_name: Option<String>,
    /// Security identifier.
    #[serde(
        rename(serialize = "t:SID", deserialize = "SID"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sid: Option<String>,
    /// Primary SMTP address (what this crate sends).
    #[serde(
        rename(serialize = "t:PrimarySmtpAddress", deserialize = "PrimarySmtpAddress"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub primary_smtp_address: Option<String>,
    /// Any SMTP address of the mailbox.
    #[serde(
        rename(serialize = "t:SmtpAddress", deserialize = "SmtpAddress"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub smtp_address: Option<String>,
}

/// `t:TimeZoneContext`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeZoneContext {
    /// The zone.
    #[serde(rename(serialize = "t:TimeZoneDefinition", deserialize = "TimeZoneDefinition"))]
    pub time_zone_definition: TimeZoneDefinition,
}

/// `t:TimeZoneDefinition` (only its id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeZoneDefinition {
    /// Windows time zone id, e.g. `UTC`.
    #[serde(rename = "@Id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// `t:ServerVersionInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerVersionInfo {
    /// Major version (15 = Exchange 2013 and later).
    #[serde(
        rename = "@MajorVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub major_version: Option<i32>,
    /// Minor version.
    #[serde(
        rename = "@MinorVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub minor_version: Option<i32>,
    /// Major build.
    #[serde(
        rename = "@MajorBuildNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub major_build_number: Option<i32>,
    /// Minor build.
    #[serde(
        rename = "@MinorBuildNumber",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub minor_build_number: Option<i32>,
    /// Schema version, e.g. `V2018_01_08`.
    #[serde(rename = "@Version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A SOAP 1.1 fault (HTTP 500): the whole request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// `soap:Client`, `a:ErrorServerBusy`, ...
    #[serde(rename = "faultcode")]
    pub fault_code: FaultCode,
    /// Human-readable reason.
    #[serde(rename = "faultstring")]
    pub fault_string: FaultString,
    /// Where it failed.
    #[serde(
        rename = "faultactor",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub fault_actor: Option<String>,
    /// EWS details (ResponseCode, MessageXml).
    #[serde(rename = "detail", default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<FaultDetail>,
}

/// `faultcode`: a QName. Written as `s:<code>` for SOAP's own codes and as `a:<code>`
/// (with `a` bound to the types namespace, as Exchange does) for EWS codes, whatever
/// prefix it was read with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct FaultCode {
    /// The QName as read, e.g. `a:ErrorServerBusy`.
    #[serde(rename = "$text", default)]
    pub value: String,
}

impl Serialize for FaultCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(rename = "@xmlns:a")]
            xmlns_a: &'a str,
            #[serde(rename = "$text")]
            value: String,
        }
        let local = self.local_name();
        let prefix = match local {
            "Client" | "Server" | "VersionMismatch" | "MustUnderstand" => "s",
            _ => "a",
        };
        Out {
            xmlns_a: TYPES_NS,
            value: format!("{prefix}:{local}"),
        }
        .serialize(serializer)
    }
}

impl FaultCode {
    /// The local part of the code (`ErrorServerBusy` of `a:ErrorServerBusy`).
    pub fn local_name(&self) -> &str {
        let v = self.value.trim();
        v.rsplit_once(':').map_or(v, |(_, local)| local)
    }
}

/// `faultstring`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultString {
    /// Language of the text (written only).
    #[serde(
        rename = "@xml:lang",
        skip_deserializing,
        skip_serializing_if = "Option::is_none"
    )]
    pub lang: Option<String>,
    /// The text.
    #[serde(rename = "$text", default)]
    pub text: String,
}

/// `detail` of an EWS fault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultDetail {
    /// Declares `e:` for the children (always written).
    #[serde(rename = "@xmlns:e", skip_deserializing)]
    pub xmlns_e: ErrorsNamespace,
    /// The EWS response code (servers may indent it: trim).
    #[serde(
        rename(serialize = "e:ResponseCode", deserialize = "ResponseCode"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_code: Option<String>,
    /// The EWS message.
    #[serde(
        rename(serialize = "e:Message", deserialize = "Message"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<String>,
    /// Schema-validation line (older servers).
    #[serde(
        rename(serialize = "e:Line", deserialize = "Line"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub line: Option<u32>,
    /// Schema-validation column (older servers).
    #[serde(
        rename(serialize = "e:Position", deserialize = "Position"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub position: Option<u32>,
    /// Machine-readable details (BackOffMilliseconds, LineNumber, ...).
    #[serde(
        rename(serialize = "t:MessageXml", deserialize = "MessageXml"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub message_xml: Option<MessageXml>,
}

/// Writes the errors namespace URI; carries no data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorsNamespace;

impl Serialize for ErrorsNamespace {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(ERRORS_NS)
    }
}

impl Fault {
    /// An EWS fault as Exchange sends it: `a:<code>` with the code and message in the detail.
    pub fn ews(code: &str, message: &str, message_xml: Option<MessageXml>) -> Self {
        Self {
            fault_code: FaultCode {
                value: format!("a:{code}"),
            },
            fault_string: FaultString {
                lang: Some("en-US".into()),
                text: message.into(),
            },
            fault_actor: None,
            detail: Some(FaultDetail {
                xmlns_e: ErrorsNamespace,
                response_code: Some(code.into()),
                message: Some(message.into()),
                line: None,
                position: None,
                message_xml,
            }),
        }
    }

    /// The EWS response code: the detail's, else the fault code's local part.
    pub fn response_code(&self) -> &str {
        self.detail
            .as_ref()
            .and_then(|d| d.response_code.as_deref())
            .map(str::trim)
            .unwrap_or_else(|| self.fault_code.local_name())
    }

    /// The message: the detail's, else the fault string.
    pub fn message(&self) -> &str {
        self.detail
            .as_ref()
            .and_then(|d| d.message.as_deref())
            .unwrap_or(&self.fault_string.text)
            .trim()
    }

    /// The MessageXml of the detail.
    pub fn message_xml(&self) -> Option<&MessageXml> {
        self.detail.as_ref()?.message_xml.as_ref()
    }
}

macro_rules! body {
    ($($variant:ident ($ser:literal, $de:literal)),* $(,)?) => {
        /// The content of `s:Body`: one operation request, response, or a fault.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[allow(clippy::large_enum_variant)] // one per envelope; boxing would only add noise
        pub enum Body {
            $(
                #[doc = concat!("`m:", stringify!($variant), "`.")]
                #[serde(rename(serialize = $ser, deserialize = $de))]
                $variant($variant),
            )*
            /// `s:Fault`.
            #[serde(rename(serialize = "s:Fault", deserialize = "Fault"))]
            Fault(Fault),
        }

        impl Body {
            /// The root element's local name, e.g. `GetItem` or `Fault`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Body::$variant(_) => stringify!($variant),)*
                    Body::Fault(_) => "Fault",
                }
            }
        }

        $(
            impl From<$variant> for Body {
                fn from(value: $variant) -> Self {
                    Body::$variant(value)
                }
            }
        )*
    };
}

body!(
    GetFolder("m:GetFolder", "GetFolder"),
    GetFolderResponse("m:GetFolderResponse", "GetFolderResponse"),
    FindFolder("m:FindFolder", "FindFolder"),
    FindFolderResponse("m:FindFolderResponse", "FindFolderResponse"),
    CreateFolder("m:CreateFolder", "CreateFolder"),
    CreateFolderResponse("m:CreateFolderResponse", "CreateFolderResponse"),
    DeleteFolder("m:DeleteFolder", "DeleteFolder"),
    DeleteFolderResponse("m:DeleteFolderResponse", "DeleteFolderResponse"),
    SyncFolderItems("m:SyncFolderItems", "SyncFolderItems"),
    SyncFolderItemsResponse("m:SyncFolderItemsResponse", "SyncFolderItemsResponse"),
    GetItem("m:GetItem", "GetItem"),
    GetItemResponse("m:GetItemResponse", "GetItemResponse"),
    FindItem("m:FindItem", "FindItem"),
    FindItemResponse("m:FindItemResponse", "FindItemResponse"),
    CreateItem("m:CreateItem", "CreateItem"),
    CreateItemResponse("m:CreateItemResponse", "CreateItemResponse"),
    UpdateItem("m:UpdateItem", "UpdateItem"),
    UpdateItemResponse("m:UpdateItemResponse", "UpdateItemResponse"),
    DeleteItem("m:DeleteItem", "DeleteItem"),
    DeleteItemResponse("m:DeleteItemResponse", "DeleteItemResponse"),
);

impl From<Fault> for Body {
    fn from(value: Fault) -> Self {
        Body::Fault(value)
    }
}

/// The envelope as written; `C` is a [`Body`] or one request ([`OperationOut`]).
#[derive(Serialize)]
struct EnvelopeOut<'a, C: Serialize> {
    #[serde(rename = "@xmlns:s")]
    xmlns_s: &'static str,
    #[serde(rename = "@xmlns:m")]
    xmlns_m: &'static str,
    #[serde(rename = "@xmlns:t")]
    xmlns_t: &'static str,
    #[serde(rename = "s:Header", skip_serializing_if = "Header::is_empty")]
    header: &'a Header,
    #[serde(rename = "s:Body")]
    body: BodyOut<'a, C>,
}

#[derive(Serialize)]
struct BodyOut<'a, C: Serialize> {
    #[serde(rename = "$value")]
    content: &'a C,
}

/// A request written as the [`Body`] variant holding it would be (`m:GetItem`, ...),
/// without moving or cloning it into a `Body` first.
struct OperationOut<'a, O>(&'a O);

impl<O: Operation> Serialize for OperationOut<'_, O> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_variant("Body", 0, O::ELEMENT, self.0)
    }
}

/// The envelope as read (by local names).
#[derive(Deserialize)]
struct EnvelopeIn {
    #[serde(rename = "Header", default)]
    header: Option<Header>,
    #[serde(rename = "Body")]
    body: BodyIn,
}

#[derive(Deserialize)]
struct BodyIn {
    #[serde(rename = "$value")]
    content: Body,
}

/// Why XML could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XmlError {}

/// Writes a whole envelope (with XML declaration, indented by two spaces).
pub fn to_xml(header: &Header, body: &Body) -> Result<String, XmlError> {
    write_xml(header, body, true)
}

/// Writes a whole envelope without indentation, all on one line after the XML
/// declaration, as Exchange answers: a third fewer bytes to send and read than
/// [`to_xml`], and no whitespace between elements for the reader to skip.
pub fn to_xml_compact(header: &Header, body: &Body) -> Result<String, XmlError> {
    write_xml(header, body, false)
}

fn write_xml<C: Serialize>(header: &Header, body: &C, indent: bool) -> Result<String, XmlError> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let mut ser = quick_xml::se::Serializer::with_root(&mut out, Some("s:Envelope"))
        .map_err(|e| XmlError(e.to_string()))?;
    if indent {
        ser.indent(' ', 2);
    }
    let envelope = EnvelopeOut {
        xmlns_s: SOAP_NS,
        xmlns_m: MESSAGES_NS,
        xmlns_t: TYPES_NS,
        header,
        body: BodyOut { content: body },
    };
    envelope
        .serialize(ser)
        .map_err(|e| XmlError(e.to_string()))?;
    out.push('\n');
    Ok(out)
}

/// Writes a request envelope for `op` (indented, as [`to_xml`] writes its `Body`).
pub fn request_xml<O: Operation>(header: &Header, op: &O) -> Result<String, XmlError> {
    write_xml(header, &OperationOut(op), true)
}

/// Refuses documents with a DTD: EWS never sends one, and entity expansion is an attack.
pub fn check_no_dtd(xml: &str) -> Result<(), XmlError> {
    // Only markup that starts with `<!` can declare anything: look at those places alone
    // (a substring search) instead of comparing a window at every byte of the body.
    let declares = |at: usize| {
        let rest = &xml.as_bytes()[at + 2..];
        let starts = |word: &[u8]| {
            rest.get(..word.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        };
        starts(b"DOCTYPE") || starts(b"ENTITY")
    };
    if xml.match_indices("<!").any(|(at, _)| declares(at)) {
        return Err(XmlError(
            "XML with a DTD or entity declaration is refused".into(),
        ));
    }
    Ok(())
}

/// Refuses every DTD the reader meets (so no entity is ever declared); resolves the
/// predefined entities only.
struct NoDtd;

/// The error of a document with a DTD.
#[derive(Debug)]
struct DtdRefused;

impl fmt::Display for DtdRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("XML with a DTD or entity declaration is refused")
    }
}

impl std::error::Error for DtdRefused {}

impl quick_xml::de::EntityResolver for NoDtd {
    type Error = DtdRefused;

    fn capture(&mut self, _doctype: quick_xml::events::BytesText) -> Result<(), DtdRefused> {
        Err(DtdRefused)
    }

    fn resolve(&self, entity: &str) -> Option<&str> {
        quick_xml::de::PredefinedEntityResolver.resolve(entity)
    }
}

/// Reads a whole envelope into its header (empty when absent) and body.
///
/// A document with a DTD is refused: the reader hands every `<!DOCTYPE` to [`NoDtd`]
/// as it meets it (a separate scan of the whole body for declarations cost as much as
/// a twentieth of the parse).
pub fn parse(xml: &str) -> Result<(Header, Body), XmlError> {
    let xml = xml.trim_start_matches('\u{feff}');
    let mut de = quick_xml::de::Deserializer::from_str_with_resolver(xml, NoDtd);
    let envelope = EnvelopeIn::deserialize(&mut de)
        .map_err(|e| XmlError(format!("invalid SOAP envelope: {e}")))?;
    Ok((envelope.header.unwrap_or_default(), envelope.body.content))
}

/// The local name of the first element inside `Body`, read without parsing the body:
/// lets a server name the operation of a request it cannot otherwise read.
pub fn body_element_name(xml: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut in_body = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name().into_inner().to_owned();
                if in_body {
                    return Some(local);
                }
                in_body = local == "Body";
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}
