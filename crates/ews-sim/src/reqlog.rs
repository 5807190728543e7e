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

/// A bounded in-memory log, and counters that are not bounded (benchmarks count more
/// requests than the log keeps).
#[derive(Debug, Default)]
pub struct RequestLog {
    next: u64,
    records: VecDeque<RequestRecord>,
    stats: RequestStats,
}

/// Requests counted since the last clear: round trips by operation, and the most that
/// were in flight at once (a client's per-host cap shows here).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RequestStats {
    /// Requests answered (or dropped).
    pub requests: u64,
    /// The same, by EWS operation (`graph` for Microsoft Graph requests).
    pub by_operation: std::collections::BTreeMap<String, u64>,
    /// Requests being answered now.
    pub in_flight: u64,
    /// The most requests answered at once.
    pub max_in_flight: u64,
}

impl RequestLog {
    /// The sequence number of a request that just arrived (records are written when
    /// the request ends, so they are ordered by this number, not by completion).
    pub fn arrival(&mut self) -> u64 {
        self.next += 1;
        self.stats.in_flight += 1;
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.stats.in_flight);
        self.next
    }

    /// Appends a finished request's record (each arrival ends with one push).
    pub fn push(&mut self, r: RequestRecord) {
        self.stats.in_flight = self.stats.in_flight.saturating_sub(1);
        self.stats.requests += 1;
        *self
            .stats
            .by_operation
            .entry(r.operation.clone())
            .or_default() += 1;
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

    /// The counters since the last clear.
    pub fn stats(&self) -> RequestStats {
        self.stats.clone()
    }

    /// Forgets every record and resets the counters (requests in flight stay counted).
    pub fn clear(&mut self) {
        self.records.clear();
        let in_flight = self.stats.in_flight;
        self.stats = RequestStats {
            in_flight,
            max_in_flight: in_flight,
            ..RequestStats::default()
        };
    }
}
