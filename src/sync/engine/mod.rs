//! One run of one mailbox: collect the changes of both sides, pair them, plan each pair,
//! apply in batches, commit links and sync states.
//!
//! - [`feed`]: the feeds read ahead of the engine (a few pages over a short queue), and
//!   the upserts waiting for their chunk;
//! - [`collect`]: the Exchange phase (every watched folder's feed, applied a chunk at a
//!   time while the feed still pages, each chunk's items read while the chunk before is
//!   applied, upserts before deletions) and the CRM phase (contacts that moved since their
//!   link, new and returning ones, matched against the whole export target);
//! - [`pair`]: the pairing decisions as pure functions (echo, move or copy, whether a new
//!   item may pair, export-side match, what the CRM phase plans, a detached link's return);
//! - `plan` (`sync::plan`): the SPEC §5 decision table per pair;
//! - [`apply`]: CRM writes (conditional on the version read), Exchange writes in batches
//!   side by side, conflicts re-read and re-planned once;
//! - [`commit`]: links after each chunk (in the CRM phase saved behind the run while the
//!   next chunk writes), feed states (marked with what the folder was to
//!   the run), failing items counted across runs, gone folders forgotten;
//! - [`stamps`]: imported items' `CrmContactId` stamps, written beside the Exchange phase
//!   (where ids change on a move, as over EWS);
//! - [`owed`]: the stamps earlier imports left to a later run (over a transport whose ids
//!   survive a move), written before the feeds are read;
//! - [`echoes`]: the feed walked behind the CRM phase's Exchange writes, past our own
//!   echoes, so that the walk after the phase has little or nothing left to read;
//! - [`mark`]: when the CRM phase's comparison may be skipped (nothing it reads changed
//!   since it last found nothing to do);
//! - [`report`]: run items and counts, by `OpKind`.
//!
//! Order matters for safety:
//! 1. Exchange first. The change feed of every watched folder is read from its saved
//!    state (ids and ChangeKeys only; an item whose ChangeKey equals its link's is our
//!    own echo and is not read). Changed items are read in batches and planned with the
//!    current CRM side; deletions come after all upserts, so that an item moved between
//!    folders (delete + create with a new ItemId) is relinked by its `CrmContactId`
//!    stamp before its old id's deletion is applied (a deletion not seen yet when the new
//!    item comes, or any deletion where ids survive a move, is checked by reading the old
//!    item: alive in a contacts folder, the new item is a copy).
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
mod apply;
mod collect;
mod commit;
mod echoes;
mod feed;
mod mark;
mod owed;
mod pair;
mod report;
mod stamps;

pub use commit::usable_state;
use commit::{RELINKING, relinking, saved_with_links};

use std::collections::{HashMap, HashSet};

use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::fieldmap::MappedContact;
use super::matching::Matcher;
use super::plan::{CrmSide, ExSide, Link, Op};
use crate::domain::access::Caller;
use crate::domain::profile::{ContactSyncProfile, ExportScope, ImportScope};
use crate::domain::run::{RunCounts, RunItem, RunMode, RunReport, RunRequest, RunStatus};
use crate::store::Store;
use crate::store::item_failures::ItemFailure;
use crate::store::sync_state::{CrmRecord, LinkHead, ScopeInSql};
use crate::transport::{
    ErrorKind, ExchangeContacts, ExchangeFolder, ITEM_BATCH, ItemUpdate, RemoteContact,
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
    /// What the watcher of the run should know while it runs (the run's `notice`).
    fn notice(&self, _text: String) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Pairs planned and applied together: eight item batches, sent side by side (well
/// under Exchange's 27 concurrent requests per user).
const CHUNK: usize = ITEM_BATCH * 8;

/// Changed items a run keeps from the feed's pages until they are applied (about a
/// kilobyte each): beyond it an item is read again, in a batch, as over EWS, so memory
/// stays bounded whatever the mailbox's size.
const FEED_ITEMS_KEPT: usize = 20_000;

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
    /// The stamp of an item imported by this pair, left to the stamp writer (`stamps`).
    stamp_for_writer: Option<ItemUpdate>,
    /// The stamp of an item imported by this pair is left to a later run (the link says
    /// so): the transport's ids survive a move, so the link holds the pair meanwhile.
    stamp_deferred: bool,
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
            stamp_for_writer: None,
            stamp_deferred: false,
        }
    }

    /// The ChangeKey of the pair's item after this run's write to it, else the link's.
    fn change_key_after(&self, l: &Link) -> String {
        self.ex_now
            .as_ref()
            .map_or_else(|| l.change_key.clone(), |e| e.change_key.clone())
    }

    /// The pair's item, as written or read in this run, carries `crm_id`'s stamp.
    fn item_carries_stamp(&self, crm_id: Uuid) -> bool {
        self.ex_now
            .as_ref()
            .or(self.pair.ex.as_ref())
            .is_some_and(|e| e.crm_contact_id == Some(crm_id))
    }

    /// The pair's plan writes to Exchange (an imported item's stamp counts).
    fn writes_exchange(&self) -> bool {
        self.ops.iter().any(|op| {
            matches!(
                op,
                Op::CreateInExchange { .. }
                    | Op::UpdateExchange { .. }
                    | Op::DeleteInExchange { .. }
                    | Op::CreateInCrm { .. }
            )
        })
    }

    /// Marks a write of this pair failed.
    fn fail(&mut self, kind: ErrorKind) {
        self.failed = true;
        self.failure = Some(kind);
    }
}

/// The state of one run.
struct Run<'a, T: ExchangeContacts> {
    store: &'a Store,
    req: &'a RunRequest,
    sink: &'a dyn RunSink,
    t: &'a T,
    profile: ContactSyncProfile,
    mode: RunMode,
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
    /// Changed items whose data came with the feed (Graph's delta with `$expand`), taken
    /// instead of read; at most [`FEED_ITEMS_KEPT`], the rest is read.
    feed_items: HashMap<String, RemoteContact>,
    target_folder: String,
    /// Every link's head, by ItemId: enough to tell echoes and moved contacts apart.
    heads: HashMap<String, LinkHead>,
    item_by_crm: HashMap<Uuid, String>,
    /// Whole links of the pairs in play, loaded per chunk (memory follows the work, not
    /// the mailbox).
    links_by_item: HashMap<String, Link>,
    /// CRM contacts the owner may see (tombstones included).
    visible: HashSet<Uuid>,
    /// What the export scope selects.
    scope: ExportSelection,
    /// CRM contacts handled in the Exchange phase.
    done_crm: HashSet<Uuid>,
    /// Matching candidates among the owner's unlinked CRM contacts (built when needed).
    crm_matcher: Option<Matcher<Uuid>>,
    /// Exchange items of the target folder left unlinked, for matching new CRM contacts.
    unlinked_items: Vec<RemoteContact>,
    failed_folders: HashSet<String>,
    /// Item failures that hold their folder's state back (worth reading again).
    held: usize,
    /// An item of the run could not be read (see `Run::unread`).
    reads_failed: bool,
    /// Something was created, updated or deleted in Exchange: the feeds are read past its
    /// echoes before the states are saved (a create and a deletion after a saved state
    /// cancel out in the feed), so the next run starts after them. The stamps the stamp
    /// writer writes beside an import do not count: their echoes may wait for the next
    /// run, which knows them by their ChangeKey (the items were there before the state,
    /// so whatever the user does to them next is reported).
    wrote_exchange: bool,
    /// Items this run wrote to (stamped, updated, created), by id: a feed page of nothing
    /// but their echoes ends the Exchange phase's walk of that folder.
    written_items: HashSet<String>,
    /// The stamp writer of the Exchange phase, while it runs (imported items' stamps).
    stamps: Option<stamps::Stamps>,
    /// Tells the walk ahead of our echoes, while the CRM phase runs, when a chunk begins
    /// its Exchange writes and when their links are saved.
    links_saved: Option<echoes::LinksSaved>,
    /// In the CRM phase's chunks: a chunk's links are saved while the next chunk is
    /// prepared and writes (see `apply_links`).
    links_behind: bool,
    /// The save of the last chunk's links, while it runs.
    links_saving: Option<commit::LinksSaving>,
    counts: RunCounts,
    seq: i64,
    /// Feed pages read so far, against the run's limits.
    pages: super::limits::PageBudget,
    /// The mailbox had no link when the run started (a first run, or links lost).
    no_links: bool,
    /// Items stamped by an earlier life of the mailbox may sit in any folder: it had no
    /// link, or no feed state (a first run cut short after it saved some links, lost
    /// states). Before exporting, they are looked for in every folder, and contacts
    /// stamped outside the feeds pair only by their stamp.
    earlier_life: bool,
    /// Folders this run reads from the start (every item comes through their feeds).
    read_from_start: HashSet<String>,
    /// New items that would pair by content, kept back until every item of the feeds has
    /// paired by its stamp (see `pairs_by_content_later`); `None` once they are being
    /// paired.
    matched_later: Option<Vec<(String, RemoteContact)>>,
    /// Items that failed in earlier runs, retried by this one (read again even when their
    /// folder's feed moved on), and CRM contacts likewise.
    retry_items: Vec<String>,
    retry_crm: Vec<Uuid>,
    /// Keys of everything retried, and of what failed or was applied in this run.
    retried: Vec<String>,
    failed_keys: HashMap<String, ItemFailure>,
    ok_keys: HashSet<String>,
    /// Keys of every item with failures on record, given up or not (what a success may
    /// forget).
    failures_on_record: HashSet<String>,
    /// The mark of the mailbox's last comparison that found nothing to do (see
    /// [`mark`]); gone once this run writes.
    mark: Option<String>,
    /// Writes of this run to the CRM or the links so far.
    writes: u32,
    /// This run's comparison found nothing to do: its mark, and the writes made before it.
    quiet: Option<(String, u32)>,
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
        let mode = req.mode;
        let contacts_folder = folders
            .iter()
            .find(|f| f.distinguished.as_deref() == Some("contacts"))
            .map(|f| f.id.clone())
            .unwrap_or_default();
        // A target folder that is gone falls back to the default (the profile drops it,
        // see `gone_folders`).
        let existing: HashSet<String> = all_ids(folders).into_iter().collect();
        let target_folder = profile
            .export
            .target_folder_id
            .clone()
            .filter(|t| existing.contains(t))
            .unwrap_or(contacts_folder);
        let mut watched = Vec::new();
        if profile.import.enabled && mode != RunMode::ExportOnly {
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
            existing_folders: existing,
            feed_deletes: HashSet::new(),
            feed_items: HashMap::new(),
            target_folder,
            heads: HashMap::new(),
            item_by_crm: HashMap::new(),
            links_by_item: HashMap::new(),
            visible: HashSet::new(),
            scope: ExportSelection::All,
            done_crm: HashSet::new(),
            crm_matcher: None,
            unlinked_items: Vec::new(),
            failed_folders: HashSet::new(),
            held: 0,
            reads_failed: false,
            wrote_exchange: false,
            written_items: HashSet::new(),
            stamps: None,
            links_saved: None,
            links_behind: false,
            links_saving: None,
            pages: super::limits::PageBudget::new(job.limits),
            counts: RunCounts::default(),
            seq: 0,
            no_links: false,
            earlier_life: false,
            read_from_start: HashSet::new(),
            matched_later: Some(Vec::new()),
            retry_items: Vec::new(),
            retry_crm: Vec::new(),
            retried: Vec::new(),
            failed_keys: HashMap::new(),
            ok_keys: HashSet::new(),
            failures_on_record: HashSet::new(),
            mark: None,
            writes: 0,
            quiet: None,
        }
    }

    async fn run(&mut self) -> Result<(), Halt> {
        if !self.profile.import.enabled && !self.profile.export.enabled {
            return Ok(());
        }
        let store = self.store;
        let export = &self.profile.export;
        self.scope = if export.scope == ExportScope::All {
            ExportSelection::All
        } else if export.folder_ids.is_empty() && !export.contact_type_ids.is_empty() {
            // Known from each contact's type: nothing to read beforehand.
            ExportSelection::Types(export.contact_type_ids.clone())
        } else {
            ExportSelection::Chosen(store.export_scope_ids(&self.owner, &self.profile).await?)
        };
        // Folders that still hold linked items stay watched (an export target or import
        // folder changed in the profile): their edits and deletions must not be missed.
        let linked_folders = store.linked_folders(self.req.mailbox_id).await?;
        for folder in &linked_folders {
            if self.existing_folders.contains(folder) && !self.watched.contains(folder) {
                self.watched.push(folder.clone());
            }
        }
        let gone = self.gone_folders(linked_folders);
        self.failures_on_record = store
            .item_failure_keys(self.req.mailbox_id)
            .await?
            .into_iter()
            .collect();
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
        self.earlier_life = !has_links || stored.is_empty();
        self.mark = store.crm_mark(self.req.mailbox_id).await?;
        let links_lost = (!has_links && stored.values().any(|s| saved_with_links(s)))
            || stored.values().any(|s| relinking(s));
        // Marked now, not when the run ends: a run cut short (stopped, crashed) has saved
        // some links, which would hide the loss from the next run, while the old states
        // would keep it from reading again the items not relinked yet (an unstamped one,
        // whose stamp an import over immutable ids still owed, would never be read again).
        let stored = if links_lost && !self.req.dry_run {
            let marks: Vec<(String, String)> = (self.existing_folders.iter())
                .map(|f| (f.clone(), RELINKING.to_owned()))
                .collect();
            store
                .replace_sync_states(self.req.mailbox_id, &marks)
                .await?;
            marks.into_iter().collect()
        } else {
            stored
        };
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
                .iter()
                .filter_map(|(folder, state)| {
                    let state = usable_state(state, import.contains(folder))?;
                    Some((folder.clone(), state.to_owned()))
                })
                .collect()
        };
        self.read_from_start = self
            .watched
            .iter()
            .filter(|f| !saved.contains_key(*f))
            .cloned()
            .collect();
        self.write_owed_stamps().await?;
        let mut states = self
            .exchange_phase(self.watched.clone(), &saved, true)
            .await?;
        self.forget_gone_folders(gone).await?;
        // A dry run or an export-only run saves no feed state: no walk past our echoes.
        let states_saved = !self.req.dry_run && self.mode != RunMode::ExportOnly;
        let past_our_writes = if states_saved {
            self.crm_phase_walking_ahead(&mut states).await?
        } else {
            self.crm_phase().await?;
            false
        };
        if states_saved && self.wrote_exchange && !past_our_writes {
            // Read past our own writes now, so the saved state is after them: an item we
            // created that the user deletes before the next run would otherwise cancel
            // out in the feed (create + delete) and the deletion go unseen. Echoes are
            // recognised by their ChangeKey and cost no read.
            let folders = states.keys().cloned().collect();
            states = self.exchange_phase(folders, &states, false).await?;
        }
        // An export-only run saves no feed state: the Exchange changes it saw but may not
        // import are read again by the next run.
        if states_saved {
            crate::crash_points::reach(crate::crash_points::CrashPoint::BeforeFeedStates).await;
            self.save_feed_states(states, &stored).await?;
        }
        if !self.req.dry_run {
            self.record_failures().await?;
            self.save_mark().await?;
        }
        self.sink.progress(self.counts).await;
        Ok(())
    }

    /// The CRM phase, with the feed of the one folder read to its end walked behind its
    /// Exchange writes (see [`echoes`]): that folder's state moves past the echoes seen.
    /// Answers whether the state is past every write of the phase.
    async fn crm_phase_walking_ahead(
        &mut self,
        states: &mut HashMap<String, String>,
    ) -> Result<bool, Halt> {
        let folder = match states.len() {
            1 => states.keys().next().cloned(),
            _ => None,
        };
        let Some(folder) = folder else {
            self.crm_phase().await?;
            return Ok(false);
        };
        let (links_saved, progress) = echoes::channel();
        self.links_saved = Some(links_saved);
        let walk = echoes::read_past(
            self.t,
            self.store,
            self.req.mailbox_id,
            &folder,
            states[&folder].clone(),
            self.pages.clone(),
            progress,
        );
        let phase = async {
            let done = self.crm_phase().await;
            self.links_saved = None;
            done
        };
        let (done, walked) = futures_util::future::join(phase, walk).await;
        self.pages = walked.budget;
        states.insert(folder, walked.state);
        done.map(|()| walked.past_every_write)
    }

    fn in_export_scope(&self, id: Uuid, type_id: Option<Uuid>) -> bool {
        self.visible.contains(&id) && self.scope.selects(id, type_id)
    }

    fn crm_side(&self, r: &CrmRecord) -> CrmSide {
        CrmSide {
            id: r.id,
            fields: MappedContact::from_crm(&r.fields),
            version: r.version,
            updated_at: r.updated_at,
            deleted: r.deleted,
            in_export_scope: self.in_export_scope(r.id, r.fields.type_id),
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
}

/// What a mailbox's export scope selects, as a run knows it.
enum ExportSelection {
    /// Every contact the owner sees.
    All,
    /// The contacts of these types: known from each contact's type.
    Types(Vec<Uuid>),
    /// The contacts of chosen CRM folders (and types), read when the run starts.
    Chosen(HashSet<Uuid>),
}

impl ExportSelection {
    fn selects(&self, id: Uuid, type_id: Option<Uuid>) -> bool {
        match self {
            ExportSelection::All => true,
            ExportSelection::Types(types) => type_id.is_some_and(|t| types.contains(&t)),
            ExportSelection::Chosen(ids) => ids.contains(&id),
        }
    }

    /// What of it the database can tell when the run compares.
    fn in_sql(&self) -> ScopeInSql<'_> {
        match self {
            ExportSelection::All => ScopeInSql::All,
            ExportSelection::Types(types) => ScopeInSql::Types(types),
            ExportSelection::Chosen(_) => ScopeInSql::DecidedByRun,
        }
    }
}
