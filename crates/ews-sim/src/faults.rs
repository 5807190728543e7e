//! Fault injection: rules set through `/_sim/faults`, consumed by EWS requests.

use serde::{Deserialize, Serialize};

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// SOAP fault `ErrorServerBusy` with HTTP 500 and `BackOffMilliseconds` (sample 60).
    ServerBusy {
        /// The back-off hint.
        #[serde(default = "default_back_off")]
        back_off_ms: u64,
    },
    /// SOAP fault `ErrorInternalServerError` with HTTP 500.
    Http500,
    /// A bare HTTP 503 (requests queuing), as IIS answers when EWS is saturated.
    Http503,
    /// Answer late (use a value above the client's timeout to simulate a timeout).
    Delay {
        /// How long to wait before handling the request.
        delay_ms: u64,
    },
    /// HTTP 200 with a body that is not well-formed XML.
    MalformedXml,
    /// Close the connection without answering.
    ConnectionReset,
    /// SyncFolderItems answers ErrorInvalidSyncStateData whatever the state.
    InvalidSyncState,
    /// HTTP 401 although the credentials are right (an expired token, a locked account).
    Unauthorized,
    /// Per-item errors on the chosen item ids (HTTP 200, other items succeed).
    ItemError {
        /// The ItemIds that fail.
        item_ids: Vec<String>,
        /// The ResponseCode, e.g. `ErrorItemNotFound` or `ErrorServerBusy`.
        #[serde(default = "default_item_code")]
        code: String,
    },
}

fn default_back_off() -> u64 {
    5000
}

fn default_item_code() -> String {
    "ErrorInternalServerError".into()
}

/// When a request-level fault strikes: before the operation runs (nothing was done), or
/// after it ran and changed the mailbox (the answer is lost: the classic source of
/// duplicates when a client retries a CreateItem).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultWhen {
    /// Before the operation: the request did nothing.
    #[default]
    Before,
    /// After the operation was executed: its answer is lost or garbled.
    After,
}

impl FaultWhen {
    fn is_before(&self) -> bool {
        *self == FaultWhen::Before
    }
}

/// A fault rule: which requests it hits and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Rule id (assigned by the simulator).
    #[serde(default)]
    pub id: u64,
    /// EWS operation (`GetItem`, ...); absent = every operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Mailbox (SMTP address) the rule is limited to; absent = every mailbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    /// How many more requests it hits; absent = until removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Before (default) or after the operation runs; `after` applies to `connection_reset`,
    /// `delay`, `http500`, `http503` and `malformed_xml`.
    #[serde(default, skip_serializing_if = "FaultWhen::is_before")]
    pub when: FaultWhen,
    /// What it does.
    #[serde(flatten)]
    pub fault: FaultKind,
}

impl FaultRule {
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

/// The active rules.
#[derive(Debug, Default)]
pub struct Faults {
    next_id: u64,
    rules: Vec<FaultRule>,
}

impl Faults {
    /// Adds a rule and answers it with its id.
    pub fn add(&mut self, mut rule: FaultRule) -> FaultRule {
        self.next_id += 1;
        rule.id = self.next_id;
        self.rules.push(rule.clone());
        rule
    }

    /// The active rules.
    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.clone()
    }

    /// Removes one rule; false when there was none with that id.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        before != self.rules.len()
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    fn consume(&mut self, idx: usize) -> FaultKind {
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

    /// The request-level faults that hit this request, in rule order (a delay may be
    /// followed by another fault); consumes one count of each.
    pub fn take_request_faults(
        &mut self,
        operation: &str,
        mailbox: Option<&str>,
        when: FaultWhen,
    ) -> Vec<FaultKind> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.rules.len() {
            let r = &self.rules[i];
            let request_level = !matches!(
                r.fault,
                FaultKind::ItemError { .. } | FaultKind::InvalidSyncState
            );
            if request_level && r.when == when && r.hits(operation, mailbox) {
                let before = self.rules.len();
                let f = self.consume(i);
                let is_delay = matches!(f, FaultKind::Delay { .. });
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

    /// Whether SyncFolderItems must answer ErrorInvalidSyncStateData now (consumes one).
    pub fn take_invalid_sync_state(&mut self, mailbox: Option<&str>) -> bool {
        let idx = self.rules.iter().position(|r| {
            matches!(r.fault, FaultKind::InvalidSyncState) && r.hits("SyncFolderItems", mailbox)
        });
        idx.map(|i| self.consume(i)).is_some()
    }

    /// The per-item error injected for `item_id` in `operation`, if any (consumes one).
    pub fn take_item_error(
        &mut self,
        operation: &str,
        mailbox: Option<&str>,
        item_id: &str,
    ) -> Option<String> {
        let idx = self.rules.iter().position(|r| {
            r.hits(operation, mailbox)
                && matches!(&r.fault, FaultKind::ItemError { item_ids, .. } if item_ids.iter().any(|i| i == item_id))
        })?;
        match self.consume(idx) {
            FaultKind::ItemError { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> FaultRule {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn counted_rules_expire_and_match_by_operation() {
        let mut f = Faults::default();
        f.add(rule(
            r#"{"operation":"GetItem","kind":"server_busy","back_off_ms":300,"count":1}"#,
        ));
        assert!(
            f.take_request_faults("SyncFolderItems", None, FaultWhen::Before)
                .is_empty()
        );
        assert_eq!(
            f.take_request_faults("getitem", Some("a@x"), FaultWhen::Before),
            vec![FaultKind::ServerBusy { back_off_ms: 300 }]
        );
        assert!(
            f.take_request_faults("GetItem", None, FaultWhen::Before)
                .is_empty()
        );
        assert!(f.list().is_empty());
    }

    #[test]
    fn a_delay_combines_with_the_next_fault() {
        let mut f = Faults::default();
        f.add(rule(r#"{"kind":"delay","delay_ms":10}"#));
        f.add(rule(r#"{"kind":"http500","count":2}"#));
        let got = f.take_request_faults("GetFolder", None, FaultWhen::Before);
        assert_eq!(
            got,
            vec![FaultKind::Delay { delay_ms: 10 }, FaultKind::Http500]
        );
    }

    #[test]
    fn after_rules_wait_for_the_operation_to_run() {
        let mut f = Faults::default();
        f.add(rule(
            r#"{"operation":"CreateItem","kind":"connection_reset","when":"after","count":1}"#,
        ));
        assert!(
            f.take_request_faults("CreateItem", None, FaultWhen::Before)
                .is_empty()
        );
        assert_eq!(
            f.take_request_faults("CreateItem", None, FaultWhen::After),
            vec![FaultKind::ConnectionReset]
        );
        assert!(f.list().is_empty());
    }

    #[test]
    fn item_errors_hit_only_their_items() {
        let mut f = Faults::default();
        f.add(rule(
            r#"{"kind":"item_error","item_ids":["X"],"code":"ErrorItemNotFound","count":1}"#,
        ));
        assert!(f.take_item_error("GetItem", None, "Y").is_none());
        assert_eq!(
            f.take_item_error("GetItem", None, "X").as_deref(),
            Some("ErrorItemNotFound")
        );
        assert!(f.take_item_error("GetItem", None, "X").is_none());
    }
}
