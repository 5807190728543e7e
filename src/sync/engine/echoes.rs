//! Reading past our own echoes while the CRM phase still writes.
//!
//! A run that wrote to Exchange reads its feeds once more, so that the state it saves is
//! after its own writes (see `execute`). Read only at the end, that walk is one page per
//! 512 writes, one after the other: after an export of 10,000 contacts, 20 sequential
//! round trips that nothing overlaps. So while the CRM phase writes, a reader walks the
//! feed behind it, and keeps the pages made only of our echoes; the walk at the end
//! starts where it stopped, and reads the last chunk's echoes and whatever it could not
//! tell apart.
//!
//! A page is judged only once the links of every write it may show are saved: those of
//! every chunk whose Exchange writes had begun when the page was answered. (Chunks
//! overlap: a chunk's writes go out while the links of the chunk before are still being
//! saved.) A page with anything but echoes (a user's change, a deletion, an item with no
//! link) ends the walk before it: the walk at the end reads that page again and applies
//! it as always. Only one folder is walked ahead: with several, a move between watched
//! folders needs both feeds read in the same walk.
use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::watch;
use uuid::Uuid;

use super::pair::is_echo;
use crate::store::Store;
use crate::sync::limits::PageBudget;
use crate::transport::{ExchangeContacts, FeedChange, FeedPage};

/// The CRM phase's chunks that write to Exchange, numbered from 1: how many began writing,
/// and up to which one their links are saved (links are saved in chunk order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Chunks {
    began: u64,
    saved: u64,
}

/// The CRM phase's side: says when a chunk begins its Exchange writes and when its links
/// are saved. Cloned into the task that saves a chunk's links.
#[derive(Clone)]
pub(super) struct LinksSaved(Arc<watch::Sender<Chunks>>);

impl LinksSaved {
    /// A chunk is about to write to Exchange: answers its number.
    pub(super) fn writing(&self) -> u64 {
        let mut number = 0;
        self.0.send_modify(|c| {
            c.began += 1;
            number = c.began;
        });
        number
    }

    /// The links of chunk `number` (and so of every chunk before it) are saved.
    pub(super) fn saved(&self, number: u64) {
        self.0.send_modify(|c| c.saved = c.saved.max(number));
    }
}

/// The CRM phase's signal and the reader's end of it. Dropping every [`LinksSaved`]
/// tells the reader the phase is over.
pub(super) fn channel() -> (LinksSaved, watch::Receiver<Chunks>) {
    let (tx, rx) = watch::channel(Chunks::default());
    (LinksSaved(Arc::new(tx)), rx)
}

/// Where the walk ahead stopped: the state after the last page of echoes it read, and
/// the budget with its pages spent.
pub(super) struct WalkedAhead {
    pub(super) state: String,
    pub(super) budget: PageBudget,
    /// The state is past every write of the phase: its page was the feed's last and was
    /// asked for once every chunk's writes had their links saved. The walk at the end is
    /// then needless.
    pub(super) past_every_write: bool,
}

/// What the reader of a page had seen of the chunks when it asked for the page and when
/// the answer came.
struct Asked {
    sent: Chunks,
    answered: Chunks,
}

/// Pages read ahead of their judgement: the feed keeps paging while the chunks in play
/// save their links.
const PAGES_PENDING: usize = 4;

/// Walks `folder`'s feed from `state` behind the CRM phase's writes, until the phase is
/// over or a page holds something else than our echoes. A failing read (of the feed or
/// of the links) ends the walk quietly: the walk at the end reads the same pages and
/// reports what fails.
pub(super) async fn read_past<T: ExchangeContacts>(
    t: &T,
    store: &Store,
    mailbox: Uuid,
    folder: &str,
    state: String,
    budget: PageBudget,
    mut chunks: watch::Receiver<Chunks>,
) -> WalkedAhead {
    let mut walked = WalkedAhead {
        state,
        budget,
        past_every_write: false,
    };
    let mut feed_pages = 0;
    // Pages read, each with what was seen of the chunks when it was asked for and when
    // it was answered, waiting for their judgement; and the state the next page is read
    // from.
    let mut pending: VecDeque<(FeedPage, Asked)> = VecDeque::new();
    let mut next_state = walked.state.clone();
    // The feed was read to its end before the phase: nothing to read before a write.
    let mut caught_up = true;
    let mut phase_over = false;
    // Whether the last page judged ended the feed, and what it saw when it was asked for.
    let mut last_judged: Option<(bool, Chunks)> = None;
    loop {
        let now = *chunks.borrow_and_update();
        if phase_over || caught_up || pending.len() >= PAGES_PENDING {
            let judged = judge_ready(store, mailbox, &mut pending, now, phase_over).await;
            if let Some((state, last)) = judged.last {
                walked.state = state;
                last_judged = Some(last);
            }
            if judged.stopped {
                return walked;
            }
            if phase_over {
                // The last page judged ended the feed and was asked for once every chunk
                // had saved its links, none beginning after: the server made it after
                // every write of the phase.
                walked.past_every_write = last_judged
                    .is_some_and(|(done, sent)| done && sent == now && sent.saved == sent.began);
                return walked;
            }
            if caught_up || pending.len() >= PAGES_PENDING {
                // Nothing to read (or judge) until a chunk's links are saved: a chunk
                // only beginning its writes has nothing on the server yet.
                let saved = now.saved;
                phase_over = chunks.wait_for(|c| c.saved > saved).await.is_err();
                caught_up = false;
                continue;
            }
        }
        if walked.budget.take(&mut feed_pages, folder).is_err() {
            return walked;
        }
        let sent = *chunks.borrow();
        // The pages ready are judged while the next one is read: the feed is a chain of
        // round trips, each waiting for the state of the one before, and is the slower.
        let (page, judged) = futures_util::future::join(
            t.changes(folder, Some(&next_state)),
            judge_ready(store, mailbox, &mut pending, now, false),
        )
        .await;
        if let Some((state, last)) = judged.last {
            walked.state = state;
            last_judged = Some(last);
        }
        let (false, Ok(page)) = (judged.stopped, page) else {
            return walked;
        };
        next_state = page.sync_state.clone();
        caught_up = page.done;
        let answered = *chunks.borrow();
        pending.push_back((page, Asked { sent, answered }));
    }
}

/// What [`judge_ready`] found.
struct Judged {
    /// The state after the last page judged to be our echoes, whether that page ended
    /// the feed, and what it saw of the chunks when it was asked for.
    last: Option<(String, (bool, Chunks))>,
    /// A page held something else than our echoes: the walk ends before it.
    stopped: bool,
}

/// Judges the pending pages whose writes all have their links saved (`all`: every one,
/// the phase being over), in order, up to one that holds something else than our echoes.
async fn judge_ready(
    store: &Store,
    mailbox: Uuid,
    pending: &mut VecDeque<(FeedPage, Asked)>,
    now: Chunks,
    all: bool,
) -> Judged {
    let mut judged = Judged {
        last: None,
        stopped: false,
    };
    // Every write a page may show began before its answer.
    while let Some((_, asked)) = pending.front()
        && (all || now.saved >= asked.answered.began)
    {
        let (page, asked) = pending.pop_front().expect("a pending page");
        if !only_our_echoes(store, mailbox, &page).await {
            judged.stopped = true;
            break;
        }
        judged.last = Some((page.sync_state, (page.done, asked.sent)));
    }
    judged
}

/// Every change of the page is an upsert whose ChangeKey its item's link holds.
async fn only_our_echoes(store: &Store, mailbox: Uuid, page: &FeedPage) -> bool {
    let mut ids = Vec::with_capacity(page.changes.len());
    let mut keys = Vec::with_capacity(page.changes.len());
    for change in &page.changes {
        match change {
            FeedChange::Upsert {
                item_id,
                change_key,
                ..
            } => {
                ids.push(item_id.clone());
                keys.push((item_id.as_str(), change_key.as_str()));
            }
            FeedChange::Delete { .. } => return false,
        }
    }
    if ids.is_empty() {
        return true;
    }
    let Ok(heads) = store.link_heads_of(mailbox, &ids, &[]).await else {
        return false;
    };
    let linked: std::collections::HashMap<&str, &str> = heads
        .iter()
        .map(|h| (h.item_id.as_str(), h.change_key.as_str()))
        .collect();
    keys.iter()
        .all(|(id, key)| is_echo(linked.get(id).copied(), key))
}
