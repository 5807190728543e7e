//! The change feeds, read ahead of the chunks: a reader pages through every watched
//! folder's feed (pages follow each other, the one sequential part of a run) and hands
//! the pages over a short queue to the engine, which applies them a chunk at a time
//! meanwhile. A page is only read ahead, never applied ahead: the feed states are saved
//! once everything is applied, as before.
use std::collections::{HashMap, HashSet};

use tokio::sync::mpsc;

use super::{CHUNK, Halt, RunSink};
use crate::crash_points::{self, CrashPoint};
use crate::sync::limits::PageBudget;
use crate::transport::{ErrorKind, ExchangeContacts, FeedPage, TransportError};

/// Pages read ahead of the engine: enough to keep the feed busy while a chunk is applied,
/// few enough that memory follows the pages, not the mailbox.
pub(super) const PAGES_AHEAD: usize = 4;

/// What the reader hands over.
pub(super) enum FeedEvent {
    /// The next page of a folder's feed.
    Page { folder: String, page: FeedPage },
    /// A folder's feed failed (not for sign-in): the folder's state is not saved, the
    /// other folders go on.
    Failed {
        folder: String,
        error: TransportError,
    },
    /// The run must stop (cancelled, signed out, a feed without end).
    Halt(Halt),
}

/// Set by the engine when it ended its walk before the feed's end: the reader reads no
/// more.
pub(super) type StopReading = std::sync::atomic::AtomicBool;

/// Reads the feeds of `folders` from their saved states, one page after the other, and
/// sends each page to `pages`; stops when the engine stops listening or sets `stop`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn read_feeds<T: ExchangeContacts>(
    t: &T,
    sink: &dyn RunSink,
    budget: &mut PageBudget,
    mailbox: uuid::Uuid,
    folders: Vec<String>,
    saved: &HashMap<String, String>,
    pages: mpsc::Sender<FeedEvent>,
    stop: &StopReading,
) {
    for folder in folders {
        let mut state = saved.get(&folder).cloned();
        let mut restarted = false;
        let mut feed_pages = 0;
        loop {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            // Paging bounds: a cancel is seen between pages, and a feed that never says
            // "last page" fails the run instead of holding the worker.
            if sink.should_stop().await {
                let _ = pages.send(FeedEvent::Halt(Halt::Cancelled)).await;
                return;
            }
            if let Err(e) = budget.take(&mut feed_pages, &folder) {
                let _ = pages.send(FeedEvent::Halt(Halt::Failed(e))).await;
                return;
            }
            let event = match t.changes(&folder, state.as_deref()).await {
                Ok(page) => {
                    crash_points::reach(CrashPoint::FeedPage).await;
                    state = Some(page.sync_state.clone());
                    let done = page.done;
                    let folder = folder.clone();
                    if pages.send(FeedEvent::Page { folder, page }).await.is_err() {
                        return;
                    }
                    if done {
                        break;
                    }
                    continue;
                }
                // The state is unusable: read the folder from the start; links and
                // CrmContactId stamps make the replay create nothing twice.
                Err(e) if e.kind == ErrorKind::InvalidSyncState && !restarted => {
                    tracing::warn!(mailbox = %mailbox, folder = %folder, "invalid sync state; resynchronizing the folder");
                    restarted = true;
                    state = None;
                    continue;
                }
                Err(e) if e.kind == ErrorKind::Auth => FeedEvent::Halt(Halt::Failed(e.to_string())),
                Err(error) => FeedEvent::Failed {
                    folder: folder.clone(),
                    error,
                },
            };
            let halt = matches!(event, FeedEvent::Halt(_));
            if pages.send(event).await.is_err() || halt {
                return;
            }
            break;
        }
    }
}

/// The upserts of the feeds waiting for their chunk. An item waits once (a feed reports
/// an item again when it changed during the walk); items that failed in earlier runs come
/// after the feeds, unless a feed brought them.
pub(super) struct Upserts {
    waiting: Vec<(String, String)>,
    /// Item ids waiting or in a chunk not applied yet.
    in_play: HashSet<String>,
    retry: Vec<String>,
    retry_left: HashSet<String>,
}

impl Upserts {
    pub(super) fn new(retry: Vec<String>) -> Upserts {
        Upserts {
            waiting: Vec::new(),
            in_play: HashSet::new(),
            retry_left: retry.iter().cloned().collect(),
            retry,
        }
    }

    pub(super) fn push(&mut self, folder: &str, item_id: String) {
        self.retry_left.remove(&item_id);
        if self.in_play.insert(item_id.clone()) {
            self.waiting.push((folder.to_owned(), item_id));
        }
    }

    /// The next full chunk, when one is waiting.
    pub(super) fn full_chunk(&mut self) -> Option<Vec<(String, String)>> {
        (self.waiting.len() >= CHUNK).then(|| self.waiting.drain(..CHUNK).collect())
    }

    /// What waits, full or not (at most a chunk), when anything does.
    pub(super) fn any_chunk(&mut self) -> Option<Vec<(String, String)>> {
        let n = self.waiting.len().min(CHUNK);
        (n > 0).then(|| self.waiting.drain(..n).collect())
    }

    /// Items waiting for their chunk.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// A chunk is applied: a later change of its items is news again.
    pub(super) fn applied(&mut self, chunk: &[(String, String)]) {
        for (_, id) in chunk {
            self.in_play.remove(id);
        }
    }

    /// What still waits once the feeds are read, then the retried items, in chunks.
    pub(super) fn rest(mut self) -> Vec<Vec<(String, String)>> {
        let mut rest = std::mem::take(&mut self.waiting);
        rest.extend(
            std::mem::take(&mut self.retry)
                .into_iter()
                .filter(|id| self.retry_left.contains(id))
                .map(|id| (String::new(), id)),
        );
        rest.chunks(CHUNK).map(<[_]>::to_vec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(chunk: &[(String, String)]) -> Vec<&str> {
        chunk.iter().map(|(_, id)| id.as_str()).collect()
    }

    #[test]
    fn an_item_waits_once_until_its_chunk_is_applied() {
        let mut u = Upserts::new(Vec::new());
        u.push("f", "a".into());
        u.push("f", "a".into());
        assert!(u.full_chunk().is_none());
        let rest = u.rest();
        assert_eq!(rest.len(), 1);
        assert_eq!(ids(&rest[0]), ["a"]);
    }

    #[test]
    fn a_full_chunk_leaves_when_it_is_full_and_its_items_are_news_again_once_applied() {
        let mut u = Upserts::new(Vec::new());
        for i in 0..CHUNK + 1 {
            u.push("f", format!("i{i}"));
        }
        let chunk = u.full_chunk().expect("a full chunk");
        assert_eq!(chunk.len(), CHUNK);
        assert!(u.full_chunk().is_none());
        u.push("f", "i0".into());
        assert_eq!(u.waiting.len(), 1, "still in play until applied");
        u.applied(&chunk);
        u.push("f", "i0".into());
        assert_eq!(u.waiting.len(), 2);
    }

    #[test]
    fn retried_items_come_last_unless_a_feed_brought_them() {
        let mut u = Upserts::new(vec!["r1".into(), "r2".into()]);
        u.push("f", "r2".into());
        u.push("f", "x".into());
        let rest = u.rest();
        assert_eq!(ids(&rest[0]), ["r2", "x", "r1"]);
        assert_eq!(rest[0][2].0, "", "a retried item has no feed folder");
    }
}
