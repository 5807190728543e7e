//! `POST /$batch`: up to 20 requests in one HTTP request, one response each.

use super::{Method, Operation, Request};
use crate::types::{BatchRequest, BatchResponse};

/// A JSON batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch(pub BatchRequest);

impl Operation for Batch {
    type Response = BatchResponse;

    fn request(&self) -> Request {
        let mut r = Request::new(Method::Post, "/$batch".into());
        r.body = Some(serde_json::to_value(&self.0).expect("a batch serializes"));
        r
    }
}
