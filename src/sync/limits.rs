//! Bounds on one run, so that a server that never ends its change feed cannot hold a
//! worker (and grow its memory) forever: pages per feed, pages per run, and the longest
//! an attempt may take (enforced by the worker).
use std::time::Duration;

use crate::config::Settings;

/// The bounds of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    /// Most change-feed pages read from one folder.
    pub max_feed_pages: u32,
    /// Most change-feed pages read in the run, all folders together.
    pub max_run_pages: u32,
    /// Longest one attempt of the run may take.
    pub max_run_duration: Duration,
    /// Longest one EWS request may take.
    pub ews_request_timeout: Duration,
    /// Keep a Graph mailbox under its 10,000 requests per 10 minutes by pacing (on in
    /// service; SPEC §10's benchmarks measure with it off).
    pub graph_pacing: bool,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits::from_settings(&Settings::default())
    }
}

impl RunLimits {
    /// The limits configured.
    pub fn from_settings(s: &Settings) -> RunLimits {
        RunLimits {
            max_feed_pages: s.max_feed_pages,
            max_run_pages: s.max_run_pages,
            max_run_duration: Duration::from_secs(s.max_run_seconds),
            ews_request_timeout: Duration::from_secs(s.ews_request_timeout_seconds),
            graph_pacing: s.graph_pacing,
        }
    }
}

/// Counts the feed pages a run reads against its limits.
#[derive(Debug, Clone)]
pub struct PageBudget {
    limits: RunLimits,
    run_pages: u32,
}

impl PageBudget {
    /// A budget with nothing spent.
    pub fn new(limits: RunLimits) -> PageBudget {
        PageBudget {
            limits,
            run_pages: 0,
        }
    }

    /// Spends one page of `folder`'s feed (`feed_pages` counts that feed's pages); the
    /// error says which limit was passed.
    pub fn take(&mut self, feed_pages: &mut u32, folder: &str) -> Result<(), String> {
        *feed_pages += 1;
        self.run_pages += 1;
        if *feed_pages > self.limits.max_feed_pages {
            return Err(format!(
                "the change feed of folder {folder} did not end within {} pages (max_feed_pages); the server keeps announcing more",
                self.limits.max_feed_pages
            ));
        }
        if self.run_pages > self.limits.max_run_pages {
            return Err(format!(
                "the run read more than {} change-feed pages (max_run_pages)",
                self.limits.max_run_pages
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_and_run_caps_are_counted_separately() {
        let mut budget = PageBudget::new(RunLimits {
            max_feed_pages: 2,
            max_run_pages: 3,
            max_run_duration: Duration::from_secs(60),
            ews_request_timeout: Duration::from_secs(60),
            graph_pacing: true,
        });
        let (mut a, mut b) = (0, 0);
        assert!(budget.take(&mut a, "a").is_ok());
        assert!(budget.take(&mut a, "a").is_ok());
        assert!(
            budget
                .take(&mut a, "a")
                .unwrap_err()
                .contains("max_feed_pages")
        );
        let mut budget = PageBudget::new(budget.limits);
        a = 0;
        budget.take(&mut a, "a").unwrap();
        budget.take(&mut b, "b").unwrap();
        budget.take(&mut b, "b").unwrap();
        assert!(
            budget
                .take(&mut a, "a")
                .unwrap_err()
                .contains("max_run_pages")
        );
    }
}
