//! One run: collect the changes of both sides, plan each pair, apply in batches, save
//! links and sync states.
//!
//! Order matters for safety:
//! 1. Exchange first. The change feed of every watched folder is read from its saved
//!    state (ids and ChangeKeys only; an item whose ChangeKey equals its link's is our
//!    own echo and is not read). Changed items are read in batches and planned with the
//!    current CRM side; deletions come after all upserts, so that an item moved between
//!    folders (delete + create with a new ItemId) is relinked by its `CrmContactId`
//!    stamp before its old id's deletion is seen.
//! 2. Then the CRM: contacts whose version moved since their link, new ones in the
//!    export scope, linked ones deleted or out of scope.
//! 3. A folder's new sync state is saved only after everything read from it is applied,
//!    and not at all when one of its items failed: the next run reads those changes
//!    again, and what was applied comes back as an echo or an unchanged pair. A run that
//!    dies midway therefore loses nothing and, because every item we create carries its
//!    CRM id and links are written right after each batch, duplicates nothing.
//!
//! CRM writes are short transactions per batch, never held across a network call.
//! The worker owns the run record; the engine reports to it through a [`RunSink`].
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use futures_util::future::{BoxFuture, join_all};
use uuid::Uuid;

use super::fieldmap::{self, Changes, Field, MappedContact};
use super::matching::{Candidate, Matcher, link_account};
use super::plan::{CrmSide, ExSide, Link, Mode, Op, plan};
use crate::domain::access::Caller;
use crate::domain::account::name_key;
use crate::domain::contact::ContactFields;
use crate::domain::profile::{ContactSyncProfile, ImportScope, MatchExisting};
use crate::domain::run::{
    ItemOutcome, RunCounts, RunItem, RunMode, RunReport, RunRequest, RunStatus,
};
use crate::store::Store;
use crate::store::item_failures::{ItemFailure, crm_key};
use crate::store::sync_state::{CrmRecord, CrmWrite, LinkHead};
use crate::transport::{
    ErrorKind, ExchangeContacts, ExchangeFolder, FeedChange, ITEM_BATCH, ItemUpdate, RemoteContact,
    TransportError,
};

/// Where the engine reports while it runs (the worker persists and publishes).
pub trait RunSink: Send + Sync {
    /// One item's outcome, in order.
    fn item(&self, item: RunItem) -> BoxFuture<'_, ()>;
    /// The counts so far (after each batch).
    fn progress(&self, counts: RunCounts) -> BoxFuture<'_, ()>;
    /// Asked between batches: true when the run must stop (cancelled, lease lost,
    /// shutting down). What was applied so far stays applied and recorded.
    fn should_stop(&self) -> BoxFuture<'_, bool>;
}

/// Pairs planned and applied together: eight item batches, sent side by side (well
/// under Exchange's 27 concurrent requests per user).
const CHUNK: usize = ITEM_BATCH * 8;

/// Why a run stopped before its end.
enum Halt {
    Cancelled,
    Failed(String),
}

impl From<crate::store::StoreError> for Halt {
    fn from(e: crate::store::StoreError) -> Self {
        Halt::Failed(format!("database: {e}"))
    }
}

fn report(status: RunStatus, counts: RunCounts, error: Option<String>) -> RunReport {
    RunReport {
        status,
        counts,
        error,
    }
}

/// One run to execute: the request, and the profile and owner it runs under (a dry run
/// may bring a profile not saved yet).
#[derive(Debug, Clone)]
pub struct Job {
    pub request: RunRequest,
    pub profile: ContactSyncProfile,
    /// The mailbox owner: sync acts on the owner's behalf.
    pub owner_id: String,
    /// Bounds on the run (feed pages; the worker enforces the duration).
    pub limits: super::limits::RunLimits,
}

/// Runs one sync of one mailbox over a transport (`transport::open` chose it) and the
/// store it reads and writes.
pub async fn execute<T: ExchangeContacts>(
    store: &Store,
    transport: &T,
    job: &Job,
    sink: &dyn RunSink,
) -> RunReport {
    // Reach the mailbox first: a run that cannot sign in fails as a whole.
    let folders = match transport.contact_folders().await {
        Ok(f) => f,
        Err(e) => return report(RunStatus::Failed, RunCounts::default(), Some(e.to_string())),
    };
    let owner = match crate::store::users::acting_as_user(store, &job.owner_id).await {
        Ok(o) => o,
        Err(e) => {
            return report(
                RunStatus::Failed,
                RunCounts::default(),
                Some(format!("database: {e}")),
            );
        }
    };
    let mut run = Run::new(store, job, sink, transport, owner, &folders);
    let outcome = run.run().await;
    let counts = run.counts;
    match outcome {
        Ok(()) if counts.failed > 0 => report(RunStatus::PartiallyFailed, counts, None),
        Ok(()) => report(RunStatus::Succeeded, counts, None),
        Err(Halt::Cancelled) => report(RunStatus::Cancelled, counts, None),
        Err(Halt::Failed(e)) => report(RunStatus::Failed, counts, Some(e)),
    }
}

/// A pair under work: what each side and the link say, and the CRM record behind the
/// CRM side (its full fields are needed to write it).
#[derive(Debug, Clone)]
struct Pair {
    crm: Option<CrmSide>,
    record: Option<CrmRecord>,
    ex: Option<ExSide>,
    link: Option<Link>,
}

/// The state of one run.
struct Run<'a, T: ExchangeContacts> {
    store: &'a Store,
    req: &'a RunRequest,
    sink: &'a dyn RunSink,
    t: &'a T,
    profile: ContactSyncProfile,
    mode: Mode,
    owner: Caller,
    /// Folders whose feed is read: the import folders and the export target.
    watched: Vec<String>,
    /// Folders whose new items are imported (the export target alone is not one).
    import_folders: HashSet<String>,
    /// Every contacts folder the mailbox has now.
    existing_folders: HashSet<String>,
    /// Items the feeds of this run report deleted (a stamp seen on a new ItemId is a
    /// move only when the old item is gone).
    feed_deletes: HashSet<String>,
    target_folder: String,
    /// Every link's head, by ItemId: enough to tell echoes and moved contacts apart.
    heads: HashMap<String, LinkHead>,
    item_by_crm: HashMap<Uuid, String>,
    /// Whole links of the pairs in play, loaded per chunk (memory follows the work, not
    /// the mailbox).
    links_by_item: HashMap<String, Link>,
    /// CRM contacts the owner may see (tombstones included).
    visible: HashSet<Uuid>,
    /// A `specific` export scope's selection.
    specific: Option<HashSet<Uuid>>,
    /// CRM contacts handled in the Exchange phase.
    done_crm: HashSet<Uuid>,
    /// Matching candidates among the owner's unlinked CRM contacts (built when needed).
    crm_matcher: Option<Matcher<Uuid>>,
    /// Exchange items of the target folder left unlinked, for matching new CRM contacts.
    unlinked_items: Vec<RemoteContact>,
    failed_folders: HashSet<String>,
    /// Item failures that hold their folder's state back (worth reading again).
    held: usize,
    /// Something was written to Exchange (its echo is in the feeds).
    wrote_exchange: bool,
    counts: RunCounts,
    seq: i64,
    /// Feed pages read so far, against the run's limits.
    pages: super::limits::PageBudget,
    /// The mailbox had no link when the run started (a first run, or links lost): before
    /// exporting, items stamped by an earlier life are looked for in every folder.
    no_links: bool,
    /// Items that failed in earlier runs, retried by this one (read again even when their
    /// folder's feed moved on), and CRM contacts likewise.
    retry_items: Vec<String>,
    retry_crm: Vec<Uuid>,
    /// Keys of everything retried, and of what failed or was applied in this run.
    retried: Vec<String>,
    failed_keys: HashMap<String, ItemFailure>,
    ok_keys: HashSet<String>,
}

fn mode_of(m: RunMode) -> Mode {
    match m {
        RunMode::TwoWay => Mode::TwoWay,
        RunMode::ImportOnly => Mode::ImportOnly,
        RunMode::ExportOnly => Mode::ExportOnly,
    }
}

fn all_ids(folders: &[ExchangeFolder]) -> Vec<String> {
    folders
        .iter()
        .flat_map(|f| f.ids())
        .map(str::to_owned)
        .collect()
}

impl<'a, T: ExchangeContacts> Run<'a, T> {
    fn new(
        store: &'a Store,
        job: &'a Job,
        sink: &'a dyn RunSink,
        t: &'a T,
        owner: Caller,
        folders: &[ExchangeFolder],
    ) -> Self {
        let req = &job.request;
        let profile = job.profile.clone();
        let mode = mode_of(req.mode);
        let contacts_folder = folders
            .iter()
            .find(|f| f.distinguished.as_deref() == Some("contacts"))
            .map(|f| f.id.clone())
            .unwrap_or_default();
        let target_folder = profile
            .export
            .target_folder_id
            .clone()
            .unwrap_or(contacts_folder);
        let mut watched = Vec::new();
        if profile.import.enabled && mode != Mode::ExportOnly {
            match profile.import.scope {
                ImportScope::All => watched.extend(all_ids(folders)),
                ImportScope::Folders => watched.extend(profile.import.folder_ids.iter().cloned()),
            }
        }
        let import_folders: HashSet<String> = watched.iter().cloned().collect();
        if profile.export.enabled && !watched.contains(&target_folder) && !target_folder.is_empty()
        {
            watched.push(target_folder.clone());
        }
        Run {
            store,
            req,
            sink,
            t,
            profile,
            mode,
            owner,
            watched,
            import_folders,
            existing_folders: all_ids(folders).into_iter().collect(),
            feed_deletes: HashSet::new(),
            target_folder,
            heads: HashMap::new(),
            item_by_crm: HashMap::new(),
            links_by_item: HashMap::new(),
            visible: HashSet::new(),
            specific: None,
            done_crm: HashSet::new(),
            crm_matcher: None,
            unlinked_items: Vec::new(),
            failed_folders: HashSet::new(),
            held: 0,
            wrote_exchange: false,
            pages: super::limits::PageBudget::new(job.limits),
            counts: RunCounts::default(),
            seq: 0,
            no_links: false,
            retry_items: Vec::new(),
            retry_crm: Vec::new(),
            retried: Vec::new(),
            failed_keys: HashMap::new(),
            ok_keys: HashSet::new(),
        }
    }

    async fn run(&mut self) -> Result<(), Halt> {
        if !self.profile.import.enabled && !self.profile.export.enabled {
            return Ok(());
        }
        let store = self.store;
        self.specific = store.export_scope_ids(&self.owner, &self.profile).await?;
        // Folders that still hold linked items stay watched (an export target or import
        // folder changed in the profile): their edits and deletions must not be missed.
        let linked_folders = store.linked_folders(self.req.mailbox_id).await?;
        for folder in &linked_folders {
            if self.existing_folders.contains(folder) && !self.watched.contains(folder) {
                self.watched.push(folder.clone());
            }
        }
        self.forget_gone_folders(linked_folders).await?;
        for key in store.failing_items(self.req.mailbox_id).await? {
            match key.strip_prefix("crm:").map(Uuid::parse_str) {
                Some(Ok(id)) => self.retry_crm.push(id),
                Some(Err(_)) => {}
                None => self.retry_items.push(key.clone()),
            }
            self.retried.push(key);
        }
        let stored = store.sync_states(self.req.mailbox_id).await?;
        // Feed states without a single link mean the links were lost (a restore, a
        // purge): the folders are read from the start, so that every stamped item is
        // found again before any CRM contact is exported a second time.
        let has_links = store.has_links(self.req.mailbox_id).await?;
        self.no_links = !has_links;
        let links_lost = !has_links && stored.values().any(|s| saved_with_links(s));
        if links_lost {
            // Stamped items may be in any folder (one that was an import folder before a
            // profile change): this run reads them all, and a stamp relinks its pair.
            for folder in self.existing_folders.iter() {
                if !self.watched.contains(folder) {
                    self.watched.push(folder.clone());
                }
            }
        }
        let saved = if self.req.full || links_lost {
            HashMap::new()
        } else {
            let import = &self.import_folders;
            stored
                .into_iter()
                .filter_map(|(folder, state)| {
                    let state = usable_state(&state, import.contains(&folder))?;
                    Some((folder, state.to_owned()))
                })
                .collect()
        };
        let mut states = self.exchange_phase(self.watched.clone(), &saved).await?;
        self.crm_phase().await?;
        if self.wrote_exchange {
            // Read past our own writes now, so the saved state is after them: an item we
            // created that the user deletes before the next run would otherwise cancel
            // out in the feed (create + delete) and the deletion go unseen. Echoes are
            // recognised by their ChangeKey and cost no read.
            let folders = states.keys().cloned().collect();
            states = self.exchange_phase(folders, &states).await?;
        }
        // An export-only run saves no feed state: the Exchange changes it saw but may not
        // import are read again by the next run.
        if !self.req.dry_run && self.mode != Mode::ExportOnly {
            let linked = store.has_links(self.req.mailbox_id).await?;
            for (folder, state) in states {
                if !self.failed_folders.contains(&folder) {
                    let state = marked_state(&state, self.import_folders.contains(&folder), linked);
                    store
                        .save_sync_state(self.req.mailbox_id, &folder, Some(&state))
                        .await?;
                }
            }
        }
        if !self.req.dry_run {
            self.record_failures().await?;
        }
        self.sink.progress(self.counts).await;
        Ok(())
    }

    /// Keeps count of failing items across runs: retried next run, given up after five.
    async fn record_failures(&mut self) -> Result<(), Halt> {
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

    /// Import folders and folders holding linked items that Exchange no longer has
    /// (deleted, or moved under Deleted Items) are forgotten: their pairs unlinked — never
    /// deleted in bulk, whatever `on_exchange_delete` says — the profile no longer lists
    /// them, and the owner is notified (SPEC §5). The run goes on with the other folders.
    async fn forget_gone_folders(&mut self, linked_folders: Vec<String>) -> Result<(), Halt> {
        let mut gone: Vec<String> = linked_folders;
        if self.profile.import.scope == ImportScope::Folders {
            gone.extend(self.profile.import.folder_ids.iter().cloned());
        }
        gone.retain(|f| !self.existing_folders.contains(f));
        gone.sort();
        gone.dedup();
        for folder in gone {
            self.watched.retain(|f| *f != folder);
            self.import_folders.remove(&folder);
            if self.req.dry_run {
                continue;
            }
            let unlinked = self
                .store
                .forget_gone_folder(self.req.mailbox_id, &self.owner.user_id, &folder)
                .await?;
            self.counts.unlinked += unlinked;
            tracing::info!(mailbox = %self.req.mailbox_id, folder = %folder, unlinked, "Exchange folder gone: its pairs are unlinked");
        }
        Ok(())
    }

    fn in_export_scope(&self, id: Uuid) -> bool {
        self.visible.contains(&id) && self.specific.as_ref().is_none_or(|s| s.contains(&id))
    }

    fn crm_side(&self, r: &CrmRecord) -> CrmSide {
        CrmSide {
            id: r.id,
            fields: MappedContact::from_crm(&r.fields),
            version: r.version,
            updated_at: r.updated_at,
            deleted: r.deleted,
            in_export_scope: self.in_export_scope(r.id),
        }
    }

    fn ex_side(&self, c: &RemoteContact, feed_folder: &str) -> ExSide {
        let folder_id = if c.folder_id.is_empty() {
            feed_folder.to_owned()
        } else {
            c.folder_id.clone()
        };
        ExSide {
            in_import_scope: self.watched.contains(&folder_id),
            item_id: c.item_id.clone(),
            change_key: c.change_key.clone(),
            folder_id,
            fields: c.fields.clone(),
            last_modified: c.last_modified,
            crm_contact_id: c.crm_contact_id,
            deleted: false,
        }
    }

    async fn stop_requested(&self) -> Result<(), Halt> {
        if self.sink.should_stop().await {
            Err(Halt::Cancelled)
        } else {
            Ok(())
        }
    }

    // ---- Exchange phase -------------------------------------------------------------

    /// Reads every watched folder's feed, applies upserts then deletions; answers the new
    /// state of each folder read to its end.
    async fn exchange_phase(
        &mut self,
        folders: Vec<String>,
        saved: &HashMap<String, String>,
    ) -> Result<HashMap<String, String>, Halt> {
        let mut upserts: Vec<(String, String)> = Vec::new();
        let mut deletes: Vec<(String, String)> = Vec::new();
        let mut states = HashMap::new();
        let mut seen = HashSet::new();
        for folder in folders {
            let mut state = saved.get(&folder).cloned();
            let mut restarted = false;
            let mut feed_pages = 0;
            loop {
                // Paging bounds: a cancel is seen between pages, and a feed that never
                // says "last page" fails the run instead of holding the worker.
                self.stop_requested().await?;
                self.pages
                    .take(&mut feed_pages, &folder)
                    .map_err(Halt::Failed)?;
                match self.t.changes(&folder, state.as_deref()).await {
                    Ok(page) => {
                        let ids: Vec<String> = page
                            .changes
                            .iter()
                            .map(|c| match c {
                                FeedChange::Upsert { item_id, .. }
                                | FeedChange::Delete { item_id } => item_id.clone(),
                            })
                            .collect();
                        self.load_heads(&ids, &[]).await?;
                        for c in page.changes {
                            match c {
                                FeedChange::Upsert {
                                    item_id,
                                    change_key,
                                    item: _,
                                } => {
                                    let echo = self.heads.get(&item_id).is_some_and(|l| {
                                        l.change_key == change_key && !change_key.is_empty()
                                    });
                                    if !echo && seen.insert(item_id.clone()) {
                                        upserts.push((folder.clone(), item_id));
                                    }
                                }
                                FeedChange::Delete { item_id } => {
                                    deletes.push((folder.clone(), item_id))
                                }
                            }
                        }
                        state = Some(page.sync_state);
                        if page.done {
                            states.insert(folder.clone(), state.clone().unwrap_or_default());
                            break;
                        }
                    }
                    // The state is unusable: read the folder from the start; links and
                    // CrmContactId stamps make the replay create nothing twice.
                    Err(e) if e.kind == ErrorKind::InvalidSyncState && !restarted => {
                        tracing::warn!(mailbox = %self.req.mailbox_id, folder = %folder, "invalid sync state; resynchronizing the folder");
                        restarted = true;
                        state = None;
                    }
                    Err(e) if e.kind == ErrorKind::Auth => return Err(Halt::Failed(e.to_string())),
                    Err(e) => {
                        self.failed_folders.insert(folder.clone());
                        self.counts.failed += 1;
                        self.record(
                            "exchange_read",
                            ItemOutcome::Failed,
                            None,
                            None,
                            Some(&e),
                            None,
                        )
                        .await;
                        break;
                    }
                }
            }
        }
        // Items that failed in earlier runs are read again, whatever the feed says.
        for item in std::mem::take(&mut self.retry_items) {
            if seen.insert(item.clone()) {
                upserts.push((String::new(), item));
            }
        }
        self.feed_deletes = deletes.iter().map(|(_, id)| id.clone()).collect();
        let held_before = self.held;
        for chunk in upserts.chunks(CHUNK) {
            self.stop_requested().await?;
            self.upsert_chunk(chunk).await?;
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

    async fn upsert_chunk(&mut self, chunk: &[(String, String)]) -> Result<(), Halt> {
        self.links_by_item.clear();
        let ids: Vec<String> = chunk.iter().map(|(_, id)| id.clone()).collect();
        let results = self.read_items(&ids).await?;
        let mut items = Vec::new();
        for ((folder, item_id), result) in chunk.iter().zip(results) {
            match result {
                Ok(c) => items.push((folder.clone(), c)),
                // Gone between the feed and the read: its deletion follows in a later feed.
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => {
                    self.hold(folder, e.kind);
                    self.counts.failed += 1;
                    self.record(
                        "exchange_read",
                        ItemOutcome::Failed,
                        None,
                        Some(item_id),
                        Some(&e),
                        None,
                    )
                    .await;
                }
            }
        }
        let stamps: Vec<Uuid> = items.iter().filter_map(|(_, c)| c.crm_contact_id).collect();
        self.load_heads(&[], &stamps).await?;
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
        // copy is a new contact.
        let stamped_elsewhere: Vec<String> = items
            .iter()
            .filter(|(_, c)| !self.heads.contains_key(&c.item_id))
            .filter_map(|(_, c)| self.item_by_crm.get(&c.crm_contact_id?).cloned())
            .filter(|old| !self.feed_deletes.contains(old))
            .collect();
        let mut gone_items: HashSet<String> = self.feed_deletes.clone();
        if !stamped_elsewhere.is_empty() {
            for (old, result) in stamped_elsewhere
                .iter()
                .zip(self.read_items(&stamped_elsewhere).await?)
            {
                if matches!(
                    result,
                    Err(TransportError {
                        kind: ErrorKind::NotFound,
                        ..
                    })
                ) {
                    gone_items.insert(old.clone());
                }
            }
        }
        let mut pairs = Vec::new();
        for (folder, c) in items {
            let mut ex = self.ex_side(&c, &folder);
            let link = self.links_by_item.get(&c.item_id).cloned().or_else(|| {
                let crm_id = c.crm_contact_id?;
                let old_item = self.item_by_crm.get(&crm_id)?;
                if !gone_items.contains(old_item) {
                    return None;
                }
                self.links_by_item.get(old_item).map(|l| Link {
                    item_id: c.item_id.clone(),
                    ..l.clone()
                })
            });
            if link.is_none() {
                // Only an import folder brings new contacts in; the export target alone
                // does not.
                ex.in_import_scope = self.import_folders.contains(&ex.folder_id);
            }
            let pair = match link {
                Some(link) => {
                    let record = records.remove(&link.crm_id);
                    let crm = Some(match &record {
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
                    });
                    Pair {
                        crm,
                        record,
                        ex: Some(ex),
                        link: Some(link),
                    }
                }
                None => self.new_exchange_pair(ex, &c).await?,
            };
            let mut pair = pair;
            // A new item of the export target (not an import folder) that is the CRM
            // contact in scope: export-side matching links them (SPEC §5 "one person,
            // one item") even with import off.
            let export = self.profile.export.enabled && self.mode != Mode::ImportOnly;
            if pair.link.is_none()
                && let (Some(crm), Some(ex)) = (&pair.crm, pair.ex.as_mut())
                && !ex.in_import_scope
                && !crm.deleted
            {
                // An item stamped with this contact's id was ours: the pair is linked
                // again wherever the item is. A match by content in the export target is
                // the contact's item when the contact is in the export scope.
                let stamped = ex.crm_contact_id == Some(crm.id);
                let target_match =
                    ex.folder_id == self.target_folder && export && crm.in_export_scope;
                if stamped || target_match {
                    ex.in_import_scope = true;
                }
            }
            if pair.link.is_none()
                && pair.ex.as_ref().is_some_and(|e| !e.in_import_scope)
                && pair.crm.is_some()
            {
                // Not a pair this run may form: the contact stays free for the CRM phase
                // (else it would be neither linked nor exported).
                pair.crm = None;
                pair.record = None;
            }
            if let Some(crm) = &pair.crm {
                self.done_crm.insert(crm.id);
            }
            if pair.crm.is_none()
                && pair.link.is_none()
                && ex_in_target(&c, &folder, &self.target_folder)
            {
                self.unlinked_items.push(c.clone());
            }
            pairs.push(pair);
        }
        self.apply(pairs, true).await
    }

    /// A new Exchange item: the CRM contact it already is (by stamp, e-mail, name and
    /// company), or none.
    async fn new_exchange_pair(&mut self, ex: ExSide, c: &RemoteContact) -> Result<Pair, Halt> {
        if self.crm_matcher.is_none() {
            let candidates = self
                .store
                .match_candidates(&self.owner, self.req.mailbox_id)
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
            self.crm_matcher = Some(Matcher::new(candidates));
        }
        let policy = self.profile.match_existing;
        let by_stamp_only = c.crm_contact_id.is_some() && policy == MatchExisting::None;
        let found = self.crm_matcher.as_mut().expect("built above").find(
            &c.fields,
            c.crm_contact_id,
            if by_stamp_only {
                MatchExisting::None
            } else {
                policy
            },
        );
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

    async fn delete_chunk(&mut self, chunk: &[(String, String)]) -> Result<(), Halt> {
        self.links_by_item.clear();
        let crm_ids: Vec<Uuid> = chunk
            .iter()
            .filter_map(|(_, item)| self.heads.get(item).map(|h| h.crm_id))
            .collect();
        self.load_links(&crm_ids).await?;
        let links: Vec<(String, Link)> = chunk
            .iter()
            .filter_map(|(folder, item)| {
                self.links_by_item
                    .get(item)
                    .map(|l| (folder.clone(), l.clone()))
            })
            .collect();
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

    // ---- CRM phase ------------------------------------------------------------------

    async fn crm_phase(&mut self) -> Result<(), Halt> {
        // The database finds what moved; a run with nothing to do reads no contact.
        let scope_all = self.specific.is_none();
        let moves = self
            .store
            .crm_moves(&self.owner, self.req.mailbox_id, scope_all)
            .await?;
        let export_new = self.profile.export.enabled && self.mode != Mode::ImportOnly;
        let mut moved: Vec<Uuid> = Vec::new();
        for v in &moves {
            // Every row is a contact the owner sees.
            self.visible.insert(v.id);
            if self.done_crm.contains(&v.id) {
                continue;
            }
            let in_scope = self.in_export_scope(v.id);
            let is_move = match v.link {
                // An unlinked pair whose contact left the export scope and is back in it
                // is linked again (SPEC §5 "leaving and re-entering").
                Some((_, was_in_scope, true)) => !was_in_scope && in_scope && export_new,
                Some((version, was_in_scope, false)) => {
                    version != v.version || was_in_scope != in_scope
                }
                None => !v.deleted && in_scope && export_new,
            };
            if is_move {
                moved.push(v.id);
            }
        }
        // Linked contacts the owner no longer sees (unshared or purged).
        for crm_id in self
            .store
            .links_gone_from_view(&self.owner, self.req.mailbox_id)
            .await?
        {
            if !self.done_crm.contains(&crm_id) {
                moved.push(crm_id);
            }
        }
        for id in std::mem::take(&mut self.retry_crm) {
            if !self.done_crm.contains(&id) && !moved.contains(&id) {
                moved.push(id);
            }
        }
        self.load_heads(&[], &moved).await?;
        let unlinked_new = moved.iter().any(|id| {
            self.item_by_crm
                .get(id)
                .and_then(|item| self.heads.get(item))
                .is_none_or(|h| h.detached)
        });
        if export_new && unlinked_new {
            self.list_target_folder().await?;
        }
        for chunk in moved.chunks(CHUNK) {
            self.stop_requested().await?;
            self.links_by_item.clear();
            self.load_links(chunk).await?;
            let mut records: HashMap<Uuid, CrmRecord> = self
                .store
                .contacts_for_sync(chunk)
                .await?
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
            // Matched against every unlinked item of the target folder: by stamp always,
            // then as `match_existing` says.
            let mut matcher = (!self.unlinked_items.is_empty()).then(|| {
                Matcher::new(
                    self.unlinked_items
                        .iter()
                        .map(|c| Candidate {
                            key: c.item_id.clone(),
                            crm_id: c.crm_contact_id,
                            fields: c.fields.clone(),
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
            if !returning.is_empty() {
                let ids: Vec<String> = returning.iter().map(|(_, i)| i.clone()).collect();
                for ((crm_id, _), r) in returning.iter().zip(self.read_items(&ids).await?) {
                    if let Ok(c) = r {
                        returned.insert(*crm_id, c);
                    }
                }
            }
            let mut pairs = Vec::new();
            for id in chunk {
                let record = records.remove(id);
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
                // A detached link is history: the contact is back in scope, so it pairs
                // again as new — with its old item when that still exists.
                let link = link.filter(|l| !l.detached || !crm.in_export_scope || crm.deleted);
                if link.is_none() && !crm.deleted && crm.in_export_scope {
                    if let Some(c) = returned.remove(id) {
                        self.unlinked_items.retain(|u| u.item_id != c.item_id);
                        let folder = c.folder_id.clone();
                        ex = Some(self.ex_side(&c, &folder));
                    } else if let Some(m) = matcher.as_mut().and_then(|m| {
                        m.find(&crm.fields, Some(crm.id), self.profile.match_existing)
                    }) {
                        let found = self.unlinked_items.iter().position(|c| c.item_id == m.key);
                        if let Some(i) = found {
                            let c = self.unlinked_items.remove(i);
                            let in_target =
                                c.folder_id.is_empty() || c.folder_id == self.target_folder;
                            if in_target || c.crm_contact_id == Some(crm.id) {
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
            self.apply(pairs, true).await?;
        }
        Ok(())
    }

    /// Lists the export target's items that no live link holds, for matching new CRM
    /// contacts against the whole folder, not only against what this run's feed brought
    /// (SPEC §5 "one person, one item"). Costs one listing of the folder, and only in a
    /// run that has a CRM contact to export for the first time.
    async fn list_target_folder(&mut self) -> Result<(), Halt> {
        if self.target_folder.is_empty() || !self.existing_folders.contains(&self.target_folder) {
            return Ok(());
        }
        let items = match self.t.folder_contacts(&self.target_folder).await {
            Ok(items) => items,
            Err(e) if e.kind == ErrorKind::Auth => return Err(Halt::Failed(e.to_string())),
            Err(e) => return Err(Halt::Failed(format!("listing the export folder: {e}"))),
        };
        let mut items = items;
        if self.no_links {
            // No link at all: an item stamped in an earlier life of this mailbox may sit
            // in any folder; only its stamp may pair it (never its content).
            let others: Vec<String> = self
                .existing_folders
                .iter()
                .filter(|f| **f != self.target_folder)
                .cloned()
                .collect();
            for folder in others {
                match self.t.folder_contacts(&folder).await {
                    Ok(found) => {
                        items.extend(found.into_iter().filter(|c| c.crm_contact_id.is_some()))
                    }
                    Err(e) if e.kind == ErrorKind::Auth => return Err(Halt::Failed(e.to_string())),
                    Err(e) => return Err(Halt::Failed(format!("listing folder {folder}: {e}"))),
                }
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

    // ---- Apply ----------------------------------------------------------------------

    /// Plans and applies a chunk of pairs: CRM writes (one transaction), then Exchange
    /// writes (batches side by side), then links. `retry` allows one re-read and re-plan
    /// of items whose ChangeKey moved under us.
    fn apply(&mut self, pairs: Vec<Pair>, retry: bool) -> BoxFuture<'_, Result<(), Halt>> {
        Box::pin(async move {
            let planned: Vec<(Pair, Vec<Op>)> = pairs
                .into_iter()
                .map(|p| {
                    let ops = plan(
                        p.crm.as_ref(),
                        p.ex.as_ref(),
                        p.link.as_ref(),
                        &self.profile,
                        self.mode,
                    );
                    (p, ops)
                })
                .collect();
            for (p, ops) in &planned {
                if ops.iter().all(|o| matches!(o, Op::Unchanged)) {
                    self.counts.unchanged += 1;
                }
                if self.req.dry_run
                    && p.link.is_none()
                    && p.crm.is_some()
                    && p.ex.is_some()
                    && ops.iter().any(|o| matches!(o, Op::Link { .. }))
                {
                    self.counts.linked += 1;
                }
            }
            if self.req.dry_run {
                for (p, ops) in &planned {
                    for op in ops {
                        self.count_and_record(op, p, ItemOutcome::Planned, None, None)
                            .await;
                    }
                }
                self.sink.progress(self.counts).await;
                return Ok(());
            }
            let mut work: Vec<Work> = planned
                .into_iter()
                .map(|(pair, ops)| Work::new(pair, ops))
                .collect();
            let mut conflicts = self.apply_crm(&mut work).await?;
            conflicts.extend(self.apply_exchange(&mut work).await?);
            self.apply_links(&mut work).await?;
            self.sink.progress(self.counts).await;
            if !conflicts.is_empty() {
                self.replan_conflicts(conflicts, retry).await?;
            }
            Ok(())
        })
    }

    /// CRM writes, each conditional on the version the run read; answers the pairs a
    /// user edited meanwhile (to re-read and re-plan, never to overwrite).
    async fn apply_crm(&mut self, work: &mut [Work]) -> Result<Vec<Pair>, Halt> {
        // Account links for imported or re-companied contacts, one query per chunk.
        let companies: Vec<String> = work
            .iter()
            .flat_map(|w| w.ops.iter())
            .filter_map(|op| match op {
                Op::CreateInCrm { fields, .. } => fields.get(Field::Company).map(str::to_owned),
                Op::UpdateCrm { changes, .. } => changes.get(&Field::Company).cloned().flatten(),
                _ => None,
            })
            .collect();
        let accounts = self
            .store
            .account_candidates(&self.owner, &companies)
            .await?;
        let account_for = |company: Option<&str>| {
            let list = company
                .and_then(|c| accounts.get(&name_key(c)))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            link_account(company, list)
        };

        // Sync acts for the owner: a contact the owner may only read is not changed or
        // deleted by it; the Exchange change is absorbed, as one that may not flow.
        let touched: Vec<Uuid> = work
            .iter()
            .flat_map(|w| w.ops.iter())
            .filter_map(|op| match op {
                Op::UpdateCrm { crm_id, .. } | Op::DeleteInCrm { crm_id } => Some(*crm_id),
                _ => None,
            })
            .collect();
        let editable = if touched.is_empty() {
            HashSet::new()
        } else {
            self.store.editable_among(&self.owner, &touched).await?
        };

        let mut writes = Vec::new();
        let mut targets: Vec<(usize, usize)> = Vec::new();
        // Per write: what was fitted to the CRM's rules (a warning on its run item).
        let mut notes: Vec<Vec<String>> = Vec::new();
        for (wi, w) in work.iter().enumerate() {
            for (oi, op) in w.ops.iter().enumerate() {
                if let Op::UpdateCrm { crm_id, .. } | Op::DeleteInCrm { crm_id } = op
                    && !editable.contains(crm_id)
                {
                    tracing::info!(mailbox = %self.req.mailbox_id, contact = %crm_id, "read-only for the mailbox owner: not changed by sync");
                    continue;
                }
                let write = match op {
                    Op::CreateInCrm { fields, .. } => {
                        let mut f = ContactFields::default();
                        fieldmap::apply_to_crm(&mut f, &all_changes(fields));
                        f.account_id = account_for(f.company.as_deref());
                        f.normalize();
                        notes.push(fieldmap::fit_for_crm(&mut f));
                        CrmWrite::Create(f)
                    }
                    Op::UpdateCrm { crm_id, changes } => {
                        let Some(record) = &w.pair.record else {
                            continue;
                        };
                        let mut f = record.fields.clone();
                        fieldmap::apply_to_crm(&mut f, changes);
                        if changes.contains_key(&Field::Company) {
                            f.account_id = account_for(f.company.as_deref());
                        }
                        f.normalize();
                        notes.push(fieldmap::fit_for_crm(&mut f));
                        CrmWrite::Update {
                            id: *crm_id,
                            fields: f,
                            expected: Some(record.version),
                        }
                    }
                    Op::DeleteInCrm { crm_id } => {
                        notes.push(Vec::new());
                        CrmWrite::Delete {
                            id: *crm_id,
                            expected: w.pair.record.as_ref().map(|r| r.version),
                        }
                    }
                    _ => continue,
                };
                writes.push(write);
                targets.push((wi, oi));
            }
        }
        let mut conflicts = Vec::new();
        if writes.is_empty() {
            return Ok(conflicts);
        }
        let results = self
            .store
            .apply_crm_writes(&self.owner.user_id, writes)
            .await?;
        for (((wi, oi), result), fitted) in targets.into_iter().zip(results).zip(notes) {
            let op = work[wi].ops[oi].clone();
            let warning = (!fitted.is_empty()).then(|| TransportError {
                kind: ErrorKind::Permanent,
                code: Some("normalised".into()),
                message: format!("fitted to the CRM's rules: {}", fitted.join("; ")),
            });
            match result {
                Ok(record) => {
                    let before = work[wi]
                        .pair
                        .record
                        .as_ref()
                        .map(|r| serde_json::to_value(&r.fields).unwrap_or_default());
                    let before = if matches!(op, Op::CreateInCrm { .. }) {
                        None
                    } else {
                        before
                    };
                    self.visible.insert(record.id);
                    if let Op::UpdateCrm { changes, .. } = &op {
                        let before = work[wi]
                            .pair
                            .ex
                            .as_ref()
                            .and_then(|e| e.fields.get(Field::FullName))
                            .map(str::to_owned);
                        let planned = changes
                            .get(&Field::FullName)
                            .cloned()
                            .flatten()
                            .or(before.clone());
                        let now = MappedContact::from_crm(&record.fields)
                            .get(Field::FullName)
                            .map(str::to_owned);
                        let names = [Field::GivenName, Field::MiddleName, Field::Surname];
                        if now != planned && names.iter().any(|f| changes.contains_key(f)) {
                            work[wi].derived_full_name = Some(before.unwrap_or_default());
                        }
                    }
                    let w = &mut work[wi];
                    w.crm_now = Some(self.crm_side(&record));
                    w.pair.record = Some(record);
                    self.count_and_record(
                        &op,
                        &work[wi].pair,
                        ItemOutcome::Applied,
                        warning.as_ref(),
                        before,
                    )
                    .await;
                }
                Err(crate::store::StoreError::PreconditionFailed { .. }) => {
                    if !work[wi].failed {
                        work[wi].fail(ErrorKind::Conflict);
                        conflicts.push(work[wi].pair.clone());
                    }
                }
                Err(e) => {
                    work[wi].fail(ErrorKind::Transient);
                    let err = TransportError {
                        kind: ErrorKind::Permanent,
                        code: None,
                        message: e.to_string(),
                    };
                    self.count_and_record(
                        &op,
                        &work[wi].pair,
                        ItemOutcome::Failed,
                        Some(&err),
                        None,
                    )
                    .await;
                }
            }
        }
        Ok(conflicts)
    }

    /// Exchange writes; answers the pairs whose ChangeKey moved (to re-read and re-plan).
    async fn apply_exchange(&mut self, work: &mut [Work]) -> Result<Vec<Pair>, Halt> {
        let mut creates: Vec<(usize, Uuid, MappedContact)> = Vec::new();
        let mut updates: Vec<(usize, Option<usize>, ItemUpdate)> = Vec::new();
        let mut deletes: Vec<(usize, usize, String)> = Vec::new();
        for (wi, w) in work.iter().enumerate() {
            if w.failed {
                continue;
            }
            for (oi, op) in w.ops.iter().enumerate() {
                match op {
                    Op::CreateInExchange { crm_id, fields } => {
                        creates.push((wi, *crm_id, fields.clone()))
                    }
                    Op::UpdateExchange {
                        item_id,
                        change_key,
                        changes,
                        stamp,
                    } => updates.push((
                        wi,
                        Some(oi),
                        ItemUpdate {
                            item_id: item_id.clone(),
                            change_key: change_key.clone(),
                            changes: changes.clone(),
                            after: item_after(&w.pair, changes),
                            stamp: *stamp,
                        },
                    )),
                    // An imported item gets its CRM id stamped, so a lost link is found again.
                    Op::CreateInCrm {
                        item_id,
                        change_key,
                        ..
                    } => {
                        if let Some(crm) = &w.crm_now {
                            updates.push((
                                wi,
                                None,
                                ItemUpdate {
                                    item_id: item_id.clone(),
                                    change_key: change_key.clone(),
                                    changes: Changes::new(),
                                    after: item_after(&w.pair, &Changes::new()),
                                    stamp: Some(crm.id),
                                },
                            ));
                        }
                    }
                    Op::DeleteInExchange { item_id } => deletes.push((wi, oi, item_id.clone())),
                    _ => {}
                }
            }
        }

        let target = self.target_folder.clone();
        let create_batches: Vec<Vec<(Uuid, MappedContact)>> = creates
            .chunks(ITEM_BATCH)
            .map(|c| c.iter().map(|(_, id, f)| (*id, f.clone())).collect())
            .collect();
        let results = join_all(
            create_batches
                .iter()
                .map(|b| self.t.create_contacts(&target, b)),
        )
        .await;
        let results = flatten(
            results,
            &create_batches.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        for ((wi, crm_id, fields), result) in creates.into_iter().zip(results) {
            let op = work[wi]
                .ops
                .iter()
                .find(|o| matches!(o, Op::CreateInExchange { .. }))
                .cloned()
                .expect("create op");
            match result {
                Ok(written) => {
                    self.wrote_exchange = true;
                    work[wi].ex_now = Some(ExSide {
                        item_id: written.item_id,
                        change_key: written.change_key,
                        folder_id: target.clone(),
                        fields,
                        last_modified: Utc::now(),
                        crm_contact_id: Some(crm_id),
                        deleted: false,
                        in_import_scope: self.watched.contains(&target),
                    });
                    self.count_and_record(&op, &work[wi].pair, ItemOutcome::Applied, None, None)
                        .await;
                }
                Err(e) => {
                    if e.kind == ErrorKind::Auth {
                        return Err(Halt::Failed(e.to_string()));
                    }
                    work[wi].fail(e.kind);
                    self.count_and_record(&op, &work[wi].pair, ItemOutcome::Failed, Some(&e), None)
                        .await;
                }
            }
        }

        let update_batches: Vec<Vec<ItemUpdate>> = updates
            .chunks(ITEM_BATCH)
            .map(|c| c.iter().map(|(_, _, u)| u.clone()).collect())
            .collect();
        let results = join_all(update_batches.iter().map(|b| self.t.update_contacts(b))).await;
        let results = flatten(
            results,
            &update_batches.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        let mut conflicts = Vec::new();
        for ((wi, oi, update), result) in updates.into_iter().zip(results) {
            match result {
                Ok(written) => {
                    self.wrote_exchange = true;
                    let w = &mut work[wi];
                    let mut ex = w
                        .ex_now
                        .clone()
                        .or_else(|| w.pair.ex.clone())
                        .or_else(|| w.pair.link.as_ref().map(ex_from_link))
                        .expect("an updated item has a side");
                    ex.fields.apply(&update.changes);
                    ex.change_key = written.change_key;
                    ex.item_id = written.item_id;
                    if update.stamp.is_some() {
                        ex.crm_contact_id = update.stamp;
                    }
                    w.ex_now = Some(ex);
                    if let Some(oi) = oi {
                        let op = work[wi].ops[oi].clone();
                        if !update.changes.is_empty() {
                            self.count_and_record(
                                &op,
                                &work[wi].pair,
                                ItemOutcome::Applied,
                                None,
                                None,
                            )
                            .await;
                        }
                    }
                }
                Err(e) if e.kind == ErrorKind::Conflict && oi.is_some() => {
                    work[wi].fail(ErrorKind::Conflict);
                    conflicts.push(work[wi].pair.clone());
                }
                Err(e) if e.kind == ErrorKind::NotFound && oi.is_some() => {
                    // Deleted under us: plan the pair again as an Exchange deletion.
                    work[wi].fail(ErrorKind::NotFound);
                    work[wi].gone = true;
                }
                Err(e) => {
                    if e.kind == ErrorKind::Auth {
                        return Err(Halt::Failed(e.to_string()));
                    }
                    work[wi].fail(e.kind);
                    let op = oi
                        .map(|oi| work[wi].ops[oi].clone())
                        .unwrap_or(Op::UpdateExchange {
                            item_id: update.item_id.clone(),
                            change_key: update.change_key.clone(),
                            changes: Changes::new(),
                            stamp: update.stamp,
                        });
                    self.count_and_record(&op, &work[wi].pair, ItemOutcome::Failed, Some(&e), None)
                        .await;
                }
            }
        }

        let delete_batches: Vec<Vec<String>> = deletes
            .chunks(ITEM_BATCH)
            .map(|c| c.iter().map(|(_, _, id)| id.clone()).collect())
            .collect();
        let results = join_all(delete_batches.iter().map(|b| self.t.delete_contacts(b))).await;
        let results = flatten(
            results,
            &delete_batches.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        for ((wi, oi, _), result) in deletes.into_iter().zip(results) {
            let op = work[wi].ops[oi].clone();
            match result {
                Ok(())
                | Err(TransportError {
                    kind: ErrorKind::NotFound,
                    ..
                }) => {
                    self.wrote_exchange = true;
                    self.count_and_record(&op, &work[wi].pair, ItemOutcome::Applied, None, None)
                        .await;
                }
                Err(e) => {
                    work[wi].fail(e.kind);
                    self.count_and_record(&op, &work[wi].pair, ItemOutcome::Failed, Some(&e), None)
                        .await;
                }
            }
        }
        // Pairs whose item vanished under an update are planned again as deletions.
        let gone: Vec<Pair> = work
            .iter_mut()
            .filter(|w| w.gone)
            .map(|w| {
                w.gone = false;
                let mut p = w.pair.clone();
                let item = p
                    .link
                    .as_ref()
                    .map(|l| l.item_id.clone())
                    .or(p.ex.as_ref().map(|e| e.item_id.clone()))
                    .unwrap_or_default();
                let folder = p
                    .link
                    .as_ref()
                    .map(|l| l.folder_id.clone())
                    .unwrap_or_default();
                p.ex = Some(ExSide::deleted(item, folder));
                p
            })
            .collect();
        if !gone.is_empty() {
            self.apply(gone, false).await?;
        }
        Ok(conflicts)
    }

    async fn apply_links(&mut self, work: &mut [Work]) -> Result<(), Halt> {
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
                            crm_version: -1,
                            crm_in_export_scope: crm.in_export_scope,
                            crm_fingerprint: empty.fingerprint(),
                            ex_fingerprint: empty.fingerprint(),
                            crm_base: empty.clone(),
                            ex_base: empty,
                            detached: false,
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
                            if let Some(old) = &w.derived_full_name {
                                link.crm_base.set(Field::FullName, Some(old));
                                link.crm_fingerprint = link.crm_base.fingerprint();
                                link.crm_version -= 1;
                            }
                            links.push(link);
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
                            links.push(Link {
                                detached: true,
                                crm_in_export_scope: in_scope,
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
                    "link",
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
        self.store.save_links(self.req.mailbox_id, &links).await?;
        for l in links {
            self.item_by_crm.insert(l.crm_id, l.item_id.clone());
            self.heads.insert(l.item_id.clone(), head_of(&l));
            self.links_by_item.insert(l.item_id.clone(), l);
        }
        Ok(())
    }

    /// The link of a pair after this run. A one-way run must not record the other side as
    /// synced: it keeps that side's old snapshot (and version or ChangeKey), so its edits
    /// still flow on the next two-way run.
    fn link_after(&self, old: Option<&Link>, crm: &CrmSide, ex: &ExSide) -> Link {
        let mut link = Link::new(crm, ex);
        if let Some(old) = old {
            match self.mode {
                Mode::ImportOnly => {
                    link.crm_version = old.crm_version;
                    link.crm_base = old.crm_base.clone();
                    link.crm_fingerprint = old.crm_fingerprint.clone();
                }
                Mode::ExportOnly => {
                    link.change_key = old.change_key.clone();
                    link.ex_base = old.ex_base.clone();
                    link.ex_fingerprint = old.ex_fingerprint.clone();
                }
                Mode::TwoWay => {}
            }
        }
        link
    }

    /// Re-reads items whose ChangeKey moved under an update and plans them again, once.
    async fn replan_conflicts(&mut self, pairs: Vec<Pair>, retry: bool) -> Result<(), Halt> {
        let item_ids: Vec<String> = pairs
            .iter()
            .filter_map(|p| {
                p.ex.as_ref()
                    .map(|e| e.item_id.clone())
                    .or(p.link.as_ref().map(|l| l.item_id.clone()))
            })
            .collect();
        if !retry {
            for (p, id) in pairs.iter().zip(&item_ids) {
                let err = TransportError {
                    kind: ErrorKind::Conflict,
                    code: Some("ErrorIrresolvableConflict".into()),
                    message: "changed again while being updated".into(),
                };
                self.counts.failed += 1;
                let crm_id = p.crm.as_ref().map(|c| c.id);
                self.record(
                    "exchange_update",
                    ItemOutcome::Failed,
                    crm_id,
                    Some(id),
                    Some(&err),
                    None,
                )
                .await;
            }
            return Ok(());
        }
        let crm_ids: Vec<Uuid> = pairs
            .iter()
            .filter_map(|p| p.crm.as_ref().map(|c| c.id))
            .collect();
        self.note_visible(&crm_ids).await?;
        let mut records: HashMap<Uuid, CrmRecord> = self
            .store
            .contacts_for_sync(&crm_ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let fresh = self.read_items(&item_ids).await?;
        let mut again = Vec::new();
        for ((pair, id), result) in pairs.into_iter().zip(&item_ids).zip(fresh) {
            let folder = pair
                .ex
                .as_ref()
                .map(|e| e.folder_id.clone())
                .or(pair.link.as_ref().map(|l| l.folder_id.clone()))
                .unwrap_or_default();
            let ex = match result {
                Ok(c) => self.ex_side(&c, &folder),
                Err(e) if e.kind == ErrorKind::NotFound => ExSide::deleted(id.clone(), folder),
                // Not a deletion: retried by the next run, which reads the folder again.
                Err(e) => {
                    self.hold(&folder, e.kind);
                    self.counts.failed += 1;
                    let crm_id = pair.crm.as_ref().map(|c| c.id);
                    self.record(
                        "exchange_read",
                        ItemOutcome::Failed,
                        crm_id,
                        Some(id),
                        Some(&e),
                        None,
                    )
                    .await;
                    continue;
                }
            };
            // The CRM side as it is now (this run may have written it).
            let record = pair.crm.as_ref().and_then(|c| records.remove(&c.id));
            let crm = record.as_ref().map(|r| self.crm_side(r)).or(pair.crm);
            again.push(Pair {
                crm,
                record,
                ex: Some(ex),
                link: pair.link,
            });
        }
        self.apply(again, false).await
    }

    /// Reads items in batches side by side; one result per id, in order.
    async fn read_items(
        &self,
        ids: &[String],
    ) -> Result<Vec<Result<RemoteContact, TransportError>>, Halt> {
        let batches: Vec<&[String]> = ids.chunks(ITEM_BATCH).collect();
        let results = join_all(batches.iter().map(|b| self.t.get_contacts(b))).await;
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

    /// Keeps a folder's state from moving past a failed item worth reading again.
    fn hold(&mut self, folder: &str, kind: ErrorKind) {
        if matches!(
            kind,
            ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::Conflict
        ) {
            self.failed_folders.insert(folder.to_owned());
            self.held += 1;
        }
    }

    /// Learns which of these contacts the owner sees (the export scope needs it).
    async fn note_visible(&mut self, ids: &[Uuid]) -> Result<(), Halt> {
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

    /// Loads the heads of the links of these items and CRM contacts not known yet.
    async fn load_heads(&mut self, item_ids: &[String], crm_ids: &[Uuid]) -> Result<(), Halt> {
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
    async fn load_links(&mut self, crm_ids: &[Uuid]) -> Result<(), Halt> {
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
        for link in self.store.links_for(self.req.mailbox_id, &missing).await? {
            self.links_by_item.insert(link.item_id.clone(), link);
        }
        Ok(())
    }

    // ---- Reporting ------------------------------------------------------------------

    async fn count_and_record(
        &mut self,
        op: &Op,
        pair: &Pair,
        outcome: ItemOutcome,
        err: Option<&TransportError>,
        before: Option<serde_json::Value>,
    ) {
        let (name, crm_id, item_id): (&str, Option<Uuid>, Option<String>) = match op {
            // Counted per pair where the pairs are planned.
            Op::Unchanged | Op::Link { .. } => return,
            Op::CreateInCrm { item_id, .. } => (
                "crm_create",
                pair.record.as_ref().map(|r| r.id),
                Some(item_id.clone()),
            ),
            Op::UpdateCrm { crm_id, .. } => (
                "crm_update",
                Some(*crm_id),
                pair.ex.as_ref().map(|e| e.item_id.clone()),
            ),
            Op::DeleteInCrm { crm_id } => (
                "crm_delete",
                Some(*crm_id),
                pair.ex.as_ref().map(|e| e.item_id.clone()),
            ),
            Op::CreateInExchange { crm_id, .. } => ("exchange_create", Some(*crm_id), None),
            Op::UpdateExchange { item_id, .. } => (
                "exchange_update",
                pair.crm.as_ref().map(|c| c.id),
                Some(item_id.clone()),
            ),
            Op::DeleteInExchange { item_id } => (
                "exchange_delete",
                pair.crm.as_ref().map(|c| c.id),
                Some(item_id.clone()),
            ),
            Op::Unlink { crm_id, item_id } => ("unlink", Some(*crm_id), Some(item_id.clone())),
        };
        if outcome == ItemOutcome::Failed {
            self.counts.failed += 1;
        } else {
            let c = &mut self.counts;
            match name {
                "crm_create" => c.crm_created += 1,
                "crm_update" => c.crm_updated += 1,
                "crm_delete" => c.crm_deleted += 1,
                "exchange_create" => c.exchange_created += 1,
                "exchange_update" => c.exchange_updated += 1,
                "exchange_delete" => c.exchange_deleted += 1,
                _ => c.unlinked += 1,
            }
        }
        self.record(name, outcome, crm_id, item_id.as_deref(), err, before)
            .await;
    }

    async fn record(
        &mut self,
        op: &str,
        outcome: ItemOutcome,
        crm_id: Option<Uuid>,
        item_id: Option<&str>,
        err: Option<&TransportError>,
        before: Option<serde_json::Value>,
    ) {
        self.seq += 1;
        let key = item_id.map(str::to_owned).or(crm_id.map(crm_key));
        match outcome {
            ItemOutcome::Failed => {
                if let Some(key) = key {
                    self.failed_keys.insert(
                        key.clone(),
                        ItemFailure {
                            key,
                            code: err.and_then(|e| e.code.clone()),
                            message: err.map(|e| e.message.clone()).unwrap_or_default(),
                        },
                    );
                }
            }
            ItemOutcome::Applied => {
                self.ok_keys.extend(item_id.map(str::to_owned));
                self.ok_keys.extend(crm_id.map(crm_key));
            }
            _ => {}
        }
        let item = RunItem {
            seq: self.seq,
            op: op.to_owned(),
            outcome,
            crm_id,
            item_id: item_id.map(str::to_owned),
            code: err.and_then(|e| e.code.clone()),
            message: err.map(|e| e.message.clone()),
            before,
            created_at: Utc::now(),
        };
        self.sink.item(item).await;
    }
}

/// One planned pair on its way through the apply steps.
struct Work {
    pair: Pair,
    ops: Vec<Op>,
    /// Sides after this run's writes.
    crm_now: Option<CrmSide>,
    ex_now: Option<ExSide>,
    /// A write of this pair failed: its link stays as it was, the next run retries.
    failed: bool,
    /// The kind of that failure.
    failure: Option<ErrorKind>,
    /// The item vanished under an update.
    gone: bool,
    /// The CRM write derived a new full name (from new name parts) that Exchange does not
    /// have yet: the link keeps the old one, so the next run carries it over.
    derived_full_name: Option<String>,
}

impl Work {
    fn new(pair: Pair, ops: Vec<Op>) -> Work {
        Work {
            pair,
            ops,
            crm_now: None,
            ex_now: None,
            failed: false,
            failure: None,
            gone: false,
            derived_full_name: None,
        }
    }

    /// Marks a write of this pair failed.
    fn fail(&mut self, kind: ErrorKind) {
        self.failed = true;
        self.failure = Some(kind);
    }
}

/// A feed state is saved with what the folder was to the run that read it: an import
/// folder (`i`) or only watched (`x`, its new items were not imported) — a state saved
/// while import was off must not hide the folder's items once it is on (SPEC §5) — and
/// whether the mailbox had links then (`l`): states of a mailbox that had links and has
/// none now mean the links were lost.
fn marked_state(state: &str, import: bool, linked: bool) -> String {
    let kind = if import { "i" } else { "x" };
    let links = if linked { "l" } else { "" };
    format!("{kind}{links}|{state}")
}

/// The state to continue a folder's feed from, or `None` to read it from the start.
fn usable_state(saved: &str, import: bool) -> Option<&str> {
    match saved.split_once('|') {
        Some(("i" | "il", state)) => Some(state),
        Some(("x" | "xl", state)) => (!import).then_some(state),
        // Saved before states were marked.
        _ => Some(saved),
    }
}

/// Whether a saved state says the mailbox had links when it was saved.
fn saved_with_links(saved: &str) -> bool {
    matches!(saved.split_once('|'), Some(("il" | "xl", _)))
}

/// The item's synchronized fields once `changes` are written (a transport that replaces
/// multi-valued properties whole writes them from this).
fn item_after(pair: &Pair, changes: &Changes) -> MappedContact {
    let mut fields = pair
        .ex
        .as_ref()
        .map(|e| e.fields.clone())
        .or_else(|| pair.link.as_ref().map(|l| l.ex_base.clone()))
        .unwrap_or_default();
    fields.apply(changes);
    fields
}

/// Every field of a contact as changes (what a create writes).
fn all_changes(fields: &MappedContact) -> Changes {
    fields
        .iter()
        .map(|(f, v)| (f, Some(v.to_owned())))
        .collect()
}

fn head_of(l: &Link) -> LinkHead {
    LinkHead {
        crm_id: l.crm_id,
        item_id: l.item_id.clone(),
        change_key: l.change_key.clone(),
        crm_version: l.crm_version,
        crm_in_export_scope: l.crm_in_export_scope,
        detached: l.detached,
    }
}

fn crm_from_link(l: &Link) -> CrmSide {
    CrmSide {
        id: l.crm_id,
        fields: l.crm_base.clone(),
        version: l.crm_version,
        updated_at: Utc::now(),
        deleted: false,
        in_export_scope: l.crm_in_export_scope,
    }
}

fn ex_from_link(l: &Link) -> ExSide {
    ExSide {
        item_id: l.item_id.clone(),
        change_key: l.change_key.clone(),
        folder_id: l.folder_id.clone(),
        fields: l.ex_base.clone(),
        last_modified: Utc::now(),
        crm_contact_id: Some(l.crm_id),
        deleted: false,
        in_import_scope: true,
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

/// Flattens per-batch results into per-item results; a failed batch fails its items.
fn flatten<R>(
    batches: Vec<Result<Vec<Result<R, TransportError>>, TransportError>>,
    sizes: &[usize],
) -> Vec<Result<R, TransportError>> {
    let mut out = Vec::new();
    for (batch, size) in batches.into_iter().zip(sizes) {
        match batch {
            Ok(items) => out.extend(items),
            Err(e) => out.extend((0..*size).map(|_| Err(e.clone()))),
        }
    }
    out
}
