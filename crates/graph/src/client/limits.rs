//! Graph's limits are per app and mailbox: 4 concurrent requests (the requests inside
//! a `$batch` count) and 10,000 requests per 10 minutes. Nothing here is shared by all
//! mailboxes of a host.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// Concurrent requests Exchange Online allows per app and mailbox.
pub const MAILBOX_CONCURRENCY: usize = 4;
/// Requests per app and mailbox in [`BUDGET_WINDOW`].
pub const MAILBOX_BUDGET: u32 = 10_000;
/// The window of [`MAILBOX_BUDGET`].
pub const BUDGET_WINDOW: Duration = Duration::from_secs(600);

/// The in-flight limit and budget of one app on one mailbox, shared by every client of
/// the process that names the same (authority, tenant, app, user).
pub(crate) struct MailboxLimits {
    pub permits: Arc<Semaphore>,
    pub budget: Mutex<Budget>,
}

fn registry() -> &'static Mutex<HashMap<String, Arc<MailboxLimits>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<MailboxLimits>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The limits of `key`; the first client to name it sets the values.
pub(crate) fn mailbox_limits(
    key: &str,
    concurrency: usize,
    budget: Option<u32>,
) -> Arc<MailboxLimits> {
    let mut map = registry().lock().unwrap_or_else(|p| p.into_inner());
    map.entry(key.to_ascii_lowercase())
        .or_insert_with(|| {
            Arc::new(MailboxLimits {
                permits: Arc::new(Semaphore::new(concurrency.clamp(1, MAILBOX_CONCURRENCY))),
                budget: Mutex::new(Budget::new(budget, BUDGET_WINDOW)),
            })
        })
        .clone()
}

/// A sliding-window request budget: `take(n)` says how long to wait before `n` more
/// requests fit (zero when they fit now) and books them at that time.
pub(crate) struct Budget {
    limit: Option<u32>,
    window: Duration,
    /// Booked requests: (when, how many), oldest first.
    booked: VecDeque<(Instant, u32)>,
    in_window: u32,
}

impl Budget {
    pub(crate) fn new(limit: Option<u32>, window: Duration) -> Self {
        Self {
            limit,
            window,
            booked: VecDeque::new(),
            in_window: 0,
        }
    }

    /// Books `n` requests; answers the wait before they may leave.
    pub(crate) fn take(&mut self, n: u32, now: Instant) -> Duration {
        let Some(limit) = self.limit else {
            return Duration::ZERO;
        };
        let n = n.min(limit);
        while let Some((at, k)) = self.booked.front().copied() {
            if now.duration_since(at) < self.window || at > now {
                break;
            }
            self.booked.pop_front();
            self.in_window -= k;
        }
        // Walk forward through the bookings until enough have left the window.
        let mut at = now;
        let mut free = limit - self.in_window;
        for (when, k) in &self.booked {
            if free >= n {
                break;
            }
            at = at.max(*when + self.window);
            free += k;
        }
        self.booked.push_back((at, n));
        self.in_window += n;
        at.saturating_duration_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_waits_for_the_oldest_requests_to_leave_the_window() {
        let t0 = Instant::now();
        let mut b = Budget::new(Some(10), Duration::from_secs(60));
        assert_eq!(b.take(6, t0), Duration::ZERO);
        assert_eq!(b.take(4, t0 + Duration::from_secs(10)), Duration::ZERO);
        // Full: the next one waits until the first six leave (t0 + 60 s).
        assert_eq!(
            b.take(1, t0 + Duration::from_secs(20)),
            Duration::from_secs(40)
        );
        let mut off = Budget::new(None, Duration::from_secs(60));
        assert_eq!(off.take(1_000_000, t0), Duration::ZERO);
    }
}
