//! Errors, classified by what the caller should do about them.

use std::time::Duration;

use crate::types::ODataError;

/// What the caller should do about a Graph failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Slow down: wait for `Retry-After`, then retry.
    Throttled,
    /// Retry later; nothing is wrong with the request.
    Transient,
    /// Credentials, consent or an access policy: fix the configuration.
    Auth,
    /// The item or folder is gone (or not visible).
    NotFound,
    /// The item changed since it was read (`If-Match` failed): re-read and re-plan.
    Conflict,
    /// The delta token is expired or invalid: restart the folder from an empty state.
    SyncStateInvalid,
    /// The request itself is wrong: do not retry it unchanged.
    Permanent,
}

/// A Graph failure, by what the caller should do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// 429 or 503; `retry_after` is the server's hint.
    #[error("throttled by Microsoft Graph ({code}){}", retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    Throttled {
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
        /// The OData code (`ApplicationThrottled`, `MailboxConcurrency`) or `HTTP 429`.
        code: String,
    },
    /// 5xx, timeout, reset connection.
    #[error("transient failure: {message}")]
    Transient {
        /// The OData code or HTTP status, when known.
        code: Option<String>,
        /// What happened.
        message: String,
    },
    /// 401/403, or the token endpoint refused.
    #[error("authentication failed: {message}")]
    Auth {
        /// The OData / OAuth code (`ErrorAccessDenied`, `invalid_client`), when known.
        code: Option<String>,
        /// What happened.
        message: String,
    },
    /// 404.
    #[error("not found ({code}): {message}")]
    NotFound {
        /// `ErrorItemNotFound` and friends.
        code: String,
        /// The server's message.
        message: String,
    },
    /// 412 (or 409): someone changed the item.
    #[error("conflict ({code}): {message}")]
    Conflict {
        /// `ErrorIrresolvableConflict`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// 410 or a sync-state code: start the delta again.
    #[error("delta state no longer valid ({code}): {message}")]
    SyncStateInvalid {
        /// `SyncStateNotFound`, `SyncStateInvalid`, `resyncRequired` or `HTTP 410`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// Anything else: a 4xx that will fail again.
    #[error("Microsoft Graph error {code}: {message}")]
    Permanent {
        /// The OData code, else `HTTP <status>`.
        code: String,
        /// The server's message.
        message: String,
    },
    /// Not the JSON we expected.
    #[error("malformed response: {0}")]
    MalformedResponse(String),
    /// The body passed the configured limit.
    #[error("response larger than {limit} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The client configuration is unusable, or a link points elsewhere.
    #[error("invalid Microsoft Graph client configuration: {0}")]
    Config(String),
}

/// Codes that mean "the delta token is gone" whatever the status says.
const SYNC_STATE_CODES: &[&str] = &[
    "syncstatenotfound",
    "syncstateinvalid",
    "resyncrequired",
    "invaliddeltatoken",
];

impl Error {
    /// The error for a non-success HTTP answer, from its status, `Retry-After` and body.
    pub fn from_response(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        let odata = serde_json::from_slice::<ODataError>(body).ok();
        let (code, message) = match odata {
            Some(e) if !e.error.code.is_empty() => (e.error.code, e.error.message),
            _ => (
                format!("HTTP {status}"),
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            ),
        };
        Self::from_parts(status, retry_after, code, message)
    }

    /// The error for a status, code and message (also used for inner batch responses).
    pub fn from_parts(
        status: u16,
        retry_after: Option<Duration>,
        code: String,
        message: String,
    ) -> Self {
        if SYNC_STATE_CODES.contains(&code.to_ascii_lowercase().as_str()) || status == 410 {
            return Error::SyncStateInvalid { code, message };
        }
        match status {
            429 | 503 => Error::Throttled { retry_after, code },
            401 | 403 => Error::Auth {
                code: Some(code.clone()),
                message: format!("{code}: {message}"),
            },
            404 => match code.as_str() {
                // The user is not there at all: a configuration problem, not a gone item.
                "MailboxNotEnabledForRESTAPI" | "ErrorInvalidUser" | "ErrorNonExistentMailbox" => {
                    Error::Auth {
                        code: Some(code.clone()),
                        message: format!("{code}: {message}"),
                    }
                }
                _ => Error::NotFound { code, message },
            },
            409 | 412 => Error::Conflict { code, message },
            s if s >= 500 => Error::Transient {
                code: Some(code),
                message,
            },
            _ => Error::Permanent { code, message },
        }
    }

    /// What to do about it.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Throttled { .. } => ErrorClass::Throttled,
            Error::Transient { .. } => ErrorClass::Transient,
            Error::Auth { .. } => ErrorClass::Auth,
            Error::NotFound { .. } => ErrorClass::NotFound,
            Error::Conflict { .. } => ErrorClass::Conflict,
            Error::SyncStateInvalid { .. } => ErrorClass::SyncStateInvalid,
            Error::Permanent { .. } | Error::ResponseTooLarge { .. } | Error::Config(_) => {
                ErrorClass::Permanent
            }
            // A garbled answer is most often a proxy or a half-written body.
            Error::MalformedResponse(_) => ErrorClass::Transient,
        }
    }

    /// The server's code behind the error, if there is one (for run records).
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Throttled { code, .. }
            | Error::NotFound { code, .. }
            | Error::Conflict { code, .. }
            | Error::SyncStateInvalid { code, .. }
            | Error::Permanent { code, .. } => Some(code),
            Error::Transient { code, .. } | Error::Auth { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Whether the server refused the request's `$expand` (Graph does not serve it on
    /// every delta): a 400 whose message names it.
    pub fn refuses_expand(&self) -> bool {
        matches!(self, Error::Permanent { message, .. } if message.contains("$expand"))
    }

    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.class(), ErrorClass::Throttled | ErrorClass::Transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(code: &str) -> Vec<u8> {
        serde_json::to_vec(&ODataError::new(code, "m")).unwrap()
    }

    #[test]
    fn statuses_and_codes_map_to_classes() {
        let cases: &[(u16, &str, ErrorClass)] = &[
            (429, "ApplicationThrottled", ErrorClass::Throttled),
            (429, "MailboxConcurrency", ErrorClass::Throttled),
            (503, "ServiceUnavailable", ErrorClass::Throttled),
            (500, "UnknownError", ErrorClass::Transient),
            (504, "GatewayTimeout", ErrorClass::Transient),
            (401, "InvalidAuthenticationToken", ErrorClass::Auth),
            (403, "ErrorAccessDenied", ErrorClass::Auth),
            (404, "ErrorItemNotFound", ErrorClass::NotFound),
            (404, "MailboxNotEnabledForRESTAPI", ErrorClass::Auth),
            (412, "ErrorIrresolvableConflict", ErrorClass::Conflict),
            (410, "SyncStateNotFound", ErrorClass::SyncStateInvalid),
            (400, "SyncStateInvalid", ErrorClass::SyncStateInvalid),
            (400, "resyncRequired", ErrorClass::SyncStateInvalid),
            (400, "ErrorInvalidProperty", ErrorClass::Permanent),
        ];
        for (status, code, class) in cases {
            let e = Error::from_response(*status, None, &body(code));
            assert_eq!(e.class(), *class, "{status} {code}");
            assert_eq!(e.code(), Some(*code));
        }
    }

    #[test]
    fn a_body_that_is_not_odata_keeps_the_status() {
        let e = Error::from_response(502, None, b"<html>Bad gateway</html>");
        assert_eq!(e.class(), ErrorClass::Transient);
        assert_eq!(e.code(), Some("HTTP 502"));
        let e = Error::from_response(429, Some(Duration::from_secs(3)), b"");
        assert!(
            matches!(e, Error::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(3))
        );
    }
}
