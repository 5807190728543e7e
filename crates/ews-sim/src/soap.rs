//! SOAP envelopes and faults as Exchange writes them.

/// SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// EWS types namespace.
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";
/// EWS messages namespace.
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
/// EWS errors namespace (fault details).
pub const ERRORS_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/errors";

/// Escapes text for element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The Exchange Online header every response carries.
fn server_version_info() -> String {
    format!(
        r#"<h:ServerVersionInfo MajorVersion="15" MinorVersion="20" MajorBuildNumber="8769" MinorBuildNumber="35" Version="V2018_01_08" xmlns:h="{TYPES_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>"#
    )
}

/// A success envelope around one serialized `m:...Response` element.
pub fn envelope(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}"><s:Header>{}</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">{body}</s:Body></s:Envelope>"#,
        server_version_info()
    )
}

/// What goes into a fault's `t:MessageXml`.
#[derive(Debug, Clone, Default)]
pub struct FaultDetail {
    /// `BackOffMilliseconds` (throttling).
    pub back_off_ms: Option<u64>,
    /// Schema validation position and violation.
    pub violation: Option<(u64, u64, String)>,
}

/// A SOAP Fault as Exchange sends it with HTTP 500 (samples 60, 61).
pub fn fault(code: &str, message: &str, detail: &FaultDetail) -> String {
    let mut xml = String::new();
    if let Some(ms) = detail.back_off_ms {
        xml.push_str(&format!(
            r#"<t:Value Name="BackOffMilliseconds">{ms}</t:Value>"#
        ));
    }
    if let Some((line, pos, violation)) = &detail.violation {
        xml.push_str(&format!(
            "<t:LineNumber>{line}</t:LineNumber><t:LinePosition>{pos}</t:LinePosition><t:Violation>{}</t:Violation>",
            escape(violation)
        ));
    }
    let message_xml = if xml.is_empty() {
        String::new()
    } else {
        format!(r#"<t:MessageXml xmlns:t="{TYPES_NS}">{xml}</t:MessageXml>"#)
    };
    let faultstring = match &detail.violation {
        Some((_, _, v)) => format!("{message} {v}"),
        None => message.to_string(),
    };
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault><faultcode xmlns:a="{TYPES_NS}">a:{code}</faultcode><faultstring xml:lang="en-US">{}</faultstring><detail><e:ResponseCode xmlns:e="{ERRORS_NS}">{code}</e:ResponseCode><e:Message xmlns:e="{ERRORS_NS}">{}</e:Message>{message_xml}</detail></s:Fault></s:Body></s:Envelope>"#,
        escape(&faultstring),
        escape(message)
    )
}

/// The ErrorSchemaValidation fault for a request the simulator cannot read.
pub fn schema_validation(line: u64, pos: u64, violation: &str) -> String {
    fault(
        "ErrorSchemaValidation",
        "The request failed schema validation:",
        &FaultDetail {
            back_off_ms: None,
            violation: Some((line, pos, violation.to_string())),
        },
    )
}

/// The ErrorServerBusy fault (HTTP 500) with its back-off hint.
pub fn server_busy(back_off_ms: u64) -> String {
    fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        &FaultDetail {
            back_off_ms: Some(back_off_ms),
            violation: None,
        },
    )
}
