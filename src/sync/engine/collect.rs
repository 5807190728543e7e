//! Collecting: the Exchange phase (feeds of the watched folders, items read in batches,
//! upserts before deletions) and the CRM phase (contacts that moved since their link, new
//! and returning ones matched against the whole export target), each paired and handed to
//! `apply` chunk by chunk.
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use futures_util::future::{join, join_all, join3};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::apply::flatten;
use super::feed::{FeedEvent, PAGES_AHEAD, StopReading, Upserts, read_feeds};
use super::pair::{
    Found, ItemPairing, crm_contact_planned, export_match_taken, in_export_target, is_echo,
    item_pairing, link_holds, new_item_pairs,
};
use super::{CHUNK, FEED_ITEMS_KEPT, Halt, Pair, Run, stamps};
use crate::domain::profile::MatchExisting;
use crate::domain::run::{ItemOutcome, OpKind, RunMode};
use crate::store::sync_state::{CrmRecord, MatchKeys};
use crate::sync::fieldmap::MappedContact;
use crate::sync::matching::{Candidate, MatchedBy, Matcher, match_keys};
use crate::sync::plan::{CrmSide, ExSide, Link};
use crate::transport::{
    ErrorKind, ExchangeContacts, FeedChange, ITEM_BATCH, RemoteContact, TransportError,
};

impl<T: ExchangeContacts> Run<'_, T> {
    /// Reads every watched folder's feed, applies upserts then deletions; answers the new
    /// state of each folder read to its end, or to where its walk ended (`may_end_early`:
    /// the run's first walk of a single folder ends at a page of nothing but echoes of
    /// this run's own writes, see `apply_feeds`).
    ///
    /// The feeds are read ahead by `feed::read_feeds` while the pages already read are
    /// applied, a chunk of upserts at a time, so memory follows the chunk, not the
    /// mailbox (but for new items that would pair by content: they wait for every stamp,
    /// see `pairs_by_content_later`); deletions wait until every folder's upserts are
    /// applied (a move is a new item plus the deletion of the old one: the new half
    /// relinks the pair first). A
    /// stamp whose old item's deletion was not seen yet (or any deletion, where ids survive
    /// a move) is checked by reading that item (`pair_items`). Our own writes of the
    /// earlier chunks come back later in the same walk, as echoes that cost no read.
    pub(super) async fn exchange_phase(
        &mut self,
        folders: Vec<String>,
        saved: &HashMap<String, String>,
        may_end_early: bool,
    ) -> Result<HashMap<String, String>, Halt> {
        self.feed_deletes.clear();
        let (t, sink, mailbox) = (self.t, self.sink, self.req.mailbox_id);
        let mut budget = self.pages.clone();
        let (sender, pages) = mpsc::channel(PAGES_AHEAD);
        // An id that one folder's feed reports deleted and another's delivers moved
        // between watched folders under an id that survives moves (Graph's immutable
        // ids), and lives on: with more than one folder, the ids delivered are kept.
        let delivered = (folders.len() > 1).then(HashSet::new);
        // With several folders a move between them needs both feeds read to their ends.
        let may_end_early = may_end_early && folders.len() == 1;
        // Set when the walk ends before the feed's end: the reader reads no more.
        let stop_reading = StopReading::default();
        let reader = read_feeds(
            t,
            sink,
            &mut budget,
            mailbox,
            folders,
            saved,
            sender,
            &stop_reading,
        );
        let (stamps, writer) = stamps::channel();
        self.stamps = Some(stamps);
        let apply = async {
            let applied = self
                .apply_feeds(pages, delivered, may_end_early.then_some(&stop_reading))
                .await;
            if let Some(stamps) = self.stamps.as_mut() {
                stamps.close();
            }
            applied
        };
        let (_, applied, ()) = join3(reader, apply, stamps::write(t, writer)).await;
        self.pages = budget;
        // Every stamp is answered before the states are: a failed one holds its folder.
        let settled = self.settle_every_stamp().await;
        let states = applied?;
        settled?;
        Ok(states)
    }

    /// Applies the pages the feed reader hands over: upserts a chunk at a time as they
    /// come, deletions at the end.
    async fn apply_feeds(
        &mut self,
        mut pages: mpsc::Receiver<FeedEvent>,
        mut delivered: Option<HashSet<String>>,
        stop_reading: Option<&StopReading>,
    ) -> Result<HashMap<String, String>, Halt> {
        let mut upserts = Upserts::new(std::mem::take(&mut self.retry_items));
        let mut deletes: Vec<(String, String)> = Vec::new();
        let mut states = HashMap::new();
        let held_before = self.held;
        // A chunk read and not applied yet: the next chunk is read while it is applied.
        let mut read: Option<ReadChunk> = None;
        while let Some(event) = pages.recv().await {
            match event {
                FeedEvent::Page { folder, page } => {
                    let waiting = upserts.waiting();
                    let sorted = &mut (&mut upserts, &mut deletes, delivered.as_mut());
                    let only_ours = self.sort_page(&folder, page.changes, sorted).await?;
                    // A page that brings nothing to upsert (our own echoes, as after the
                    // original items of an import) says the work in hand is all there is
                    // for now: it is applied, not kept for a full chunk until the feed ends.
                    let quiet = upserts.waiting() == waiting;
                    loop {
                        let chunk = match upserts.full_chunk() {
                            Some(chunk) => chunk,
                            None if quiet => match upserts.any_chunk() {
                                Some(chunk) => chunk,
                                None => break,
                            },
                            None => break,
                        };
                        self.stop_requested().await?;
                        let t = self.t;
                        let known = self.take_feed_items(&item_ids(&chunk));
                        let to_read = not_known(&chunk, &known);
                        let next = read_items(t, &to_read);
                        let results = match read.take() {
                            Some((before, items)) => {
                                let (results, applied) =
                                    join(next, self.upsert_read(&before, items)).await;
                                applied?;
                                upserts.applied(&before);
                                with_known(known, results?)
                            }
                            None => with_known(known, next.await?),
                        };
                        read = Some((chunk, results));
                    }
                    if quiet && let Some((chunk, items)) = read.take() {
                        self.stop_requested().await?;
                        self.upsert_read(&chunk, items).await?;
                        upserts.applied(&chunk);
                    }
                    if page.done {
                        states.insert(folder, page.sync_state);
                    } else if let Some(stop_reading) = stop_reading
                        && only_ours
                        && upserts.waiting() == 0
                    {
                        // Past what the folder had, the feed now brings the echoes of our
                        // own writes (an import's stamps), a page a 512: the walk ends
                        // here, everything before applied. The next run reads the rest; an
                        // echo costs it no read (its ChangeKey is the link's), and what the
                        // user does meanwhile to those items, which were there before this
                        // state, is reported as always. Only the run's first walk ends so:
                        // the walk past the run's own writes at its end (`execute`) reads
                        // to the feed's end, past our creates' echoes. The walk is of
                        // one folder: the pages read ahead of this one are left unread.
                        stop_reading.store(true, std::sync::atomic::Ordering::Relaxed);
                        states.insert(folder, page.sync_state);
                        break;
                    }
                }
                FeedEvent::Failed { folder, error } => {
                    self.failed_folders.insert(folder);
                    self.counts.failed += 1;
                    self.record(
                        OpKind::ExchangeRead,
                        ItemOutcome::Failed,
                        None,
                        None,
                        Some(&error),
                        None,
                    )
                    .await;
                }
                FeedEvent::Halt(halt) => return Err(halt),
            }
        }
        if let Some((chunk, items)) = read.take() {
            self.upsert_read(&chunk, items).await?;
            upserts.applied(&chunk);
        }
        // Items that failed in earlier runs are read again, whatever the feed says.
        for chunk in upserts.rest() {
            self.stop_requested().await?;
            self.upsert_chunk(&chunk).await?;
        }
        self.pair_matched_later().await?;
        if let Some(delivered) = &delivered {
            deletes.retain(|(_, id)| !delivered.contains(id));
        }
        if self.held > held_before {
            // A failed upsert may be the new half of a move: its old half's deletion
            // waits for the next run, which reads these folders again.
            for (folder, _) in &deletes {
                self.failed_folders.insert(folder.clone());
            }
            return Ok(states);
        }
        for chunk in deletes.chunks(CHUNK) {
            self.stop_requested().await?;
            self.delete_chunk(chunk).await?;
        }
        Ok(states)
    }

    /// Sorts one feed page: our own echoes are dropped (no read), upserts wait for their
    /// chunk, deletions for the end of the phase. Answers whether the page held nothing
    /// but echoes of this run's own writes.
    async fn sort_page(
        &mut self,
        folder: &str,
        changes: Vec<FeedChange>,
        (upserts, deletes, delivered): &mut Sorted<'_>,
    ) -> Result<bool, Halt> {
        let mut only_ours = !changes.is_empty();
        // Stamps written meanwhile: their echoes in this page are then known.
        self.settle_stamps().await?;
        let ids: Vec<String> = changes
            .iter()
            .map(|c| match c {
                FeedChange::Upsert { item_id, .. } | FeedChange::Delete { item_id } => {
                    item_id.clone()
                }
            })
            .collect();
        self.forget_heads();
        self.load_heads(&ids, &[]).await?;
        for c in changes {
            match c {
                FeedChange::Upsert {
                    item_id,
                    change_key,
                    item,
                } => {
                    let echo = is_echo(
                        self.heads.get(&item_id).map(|l| l.change_key.as_str()),
                        &change_key,
                    );
                    if let Some(delivered) = delivered.as_mut() {
                        delivered.insert(item_id.clone());
                    }
                    if echo {
                        only_ours &= self.written_items.contains(&item_id);
                        continue;
                    }
                    only_ours = false;
                    // A later page's data of the same item is the newer.
                    match item {
                        Some(c) if self.feed_items.len() < FEED_ITEMS_KEPT => {
                            self.feed_items.insert(item_id.clone(), *c);
                        }
                        _ => {
                            self.feed_items.remove(&item_id);
                        }
                    }
                    upserts.push(folder, item_id);
                }
                FeedChange::Delete { item_id } => {
                    only_ours = false;
                    self.feed_deletes.insert(item_id.clone());
                    deletes.push((folder.to_owned(), item_id));
                }
            }
        }
        Ok(only_ours)
    }

    pub(super) async fn upsert_chunk(&mut self, chunk: &[(String, String)]) -> Result<(), Halt> {
        let known = self.take_feed_items(&item_ids(chunk));
        let read = read_items(self.t, &not_known(chunk, &known)).await?;
        self.upsert_read(chunk, with_known(known, read)).await
    }

    /// The items of these ids whose data came with the feed (taken, not read again).
    fn take_feed_items(&mut self, ids: &[String]) -> Vec<Option<RemoteContact>> {
        ids.iter().map(|id| self.feed_items.remove(id)).collect()
    }

    /// Pairs and applies a chunk of upserts whose items were read (`results`, in order).
    async fn upsert_read(
        &mut self,
        chunk: &[(String, String)],
        results: Vec<Result<RemoteContact, TransportError>>,
    ) -> Result<(), Halt> {
        let mut items = Vec::new();
        for ((folder, item_id), result) in chunk.iter().zip(results) {
            match result {
                Ok(c) => items.push((folder.clone(), c)),
                // Gone between the feed and the read: its deletion follows in a later feed.
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => self.unread(Some(folder), None, item_id, &e).await,
            }
        }
        self.pair_items(items).await
    }

    /// The items kept back because they would pair by content: paired now that every
    /// item of the feeds has paired by its stamp, so that none of them takes a contact
    /// whose id another item carries (two items, one id).
    async fn pair_matched_later(&mut self) -> Result<(), Halt> {
        let Some(mut items) = self.matched_later.take() else {
            return Ok(());
        };
        // An item this run could not read may carry the stamp of the contact one of them
        // would take by content (its own item, unread; the one waiting is another's, a
        // deleted contact's): they wait, their folders read again by the next run (and
        // the run's deletions with them: a new item may be a move's new half).
        if self.reads_failed && !items.is_empty() {
            let mut waiting = HashSet::new();
            for (folder, c) in &items {
                self.failed_folders.insert(folder.clone());
                waiting.insert(&c.item_id);
            }
            self.counts.deferred += waiting.len() as u64;
            self.held += 1;
            return Ok(());
        }
        // An item the feed delivered twice in this run (edited meanwhile) was kept back
        // twice: its last delivery pairs, else two pairs would name the item.
        let mut seen = HashSet::new();
        items.reverse();
        items.retain(|(_, c)| seen.insert(c.item_id.clone()));
        items.reverse();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            self.stop_requested().await?;
            let chunk: Vec<(String, RemoteContact)> = items.by_ref().take(CHUNK).collect();
            self.pair_items(chunk).await?;
        }
        Ok(())
    }

    /// Pairs items read from the feeds (with their feed's folder) and applies the pairs.
    async fn pair_items(&mut self, mut items: Vec<(String, RemoteContact)>) -> Result<(), Halt> {
        self.links_by_item.clear();
        let ids: Vec<String> = items.iter().map(|(_, c)| c.item_id.clone()).collect();
        let stamps: Vec<Uuid> = items.iter().filter_map(|(_, c)| c.crm_contact_id).collect();
        self.forget_heads();
        self.load_heads(&ids, &stamps).await?;
        let linked_crm: Vec<Uuid> = items
            .iter()
            .filter_map(|(_, c)| {
                self.heads.get(&c.item_id).map(|l| l.crm_id).or_else(|| {
                    c.crm_contact_id
                        .filter(|id| self.item_by_crm.contains_key(id))
                })
            })
            .collect();
        self.load_links(&linked_crm).await?;
        self.note_visible(&linked_crm).await?;
        let mut records: HashMap<Uuid, CrmRecord> = self
            .store
            .contacts_for_sync(&linked_crm)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        // A stamp on a new ItemId whose linked item is gone is a move (or a recreate): the
        // pair follows the item. If the old item is still there, this is a copy, and a
        // copy is a new contact. Where ids survive a move, a feed's deletion may be the
        // item moved out of that folder, alive elsewhere under its id: only a read tells,
        // as for an old item no feed reported.
        let deletes_are_gone = !self.t.ids_survive_moves();
        // (the new item's folder and id, the old item's id)
        let stamped_elsewhere: Vec<(String, String, String)> = items
            .iter()
            .filter(|(_, c)| !self.heads.contains_key(&c.item_id))
            .filter_map(|(folder, c)| {
                let old = self.item_by_crm.get(&c.crm_contact_id?)?;
                Some((folder.clone(), c.item_id.clone(), old.clone()))
            })
            .filter(|(_, _, old)| !(deletes_are_gone && self.feed_deletes.contains(old)))
            .collect();
        let mut gone_items: HashSet<String> = if deletes_are_gone {
            self.feed_deletes.clone()
        } else {
            HashSet::new()
        };
        // New items whose old item could not be read: move or copy is not known.
        let mut undecided: HashSet<String> = HashSet::new();
        if !stamped_elsewhere.is_empty() {
            let olds: Vec<String> = stamped_elsewhere
                .iter()
                .map(|(.., old)| old.clone())
                .collect();
            for ((folder, new, old), result) in
                stamped_elsewhere.iter().zip(self.read_items(&olds).await?)
            {
                let gone = match result {
                    Err(TransportError {
                        kind: ErrorKind::NotFound,
                        ..
                    }) => true,
                    // Deleted into Deleted Items, where an immutable id follows it: no
                    // contacts folder of the mailbox holds it.
                    Ok(item) => {
                        !item.folder_id.is_empty()
                            && !self.existing_folders.contains(&item.folder_id)
                    }
                    // Taken for a copy, a moved item would become a second contact (and
                    // the old item's deletion, seen later, would delete the first); taken
                    // for a move, a copy would take the pair from its original. The new
                    // item waits for a run that can read the old one (a failed read is
                    // read again).
                    Err(e) => {
                        undecided.insert(new.clone());
                        self.unread(Some(folder), None, new, &e).await;
                        false
                    }
                };
                if gone {
                    gone_items.insert(old.clone());
                }
            }
        }
        items.retain(|(_, c)| !undecided.contains(&c.item_id));
        // Each item's pairing, in chunk order. The first item with a gone pair's stamp
        // takes the pair; another with the same stamp in this chunk (the user copied the
        // item, then deleted it) is a copy, as it is in a later chunk once this link is
        // saved. The pair's old item itself, when the chunk holds it too (read again by
        // id, a failure on record, say from Deleted Items), is no longer the pair's: two
        // items must not take one link, the chunk's links would name the contact twice.
        let mut taken_over: HashSet<String> = HashSet::new();
        let pairings: Vec<ItemPairing> = items
            .iter()
            .map(|(_, c)| {
                let own = self.links_by_item.contains_key(&c.item_id);
                let old = c.crm_contact_id.and_then(|id| self.item_by_crm.get(&id));
                let pairing = item_pairing(own, old.map(|o| gone_items.contains(o)));
                if pairing == ItemPairing::Moved
                    && let Some(old) = old
                {
                    gone_items.remove(old);
                    taken_over.insert(old.clone());
                }
                pairing
            })
            .collect();
        let items: Vec<((String, RemoteContact), ItemPairing)> = items
            .into_iter()
            .zip(pairings)
            .filter(|((_, c), p)| !(*p == ItemPairing::Linked && taken_over.contains(&c.item_id)))
            .collect();
        for old in &taken_over {
            // Settled with the move: its failure on record, if any, is over.
            if self.failures_on_record.contains(old) {
                self.ok_keys.insert(old.clone());
            }
        }
        let unlinked: Vec<&RemoteContact> = items
            .iter()
            .map(|((_, c), _)| c)
            .filter(|c| !self.links_by_item.contains_key(&c.item_id))
            .collect();
        self.find_match_candidates(&unlinked).await?;
        let exporting = self.profile.export.enabled && self.mode != RunMode::ImportOnly;
        let mut left_unlinked = Vec::new();
        let mut pairs = Vec::new();
        for ((folder, c), pairing) in items {
            let ex = self.ex_side(&c, &folder);
            let own = self.links_by_item.get(&c.item_id);
            let stamped_pair_item = c.crm_contact_id.and_then(|id| self.item_by_crm.get(&id));
            let link = match pairing {
                ItemPairing::Linked => own.cloned(),
                // The old id's ChangeKey says nothing of the new id: cleared, the pair is
                // linked again under the new id even when nothing else moved (after a
                // switch from EWS to Graph, folder and content are the same).
                ItemPairing::Moved => stamped_pair_item
                    .and_then(|old| self.links_by_item.get(old))
                    .map(|l| Link {
                        item_id: c.item_id.clone(),
                        change_key: String::new(),
                        ..l.clone()
                    }),
                ItemPairing::Copy | ItemPairing::New => None,
            };
            if link.is_none() && self.pairs_by_content_later(&c).await? {
                if let Some(later) = self.matched_later.as_mut() {
                    later.push((folder, c));
                }
                continue;
            }
            let mut pair = match link {
                Some(link) => {
                    let record = records.remove(&link.crm_id);
                    let crm = match &record {
                        Some(r) => self.crm_side(r),
                        // Purged after deletion.
                        None => CrmSide {
                            id: link.crm_id,
                            fields: link.crm_base.clone(),
                            version: link.crm_version + 1,
                            updated_at: Utc::now(),
                            deleted: true,
                            in_export_scope: false,
                        },
                    };
                    // A detached link is history: a contact back in the export scope
                    // pairs again with this item (its own, by link or by stamp), as the
                    // CRM phase pairs a returning contact with its old item.
                    let link = Some(link)
                        .filter(|l| link_holds(l.detached, crm.in_export_scope, crm.deleted));
                    Pair {
                        crm: Some(crm),
                        record,
                        ex: Some(ex),
                        link,
                    }
                }
                None => self.new_exchange_pair(ex, &c).await?,
            };
            if pair.link.is_none()
                && let Some(ex) = pair.ex.as_mut()
            {
                let exporting = self.profile.export.enabled && self.mode != RunMode::ImportOnly;
                let found = pair.crm.as_ref().map(|crm| Found {
                    stamped_with_it: ex.crm_contact_id == Some(crm.id),
                    in_export_scope: crm.in_export_scope,
                    deleted: crm.deleted,
                });
                ex.in_import_scope = new_item_pairs(
                    self.import_folders.contains(&ex.folder_id),
                    ex.folder_id == self.target_folder,
                    exporting,
                    found,
                );
                if !ex.in_import_scope {
                    pair.crm = None;
                    pair.record = None;
                }
            }
            if let Some(crm) = &pair.crm {
                self.done_crm.insert(crm.id);
            }
            if exporting
                && pair.crm.is_none()
                && pair.link.is_none()
                && ex_in_target(&c, &folder, &self.target_folder)
            {
                left_unlinked.push(c);
            }
            pairs.push(pair);
        }
        self.apply(pairs, true).await?;
        // What this chunk imported is linked now: no candidate for a new CRM contact.
        left_unlinked.retain(|c| self.heads.get(&c.item_id).is_none_or(|h| h.detached));
        self.unlinked_items.extend(left_unlinked);
        Ok(())
    }

    /// Adds to the matcher the owner's unlinked CRM contacts that these new items may be
    /// (same stamp, e-mail or full name): matching reads what may match, never the
    /// owner's whole CRM.
    async fn find_match_candidates(&mut self, items: &[&RemoteContact]) -> Result<(), Halt> {
        let by_content = self.profile.match_existing != MatchExisting::None;
        let mut keys = MatchKeys::default();
        for c in items {
            keys.crm_ids.extend(c.crm_contact_id);
            if by_content {
                let (emails, name) = match_keys(&c.fields);
                keys.emails.extend(emails);
                keys.names.extend(name);
            }
        }
        if keys.is_empty() {
            return Ok(());
        }
        for list in [&mut keys.emails, &mut keys.names] {
            list.sort();
            list.dedup();
        }
        let candidates = self
            .store
            .match_candidates(&self.owner, self.req.mailbox_id, &keys)
            .await?;
        // Candidates are visible to the owner by construction.
        self.visible.extend(candidates.iter().map(|r| r.id));
        let candidates = candidates
            .into_iter()
            .map(|r| Candidate {
                key: r.id,
                crm_id: Some(r.id),
                fields: MappedContact::from_crm(&r.fields),
            })
            .collect();
        self.ensure_matcher().await?;
        self.crm_matcher
            .get_or_insert_with(|| Matcher::new(Vec::new()))
            .extend(candidates);
        Ok(())
    }

    /// The matcher of new Exchange items, built once per run. In a run where an earlier
    /// life may have left stamped items anywhere (`earlier_life`), contacts stamped on
    /// items outside the feeds pair only by their stamp.
    async fn ensure_matcher(&mut self) -> Result<(), Halt> {
        if self.crm_matcher.is_none() {
            let mut matcher = Matcher::new(Vec::new());
            if self.earlier_life {
                matcher.only_by_stamp(&self.stamped_outside_the_feeds().await?);
            }
            self.crm_matcher = Some(matcher);
        }
        Ok(())
    }

    /// Whether a new item is kept back to pair after every stamped item: when it would
    /// pair by content (its stamp, if any, names no candidate). Not only in a run with no
    /// link (a first run, or links lost): a contact is unlinked yet stamped on an item
    /// after a run died between creating its item and saving the link, and that item,
    /// in a feed read later in this run, must find its contact still free.
    async fn pairs_by_content_later(&mut self, c: &RemoteContact) -> Result<bool, Halt> {
        if self.matched_later.is_none() {
            return Ok(false);
        }
        self.ensure_matcher().await?;
        let by = self
            .crm_matcher
            .as_ref()
            .and_then(|m| m.peek(&c.fields, c.crm_contact_id, self.profile.match_existing));
        Ok(by.is_some_and(|by| by != MatchedBy::CrmContactId))
    }

    /// A new Exchange item: the CRM contact it already is (by stamp, e-mail, name and
    /// company), or none (its candidates were found by `find_match_candidates`).
    pub(super) async fn new_exchange_pair(
        &mut self,
        ex: ExSide,
        c: &RemoteContact,
    ) -> Result<Pair, Halt> {
        self.ensure_matcher().await?;
        let found = self
            .crm_matcher
            .get_or_insert_with(|| Matcher::new(Vec::new()))
            .find(&c.fields, c.crm_contact_id, self.profile.match_existing);
        let Some(m) = found else {
            return Ok(Pair {
                crm: None,
                record: None,
                ex: Some(ex),
                link: None,
            });
        };
        let record = self.store.contacts_for_sync(&[m.key]).await?.pop();
        let crm = record.as_ref().map(|r| self.crm_side(r));
        Ok(Pair {
            crm,
            record,
            ex: Some(ex),
            link: None,
        })
    }

    pub(super) async fn delete_chunk(&mut self, chunk: &[(String, String)]) -> Result<(), Halt> {
        self.links_by_item.clear();
        let items: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
        self.forget_heads();
        self.load_heads(&items, &[]).await?;
        let crm_ids: Vec<Uuid> = chunk
            .iter()
            .filter_map(|(_, item)| self.heads.get(item).map(|h| h.crm_id))
            .collect();
        self.load_links(&crm_ids).await?;
        let mut links: Vec<(String, Link)> = chunk
            .iter()
            .filter_map(|(folder, item)| {
                self.links_by_item
                    .get(item)
                    .map(|l| (folder.clone(), l.clone()))
            })
            .collect();
        // Where ids survive a move, an item whose link names another folder than the feed
        // that reports it gone may have moved there (seen there by an earlier run): a read
        // tells, and one alive in a folder this run watches is not deleted (one moved out
        // of the watched folders is, as a move gone out of scope).
        if self.t.ids_survive_moves() {
            // (the feed's folder, the item)
            let elsewhere: Vec<(String, String)> = links
                .iter()
                .filter(|(folder, l)| l.folder_id != *folder)
                .map(|(folder, l)| (folder.clone(), l.item_id.clone()))
                .collect();
            if !elsewhere.is_empty() {
                let ids: Vec<String> = elsewhere.iter().map(|(_, id)| id.clone()).collect();
                let read = self.read_items(&ids).await?;
                let mut alive: HashSet<String> = HashSet::new();
                for ((folder, id), result) in elsewhere.iter().zip(read) {
                    match result {
                        Ok(c) if self.watched.contains(&c.folder_id) => {
                            alive.insert(c.item_id);
                        }
                        Ok(_) => {}
                        Err(e) if e.kind == ErrorKind::NotFound => {}
                        // Not known to be gone: deleted now, a moved item's contact
                        // could be deleted with it. A later run reads it again.
                        Err(e) => {
                            self.unread(Some(folder), None, id, &e).await;
                            alive.insert(id.clone());
                        }
                    }
                }
                links.retain(|(_, l)| !alive.contains(&l.item_id));
            }
        }
        let ids: Vec<Uuid> = links.iter().map(|(_, l)| l.crm_id).collect();
        self.note_visible(&ids).await?;
        let mut records: HashMap<Uuid, CrmRecord> = self
            .store
            .contacts_for_sync(&ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut pairs = Vec::new();
        for (folder, link) in links {
            let record = records.remove(&link.crm_id);
            let crm = record.as_ref().map(|r| self.crm_side(r));
            self.done_crm.insert(link.crm_id);
            pairs.push(Pair {
                crm,
                record,
                ex: Some(ExSide::deleted(link.item_id.clone(), folder)),
                link: Some(link),
            });
        }
        self.apply(pairs, true).await
    }

    pub(super) async fn crm_phase(&mut self) -> Result<(), Halt> {
        // Nothing the comparison reads changed since it last found nothing (see `mark`).
        let mark = self.comparison_mark().await?;
        if self.comparison_needless(&mark) {
            metrics::counter!("contactsync_sync_crm_comparisons_total", "result" => "skipped")
                .increment(1);
            return Ok(());
        }
        metrics::counter!("contactsync_sync_crm_comparisons_total", "result" => "made")
            .increment(1);
        // The database finds what moved; a run with nothing to do reads no contact.
        let export_new = self.profile.export.enabled && self.mode != RunMode::ImportOnly;
        let moves = self
            .store
            .crm_moves(
                &self.owner,
                self.req.mailbox_id,
                self.scope.in_sql(),
                export_new,
            )
            .await?;
        let mut moved: Vec<Uuid> = Vec::new();
        // Contacts planned by this run's Exchange phase count: the next run may have more
        // to do with them (a derived full name to carry over).
        let mut any_planned = false;
        for v in &moves {
            // Every row is a contact the owner sees.
            self.visible.insert(v.id);
            let in_scope = self.in_export_scope(v.id, v.type_id);
            if crm_contact_planned(v, in_scope, export_new) {
                any_planned = true;
                if !self.done_crm.contains(&v.id) {
                    moved.push(v.id);
                }
            }
        }
        // Linked contacts the owner no longer sees (unshared or purged).
        for crm_id in self
            .store
            .links_gone_from_view(&self.owner, self.req.mailbox_id)
            .await?
        {
            any_planned = true;
            if !self.done_crm.contains(&crm_id) {
                moved.push(crm_id);
            }
        }
        for id in std::mem::take(&mut self.retry_crm) {
            if !self.done_crm.contains(&id) && !moved.contains(&id) {
                moved.push(id);
            }
        }
        if !any_planned && moved.is_empty() {
            self.found_nothing(mark);
        }
        if moved.is_empty() {
            return Ok(());
        }
        self.note_request_budget(moved.len()).await;
        self.load_heads(&[], &moved).await?;
        // The old items of the contacts with a detached link: each is taken back by its
        // own contact when that contact is back in scope (`crm_chunks`), and by no other
        // contact of any chunk. Matched to another, it would be named by two links (one
        // chunk), or its old link would be dropped and the contact back in scope exported
        // a second time (a later chunk).
        let reclaimed: HashSet<String> = moved
            .iter()
            .filter_map(|id| self.item_by_crm.get(id))
            .filter(|item| self.heads.get(*item).is_some_and(|h| h.detached))
            .cloned()
            .collect();
        let unlinked_new = moved.iter().any(|id| {
            self.item_by_crm
                .get(id)
                .and_then(|item| self.heads.get(item))
                .is_none_or(|h| h.detached)
        });
        if export_new && unlinked_new {
            self.list_target_folder().await?;
        }
        self.links_behind = true;
        let done = self.crm_chunks(&moved, &reclaimed).await;
        self.links_behind = false;
        let written = self.links_written().await;
        done.and(written)
    }

    /// The CRM phase's contacts, a chunk at a time: each chunk's contacts are read while
    /// the chunk before writes (what a chunk writes is its own contacts, and a contact
    /// edited after the read is never overwritten: CRM writes are conditional on its
    /// version), and its links are saved while the next chunk is prepared and writes.
    ///
    /// `reclaimed` are the old items of the contacts with a detached link: never match
    /// candidates, taken back only by their own contact (when it is back in scope and the
    /// item still exists).
    async fn crm_chunks(
        &mut self,
        moved: &[Uuid],
        reclaimed: &HashSet<String>,
    ) -> Result<(), Halt> {
        let store = self.store;
        let chunks: Vec<&[Uuid]> = moved.chunks(CHUNK).collect();
        let mut read_ahead = None;
        for (n, &chunk) in chunks.iter().enumerate() {
            self.stop_requested().await?;
            self.links_by_item.clear();
            self.load_links(chunk).await?;
            let records = match read_ahead.take() {
                Some(records) => records,
                None => store.contacts_for_sync(chunk).await,
            };
            let mut records: HashMap<Uuid, CrmRecord> =
                records?.into_iter().map(|r| (r.id, r)).collect();
            // Matched against every unlinked item of the target folder: by stamp always,
            // then as `match_existing` says.
            let mut matcher = (!self.unlinked_items.is_empty()).then(|| {
                Matcher::new(
                    self.unlinked_items
                        .iter()
                        .filter(|c| !reclaimed.contains(&c.item_id))
                        .map(|c| Candidate {
                            key: c.item_id.clone(),
                            crm_id: c.crm_contact_id,
                            // Outside the export target an item is taken only by the
                            // contact it is stamped with (`export_match_taken`): given no
                            // content, no other contact matches it and uses it up.
                            fields: if in_export_target(&c.folder_id, &self.target_folder) {
                                c.fields.clone()
                            } else {
                                MappedContact::default()
                            },
                        })
                        .collect(),
                )
            });
            // Contacts back in scope whose old item still exists anywhere are linked to it.
            let returning: Vec<(Uuid, String)> = chunk
                .iter()
                .filter_map(|id| {
                    let item = self.item_by_crm.get(id)?;
                    let link = self.links_by_item.get(item)?;
                    link.detached.then(|| (*id, item.clone()))
                })
                .collect();
            let mut returned: HashMap<Uuid, RemoteContact> = HashMap::new();
            let mut unreadable: HashSet<Uuid> = HashSet::new();
            if !returning.is_empty() {
                let ids: Vec<String> = returning.iter().map(|(_, i)| i.clone()).collect();
                let mut moved_away = HashSet::new();
                for ((crm_id, item), r) in returning.iter().zip(self.read_items(&ids).await?) {
                    match r {
                        Ok(c) => {
                            returned.insert(*crm_id, c);
                        }
                        Err(e) if e.kind == ErrorKind::NotFound => {
                            moved_away.insert(*crm_id);
                        }
                        // Its item may well be there: matched by content or exported
                        // now, the contact would get a second one. It waits for a run
                        // that can read it (its link still says "out of the scope").
                        Err(e) => {
                            unreadable.insert(*crm_id);
                            let folder = self.links_by_item.get(item).map(|l| l.folder_id.clone());
                            self.unread(folder.as_deref(), Some(*crm_id), item, &e)
                                .await;
                        }
                    }
                }
                // Gone under its old id: moved by the user while its contact was out of
                // scope (a move gives an item a new id). Its stamp finds it, wherever it
                // is (SPEC §5 "leaving and re-entering": never exported twice).
                for c in self.stamped_anywhere(&moved_away).await? {
                    if let Some(id) = c.crm_contact_id {
                        returned.entry(id).or_insert(c);
                    }
                }
            }
            let mut pairs = Vec::new();
            for id in chunk {
                let record = records.remove(id);
                if unreadable.contains(id) {
                    continue;
                }
                let link = self
                    .item_by_crm
                    .get(id)
                    .and_then(|i| self.links_by_item.get(i))
                    .cloned();
                let crm = match (&record, &link) {
                    (Some(r), _) => self.crm_side(r),
                    (None, Some(l)) => CrmSide {
                        id: *id,
                        fields: l.crm_base.clone(),
                        version: l.crm_version + 1,
                        updated_at: Utc::now(),
                        deleted: true,
                        in_export_scope: false,
                    },
                    (None, None) => continue,
                };
                let mut ex = None;
                let link =
                    link.filter(|l| link_holds(l.detached, crm.in_export_scope, crm.deleted));
                if link.is_none() && !crm.deleted && crm.in_export_scope {
                    if let Some(c) = returned.remove(id) {
                        self.unlinked_items.retain(|u| u.item_id != c.item_id);
                        let folder = c.folder_id.clone();
                        ex = Some(self.ex_side(&c, &folder));
                    } else if self.reads_failed {
                        // An item this run could not read may be this contact's (the
                        // target's listing lacks it): matched by content or exported now,
                        // the contact could get a second item. A later run pairs it.
                        self.counts.deferred += 1;
                        continue;
                    } else if let Some(m) = matcher.as_mut().and_then(|m| {
                        m.find(&crm.fields, Some(crm.id), self.profile.match_existing)
                    }) {
                        let found = self.unlinked_items.iter().position(|c| c.item_id == m.key);
                        if let Some(i) = found {
                            let c = self.unlinked_items.remove(i);
                            if export_match_taken(
                                &c.folder_id,
                                &self.target_folder,
                                c.crm_contact_id,
                                crm.id,
                            ) {
                                let mut side = self.ex_side(&c, &self.target_folder.clone());
                                // Stamped with this contact: ours, wherever it is.
                                side.in_import_scope |= c.crm_contact_id == Some(crm.id);
                                ex = Some(side);
                            }
                        }
                    }
                }
                pairs.push(Pair {
                    crm: Some(crm),
                    record,
                    ex,
                    link,
                });
            }
            match chunks.get(n + 1) {
                Some(next) => {
                    let (applied, next_records) = futures_util::future::join(
                        self.apply(pairs, true),
                        store.contacts_for_sync(next),
                    )
                    .await;
                    applied?;
                    read_ahead = Some(next_records);
                }
                None => self.apply(pairs, true).await?,
            }
        }
        Ok(())
    }

    /// The CRM ids stamped on items of the folders this run does not read from the start,
    /// in a run with no link at all (a first run, or links and feed states both lost).
    /// Those contacts pair only by their stamp, never by content: else an item of an
    /// import folder would take the id that an item elsewhere carries, and two items
    /// would name one contact (the stamped item is linked again by the CRM phase).
    async fn stamped_outside_the_feeds(&mut self) -> Result<HashSet<Uuid>, Halt> {
        let unread: Vec<String> = self
            .existing_folders
            .iter()
            .filter(|f| !self.read_from_start.contains(*f))
            .cloned()
            .collect();
        let mut ids = HashSet::new();
        for folder in unread {
            let items = self.folder_items(&folder).await?;
            ids.extend(items.into_iter().filter_map(|c| c.crm_contact_id));
        }
        Ok(ids)
    }

    /// Every item of a folder that could be read; a failure of the listing itself halts
    /// the run (the listings that call this decide what may pair, and a partial answer
    /// would pair wrongly). An item no link holds that could not be read is a failed
    /// read of the run ([`Run::unread`]: no contact is matched by content nor
    /// exported while it may be that item's), until it is given up: one permanently
    /// corrupt item would else keep every export of the mailbox waiting, as it failed
    /// every such run when it failed the listing.
    async fn folder_items(&mut self, folder: &str) -> Result<Vec<RemoteContact>, Halt> {
        let listing = self.t.folder_contacts(folder).await.map_err(|e| {
            if e.kind == ErrorKind::Auth {
                Halt::Failed(e.to_string())
            } else if folder == self.target_folder {
                Halt::Failed(format!("listing the export folder: {e}"))
            } else {
                Halt::Failed(format!("listing folder {folder}: {e}"))
            }
        })?;
        let unreadable: Vec<(String, TransportError)> = listing
            .unreadable
            .into_iter()
            .filter(|(item, _)| !self.given_up(item))
            .collect();
        let ids: Vec<String> = unreadable.iter().map(|(item, _)| item.clone()).collect();
        for chunk in ids.chunks(CHUNK) {
            self.load_heads(chunk, &[]).await?;
        }
        for (item, e) in unreadable {
            if self.heads.get(&item).is_some_and(|h| !h.detached) {
                continue;
            }
            if self.failed_keys.contains_key(&item) {
                // Failed already in this run (a retry of it, another listing): one
                // failure of the item, counted once.
                self.reads_failed = true;
            } else {
                self.unread(None, None, &item, &e).await;
            }
        }
        Ok(listing.contacts)
    }

    /// The items of every folder stamped with one of `ids` that no link holds (one
    /// listing a folder, and only when `ids` is not empty: contacts back in scope whose
    /// old item moved are rare).
    async fn stamped_anywhere(&mut self, ids: &HashSet<Uuid>) -> Result<Vec<RemoteContact>, Halt> {
        let mut found = Vec::new();
        if ids.is_empty() {
            return Ok(found);
        }
        for folder in self.existing_folders.clone() {
            found.extend(self.folder_items(&folder).await?.into_iter().filter(|c| {
                c.crm_contact_id.is_some_and(|id| ids.contains(&id))
                    && !self.heads.contains_key(&c.item_id)
            }));
        }
        Ok(found)
    }

    /// Lists the export target's items that no live link holds, for matching new CRM
    /// contacts against the whole folder, not only against what this run's feed brought
    /// (SPEC §5 "one person, one item"). Costs one listing of the folder, and only in a
    /// run that has a CRM contact to export for the first time.
    pub(super) async fn list_target_folder(&mut self) -> Result<(), Halt> {
        if self.target_folder.is_empty() || !self.existing_folders.contains(&self.target_folder) {
            return Ok(());
        }
        let mut items = self.folder_items(&self.target_folder.clone()).await?;
        if self.earlier_life {
            // An item stamped in an earlier life of this mailbox may sit in any folder;
            // only its stamp may pair it (never its content).
            let others: Vec<String> = self
                .existing_folders
                .iter()
                .filter(|f| **f != self.target_folder)
                .cloned()
                .collect();
            for folder in others {
                let found = self.folder_items(&folder).await?;
                items.extend(found.into_iter().filter(|c| c.crm_contact_id.is_some()));
            }
        }
        let ids: Vec<String> = items.iter().map(|c| c.item_id.clone()).collect();
        for chunk in ids.chunks(CHUNK) {
            self.load_heads(chunk, &[]).await?;
        }
        let known: HashSet<String> = self
            .unlinked_items
            .iter()
            .map(|c| c.item_id.clone())
            .collect();
        for c in items {
            let linked = self.heads.get(&c.item_id).is_some_and(|h| !h.detached);
            if !linked && !known.contains(&c.item_id) {
                self.unlinked_items.push(c);
            }
        }
        Ok(())
    }

    /// Says how long the Exchange writes to come take at least under the mailbox's request
    /// budget, when it makes the run last minutes (SPEC §7b: exporting 10k contacts to
    /// Exchange Online takes at least 10 minutes). Each write is one request, inside a
    /// `$batch` too; the requests the run has made already only add to it.
    async fn note_request_budget(&self, writes: usize) {
        let Some(budget) = self.t.request_budget() else {
            return;
        };
        let least = budget.least_time(writes);
        if least.is_zero() || self.req.dry_run || self.mode == RunMode::ImportOnly {
            return;
        }
        self.sink
            .notice(format!(
                "Exchange Online allows {} requests per {} minutes for an app on a mailbox: writing {writes} contacts to it takes at least {} minutes",
                budget.requests,
                budget.window.as_secs() / 60,
                least.as_secs().div_ceil(60)
            ))
            .await;
    }

    /// Reads items in batches side by side; one result per id, in order.
    pub(super) async fn read_items(
        &self,
        ids: &[String],
    ) -> Result<Vec<Result<RemoteContact, TransportError>>, Halt> {
        read_items(self.t, ids).await
    }

    /// Learns which of these contacts the owner sees (the export scope needs it).
    pub(super) async fn note_visible(&mut self, ids: &[Uuid]) -> Result<(), Halt> {
        let unknown: Vec<Uuid> = ids
            .iter()
            .filter(|id| !self.visible.contains(id))
            .copied()
            .collect();
        if !unknown.is_empty() {
            let seen = self.store.visible_among(&self.owner, &unknown).await?;
            self.visible.extend(seen);
        }
        Ok(())
    }

    /// Forgets the link heads learned so far: each page and chunk loads those it needs,
    /// so that memory follows the chunk, not the mailbox.
    pub(super) fn forget_heads(&mut self) {
        self.heads.clear();
        self.item_by_crm.clear();
    }

    /// Loads the heads of the links of these items and CRM contacts not known yet.
    pub(super) async fn load_heads(
        &mut self,
        item_ids: &[String],
        crm_ids: &[Uuid],
    ) -> Result<(), Halt> {
        let items: Vec<String> = item_ids
            .iter()
            .filter(|i| !self.heads.contains_key(*i))
            .cloned()
            .collect();
        let crms: Vec<Uuid> = crm_ids
            .iter()
            .filter(|c| !self.item_by_crm.contains_key(c))
            .copied()
            .collect();
        if items.is_empty() && crms.is_empty() {
            return Ok(());
        }
        self.links_written().await?;
        for head in self
            .store
            .link_heads_of(self.req.mailbox_id, &items, &crms)
            .await?
        {
            self.item_by_crm.insert(head.crm_id, head.item_id.clone());
            self.heads.insert(head.item_id.clone(), head);
        }
        Ok(())
    }

    /// Loads the whole links of these CRM contacts that are not loaded yet.
    pub(super) async fn load_links(&mut self, crm_ids: &[Uuid]) -> Result<(), Halt> {
        let missing: Vec<Uuid> = crm_ids
            .iter()
            .filter(|id| {
                self.item_by_crm
                    .get(id)
                    .is_some_and(|item| !self.links_by_item.contains_key(item))
            })
            .copied()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        self.links_written().await?;
        for link in self.store.links_for(self.req.mailbox_id, &missing).await? {
            self.links_by_item.insert(link.item_id.clone(), link);
        }
        Ok(())
    }
}

fn ex_in_target(c: &RemoteContact, feed_folder: &str, target: &str) -> bool {
    let folder = if c.folder_id.is_empty() {
        feed_folder
    } else {
        &c.folder_id
    };
    folder == target
}

/// What a page is sorted into: the upserts waiting, the deletions, and (with more than one
/// folder) every id delivered as created or changed.
type Sorted<'a> = (
    &'a mut Upserts,
    &'a mut Vec<(String, String)>,
    Option<&'a mut HashSet<String>>,
);

/// The ids of a chunk whose data did not come with the feed: those to read.
fn not_known(chunk: &[(String, String)], known: &[Option<RemoteContact>]) -> Vec<String> {
    chunk
        .iter()
        .zip(known)
        .filter(|(_, k)| k.is_none())
        .map(|((_, id), _)| id.clone())
        .collect()
}

/// A chunk's items: those the feed brought, the others as read (in order).
fn with_known(
    known: Vec<Option<RemoteContact>>,
    read: Vec<Result<RemoteContact, TransportError>>,
) -> Vec<Result<RemoteContact, TransportError>> {
    let mut read = read.into_iter();
    known
        .into_iter()
        .map(|k| match k {
            Some(c) => Ok(c),
            None => read
                .next()
                .unwrap_or_else(|| Err(TransportError::permanent("no answer for the read"))),
        })
        .collect()
}

/// A chunk of upserts and its items as read.
type ReadChunk = (
    Vec<(String, String)>,
    Vec<Result<RemoteContact, TransportError>>,
);

/// Reads items in batches side by side; one result per id, in order. Needs only the
/// transport, so the next chunk is read while the engine applies the one before.
async fn read_items<T: ExchangeContacts>(
    t: &T,
    ids: &[String],
) -> Result<Vec<Result<RemoteContact, TransportError>>, Halt> {
    let batches: Vec<&[String]> = ids.chunks(ITEM_BATCH).collect();
    let results = join_all(batches.iter().map(|b| t.get_contacts(b))).await;
    if let Some(Err(e)) = results
        .iter()
        .find(|r| matches!(r, Err(e) if e.kind == ErrorKind::Auth))
    {
        return Err(Halt::Failed(e.to_string()));
    }
    Ok(flatten(
        results,
        &batches.iter().map(|b| b.len()).collect::<Vec<_>>(),
    ))
}

fn item_ids(chunk: &[(String, String)]) -> Vec<String> {
    chunk.iter().map(|(_, id)| id.clone()).collect()
}
