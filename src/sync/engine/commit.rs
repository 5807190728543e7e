//! Committing: links after each chunk, feed states marked with what the folder was to the
//! run, failing items counted across runs, gone folders forgotten.

use std::collections::HashMap;

use chrono::Utc;

use super::echoes::LinksSaved;
use super::stamps::Owed;
use super::{Halt, Run, Work};
use crate::domain::profile::ImportScope;
use crate::domain::run::{ItemOutcome, OpKind, RunMode};
use crate::store::item_failures::ItemFailure;
use crate::store::sync_state::LinkHead;
use crate::sync::fieldmap::{Field, MappedContact};
use crate::sync::plan::{CrmSide, ExSide, Link, Op};
use crate::transport::{ErrorKind, ExchangeContacts};

/// A chunk's links being saved on a task of their own. Dropped with the run (a run
/// stopped at its time limit, a panic), the save is aborted and its transaction rolled
/// back, as in a crash: else it could land after a later run's newer links.
pub(super) struct LinksSaving(tokio::task::JoinHandle<Result<(), crate::store::StoreError>>);

impl Drop for LinksSaving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T: ExchangeContacts> Run<'_, T> {
    /// Keeps count of failing items across runs: retried next run, given up after five.
    pub(super) async fn record_failures(&mut self) -> Result<(), Halt> {
        let failed: Vec<ItemFailure> = self.failed_keys.values().cloned().collect();
        let cleared: Vec<String> = self
            .ok_keys
            .iter()
            .chain(self.retried.iter())
            .filter(|k| !self.failed_keys.contains_key(*k))
            .cloned()
            .collect();
        let given_up = self
            .store
            .record_item_failures(self.req.mailbox_id, &self.owner.user_id, &failed, &cleared)
            .await?;
        if given_up > 0 {
            tracing::warn!(mailbox = %self.req.mailbox_id, given_up, "items given up after failing in five runs");
        }
        Ok(())
    }

    /// Saves the new state of each folder read to its end, marked with what the folder
    /// was to the run, but not for a folder one of whose items failed (the next run reads
    /// those changes again), nor a state that did not move: a commit is a flush to disk,
    /// and a run with nothing to do has nothing to save.
    pub(super) async fn save_feed_states(
        &mut self,
        states: HashMap<String, String>,
        stored: &HashMap<String, String>,
    ) -> Result<(), Halt> {
        let linked = self.store.has_links(self.req.mailbox_id).await?;
        let moved: Vec<(String, String)> = states
            .into_iter()
            .filter(|(folder, _)| !self.failed_folders.contains(folder))
            .map(|(folder, state)| {
                let marked = marked_state(&state, self.import_folders.contains(&folder), linked);
                (folder, marked)
            })
            .filter(|(folder, marked)| stored.get(folder) != Some(marked))
            .collect();
        self.store
            .save_sync_states(self.req.mailbox_id, &moved)
            .await?;
        Ok(())
    }

    /// Import folders, the export target and folders holding linked items that Exchange
    /// no longer has (deleted, or moved under Deleted Items): no longer read nor written
    /// by this run. Answers them, for `forget_gone_folders` once the feeds are read.
    pub(super) fn gone_folders(&mut self, linked_folders: Vec<String>) -> Vec<String> {
        let mut gone: Vec<String> = linked_folders;
        if self.profile.import.scope == ImportScope::Folders {
            gone.extend(self.profile.import.folder_ids.iter().cloned());
        }
        gone.extend(self.profile.export.target_folder_id.iter().cloned());
        gone.retain(|f| !self.existing_folders.contains(f));
        gone.sort();
        gone.dedup();
        for folder in &gone {
            self.watched.retain(|f| f != folder);
            self.import_folders.remove(folder);
        }
        gone
    }

    /// Forgets gone folders: their pairs unlinked — never deleted in bulk, whatever
    /// `on_exchange_delete` says — the profile no longer lists them, and the owner is
    /// notified (SPEC §5). Called after the feeds were read, so that an item moved out of
    /// the folder before it went is relinked where it is now, not unlinked with it.
    pub(super) async fn forget_gone_folders(&mut self, gone: Vec<String>) -> Result<(), Halt> {
        if self.req.dry_run {
            return Ok(());
        }
        for folder in gone {
            self.wrote().await?;
            let unlinked = self
                .store
                .forget_gone_folder(self.req.mailbox_id, &self.owner.user_id, &folder)
                .await?;
            self.counts.unlinked += unlinked;
            tracing::info!(mailbox = %self.req.mailbox_id, folder = %folder, unlinked, "Exchange folder gone: its pairs are unlinked");
        }
        Ok(())
    }

    /// Saves the links of a chunk's pairs (`chunk`: the walk ahead's signal and the
    /// chunk's number, when it wrote to Exchange). In the CRM phase's chunks the save runs
    /// behind the run, while the next chunk is prepared and writes: the links of one
    /// chunk at a time, in order. That is safe because every item we create carries its
    /// CRM id, found again by a run that lost the link (as after a crash between a
    /// chunk's writes and its links).
    pub(super) async fn apply_links(
        &mut self,
        work: &mut [Work],
        chunk: Option<(LinksSaved, u64)>,
    ) -> Result<(), Halt> {
        let mut links = Vec::new();
        for w in work.iter() {
            if w.failed {
                if let Some(ex) = w.pair.ex.as_ref().filter(|e| !e.deleted) {
                    // Read the item's folder again next run rather than past this change
                    // (unless the failure is permanent: reading it again would fail again
                    // and hold the folder back for good).
                    if let Some(kind) = w.failure {
                        self.hold(&ex.folder_id, kind);
                    }
                    // The CRM side was written but Exchange was not: record the pair
                    // as never merged (empty bases, no version, no ChangeKey), so the
                    // next run merges it again instead of finding a stranger to create.
                    if let Some(crm) = &w.crm_now
                        && w.pair.link.is_none()
                    {
                        let empty = MappedContact::default();
                        links.push(Link {
                            crm_id: crm.id,
                            item_id: ex.item_id.clone(),
                            change_key: String::new(),
                            folder_id: ex.folder_id.clone(),
                            crm_version: Link::NEVER_MERGED,
                            crm_in_export_scope: crm.in_export_scope,
                            crm_fingerprint: empty.fingerprint(),
                            ex_fingerprint: empty.fingerprint(),
                            crm_base: empty.clone(),
                            ex_base: empty,
                            detached: false,
                            // Merged again: the plan stamps the item it reads.
                            stamp_owed: false,
                        });
                    }
                }
                continue;
            }
            for op in &w.ops {
                match op {
                    Op::Link { .. } | Op::CreateInCrm { .. } | Op::CreateInExchange { .. } => {
                        let crm = w
                            .crm_now
                            .clone()
                            .or_else(|| w.pair.crm.clone())
                            .or_else(|| w.pair.link.as_ref().map(crm_from_link));
                        let ex = w
                            .ex_now
                            .clone()
                            .or_else(|| w.pair.ex.clone())
                            .or_else(|| w.pair.link.as_ref().map(ex_from_link));
                        if let (Some(crm), Some(ex)) = (crm, ex) {
                            let mut link = self.link_after(w.pair.link.as_ref(), &crm, &ex);
                            if w.stamp_for_writer.is_some() {
                                // Merged again when read before its stamp is settled.
                                link.change_key = String::new();
                            }
                            // A stamp left to a later run stays owed until an item of
                            // this pair read or written in this run carries it.
                            link.stamp_owed = (w.stamp_deferred
                                || w.pair.link.as_ref().is_some_and(|l| l.stamp_owed))
                                && !w.item_carries_stamp(crm.id);
                            if let Some(old) = &w.derived_full_name {
                                link.crm_base.set(Field::FullName, Some(old));
                                link.crm_fingerprint = link.crm_base.fingerprint();
                                link.crm_version -= 1;
                            }
                            links.push(link);
                        }
                        break;
                    }
                    // A detached pair's item stamped (`plan::stamp_of_detached`): its link
                    // knows the item's ChangeKey now, and owes no stamp.
                    Op::UpdateExchange { .. }
                        if w.pair.link.as_ref().is_some_and(|l| l.detached) =>
                    {
                        if let Some(l) = &w.pair.link {
                            links.push(Link {
                                change_key: w.change_key_after(l),
                                stamp_owed: l.stamp_owed && !w.item_carries_stamp(l.crm_id),
                                ..l.clone()
                            });
                        }
                        break;
                    }
                    Op::Unlink { .. } => {
                        if let Some(l) = &w.pair.link {
                            // Whether the contact was in scope tells a later run that
                            // it came back (then it is linked again).
                            let in_scope = w
                                .pair
                                .crm
                                .as_ref()
                                .is_some_and(|c| c.in_export_scope && !c.deleted);
                            // A stamp still owed is owed no more once the unlink wrote it,
                            // or when the item is gone.
                            let stamped = w.item_carries_stamp(l.crm_id);
                            let gone = w.pair.ex.as_ref().is_some_and(|e| e.deleted);
                            links.push(Link {
                                detached: true,
                                crm_in_export_scope: in_scope,
                                // A stamp written with the unlink moved the item on: its
                                // echo is then known.
                                change_key: w.change_key_after(l),
                                stamp_owed: l.stamp_owed && !stamped && !gone,
                                ..l.clone()
                            });
                            self.count_and_record(op, &w.pair, ItemOutcome::Applied, None, None)
                                .await;
                        }
                        break;
                    }
                    _ => {}
                }
            }
            if w.pair.link.is_none()
                && w.pair.crm.is_some()
                && w.pair.ex.is_some()
                && w.ops.iter().any(|o| matches!(o, Op::Link { .. }))
            {
                self.counts.linked += 1;
                self.record(
                    OpKind::Link,
                    ItemOutcome::Applied,
                    w.pair.crm.as_ref().map(|c| c.id),
                    w.pair.ex.as_ref().map(|e| e.item_id.as_str()),
                    None,
                    None,
                )
                .await;
            }
        }
        // A moved item's old id no longer names the pair.
        for w in work.iter() {
            if let (Some(old), Some(ex)) = (&w.pair.link, &w.pair.ex)
                && !w.failed
            {
                let previous = self.item_by_crm.get(&old.crm_id).cloned();
                if let Some(prev) = previous.filter(|p| *p != ex.item_id) {
                    self.links_by_item.remove(&prev);
                    self.heads.remove(&prev);
                }
            }
        }
        let owed: Vec<Owed> = work
            .iter_mut()
            .filter(|w| !w.failed)
            .filter_map(|w| {
                let folder = w.pair.ex.as_ref()?.folder_id.clone();
                Some(Owed {
                    folder,
                    update: w.stamp_for_writer.take()?,
                })
            })
            .collect();
        // The chunk before's links first: saved in order.
        self.links_written().await?;
        let signal = move || {
            if let Some((signal, number)) = chunk {
                signal.saved(number);
            }
        };
        if self.links_behind && owed.is_empty() && !links.is_empty() {
            let (store, mailbox) = (self.store.clone(), self.req.mailbox_id);
            let saving = links.clone();
            self.links_saving = Some(LinksSaving(tokio::spawn(async move {
                store.save_links(mailbox, &saving).await?;
                signal();
                Ok(())
            })));
        } else {
            self.store.save_links(self.req.mailbox_id, &links).await?;
            signal();
        }
        // Only now that their links are saved may the stamps go out.
        let unsent = match &self.stamps {
            Some(stamps) if !owed.is_empty() => stamps.send(owed).await.err(),
            _ => None,
        };
        if let Some(unsent) = unsent {
            // The writer is gone (never while the phase runs): the links ask for the
            // stamps, and the folders are read again.
            for o in unsent {
                self.hold(&o.folder, ErrorKind::Transient);
            }
        }
        for l in links {
            self.item_by_crm.insert(l.crm_id, l.item_id.clone());
            self.heads.insert(l.item_id.clone(), head_of(&l));
            self.links_by_item.insert(l.item_id.clone(), l);
        }
        Ok(())
    }

    /// Waits for the links saved behind the run (see `apply_links`): before links are
    /// read from the database, and before the CRM phase ends.
    pub(super) async fn links_written(&mut self) -> Result<(), Halt> {
        if let Some(mut saving) = self.links_saving.take() {
            (&mut saving.0)
                .await
                .map_err(|e| Halt::Failed(format!("saving links: {e}")))??;
        }
        Ok(())
    }

    /// The link of a pair after this run. A one-way run must not record the other side as
    /// synced: it keeps that side's old snapshot (and version or ChangeKey), so its edits
    /// still flow on the next two-way run.
    pub(super) fn link_after(&self, old: Option<&Link>, crm: &CrmSide, ex: &ExSide) -> Link {
        let mut link = Link::new(crm, ex);
        if let Some(old) = old {
            match self.mode {
                RunMode::ImportOnly => {
                    link.crm_version = old.crm_version;
                    link.crm_base = old.crm_base.clone();
                    link.crm_fingerprint = old.crm_fingerprint.clone();
                }
                RunMode::ExportOnly => {
                    link.change_key = old.change_key.clone();
                    link.ex_base = old.ex_base.clone();
                    link.ex_fingerprint = old.ex_fingerprint.clone();
                }
                RunMode::TwoWay => {}
            }
        }
        link
    }
}

/// A feed state is saved with what the folder was to the run that read it: an import
/// folder (`i`) or only watched (`x`, its new items were not imported) — a state saved
/// while import was off must not hide the folder's items once it is on (SPEC §5) — and
/// whether the mailbox had links then (`l`): states of a mailbox that had links and has
/// none now mean the links were lost.
pub(super) fn marked_state(state: &str, import: bool, linked: bool) -> String {
    let kind = if import { "i" } else { "x" };
    let links = if linked { "l" } else { "" };
    format!("{kind}{links}|{state}")
}

/// The state to continue a folder's feed from, or `None` to read it from the start: the
/// saved state without the engine's mark, which the transport must never see.
pub fn usable_state(saved: &str, import: bool) -> Option<&str> {
    match saved.split_once('|') {
        Some(("i" | "il", state)) => Some(state),
        Some(("x" | "xl", state)) => (!import).then_some(state),
        Some(("r", _)) => None,
        // Saved before states were marked.
        _ => Some(saved),
    }
}

/// Whether a saved state says the mailbox had links when it was saved.
pub(super) fn saved_with_links(saved: &str) -> bool {
    matches!(saved.split_once('|'), Some(("il" | "xl", _)))
}

/// The mark of a folder whose links were found lost (`r|`, no state): until a run saves
/// the folder's state again, every run reads every folder from the start and relinks by
/// stamp, as the run that found the loss does — also when that run was cut short after
/// it saved some links (which would otherwise hide the loss).
pub(super) const RELINKING: &str = "r|";

pub(super) fn relinking(saved: &str) -> bool {
    saved.starts_with(RELINKING)
}

pub(super) fn head_of(l: &Link) -> LinkHead {
    LinkHead {
        crm_id: l.crm_id,
        item_id: l.item_id.clone(),
        change_key: l.change_key.clone(),
        crm_version: l.crm_version,
        crm_in_export_scope: l.crm_in_export_scope,
        detached: l.detached,
    }
}

pub(super) fn crm_from_link(l: &Link) -> CrmSide {
    CrmSide {
        id: l.crm_id,
        fields: l.crm_base.clone(),
        version: l.crm_version,
        updated_at: Utc::now(),
        deleted: false,
        in_export_scope: l.crm_in_export_scope,
    }
}

pub(super) fn ex_from_link(l: &Link) -> ExSide {
    ExSide {
        item_id: l.item_id.clone(),
        change_key: l.change_key.clone(),
        folder_id: l.folder_id.clone(),
        fields: l.ex_base.clone(),
        last_modified: Utc::now(),
        // The item carries its stamp unless the link says it is owed.
        crm_contact_id: (!l.stamp_owed).then_some(l.crm_id),
        deleted: false,
        in_import_scope: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_saved_for_an_import_folder_is_used_while_it_stays_one() {
        let saved = marked_state("S1", true, true);
        assert_eq!(usable_state(&saved, true), Some("S1"));
        assert_eq!(usable_state(&saved, false), Some("S1"));
    }

    #[test]
    fn a_state_saved_while_a_folder_was_not_imported_is_dropped_once_it_is() {
        let saved = marked_state("S1", false, false);
        assert_eq!(usable_state(&saved, false), Some("S1"));
        assert_eq!(usable_state(&saved, true), None);
    }

    #[test]
    fn an_unmarked_state_from_before_the_marks_is_used() {
        assert_eq!(usable_state("S1", true), Some("S1"));
    }

    #[test]
    fn a_state_tells_whether_the_mailbox_had_links() {
        assert!(saved_with_links(&marked_state("S", true, true)));
        assert!(saved_with_links(&marked_state("S", false, true)));
        assert!(!saved_with_links(&marked_state("S", true, false)));
        assert!(!saved_with_links("S"));
    }
}
