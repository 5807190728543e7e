//! SyncFolderItems over a folder's change log.
//!
//! A sync state is a watermark in the mailbox's write sequence. A page walks the log
//! from the watermark, reports each item once (its *first* change after the watermark
//! decides Create vs Update; its current state is what is shown), and stops before the
//! `max`-th distinct item. Changes of a reported item that lie past the cut show up
//! again as an Update on the next page, which is what Exchange does too.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::{EwsError, FolderRef, Mailbox, ids};

/// What happened to an item at one point of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// Created in (or moved into) the folder.
    Created,
    /// Written.
    Updated,
    /// Deleted from (or moved out of) the folder.
    Deleted,
}

/// One entry of a folder's change log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogEntry {
    /// Position in the mailbox's write sequence.
    pub seq: u64,
    /// The item.
    pub item_id: String,
    /// The item's immutable identity (see `Item::origin`; 0 in old state files).
    #[serde(default)]
    pub origin: u64,
    /// What happened.
    pub kind: ChangeKind,
}

/// One change reported by SyncFolderItems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncChange {
    /// `t:Create` of this ItemId.
    Create(String),
    /// `t:Update` of this ItemId.
    Update(String),
    /// `t:Delete` of this ItemId.
    Delete(String),
}

/// One SyncFolderItems page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncPage {
    /// The state to send next time.
    pub sync_state: String,
    /// True when no further change is waiting.
    pub includes_last_item_in_range: bool,
    /// The changes, oldest first.
    pub changes: Vec<SyncChange>,
}

impl Mailbox {
    /// The sync state of a folder as of now, without reading its changes.
    pub fn current_sync_state(&self, folder: &FolderRef) -> Result<String, EwsError> {
        let f = self.folder(folder)?;
        Ok(ids::sync_state(self.epoch, self.n, f.n, self.seq))
    }

    /// SyncFolderItems: up to `max` changes since `state` (none or empty = everything).
    pub fn sync_items(
        &self,
        folder: &FolderRef,
        state: Option<&str>,
        max: usize,
        ignore: &HashSet<String>,
    ) -> Result<SyncPage, EwsError> {
        let f = self.folder(folder)?;
        let watermark = match state.map(str::trim).filter(|s| !s.is_empty()) {
            None => 0,
            Some(s) => {
                let d = ids::decode_sync_state(s).ok_or_else(EwsError::invalid_sync_state)?;
                if d.epoch != self.epoch || d.mailbox != self.n || d.n != f.n || d.extra > self.seq
                {
                    return Err(EwsError::invalid_sync_state());
                }
                d.extra
            }
        };
        let max = max.clamp(1, 512);
        let log = &f.log;
        let mut pos = log.partition_point(|e| e.seq <= watermark);
        let mut seen: HashSet<&str> = HashSet::new();
        let mut changes = Vec::new();
        let mut reported = 0usize;
        while pos < log.len() {
            let e = &log[pos];
            if !seen.contains(e.item_id.as_str()) {
                if reported == max {
                    break;
                }
                seen.insert(&e.item_id);
                let here = self
                    .items
                    .get(&e.item_id)
                    .is_some_and(|it| it.folder_id == f.id);
                let change = match (e.kind, here) {
                    (ChangeKind::Created, true) => Some(SyncChange::Create(e.item_id.clone())),
                    // Created and gone again since the state: the client never knew it.
                    (ChangeKind::Created, false) => None,
                    (_, true) => Some(SyncChange::Update(e.item_id.clone())),
                    (_, false) => Some(SyncChange::Delete(e.item_id.clone())),
                };
                if let Some(c) = change {
                    reported += 1;
                    if !ignore.contains(&e.item_id) {
                        changes.push(c);
                    }
                }
            }
            pos += 1;
        }
        let done = pos == log.len();
        let new_mark = if done { self.seq } else { log[pos - 1].seq };
        Ok(SyncPage {
            sync_state: ids::sync_state(self.epoch, self.n, f.n, new_mark.max(watermark)),
            includes_last_item_in_range: done,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    fn contacts() -> FolderRef {
        FolderRef::Distinguished("contacts".into())
    }

    fn drain(
        mb: &Mailbox,
        mut state: Option<String>,
        max: usize,
    ) -> (Vec<SyncChange>, String, usize) {
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            let p = mb
                .sync_items(&contacts(), state.as_deref(), max, &HashSet::new())
                .unwrap();
            pages += 1;
            all.extend(p.changes);
            state = Some(p.sync_state);
            if p.includes_last_item_in_range {
                return (all, state.unwrap(), pages);
            }
        }
    }

    fn seeded(n: usize) -> (Mailbox, Vec<String>) {
        let mut mb = Mailbox::new("a@x", "p", 1, 1);
        let ids = (0..n)
            .map(|i| {
                mb.create_item(
                    &contacts(),
                    ContactData {
                        given_name: Some(format!("c{i}")),
                        ..Default::default()
                    },
                )
                .unwrap()
                .0
            })
            .collect();
        (mb, ids)
    }

    #[test]
    fn full_sync_pages_at_512_and_reports_each_item_once() {
        let (mb, ids) = seeded(1300);
        let (changes, _, pages) = drain(&mb, None, 512);
        assert_eq!(pages, 3);
        assert_eq!(changes.len(), 1300);
        assert!(changes.iter().all(|c| matches!(c, SyncChange::Create(_))));
        let got: HashSet<_> = changes
            .iter()
            .map(|c| match c {
                SyncChange::Create(i) => i.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, ids.into_iter().collect());
    }

    #[test]
    fn incremental_sync_collapses_changes_per_item() {
        let (mut mb, ids) = seeded(5);
        let (_, state, _) = drain(&mb, None, 512);
        let upd = |mb: &mut Mailbox, id: &str| {
            let ck = mb.item(id).unwrap().change_key.clone();
            mb.update_item(id, Some(&ck), ConflictResolution::NeverOverwrite, &[])
                .unwrap();
        };
        upd(&mut mb, &ids[0]);
        upd(&mut mb, &ids[0]);
        mb.delete_item(&ids[1], DeleteType::HardDelete).unwrap();
        let (new_id, _) = mb.create_item(&contacts(), ContactData::default()).unwrap();
        upd(&mut mb, &new_id);
        let (gone, _) = mb.create_item(&contacts(), ContactData::default()).unwrap();
        mb.delete_item(&gone, DeleteType::HardDelete).unwrap();
        let (changes, state2, _) = drain(&mb, Some(state), 512);
        assert_eq!(
            changes,
            vec![
                SyncChange::Update(ids[0].clone()),
                SyncChange::Delete(ids[1].clone()),
                SyncChange::Create(new_id),
            ]
        );
        let (none, _, _) = drain(&mb, Some(state2), 512);
        assert!(none.is_empty());
    }

    #[test]
    fn an_item_created_before_the_cut_and_updated_after_is_created_then_updated() {
        let (mut mb, ids) = seeded(3);
        let ck = mb.item(&ids[0]).unwrap().change_key.clone();
        mb.update_item(&ids[0], Some(&ck), ConflictResolution::NeverOverwrite, &[])
            .unwrap();
        let (changes, _, pages) = drain(&mb, None, 2);
        assert_eq!(pages, 2);
        assert_eq!(changes.len(), 4);
        assert_eq!(changes[0], SyncChange::Create(ids[0].clone()));
        assert_eq!(changes[3], SyncChange::Update(ids[0].clone()));
    }

    #[test]
    fn ignored_items_are_not_reported_and_garbage_states_are_invalid() {
        let (mb, ids) = seeded(2);
        let ignore: HashSet<String> = [ids[0].clone()].into();
        let p = mb.sync_items(&contacts(), None, 512, &ignore).unwrap();
        assert_eq!(p.changes, vec![SyncChange::Create(ids[1].clone())]);
        for bad in [
            "garbage",
            "eJyrVorKdSuKCjYsSHEPK/EJcSz3dXEs9wu0tVWyUlAKNCgG88Fi6UCxWgB5Sg8D",
        ] {
            let e = mb
                .sync_items(&contacts(), Some(bad), 10, &HashSet::new())
                .unwrap_err();
            assert_eq!(e.code, "ErrorInvalidSyncStateData");
        }
        let other = Mailbox::new("b@x", "p", 2, 1);
        let foreign = other.current_sync_state(&contacts()).unwrap();
        assert!(
            mb.sync_items(&contacts(), Some(&foreign), 10, &HashSet::new())
                .is_err()
        );
    }
}
