//! The one API error type: every failure leaves as RFC 9457 `application/problem+json`
//! with a stable machine `code`.
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{FieldError, ValidationErrors};
use crate::store::StoreError;

/// Stable error codes; clients branch on these, never on `title` or `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not JSON, or has unknown fields or wrong types.
    InvalidBody,
    /// A query parameter is unknown or malformed.
    InvalidQuery,
    /// A path segment (an id) is malformed.
    InvalidPath,
    /// The pagination cursor was not issued by this service.
    InvalidCursor,
    /// The input breaks a rule; `errors` names each field.
    ValidationFailed,
    /// No valid bearer token.
    Unauthorized,
    /// The caller sees the record but may not do this.
    Forbidden,
    /// No such record, or not visible to the caller.
    NotFound,
    /// The method is not allowed on this path.
    MethodNotAllowed,
    /// Conflicts with the current state (e.g. a run already active).
    Conflict,
    /// `If-Match` did not match the current version.
    PreconditionFailed,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The caller holds as many of a limited resource as a user may (streams, Exchange calls).
    TooManyRequests,
    /// The caller has as many records of a kind as a user may (e.g. mailboxes).
    QuotaExceeded,
    /// A dependency (database) is unavailable.
    ServiceUnavailable,
    /// Exchange answered with an error or could not be reached.
    ExchangeError,
    /// A bug or an unexpected failure; details are in the logs under the request id.
    Internal,
}

impl ErrorCode {
    /// The stable string of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidPath => "invalid_path",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PreconditionFailed => "precondition_failed",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::ExchangeError => "exchange_error",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InvalidBody
            | ErrorCode::InvalidQuery
            | ErrorCode::InvalidPath
            | ErrorCode::InvalidCursor => StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::QuotaExceeded => StatusCode::CONFLICT,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::ExchangeError => StatusCode::BAD_GATEWAY,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            ErrorCode::InvalidBody => "The request body is not valid",
            ErrorCode::InvalidQuery => "A query parameter is not valid",
            ErrorCode::InvalidPath => "A path parameter is not valid",
            ErrorCode::InvalidCursor => "The cursor is not valid",
            ErrorCode::ValidationFailed => "Validation failed",
            ErrorCode::Unauthorized => "Authentication required",
            ErrorCode::Forbidden => "Not allowed",
            ErrorCode::NotFound => "Not found",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::Conflict => "Conflict",
            ErrorCode::PreconditionFailed => "Precondition failed",
            ErrorCode::PayloadTooLarge => "Payload too large",
            ErrorCode::UnsupportedMediaType => "Unsupported media type",
            ErrorCode::TooManyRequests => "Too many requests",
            ErrorCode::QuotaExceeded => "Quota exceeded",
            ErrorCode::ServiceUnavailable => "Service unavailable",
            ErrorCode::ExchangeError => "Exchange error",
            ErrorCode::Internal => "Internal error",
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:contactsync:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The stable machine code.
    pub code: String,
    /// For validation failures: each bad field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members, e.g. the active run's id on a 409.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An error answered by the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ApiError {
    /// An error with a code and a human detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
        }
    }

    /// An error about one field.
    pub fn field(
        code: ErrorCode,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        let field = field.into();
        let message = message.into();
        ApiError {
            code,
            detail: format!("{field}: {message}"),
            errors: vec![FieldError { field, message }],
            extra: None,
        }
    }

    /// The record is missing or invisible.
    pub fn not_found() -> ApiError {
        ApiError::new(ErrorCode::NotFound, "no such record")
    }

    /// The problem document of this error.
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("urn:contactsync:problem:{}", self.code.as_str()),
            title: self.code.title().to_owned(),
            status: self.code.status().as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            errors: self.errors.clone(),
            extra: self.extra.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status_code());
        res.content_type("application/problem+json");
        if self.code == ErrorCode::Unauthorized {
            res.insert_header(("WWW-Authenticate", "Bearer"));
        }
        res.json(self.problem())
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(v: ValidationErrors) -> ApiError {
        let detail =
            v.0.iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
        ApiError {
            code: ErrorCode::ValidationFailed,
            detail,
            errors: v.0,
            extra: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::PreconditionFailed { current } => ApiError::new(
                ErrorCode::PreconditionFailed,
                format!("If-Match does not match the current version \"{current}\""),
            ),
            StoreError::Forbidden(why) => ApiError::new(ErrorCode::Forbidden, why),
            StoreError::Invalid(v) => v.into(),
            StoreError::RunActive(id) => {
                let mut extra = serde_json::Map::new();
                extra.insert("active_run_id".into(), id.to_string().into());
                ApiError {
                    code: ErrorCode::Conflict,
                    detail: format!("run {id} of this mailbox is queued or running"),
                    errors: Vec::new(),
                    extra: Some(extra),
                }
            }
            StoreError::Conflict(why) => ApiError::new(ErrorCode::Conflict, why),
            StoreError::QuotaExceeded(why) => ApiError::new(ErrorCode::QuotaExceeded, why),
            StoreError::Db(err) => {
                tracing::error!(error = %err, "database error");
                ApiError::new(
                    ErrorCode::Internal,
                    "the database failed; see the service logs",
                )
            }
        }
    }
}

impl From<crate::transport::TransportError> for ApiError {
    fn from(e: crate::transport::TransportError) -> ApiError {
        let mut extra = serde_json::Map::new();
        extra.insert(
            "exchange_error_kind".into(),
            serde_json::to_value(e.kind).unwrap_or_default(),
        );
        if let Some(code) = &e.code {
            extra.insert("exchange_code".into(), code.clone().into());
        }
        ApiError {
            code: ErrorCode::ExchangeError,
            detail: e.message,
            errors: Vec::new(),
            extra: Some(extra),
        }
    }
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
