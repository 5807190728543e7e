//! The `CrmContactId` stamps of imported items, written beside the Exchange phase instead
//! of on its critical path: the next chunk is read, planned and applied while the stamps
//! of the chunks before are still out.
//!
//! Why this is safe: an imported item's link is saved, with the CRM contact it created,
//! before its stamp is written, and with an empty ChangeKey — the mark of a pair to merge
//! again. If the stamp never lands (a crash, a failure), the item differs from its link,
//! so the next time its feed brings it (the folder's state is not saved past a failed
//! stamp, nor by a run that dies) it is read and planned again, and the plan stamps it:
//! the link holds the pair meanwhile, so nothing is imported twice. A stamp written takes
//! the stamped item's ChangeKey into the link — only while the link still waits for it
//! (`Store::settle_stamps`: a later read of the item in this run may have moved it on) —
//! so the stamp's echo in the feed costs no read. The phase waits for every stamp before
//! it answers its feed states.
use std::collections::VecDeque;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

use super::apply::answered;
use super::{Halt, Run};
use crate::domain::run::{ItemOutcome, OpKind};
use crate::sync::plan::Link;
use crate::transport::{
    ErrorKind, ExchangeContacts, ITEM_BATCH, ItemUpdate, TransportError, Written,
};

/// Stamp batches out at once: with the chunk's reads and writes beside them, well under
/// Exchange's 27 concurrent requests per user (Graph's transport keeps its own 4).
const IN_FLIGHT: usize = 8;

/// Chunks of stamps that may wait for the writer: beyond it the run waits, so memory
/// stays bounded by chunks whatever the writer's pace.
const CHUNKS_WAITING: usize = 2;

/// A stamp to write: the update, and the folder whose state waits for it.
pub(super) struct Owed {
    pub folder: String,
    pub update: ItemUpdate,
}

/// A stamp's outcome.
pub(super) struct Stamped {
    folder: String,
    update: ItemUpdate,
    result: Result<Written, TransportError>,
}

/// The run's end of the stamp writer: stamps go out, outcomes come back.
pub(super) struct Stamps {
    owed: Option<mpsc::Sender<Vec<Owed>>>,
    done: mpsc::UnboundedReceiver<Stamped>,
}

/// The writer's end.
pub(super) struct Writer {
    owed: mpsc::Receiver<Vec<Owed>>,
    done: mpsc::UnboundedSender<Stamped>,
}

pub(super) fn channel() -> (Stamps, Writer) {
    let (owed_tx, owed_rx) = mpsc::channel(CHUNKS_WAITING);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    (
        Stamps {
            owed: Some(owed_tx),
            done: done_rx,
        },
        Writer {
            owed: owed_rx,
            done: done_tx,
        },
    )
}

impl Stamps {
    /// Hands stamps to the writer (waiting while [`CHUNKS_WAITING`] chunks wait); gives
    /// them back when it is closed.
    pub(super) async fn send(&self, stamps: Vec<Owed>) -> Result<(), Vec<Owed>> {
        match &self.owed {
            Some(tx) => tx.send(stamps).await.map_err(|e| e.0),
            None => Err(stamps),
        }
    }

    /// No more stamps: the writer ends once those out are answered.
    pub(super) fn close(&mut self) {
        self.owed = None;
    }
}

/// Writes the stamps handed over, [`ITEM_BATCH`] an update and [`IN_FLIGHT`] batches at
/// once, until the run closes its end and every batch is answered.
pub(super) async fn write<T: ExchangeContacts>(t: &T, mut w: Writer) {
    let mut out = FuturesUnordered::new();
    let mut waiting: VecDeque<Vec<Owed>> = VecDeque::new();
    let mut open = true;
    loop {
        while out.len() < IN_FLIGHT
            && let Some(batch) = waiting.pop_front()
        {
            out.push(async move {
                let updates: Vec<ItemUpdate> = batch.iter().map(|o| o.update.clone()).collect();
                let results = answered(t.update_contacts(&updates)).await;
                (batch, results)
            });
        }
        tokio::select! {
            // A chunk is taken only once the one before is out: the rest waits in the
            // bounded channel, and the run with it.
            owed = w.owed.recv(), if open && waiting.is_empty() => match owed {
                Some(owed) => {
                    let mut owed = owed.into_iter().peekable();
                    while owed.peek().is_some() {
                        waiting.push_back(owed.by_ref().take(ITEM_BATCH).collect());
                    }
                }
                None => open = false,
            },
            Some((batch, results)) = out.next(), if !out.is_empty() => {
                let results = super::apply::flatten(vec![results], &[batch.len()]);
                for (owed, result) in batch.into_iter().zip(results) {
                    // The run may be gone (it stopped): its stamps are owed to the next.
                    let _ = w.done.send(Stamped { folder: owed.folder, update: owed.update, result });
                }
            }
            else => break,
        }
    }
}

impl<T: ExchangeContacts> Run<'_, T> {
    /// Takes in the stamps answered so far: each written one's ChangeKey into its link (its
    /// echo is then known), a failed one holds its folder (read again next run, and then
    /// stamped). A conflict or a vanished item needs nothing: the item's change comes
    /// through the feed, and it is planned again.
    pub(super) async fn settle_stamps(&mut self) -> Result<(), Halt> {
        let Some(stamps) = self.stamps.as_mut() else {
            return Ok(());
        };
        let mut answered = Vec::new();
        while let Ok(s) = stamps.done.try_recv() {
            answered.push(s);
        }
        self.settle(answered).await
    }

    /// Waits for every stamp out, then settles them all.
    pub(super) async fn settle_every_stamp(&mut self) -> Result<(), Halt> {
        let Some(mut stamps) = self.stamps.take() else {
            return Ok(());
        };
        stamps.close();
        let mut answered = Vec::new();
        while let Some(s) = stamps.done.recv().await {
            answered.push(s);
        }
        self.settle(answered).await
    }

    async fn settle(&mut self, answered: Vec<Stamped>) -> Result<(), Halt> {
        let mut written = Vec::new();
        for s in answered {
            match s.result {
                Ok(w) => {
                    self.written_items.insert(w.item_id.clone());
                    written.push((w.item_id, w.change_key));
                }
                Err(e) if matches!(e.kind, ErrorKind::Conflict | ErrorKind::NotFound) => {}
                Err(e) => {
                    self.hold(&s.folder, e.kind);
                    self.counts.failed += 1;
                    self.record(
                        OpKind::ExchangeUpdate,
                        ItemOutcome::Failed,
                        s.update.stamp,
                        Some(&s.update.item_id),
                        Some(&e),
                        None,
                    )
                    .await;
                }
            }
        }
        if !written.is_empty() {
            self.wrote().await?;
            self.store
                .settle_stamps(self.req.mailbox_id, &written)
                .await?;
            for (item_id, change_key) in written {
                if let Some(head) = self.heads.get_mut(&item_id)
                    && head.change_key.is_empty()
                    && head.crm_version != Link::NEVER_MERGED
                {
                    head.change_key = change_key;
                }
            }
        }
        Ok(())
    }
}
