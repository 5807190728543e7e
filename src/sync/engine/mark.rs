//! A run with nothing to do, at a cost that does not grow with the links.
//!
//! The CRM phase compares every contact its owner sees with that contact's link
//! (`Store::crm_moves`, `Store::links_gone_from_view`): work that grows with the links
//! (0.2–0.4 s at 100,000 on SQLite) and finds nothing in most runs. What it reads changes
//! only when a contact the owner sees is written, when a CRM folder's members change (for
//! exports of chosen folders), when the mailbox's links change, or with the profile. The
//! store counts the first two per view of the CRM (`store::crm_views`). A comparison that
//! finds nothing leaves a mark: the view's counters and the profile at that time. While
//! the mark stands, later runs skip the comparison.
//!
//! Why that is safe:
//! - the counters are read before the comparison's queries, and every CRM write moves them
//!   in its own transaction: a write the comparison did not see moves them past the mark;
//! - a run's first write to the CRM or the links removes the mark ([`Run::wrote`]), so a
//!   run that dies midway leaves none; a mark is saved only at the end of a run whose
//!   comparison found nothing, that wrote nothing after it and that had no failure;
//! - writes to the links outside runs (a profile saved, a transport carried over) remove
//!   it too, and the profile a run works with is part of it;
//! - a mailbox with no link, or with CRM items failing (retried by CRM id), always
//!   compares.
use super::{Halt, Run};
use crate::domain::profile::{AutoSync, ExportScope};
use crate::transport::ExchangeContacts;

/// FNV-1a: a stable fingerprint of the profile (std's hasher may change between builds).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<T: ExchangeContacts> Run<'_, T> {
    /// What the comparison's result depends on besides the links: the owner's view of the
    /// CRM now, and what this run makes of the profile.
    pub(super) async fn comparison_mark(&self) -> Result<String, Halt> {
        let by_folder = self.profile.export.scope == ExportScope::Specific
            && !self.profile.export.folder_ids.is_empty();
        let token = self.store.crm_view_token(&self.owner, by_folder).await?;
        // The schedule does not change what a run compares.
        let mut profile = self.profile.clone();
        profile.auto_sync = AutoSync::default();
        let json = serde_json::to_string(&profile).expect("profile serializes");
        let work = format!("{json}|{}|{}", self.mode.as_str(), self.target_folder);
        Ok(format!("{token} {:016x}", fnv1a(work.as_bytes())))
    }

    /// The comparison would find nothing: nothing it reads changed since the mark.
    pub(super) fn comparison_needless(&self, mark: &str) -> bool {
        self.mark.as_deref() == Some(mark)
            && self.writes == 0
            && !self.no_links
            && self.retry_crm.is_empty()
    }

    /// This run's comparison found nothing to do.
    pub(super) fn found_nothing(&mut self, mark: String) {
        self.quiet = Some((mark, self.writes));
    }

    /// Notes a write of this run to the CRM or the links (before it is made): the mark no
    /// longer holds.
    pub(super) async fn wrote(&mut self) -> Result<(), Halt> {
        self.writes += 1;
        if self.mark.take().is_some() {
            self.store.set_crm_mark(self.req.mailbox_id, None).await?;
        }
        Ok(())
    }

    /// Leaves this run's mark, when its comparison found nothing and nothing was written or
    /// failed after it.
    pub(super) async fn save_mark(&mut self) -> Result<(), Halt> {
        let Some((mark, writes)) = self.quiet.take() else {
            return Ok(());
        };
        let clean = self.writes == writes
            && self.counts.failed == 0
            && self.held == 0
            && self.failed_folders.is_empty();
        if clean && self.mark.as_deref() != Some(mark.as_str()) {
            self.store
                .set_crm_mark(self.req.mailbox_id, Some(&mark))
                .await?;
        }
        Ok(())
    }
}
