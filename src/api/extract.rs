//! Request extractors that turn every malformed input into a problem naming the field:
//! JSON bodies, query strings, path ids and `If-Match`.
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::{ApiError, ErrorCode};

/// A JSON body deserialized strictly (unknown fields refused), with the path of a bad field.
pub struct Json<T>(pub T);

fn serde_field<E: std::fmt::Display>(
    path: &serde_path_to_error::Path,
    inner: &E,
) -> (String, String) {
    let field = path.to_string();
    let field = if field == "." {
        "body".to_owned()
    } else {
        field
    };
    let message = inner.to_string();
    // serde_json appends "at line L column C", which means nothing to a query string and
    // little to a client that already has the field's path.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    (field, message)
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let bytes = read_body(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the body as Content-Type: application/json",
                ));
            }
            let bytes = bytes.await?;
            parse_body(&bytes).map(Json)
        })
    }
}

/// An optional JSON body: `None` when the request has no body or `null`, else parsed like
/// [`Json`].
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let bytes = read_body(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            // No body, or `null` (the document's optional body allows it): no options.
            let is_null =
                || serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.is_null());
            if bytes.is_empty() || (content_type_ok && is_null()) {
                return Ok(OptionalJson(None));
            }
            if !content_type_ok {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the body as Content-Type: application/json",
                ));
            }
            parse_body(&bytes).map(|v| OptionalJson(Some(v)))
        })
    }
}

fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<web::Bytes, ApiError>> + 'static {
    let bytes = web::Bytes::from_request(req, payload);
    async move {
        bytes.await.map_err(|e| {
            if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
            {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the body is larger than the configured limit",
                )
            } else {
                ApiError::new(
                    ErrorCode::InvalidBody,
                    format!("could not read the body: {e}"),
                )
            }
        })
    }
}

fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so that a truncated body is "malformed JSON", not whatever
    // field error the typed pass would reach before the end.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::field(
            ErrorCode::InvalidBody,
            "body",
            format!("malformed JSON: {e}"),
        )
    })?;
    // serde accepts an array for a struct (fields by position); only an object is a body.
    if !value.is_object() {
        return Err(ApiError::field(
            ErrorCode::InvalidBody,
            "body",
            "must be a JSON object",
        ));
    }
    let mut value = value;
    integral_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
        let (field, message) = serde_field(err.path(), err.inner());
        ApiError::field(ErrorCode::InvalidBody, field, message)
    })
}

/// JSON (and JSON Schema) has one number type: `72.0` is the integer 72, and the
/// document's `integer` fields must take it; serde would refuse it as a float.
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                *n = serde_json::Number::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        serde_json::Value::Object(members) => {
            members.values_mut().for_each(integral_numbers_as_integers)
        }
        _ => {}
    }
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let mime = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

/// A query string deserialized strictly, naming the bad parameter.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parsed = form_urlencoded::parse(req.query_string().as_bytes());
        let de = serde_urlencoded::Deserializer::new(parsed);
        std::future::ready(match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => Ok(Query(v)),
            Err(err) => {
                let (field, message) = serde_field(err.path(), err.inner());
                Err(ApiError::field(ErrorCode::InvalidQuery, field, message))
            }
        })
    }
}

/// Parses the UUID path segment `name`.
fn path_uuid(req: &HttpRequest, name: &str) -> Result<Uuid, ApiError> {
    let raw = req.match_info().get(name).unwrap_or("");
    Uuid::parse_str(raw).map_err(|_| ApiError::field(ErrorCode::InvalidPath, name, "is not a UUID"))
}

/// The `{id}` path segment as a UUID.
pub struct RecordId(pub Uuid);

impl FromRequest for RecordId {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(path_uuid(req, "id").map(RecordId))
    }
}

/// The `{contact_id}` path segment as a UUID.
pub struct ContactIdPath(pub Uuid);

impl FromRequest for ContactIdPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(path_uuid(req, "contact_id").map(ContactIdPath))
    }
}

/// The version named by `If-Match`; `None` when absent or `*`.
pub struct IfMatch(pub Option<i32>);

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let value = req
            .headers()
            .get(header::IF_MATCH)
            .map(|v| v.to_str().unwrap_or("").trim().to_owned());
        std::future::ready(match value.as_deref() {
            None | Some("*") => Ok(IfMatch(None)),
            Some(v) => {
                let tag = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
                // A tag we never issued matches no version: that is a failed precondition.
                Ok(IfMatch(Some(tag.parse::<i32>().unwrap_or(-1))))
            }
        })
    }
}

/// The ETag of a record version.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}
