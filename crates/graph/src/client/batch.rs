//! `$batch`: chunks of 20, each inner response judged on its own, throttled inner
//! requests sent again after their `Retry-After`.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::Value;

use super::backoff_free::Backoff;
use super::{GraphClient, parse_body, retry_after};
use crate::error::Error;
use crate::ops::{Batch, Operation, Request};
use crate::types::batch::MAX_BATCH;
use crate::types::{BatchItemResponse, BatchRequest, BatchResponse, ODataError};

/// The error an inner response stands for.
fn inner_error(r: &BatchItemResponse) -> Error {
    let hint = retry_after(r.header("Retry-After"));
    let odata = r
        .body
        .clone()
        .and_then(|b| serde_json::from_value::<ODataError>(b).ok());
    let (code, message) = match odata {
        Some(e) if !e.error.code.is_empty() => (e.error.code, e.error.message),
        _ => (format!("HTTP {}", r.status), String::new()),
    };
    Error::from_parts(r.status, hint, code, message)
}

impl GraphClient {
    /// Sends operations in `$batch`es of at most 20 (side by side, within the mailbox's
    /// in-flight limit); answers one result per operation, in order.
    pub async fn batch<O: Operation>(&self, ops: &[O]) -> Vec<Result<O::Response, Error>> {
        let requests: Vec<Request> = ops.iter().map(Operation::request).collect();
        self.batch_requests(&requests)
            .await
            .into_iter()
            .map(|r| {
                r.and_then(|v| {
                    serde_json::from_value(v).map_err(|e| Error::MalformedResponse(e.to_string()))
                })
            })
            .collect()
    }

    /// [`GraphClient::batch`] over plain requests, answering the JSON bodies.
    pub async fn batch_requests(&self, requests: &[Request]) -> Vec<Result<Value, Error>> {
        join_all(requests.chunks(MAX_BATCH).map(|c| self.one_batch(c)))
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn one_batch(&self, requests: &[Request]) -> Vec<Result<Value, Error>> {
        let policy = self.inner.config.retry.clone();
        let immutable = self.inner.config.immutable_ids;
        let mut backoff = Backoff::new(policy.min_delay, policy.max_delay);
        let mut results: Vec<Option<Result<Value, Error>>> = vec![None; requests.len()];
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        let mut attempt = 1;
        while !pending.is_empty() {
            let items = pending
                .iter()
                .map(|&i| requests[i].to_batch_item(i.to_string(), immutable))
                .collect();
            let batch = Batch(BatchRequest { requests: items }).request();
            let url = self.url_for(&batch);
            // Each entry is a request to Graph's limits: the budget counts them all, and
            // as Graph runs them four at a time they hold that many in-flight slots.
            let answer = self
                .send(&batch, url, pending.len() as u32)
                .await
                .and_then(|body| parse_body::<BatchResponse>(&body));
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    for &i in &pending {
                        results[i] = Some(Err(e.clone()));
                    }
                    break;
                }
            };
            let mut again = Vec::new();
            let mut wait = Duration::ZERO;
            for r in answer.responses {
                let Some(i) = r.id.parse::<usize>().ok().filter(|i| pending.contains(i)) else {
                    continue;
                };
                if (200..300).contains(&r.status) {
                    results[i] = Some(Ok(r.body.unwrap_or(Value::Null)));
                    continue;
                }
                let error = inner_error(&r);
                let retry = attempt < policy.max_attempts
                    && match &error {
                        Error::Throttled { retry_after, .. } => {
                            retry_after.is_none_or(|h| h <= policy.max_retry_after)
                        }
                        e => e.is_retryable() && requests[i].method.is_idempotent(),
                    };
                if retry {
                    let delay = match &error {
                        Error::Throttled {
                            retry_after: Some(h),
                            ..
                        } => *h,
                        _ => backoff.next_delay(),
                    };
                    wait = wait.max(delay);
                    again.push(i);
                } else {
                    results[i] = Some(Err(error));
                }
            }
            for &i in &pending {
                if results[i].is_none() && !again.contains(&i) {
                    results[i] = Some(Err(Error::MalformedResponse(format!(
                        "the batch answer has no response for request {i}"
                    ))));
                }
            }
            if !again.is_empty() {
                tracing::warn!(
                    requests = again.len(),
                    ?wait,
                    attempt,
                    "Graph batch requests throttled, retrying them"
                );
                tokio::time::sleep(wait).await;
            }
            again.sort_unstable();
            pending = again;
            attempt += 1;
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::MalformedResponse("no answer".into()))))
            .collect()
    }
}
