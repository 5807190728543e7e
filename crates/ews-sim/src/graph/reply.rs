//! One Graph answer, sent alone or as an entry of a `$batch` answer.

use actix_web::HttpResponse;
use graph::types::{BatchItemResponse, ODataError};
use serde_json::Value;

/// Status, headers and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers (`Retry-After`, `ETag`).
    pub headers: Vec<(String, String)>,
    /// JSON body.
    pub body: Option<Value>,
}

impl Reply {
    /// 200 with a body.
    pub fn ok(body: Value) -> Self {
        Self::with(200, body)
    }

    /// `status` with a body.
    pub fn with(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// 204.
    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }

    /// An OData error.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::with(
            status,
            serde_json::to_value(ODataError::new(code, message)).expect("serializes"),
        )
    }

    /// 429/503 with `Retry-After`.
    pub fn throttled(status: u16, code: &str, retry_after_s: Option<u64>) -> Self {
        let mut r = Self::error(
            status,
            code,
            &format!("Application is over its {code} limit."),
        );
        if let Some(s) = retry_after_s {
            r.headers.push(("Retry-After".into(), s.to_string()));
        }
        r
    }

    /// The OData code of an error answer (for the request log).
    pub fn outcome(&self) -> String {
        if self.status < 400 {
            return "ok".into();
        }
        self.body
            .as_ref()
            .and_then(|b| b["error"]["code"].as_str())
            .map_or_else(|| format!("HTTP {}", self.status), str::to_owned)
    }

    /// As an HTTP response.
    pub fn into_http(self) -> HttpResponse {
        let mut b = HttpResponse::build(
            actix_web::http::StatusCode::from_u16(self.status).expect("valid status"),
        );
        for (k, v) in &self.headers {
            b.insert_header((k.as_str(), v.as_str()));
        }
        match self.body {
            Some(v) => b.json(v),
            None => b.finish(),
        }
    }

    /// As entry `id` of a batch answer.
    pub fn into_batch(self, id: String) -> BatchItemResponse {
        let mut headers: std::collections::BTreeMap<String, String> =
            self.headers.into_iter().collect();
        if self.body.is_some() {
            headers.insert("Content-Type".into(), "application/json".into());
        }
        BatchItemResponse {
            id,
            status: self.status,
            headers,
            body: self.body,
        }
    }
}
