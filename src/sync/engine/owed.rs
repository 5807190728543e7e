//! The stamps that earlier imports left owed. Over a transport whose ids survive a move
//! (Graph with immutable ids) an import saves its links and leaves the items'
//! `CrmContactId` stamps to a later run: the import's critical path is its feed, not
//! one write per item, and the link holds the pair meanwhile (a move keeps the id, a
//! crash after the link was saved finds the link). Each run writes some of them before it
//! reads its feeds, so that their echoes come in that run's feeds, known by the ChangeKey
//! the link takes.
//!
//! A stamp is written only on the ChangeKey the link knows. Every stamp answered leaves
//! the owed set, written or not, so that none is tried twice: an item changed since (a
//! conflict) comes with its feed if a watched folder holds it, and the plan stamps an
//! item it reads; an item gone has nothing to stamp; one the server refuses would be
//! refused again. Such an item stays unstamped until a run reads it (the link holds the
//! pair meanwhile). A stamp not answered (throttled, transient, refused credentials, a
//! batch that failed whole, a run stopped) stays owed, to a later run.
use super::{Halt, Run};
use crate::store::sync_state::OwedStamp;
use crate::transport::{ErrorKind, ExchangeContacts, ITEM_BATCH, ItemUpdate};

/// Owed stamps one run writes at most: a fifth of a mailbox's request budget over Graph
/// (10,000 per 10 minutes per mailbox), and about 2.5 s of a run at 20 ms a request; an
/// import of 10,000 is stamped by the five runs after it.
const PER_RUN: u64 = 2_000;

impl<T: ExchangeContacts> Run<'_, T> {
    /// Writes up to [`PER_RUN`] owed stamps (not in a dry run). A failure worth retrying
    /// leaves them owed, to the next run, and fails nothing: a stamp is insurance for a
    /// lost link, not the sync itself.
    pub(super) async fn write_owed_stamps(&mut self) -> Result<(), Halt> {
        if self.req.dry_run {
            return Ok(());
        }
        let owed = self.store.owed_stamps(self.req.mailbox_id, PER_RUN).await?;
        if owed.is_empty() {
            return Ok(());
        }
        let mut stamped: Vec<(OwedStamp, String)> = Vec::with_capacity(owed.len());
        for batch in owed.chunks(ITEM_BATCH) {
            if self.sink.should_stop().await {
                break;
            }
            let updates: Vec<ItemUpdate> = batch
                .iter()
                .map(|o| ItemUpdate::stamp_only(o.item_id.clone(), o.change_key.clone(), o.crm_id))
                .collect();
            match self.t.update_contacts(&updates).await {
                Ok(results) => {
                    for (o, r) in batch.iter().zip(results) {
                        match r {
                            Ok(w) if w.item_id == o.item_id => {
                                self.written_items.insert(w.item_id);
                                stamped.push((o.clone(), w.change_key));
                            }
                            Ok(_) => {}
                            Err(e) if worth_retrying(e.kind) => {}
                            Err(e) => {
                                tracing::debug!(
                                    mailbox = %self.req.mailbox_id,
                                    item = %o.item_id,
                                    error = %e.message,
                                    "owed stamp not written; no longer owed"
                                );
                                // The link keeps its ChangeKey: only the debt goes.
                                stamped.push((o.clone(), o.change_key.clone()));
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(mailbox = %self.req.mailbox_id, error = %e.message, "owed stamps not written; the next run tries again");
                    break;
                }
            }
        }
        self.store
            .settle_owed_stamps(self.req.mailbox_id, &stamped)
            .await?;
        tracing::info!(mailbox = %self.req.mailbox_id, answered = stamped.len(), owed = owed.len(), "owed stamps written");
        Ok(())
    }
}

/// A stamp failure that another run may not meet.
fn worth_retrying(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::Auth
    )
}
