//! An Exchange mailbox in memory, behind the same trait as EWS: for tests of the engine
//! that need thousands of runs (the model-based property test) and no network. It keeps
//! the simulator's rules that the engine relies on: a ChangeKey changes on every write,
//! an update based on an old ChangeKey is a conflict (`NeverOverwrite`), a move gives the
//! item a new ItemId and keeps its properties (the `CrmContactId` stamp too), deleted
//! items go to Deleted Items, and a folder's feed reports what changed since a state —
//! an item created and deleted in between is not reported at all.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use super::{
    BatchResult, ErrorKind, ExchangeContacts, ExchangeFolder, FeedChange, FeedPage, FolderContacts,
    ItemUpdate, RemoteContact, TransportError, Written,
};
use crate::sync::fieldmap::{Changes, MappedContact};

/// The default Contacts folder's id.
pub const CONTACTS: &str = "contacts";

/// Where a user's deletion puts an item under an immutable id (not a contacts folder).
const DELETED_ITEMS: &str = "deleteditems";

#[derive(Debug, Clone)]
struct Folder {
    name: String,
    parent: Option<String>,
}

#[derive(Debug, Clone)]
struct Item {
    folder: String,
    fields: MappedContact,
    stamp: Option<Uuid>,
    change_key: u64,
    modified: i64,
}

/// One change of a folder's contents, in order.
#[derive(Debug, Clone)]
enum Event {
    Added(String),
    Changed(String),
    Removed(String),
}

#[derive(Debug, Default)]
struct State {
    folders: BTreeMap<String, Folder>,
    items: BTreeMap<String, Item>,
    /// Per folder, its events with their sequence number.
    log: BTreeMap<String, Vec<(u64, Event)>>,
    seq: u64,
    next_id: u64,
    /// Bumped by [`MemoryExchange::invalidate_states`]: older states are refused.
    epoch: u64,
    /// Items whose writes fail, and how.
    failing: BTreeMap<String, ErrorKind>,
    page_size: usize,
    calls: u64,
    /// A move keeps the item's id (Graph with immutable ids) instead of giving it a new
    /// one (EWS).
    immutable_ids: bool,
}

/// A mailbox in memory. Methods named after what a user does in Outlook change it the way
/// Exchange would; the trait's methods are what the service does.
#[derive(Debug)]
pub struct MemoryExchange {
    state: Mutex<State>,
}

impl Default for MemoryExchange {
    fn default() -> Self {
        Self::new()
    }
}

fn error(kind: ErrorKind, code: &str, message: &str) -> TransportError {
    TransportError {
        kind,
        code: Some(code.to_owned()),
        message: message.to_owned(),
    }
}

fn not_found() -> TransportError {
    error(
        ErrorKind::NotFound,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

impl State {
    fn tick(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn log(&mut self, folder: &str, event: Event) {
        let seq = self.tick();
        self.log
            .entry(folder.to_owned())
            .or_default()
            .push((seq, event));
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:06}", self.next_id)
    }

    fn insert(&mut self, folder: &str, fields: MappedContact, stamp: Option<Uuid>) -> String {
        let id = self.new_id("item-");
        let seq = self.tick();
        self.items.insert(
            id.clone(),
            Item {
                folder: folder.to_owned(),
                fields,
                stamp,
                change_key: seq,
                modified: seq as i64,
            },
        );
        self.log(folder, Event::Added(id.clone()));
        id
    }

    fn touch(&mut self, id: &str) {
        let seq = self.tick();
        let item = self.items.get_mut(id).expect("touched items exist");
        item.change_key = seq;
        item.modified = seq as i64;
        let folder = item.folder.clone();
        self.log(&folder, Event::Changed(id.to_owned()));
    }

    /// Puts an item in another folder under its id (immutable ids): its old folder's feed
    /// reports it removed.
    fn relocate(&mut self, id: &str, to: &str) -> Option<()> {
        let from = self.items.get(id)?.folder.clone();
        self.log(&from, Event::Removed(id.to_owned()));
        self.items.get_mut(id)?.folder = to.to_owned();
        Some(())
    }

    fn remove(&mut self, id: &str) -> Option<Item> {
        let item = self.items.remove(id)?;
        self.log(&item.folder.clone(), Event::Removed(id.to_owned()));
        Some(item)
    }

    fn remote(&self, id: &str) -> Option<RemoteContact> {
        let it = self.items.get(id)?;
        Some(RemoteContact {
            item_id: id.to_owned(),
            change_key: format!("ck{}", it.change_key),
            folder_id: it.folder.clone(),
            fields: it.fields.clone(),
            last_modified: at(it.modified),
            crm_contact_id: it.stamp,
        })
    }

    fn is_contacts_folder(&self, id: &str) -> bool {
        self.folders.contains_key(id)
    }
}

fn at(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + t, 0).unwrap()
}

impl MemoryExchange {
    /// A mailbox with an empty default Contacts folder.
    pub fn new() -> MemoryExchange {
        let mut state = State {
            page_size: super::FEED_PAGE as usize,
            ..State::default()
        };
        state.folders.insert(
            CONTACTS.to_owned(),
            Folder {
                name: "Contacts".into(),
                parent: None,
            },
        );
        MemoryExchange {
            state: Mutex::new(state),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut s = self.state.lock().expect("no panic while holding the state");
        f(&mut s)
    }

    /// Smaller feed pages (to exercise paging).
    pub fn set_page_size(&self, n: usize) {
        self.with(|s| s.page_size = n.max(1));
    }

    /// Calls the service made so far.
    pub fn calls(&self) -> u64 {
        self.with(|s| s.calls)
    }

    /// A new contacts folder under the default one.
    pub fn create_folder(&self, name: &str) -> String {
        self.with(|s| {
            let id = s.new_id("folder-");
            s.folders.insert(
                id.clone(),
                Folder {
                    name: name.to_owned(),
                    parent: Some(CONTACTS.to_owned()),
                },
            );
            id
        })
    }

    /// Deletes a folder and its items (moved under Deleted Items, which is not a contacts
    /// folder). The default Contacts folder cannot be deleted.
    pub fn delete_folder(&self, id: &str) {
        self.with(|s| {
            if id == CONTACTS || s.folders.remove(id).is_none() {
                return;
            }
            let gone: Vec<String> = s
                .items
                .iter()
                .filter(|(_, it)| it.folder == id)
                .map(|(k, _)| k.clone())
                .collect();
            for k in gone {
                s.items.remove(&k);
            }
            s.log.remove(id);
        })
    }

    /// The contacts folders other than the default one.
    pub fn folders(&self) -> Vec<String> {
        self.with(|s| {
            s.folders
                .keys()
                .filter(|k| *k != CONTACTS)
                .cloned()
                .collect()
        })
    }

    /// A contact created by the user.
    pub fn user_create(&self, folder: &str, fields: MappedContact) -> Option<String> {
        self.with(|s| {
            s.is_contacts_folder(folder)
                .then(|| s.insert(folder, fields, None))
        })
    }

    /// An edit by the user.
    pub fn user_edit(&self, id: &str, changes: &Changes) -> bool {
        self.with(|s| {
            let Some(it) = s.items.get_mut(id) else {
                return false;
            };
            it.fields.apply(changes);
            s.touch(id);
            true
        })
    }

    /// A deletion by the user. With immutable ids the item goes to Deleted Items under its
    /// id, as Graph's does (not a contacts folder: no feed or listing reports it there,
    /// but a read by id finds it); else it is gone.
    pub fn user_delete(&self, id: &str) -> bool {
        self.with(|s| {
            if !s.immutable_ids {
                return s.remove(id).is_some();
            }
            if s.items.get(id).is_none_or(|i| i.folder == DELETED_ITEMS) {
                return false;
            }
            s.relocate(id, DELETED_ITEMS).is_some()
        })
    }

    /// A mailbox whose items keep their id when they move, as Graph's with immutable ids.
    pub fn with_immutable_ids() -> MemoryExchange {
        let x = MemoryExchange::new();
        x.with(|s| s.immutable_ids = true);
        x
    }

    /// A move by the user: the item gets a new id in the other folder (or keeps its id,
    /// with immutable ids), properties kept.
    pub fn user_move(&self, id: &str, folder: &str) -> Option<String> {
        self.with(|s| {
            if !s.is_contacts_folder(folder) || s.items.get(id)?.folder == folder {
                return None;
            }
            if s.immutable_ids {
                s.relocate(id, folder)?;
                s.log(folder, Event::Added(id.to_owned()));
                s.touch(id);
                return Some(id.to_owned());
            }
            let it = s.remove(id)?;
            Some(s.insert(folder, it.fields, it.stamp))
        })
    }

    /// A copy by the user: a new item with the same properties (the stamp too).
    pub fn user_copy(&self, id: &str, folder: &str) -> Option<String> {
        self.with(|s| {
            if !s.is_contacts_folder(folder) {
                return None;
            }
            let it = s.items.get(id)?.clone();
            Some(s.insert(folder, it.fields, it.stamp))
        })
    }

    /// Every write to this item fails with `kind` from now on (`None`: heals it).
    pub fn fail_writes(&self, id: &str, kind: Option<ErrorKind>) {
        self.with(|s| match kind {
            Some(k) => {
                s.failing.insert(id.to_owned(), k);
            }
            None => {
                s.failing.remove(id);
            }
        })
    }

    /// Every saved feed state becomes invalid (`ErrorInvalidSyncStateData`).
    pub fn invalidate_states(&self) {
        self.with(|s| s.epoch += 1)
    }

    /// Every contact of the mailbox (all contacts folders).
    pub fn contacts(&self) -> Vec<RemoteContact> {
        self.with(|s| {
            let ids: Vec<String> = (s.items.iter())
                .filter(|(_, it)| it.folder != DELETED_ITEMS)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| s.remote(id)).collect()
        })
    }

    fn write_failure(s: &State, id: &str) -> Option<TransportError> {
        s.failing
            .get(id)
            .map(|k| error(*k, "ErrorInjected", "a write failure injected by the test"))
    }
}

/// A feed state: the epoch and the last sequence number seen.
fn parse_state(state: Option<&str>) -> Option<(u64, u64)> {
    let (e, n) = state?.split_once(':')?;
    Some((e.parse().ok()?, n.parse().ok()?))
}

impl ExchangeContacts for MemoryExchange {
    fn ids_survive_moves(&self) -> bool {
        self.with(|s| s.immutable_ids)
    }

    async fn contact_folders(&self) -> Result<Vec<ExchangeFolder>, TransportError> {
        Ok(self.with(|s| {
            s.calls += 1;
            let count = |id: &str| s.items.values().filter(|i| i.folder == id).count() as i32;
            let children = s
                .folders
                .iter()
                .filter(|(_, f)| f.parent.is_some())
                .map(|(id, f)| ExchangeFolder {
                    id: id.clone(),
                    name: f.name.clone(),
                    parent_id: f.parent.clone(),
                    total_count: Some(count(id)),
                    distinguished: None,
                    children: Vec::new(),
                })
                .collect();
            vec![ExchangeFolder {
                id: CONTACTS.to_owned(),
                name: "Contacts".into(),
                parent_id: None,
                total_count: Some(count(CONTACTS)),
                distinguished: Some("contacts".into()),
                children,
            }]
        }))
    }

    async fn changes(
        &self,
        folder_id: &str,
        sync_state: Option<&str>,
    ) -> Result<FeedPage, TransportError> {
        self.with(|s| {
            s.calls += 1;
            if !s.is_contacts_folder(folder_id) {
                return Err(error(
                    ErrorKind::NotFound,
                    "ErrorFolderNotFound",
                    "The specified folder could not be found in the store.",
                ));
            }
            let since = match sync_state {
                None => 0,
                Some(text) => match parse_state(Some(text)) {
                    Some((epoch, n)) if epoch == s.epoch && n <= s.seq => n,
                    _ => {
                        return Err(error(
                            ErrorKind::InvalidSyncState,
                            "ErrorInvalidSyncStateData",
                            "The sync state is not valid.",
                        ));
                    }
                },
            };
            let events = s.log.get(folder_id).cloned().unwrap_or_default();
            // Each item touched since the state, with its last event's number.
            let mut last: BTreeMap<String, u64> = BTreeMap::new();
            let mut was_there: BTreeSet<String> = BTreeSet::new();
            let mut first_after: BTreeMap<String, bool> = BTreeMap::new();
            for (seq, e) in &events {
                let (id, added) = match e {
                    Event::Added(id) => (id, true),
                    Event::Changed(id) | Event::Removed(id) => (id, false),
                };
                if *seq <= since {
                    continue;
                }
                last.insert(id.clone(), *seq);
                first_after.entry(id.clone()).or_insert(added);
            }
            for (id, added_first) in &first_after {
                if !added_first {
                    was_there.insert(id.clone());
                }
            }
            let mut touched: Vec<(u64, String)> = last.into_iter().map(|(id, n)| (n, id)).collect();
            touched.sort();
            let page: Vec<(u64, String)> = touched.iter().take(s.page_size).cloned().collect();
            let done = page.len() == touched.len();
            let upto = if done {
                s.seq
            } else {
                page.last().map(|(n, _)| *n).unwrap_or(since)
            };
            let changes = page
                .into_iter()
                .filter_map(|(_, id)| {
                    let here = s.items.get(&id).is_some_and(|it| it.folder == folder_id);
                    match (here, was_there.contains(&id)) {
                        (true, _) => Some(FeedChange::Upsert {
                            change_key: format!("ck{}", s.items[&id].change_key),
                            item_id: id,
                            item: None,
                        }),
                        (false, true) => Some(FeedChange::Delete { item_id: id }),
                        // Created and gone again in between: nothing to report.
                        (false, false) => None,
                    }
                })
                .collect();
            Ok(FeedPage {
                changes,
                sync_state: format!("{}:{upto}", s.epoch),
                done,
            })
        })
    }

    async fn get_contacts(&self, item_ids: &[String]) -> BatchResult<RemoteContact> {
        Ok(self.with(|s| {
            s.calls += 1;
            item_ids
                .iter()
                .map(|id| s.remote(id).ok_or_else(not_found))
                .collect()
        }))
    }

    async fn create_contacts(
        &self,
        folder_id: &str,
        contacts: &[(Uuid, MappedContact)],
    ) -> BatchResult<Written> {
        self.with(|s| {
            s.calls += 1;
            if !s.is_contacts_folder(folder_id) {
                return Err(error(
                    ErrorKind::NotFound,
                    "ErrorFolderNotFound",
                    "The specified folder could not be found in the store.",
                ));
            }
            Ok(contacts
                .iter()
                .map(|(crm_id, fields)| {
                    let id = s.insert(folder_id, fields.clone(), Some(*crm_id));
                    Ok(Written {
                        change_key: format!("ck{}", s.items[&id].change_key),
                        item_id: id,
                    })
                })
                .collect())
        })
    }

    async fn update_contacts(&self, updates: &[ItemUpdate]) -> BatchResult<Written> {
        Ok(self.with(|s| {
            s.calls += 1;
            updates
                .iter()
                .map(|u| {
                    if let Some(e) = Self::write_failure(s, &u.item_id) {
                        return Err(e);
                    }
                    let it = s.items.get_mut(&u.item_id).ok_or_else(not_found)?;
                    if format!("ck{}", it.change_key) != u.change_key {
                        return Err(error(
                            ErrorKind::Conflict,
                            "ErrorIrresolvableConflict",
                            "The item was changed since its ChangeKey.",
                        ));
                    }
                    it.fields.apply(&u.changes);
                    if let Some(stamp) = u.stamp {
                        it.stamp = Some(stamp);
                    }
                    s.touch(&u.item_id);
                    Ok(Written {
                        item_id: u.item_id.clone(),
                        change_key: format!("ck{}", s.items[&u.item_id].change_key),
                    })
                })
                .collect()
        }))
    }

    async fn delete_contacts(&self, item_ids: &[String]) -> BatchResult<()> {
        Ok(self.with(|s| {
            s.calls += 1;
            item_ids
                .iter()
                .map(|id| {
                    if let Some(e) = Self::write_failure(s, id) {
                        return Err(e);
                    }
                    s.remove(id).map(|_| ()).ok_or_else(not_found)
                })
                .collect()
        }))
    }

    async fn find_by_stamp(
        &self,
        folder_id: &str,
        crm_id: Uuid,
    ) -> Result<Vec<RemoteContact>, TransportError> {
        Ok(self.with(|s| {
            s.calls += 1;
            let ids: Vec<String> = s
                .items
                .iter()
                .filter(|(_, it)| it.folder == folder_id && it.stamp == Some(crm_id))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| s.remote(id)).collect()
        }))
    }

    async fn folder_contacts(&self, folder_id: &str) -> Result<FolderContacts, TransportError> {
        Ok(self.with(|s| {
            s.calls += 1;
            let ids: Vec<String> = s
                .items
                .iter()
                .filter(|(_, it)| it.folder == folder_id)
                .map(|(id, _)| id.clone())
                .collect();
            FolderContacts {
                contacts: ids.iter().filter_map(|id| s.remote(id)).collect(),
                unreadable: Vec::new(),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::fieldmap::Field;

    fn person(name: &str) -> MappedContact {
        let mut m = MappedContact::default();
        m.set(Field::GivenName, Some(name));
        m
    }

    async fn drain(
        x: &MemoryExchange,
        folder: &str,
        state: Option<String>,
    ) -> (Vec<FeedChange>, String) {
        let mut state = state;
        let mut all = Vec::new();
        loop {
            let page = x.changes(folder, state.as_deref()).await.unwrap();
            all.extend(page.changes);
            state = Some(page.sync_state);
            if page.done {
                return (all, state.unwrap());
            }
        }
    }

    #[tokio::test]
    async fn the_feed_reports_changes_since_a_state_and_collapses_create_then_delete() {
        let x = MemoryExchange::new();
        x.set_page_size(2);
        let a = x.user_create(CONTACTS, person("a")).unwrap();
        let b = x.user_create(CONTACTS, person("b")).unwrap();
        let c = x.user_create(CONTACTS, person("c")).unwrap();
        let (first, state) = drain(&x, CONTACTS, None).await;
        assert_eq!(first.len(), 3);
        x.user_delete(&a);
        let tmp = x.user_create(CONTACTS, person("tmp")).unwrap();
        x.user_delete(&tmp);
        x.user_edit(
            &b,
            &[(Field::Surname, Some("B".to_owned()))]
                .into_iter()
                .collect(),
        );
        let (next, _) = drain(&x, CONTACTS, Some(state)).await;
        assert_eq!(next.len(), 2, "{next:?}");
        assert!(next.contains(&FeedChange::Delete { item_id: a }));
        assert!(
            next.iter()
                .any(|c| matches!(c, FeedChange::Upsert { item_id, .. } if *item_id == b))
        );
        let c_id = c.clone();
        assert!(
            !next
                .iter()
                .any(|ch| matches!(ch, FeedChange::Upsert { item_id, .. } if *item_id == c_id))
        );
    }

    #[tokio::test]
    async fn an_update_on_an_old_change_key_is_a_conflict_and_a_move_keeps_the_stamp() {
        let x = MemoryExchange::new();
        let crm = Uuid::now_v7();
        let w = x
            .create_contacts(CONTACTS, &[(crm, person("a"))])
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        x.user_edit(
            &w.item_id,
            &[(Field::Surname, Some("A".to_owned()))]
                .into_iter()
                .collect(),
        );
        let r = x
            .update_contacts(&[ItemUpdate {
                item_id: w.item_id.clone(),
                change_key: w.change_key.clone(),
                changes: Changes::new(),
                after: person("a"),
                stamp: None,
            }])
            .await
            .unwrap();
        assert_eq!(r[0].as_ref().unwrap_err().kind, ErrorKind::Conflict);
        let f = x.create_folder("Other");
        let moved = x.user_move(&w.item_id, &f).unwrap();
        assert_ne!(moved, w.item_id);
        assert_eq!(x.find_by_stamp(&f, crm).await.unwrap()[0].item_id, moved);
        assert!(x.get_contacts(&[w.item_id]).await.unwrap()[0].is_err());
    }

    #[tokio::test]
    async fn an_invalidated_state_is_refused() {
        let x = MemoryExchange::new();
        let (_, state) = drain(&x, CONTACTS, None).await;
        x.invalidate_states();
        let e = x.changes(CONTACTS, Some(&state)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidSyncState);
    }
}
