//! SOAP faults as Exchange sends them with HTTP 500 (samples 60, 61), written with the
//! `ews` envelope types.

use ews::envelope::{Body, Fault, Header};
use ews::types::{MessageXml, MessageXmlValue};

/// A fault envelope; `message_xml` carries BackOffMilliseconds or the violation.
pub fn fault(code: &str, message: &str, message_xml: Option<MessageXml>) -> String {
    let body = Body::Fault(Fault::ews(code, message, message_xml));
    ews::envelope::to_xml_compact(&Header::default(), &body).unwrap_or_else(|e| {
        // Serializing these plain strings cannot fail; keep a valid answer anyway.
        format!("<!-- {e} -->")
    })
}

/// The fault for an error that ends the whole request.
pub fn error_fault(code: &str, message: &str, back_off_ms: Option<u64>) -> String {
    let xml = back_off_ms.map(|ms| MessageXml {
        values: vec![MessageXmlValue {
            name: "BackOffMilliseconds".into(),
            value: ms.to_string(),
        }],
        ..MessageXml::default()
    });
    fault(code, message, xml)
}

/// The ErrorSchemaValidation fault for a request the simulator cannot read.
pub fn schema_validation(line: u64, pos: u64, violation: &str) -> String {
    let xml = MessageXml {
        line_number: Some(line as u32),
        line_position: Some(pos as u32),
        violation: Some(violation.to_string()),
        ..MessageXml::default()
    };
    fault(
        "ErrorSchemaValidation",
        &format!("The request failed schema validation: {violation}"),
        Some(xml),
    )
}

/// The ErrorServerBusy fault with its back-off hint.
pub fn server_busy(back_off_ms: u64) -> String {
    error_fault(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        Some(back_off_ms),
    )
}
