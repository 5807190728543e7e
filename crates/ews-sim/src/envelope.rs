//! A first pass over a request envelope: is it well-formed SOAP 1.1, which operation
//! does its Body carry, and whom does it impersonate. The operation's own content is
//! then read with the `ews` request types.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use ews::envelope::{MESSAGES_NS, SOAP_NS, TYPES_NS};

/// What the first pass learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    /// Local name of the Body's element, e.g. `GetItem`.
    pub operation: String,
    /// The SMTP address (or principal name) in `t:ExchangeImpersonation`.
    pub impersonate: Option<String>,
}

/// Why a request could not be read: a schema-validation fault's position and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub position: u64,
    /// What is wrong.
    pub violation: String,
}

/// Line and column of a byte offset.
pub fn line_col(text: &str, offset: u64) -> (u64, u64) {
    let upto = &text.as_bytes()[..(offset as usize).min(text.len())];
    let line = upto.iter().filter(|b| **b == b'\n').count() as u64 + 1;
    let col = upto.iter().rev().take_while(|b| **b != b'\n').count() as u64 + 1;
    (line, col)
}

fn bound_to(ns: &ResolveResult, uri: &str) -> bool {
    matches!(ns, ResolveResult::Bound(n) if n.as_ref() == uri)
}

/// Reads the whole document once (so that malformed XML anywhere is refused).
pub fn peek(text: &str) -> Result<Peeked, Unreadable> {
    let mut reader = NsReader::from_str(text);
    let fail = |reader: &NsReader<&[u8]>, at: Option<u64>, msg: String| {
        let (line, position) = line_col(text, at.unwrap_or_else(|| reader.buffer_position()));
        Unreadable {
            line,
            position,
            violation: msg,
        }
    };
    // Element path as (namespace-is-soap, local name) pairs.
    let mut path: Vec<(bool, String)> = Vec::new();
    let mut operation = None;
    let mut impersonate: Option<String> = None;
    let mut in_impersonation_address = false;
    let mut saw_root = false;
    loop {
        let (ns, ev) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(e) => {
                let at = reader.error_position();
                return Err(fail(
                    &reader,
                    Some(at),
                    format!("The XML is not well-formed: {e}"),
                ));
            }
        };
        match ev {
            Event::DocType(_) => {
                return Err(fail(
                    &reader,
                    None,
                    "DTD is prohibited in this XML document.".into(),
                ));
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let local = e.local_name().as_ref().to_string();
                let is_soap = bound_to(&ns, SOAP_NS);
                match path.len() {
                    0 => {
                        if saw_root {
                            return Err(fail(
                                &reader,
                                None,
                                "Only one root element is allowed.".into(),
                            ));
                        }
                        saw_root = true;
                        if !(is_soap && local == "Envelope") {
                            return Err(fail(
                                &reader,
                                None,
                                format!(
                                    "The root element must be the SOAP 1.1 Envelope ({SOAP_NS}), not '{local}'."
                                ),
                            ));
                        }
                    }
                    1 if !is_soap || (local != "Header" && local != "Body") => {
                        return Err(fail(
                            &reader,
                            None,
                            format!("The element '{local}' is not expected in the SOAP Envelope."),
                        ));
                    }
                    2 if path[1].1 == "Body" => {
                        if operation.is_some() {
                            return Err(fail(
                                &reader,
                                None,
                                "The SOAP Body must carry exactly one EWS element.".into(),
                            ));
                        }
                        if !bound_to(&ns, MESSAGES_NS) {
                            return Err(fail(
                                &reader,
                                None,
                                format!(
                                    "The element '{local}' is not in the EWS messages namespace ({MESSAGES_NS})."
                                ),
                            ));
                        }
                        operation = Some(local.clone());
                    }
                    _ => {}
                }
                let in_impersonation = path.iter().any(|(_, n)| n == "ExchangeImpersonation");
                if in_impersonation
                    && bound_to(&ns, TYPES_NS)
                    && matches!(
                        local.as_str(),
                        "PrimarySmtpAddress" | "SmtpAddress" | "PrincipalName"
                    )
                    && !empty
                {
                    in_impersonation_address = true;
                    impersonate = Some(String::new());
                }
                if !empty {
                    path.push((is_soap, local));
                }
            }
            Event::End(_) => {
                in_impersonation_address = false;
                path.pop();
            }
            Event::Text(t) if in_impersonation_address => {
                if let Some(s) = impersonate.as_mut() {
                    s.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if in_impersonation_address => {
                if let (Some(s), Ok(Some(c))) = (impersonate.as_mut(), r.resolve_char_ref()) {
                    s.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(fail(&reader, None, "Root element is missing.".into()));
    }
    let operation = operation.ok_or_else(|| {
        fail(
            &reader,
            None,
            "The SOAP Body carries no EWS element.".into(),
        )
    })?;
    Ok(Peeked {
        operation,
        impersonate: impersonate
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2013_SP1"/>
    <t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>bob@example.com</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>
  </s:Header>
  <s:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape></m:GetFolder></s:Body>
</s:Envelope>"#;

    #[test]
    fn finds_the_operation_and_the_impersonated_address() {
        let p = peek(ENV).unwrap();
        assert_eq!(p.operation, "GetFolder");
        assert_eq!(p.impersonate.as_deref(), Some("bob@example.com"));
    }

    #[test]
    fn refuses_truncated_xml_dtds_and_soap12() {
        assert!(peek(&ENV[..ENV.len() - 20]).is_err());
        assert!(peek(r#"<!DOCTYPE x [<!ENTITY a "b">]><x/>"#).is_err());
        let soap12 = ENV.replace(SOAP_NS, "http://www.w3.org/2003/05/soap-envelope");
        let err = peek(&soap12).unwrap_err();
        assert!(err.violation.contains("SOAP 1.1"), "{err:?}");
    }
}
