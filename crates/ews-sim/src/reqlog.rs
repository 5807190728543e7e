//! The request log behind `GET /_sim/requests`.

use std::collections::VecDeque;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How many requests are kept (older ones are dropped).
const CAPACITY: usize = 10_000;

/// One EWS request as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    /// Arrival order, from 1.
    pub seq: u64,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// When it arrived, in milliseconds since the Unix epoch (for measuring gaps).
    pub at_ms: i64,
    /// EWS operation (`GetItem`, ...), or `-` when the body could not be read.
    pub operation: String,
    /// The mailbox acted on (after impersonation), when known.
    pub mailbox: Option<String>,
    /// HTTP status answered (0 for a dropped connection).
    pub status: u16,
    /// `NoError`, the first error ResponseCode, the fault code, or the injected fault.
    pub outcome: String,
    /// Time spent answering, in milliseconds.
    pub duration_ms: u64,
}

/// A bounded in-memory log.
#[derive(Debug, Default)]
pub struct RequestLog {
    next: u64,
    records: VecDeque<RequestRecord>,
}

impl RequestLog {
    /// The sequence number of a request that just arrived (records are written when
    /// the request ends, so they are ordered by this number, not by completion).
    pub fn arrival(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Appends a finished request's record.
    pub fn push(&mut self, r: RequestRecord) {
        if self.records.len() == CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(r);
    }

    /// Every kept record, in arrival order.
    pub fn all(&self) -> Vec<RequestRecord> {
        let mut v: Vec<RequestRecord> = self.records.iter().cloned().collect();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// Forgets every record.
    pub fn clear(&mut self) {
        self.records.clear();
    }
}
