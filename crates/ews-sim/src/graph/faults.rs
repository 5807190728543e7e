//! Graph faults, set through `/_sim/graph/faults`: throttling with `Retry-After`, 503, a
//! 410 on the next delta request, chosen failures inside a batch, delays, 401.

use serde::{Deserialize, Serialize};

/// What an injected Graph fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum GraphFault {
    /// 429 with `Retry-After` (seconds) and an OData code.
    Throttled {
        /// `Retry-After`.
        #[serde(default = "one")]
        retry_after_s: u64,
        /// `ApplicationThrottled` (default) or `MailboxConcurrency`.
        #[serde(default = "application_throttled")]
        code: String,
    },
    /// 503 `ServiceUnavailable`, with `Retry-After` when given.
    Unavailable {
        /// `Retry-After`.
        #[serde(default)]
        retry_after_s: Option<u64>,
    },
    /// The next delta request that carries a token answers 410 `SyncStateNotFound`.
    DeltaGone,
    /// Entries of a batch fail on their own (the rest succeed): those whose URL contains
    /// `url_contains`, or at `positions` (0-based, in request order).
    BatchItem {
        /// Matches entry URLs.
        #[serde(default)]
        url_contains: Option<String>,
        /// Matches entry positions.
        #[serde(default)]
        positions: Vec<usize>,
        /// The entry's status (default 429).
        #[serde(default = "too_many")]
        status: u16,
        /// Its OData code (default by status).
        #[serde(default)]
        code: Option<String>,
        /// Its `Retry-After`.
        #[serde(default)]
        retry_after_s: Option<u64>,
    },
    /// Handle the request late, holding its concurrency slots meanwhile.
    Delay {
        /// How long.
        delay_ms: u64,
    },
    /// 401 although the token is valid.
    Unauthorized,
}

fn one() -> u64 {
    1
}

fn too_many() -> u16 {
    429
}

fn application_throttled() -> String {
    "ApplicationThrottled".into()
}

/// A rule: which requests it hits and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphFaultRule {
    /// Assigned by the simulator.
    #[serde(default)]
    pub id: u64,
    /// `token`, `user`, `folders`, `delta`, `get`, `create`, `update`, `delete`, `batch`
    /// (for `batch_item`: the entry's operation); absent = every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Mailbox (SMTP address); absent = every mailbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// How many more hits; absent = until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// What it does.
    #[serde(flatten)]
    pub fault: GraphFault,
}

impl GraphFaultRule {
    fn hits(&self, operation: &str, mailbox: Option<&str>) -> bool {
        self.operation
            .as_deref()
            .is_none_or(|o| o.eq_ignore_ascii_case(operation))
            && self
                .mailbox
                .as_deref()
                .is_none_or(|m| mailbox.is_some_and(|mb| mb.eq_ignore_ascii_case(m)))
            && self.count != Some(0)
    }
}

/// The active Graph rules.
#[derive(Debug, Default)]
pub struct GraphFaults {
    next_id: u64,
    rules: Vec<GraphFaultRule>,
}

impl GraphFaults {
    /// Adds a rule; answers it with its id.
    pub fn add(&mut self, mut rule: GraphFaultRule) -> GraphFaultRule {
        self.next_id += 1;
        rule.id = self.next_id;
        self.rules.push(rule.clone());
        rule
    }

    /// The active rules.
    pub fn list(&self) -> Vec<GraphFaultRule> {
        self.rules.clone()
    }

    /// Removes one rule.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        before != self.rules.len()
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    fn consume(&mut self, idx: usize) -> GraphFault {
        let rule = &mut self.rules[idx];
        let fault = rule.fault.clone();
        if let Some(c) = rule.count.as_mut() {
            *c -= 1;
            if *c == 0 {
                self.rules.remove(idx);
            }
        }
        fault
    }

    /// The request-level faults of this request: delays, then at most one failure.
    pub fn take(&mut self, operation: &str, mailbox: Option<&str>) -> Vec<GraphFault> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.rules.len() {
            let r = &self.rules[i];
            let request_level = !matches!(
                r.fault,
                GraphFault::BatchItem { .. } | GraphFault::DeltaGone
            );
            if request_level && r.hits(operation, mailbox) {
                let before = self.rules.len();
                let f = self.consume(i);
                let is_delay = matches!(f, GraphFault::Delay { .. });
                out.push(f);
                if !is_delay {
                    break;
                }
                if self.rules.len() < before {
                    continue;
                }
            }
            i += 1;
        }
        out
    }

    /// Whether this delta request answers 410 (consumes one).
    pub fn take_delta_gone(&mut self, mailbox: &str) -> bool {
        let idx = self.rules.iter().position(|r| {
            matches!(r.fault, GraphFault::DeltaGone) && r.hits("delta", Some(mailbox))
        });
        idx.map(|i| self.consume(i)).is_some()
    }

    /// The injected failure of batch entry `position` (its `url`, its operation), if any.
    pub fn take_batch_item(
        &mut self,
        operation: &str,
        mailbox: Option<&str>,
        position: usize,
        url: &str,
    ) -> Option<GraphFault> {
        let idx = self.rules.iter().position(|r| {
            r.hits(operation, mailbox)
                && matches!(&r.fault, GraphFault::BatchItem { url_contains, positions, .. }
                    if url_contains.as_deref().is_some_and(|u| url.contains(u)) || positions.contains(&position))
        })?;
        Some(self.consume(idx))
    }
}
