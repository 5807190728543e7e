//! Errors, classified by what the caller should do about them.

use std::time::Duration;

use crate::envelope::{Fault, XmlError};
use crate::types::{MessageXml, ResponseMessage};

/// What the caller should do about an EWS response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Not an error (`NoError`).
    Success,
    /// Slow down: wait for the back-off, then retry.
    Throttled,
    /// Retry later; nothing is wrong with the request.
    Transient,
    /// Credentials, token or impersonation rights: fix the configuration.
    Auth,
    /// The item or folder is gone (or not visible).
    NotFound,
    /// The ChangeKey is stale or missing: re-read the item and re-plan.
    ChangeKeyConflict,
    /// The sync state is unusable: resynchronize from an empty state.
    InvalidSyncState,
    /// The request itself is wrong: do not retry it unchanged.
    Permanent,
}

/// Classifies an EWS `ResponseCode` (see MS Learn "ResponseCode").
pub fn classify(code: &str) -> ErrorClass {
    match code.trim() {
        "NoError" | "" => ErrorClass::Success,
        "ErrorServerBusy"
        | "ErrorExceededConnectionCount"
        | "ErrorTooManyObjectsOpened"
        | "ErrorExceededFindCountLimit" => ErrorClass::Throttled,
        "ErrorInternalServerTransientError"
        | "ErrorInternalServerError"
        | "ErrorMailboxStoreUnavailable"
        | "ErrorConnectionFailed"
        | "ErrorTimeoutExpired"
        | "ErrorMailboxMoveInProgress"
        | "ErrorBatchProcessingStopped"
        | "ErrorNoRespondingCASInDestinationSite"
        | "ErrorProxyRequestProcessingFailed" => ErrorClass::Transient,
        "ErrorImpersonateUserDenied"
        | "ErrorImpersonationDenied"
        | "ErrorImpersonationFailed"
        | "ErrorInvalidLicense"
        | "ErrorAccountDisabled"
        | "ErrorInvalidSid"
        | "ErrorNonExistentMailbox" => ErrorClass::Auth,
        "ErrorItemNotFound" | "ErrorFolderNotFound" | "ErrorSyncFolderNotFound" => {
            ErrorClass::NotFound
        }
        "ErrorIrresolvableConflict"
        | "ErrorChangeKeyRequiredForWriteOperations"
        | "ErrorStaleObject"
        | "ErrorInvalidChangeKey" => ErrorClass::ChangeKeyConflict,
        "ErrorInvalidSyncStateData" => ErrorClass::InvalidSyncState,
        _ => ErrorClass::Permanent,
    }
}

/// An EWS failure, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Exchange asks us to slow down; `back_off` is its hint (`BackOffMilliseconds`).
    #[error("throttled by Exchange ({code}){}", back_off.map(|d| format!(", back off {d:?}")).unwrap_or_default())]
    Throttled {
        /// The server's back-off hint, when it gave one.
        back_off: Option<Duration>,
        /// The EWS code or HTTP status that said so.
        code: String,
    },
    /// A failure that may pass: 5xx, timeout, reset connection, transient EWS code.
    #[error("transient failure: {message}")]
    Transient {
        /// The EWS code, when the server gave one.
        code: Option<String>,
        /// What happened.
        message: String,
    },
    /// HTTP 401/403, token endpoint refusal, or impersonation refused.
    #[error("authentication failed: {message}")]
    Auth {
        /// The EWS code (e.g. `ErrorImpersonateUserDenied`) or `HTTP 401`, when known.
        code: Option<String>,
        /// What happened.
        message: String,
    },
    /// The item or folder does not exist (or is not visible to the caller).
    #[error("not found ({code}): {message}")]
    NotFound {
        /// `ErrorItemNotFound` or `ErrorFolderNotFound`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The ChangeKey was stale or missing: re-read the item.
    #[error("change key conflict ({code}): {message}")]
    ChangeKeyConflict {
        /// `ErrorIrresolvableConflict` or `ErrorChangeKeyRequiredForWriteOperations`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The sync state was refused: start again from an empty state.
    #[error("invalid sync state: {message}")]
    InvalidSyncState {
        /// The server's message.
        message: String,
    },
    /// The request is wrong for this server or item: don't retry it unchanged.
    #[error("EWS error {code}: {message}")]
    Permanent {
        /// The EWS response code (or `HTTP <status>`).
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered something that is not a readable EWS response.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
    /// The response body passed the configured limit.
    #[error("response larger than {limit} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The client configuration is unusable.
    #[error("invalid EWS client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Builds the error for an EWS code and message (the code must not be `NoError`).
    pub fn from_code(code: &str, message: &str, message_xml: Option<&MessageXml>) -> Self {
        let mut code = code.trim();
        let mut message = message.trim().to_owned();
        // An internal error may wrap the real cause (e.g. an inner ErrorServerBusy). The
        // wrapper is unwrapped once, never recursively: the server writes both codes, and
        // an inner code equal to the outer one must not loop.
        if code == "ErrorInternalServerError"
            && let Some(inner) = message_xml.and_then(|x| x.value("InnerErrorResponseCode"))
            && !inner.is_empty()
        {
            if let Some(text) = message_xml.and_then(|x| x.value("InnerErrorMessageText")) {
                message = text.to_owned();
            }
            code = inner;
        }
        match classify(code) {
            ErrorClass::Throttled => Error::Throttled {
                back_off: message_xml.and_then(MessageXml::back_off),
                code: code.to_owned(),
            },
            ErrorClass::Transient => Error::Transient {
                code: Some(code.to_owned()),
                message,
            },
            ErrorClass::Auth => Error::Auth {
                code: Some(code.to_owned()),
                message: format!("{code}: {message}"),
            },
            ErrorClass::NotFound => Error::NotFound {
                code: code.to_owned(),
                message,
            },
            ErrorClass::ChangeKeyConflict => Error::ChangeKeyConflict {
                code: code.to_owned(),
                message,
            },
            ErrorClass::InvalidSyncState => Error::InvalidSyncState { message },
            ErrorClass::Success | ErrorClass::Permanent => Error::Permanent {
                code: code.to_owned(),
                message,
            },
        }
    }

    /// The error of a response message, or `None` if it succeeded.
    pub fn from_message<M: ResponseMessage + ?Sized>(message: &M) -> Option<Self> {
        if message.is_success() {
            return None;
        }
        Some(Self::from_code(
            message.response_code(),
            message.message_text().unwrap_or_default(),
            message.message_xml(),
        ))
    }

    /// The error a SOAP fault stands for.
    pub fn from_fault(fault: &Fault) -> Self {
        Self::from_code(fault.response_code(), fault.message(), fault.message_xml())
    }

    /// What to do about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Throttled { .. } => ErrorClass::Throttled,
            Error::Transient { .. } => ErrorClass::Transient,
            Error::Auth { .. } => ErrorClass::Auth,
            Error::NotFound { .. } => ErrorClass::NotFound,
            Error::ChangeKeyConflict { .. } => ErrorClass::ChangeKeyConflict,
            Error::InvalidSyncState { .. } => ErrorClass::InvalidSyncState,
            Error::Permanent { .. } | Error::ResponseTooLarge { .. } | Error::Config(_) => {
                ErrorClass::Permanent
            }
            // A garbled answer is most often a proxy or a half-written body.
            Error::MalformedResponse(_) => ErrorClass::Transient,
        }
    }

    /// The EWS response code behind the error, if there is one (for run records).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Throttled { code, .. }
            | Error::NotFound { code, .. }
            | Error::ChangeKeyConflict { code, .. }
            | Error::Permanent { code, .. } => Some(code),
            Error::Transient { code, .. } | Error::Auth { code, .. } => code.as_deref(),
            Error::InvalidSyncState { .. } => Some("ErrorInvalidSyncStateData"),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class(), ErrorClass::Throttled | ErrorClass::Transient)
    }
}

impl From<XmlError> for Error {
    fn from(e: XmlError) -> Self {
        Error::MalformedResponse(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::MessageXmlValue;

    fn inner(code: &str) -> MessageXml {
        MessageXml {
            values: vec![MessageXmlValue {
                name: "InnerErrorResponseCode".into(),
                value: code.into(),
            }],
            ..MessageXml::default()
        }
    }

    #[test]
    fn an_inner_code_equal_to_the_outer_one_does_not_recurse() {
        let xml = inner("ErrorInternalServerError");
        let e = Error::from_code("ErrorInternalServerError", "boom", Some(&xml));
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(e.code(), Some("ErrorInternalServerError"));
    }

    #[test]
    fn an_inner_code_is_unwrapped_once() {
        let xml = inner("ErrorServerBusy");
        let e = Error::from_code("ErrorInternalServerError", "boom", Some(&xml));
        assert_eq!(e.class(), ErrorClass::Throttled);
    }
}
