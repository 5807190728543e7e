//! Run items and counts: each operation's outcome, by its `OpKind`.
use chrono::Utc;
use uuid::Uuid;

use super::{Pair, Run};
use crate::domain::run::{ItemOutcome, OpKind, RunItem};
use crate::store::item_failures::{ItemFailure, crm_key};
use crate::sync::plan::Op;
use crate::transport::{ExchangeContacts, TransportError};

impl<T: ExchangeContacts> Run<'_, T> {
    pub(super) async fn count_and_record(
        &mut self,
        op: &Op,
        pair: &Pair,
        outcome: ItemOutcome,
        err: Option<&TransportError>,
        before: Option<serde_json::Value>,
    ) {
        let on_item = pair.ex.as_ref().map(|e| e.item_id.clone());
        let on_contact = pair.crm.as_ref().map(|c| c.id);
        let (crm_id, item_id): (Option<Uuid>, Option<String>) = match op {
            // Counted per pair where the pairs are planned.
            Op::Unchanged | Op::Link { .. } => return,
            Op::CreateInCrm { item_id, .. } => {
                (pair.record.as_ref().map(|r| r.id), Some(item_id.clone()))
            }
            Op::UpdateCrm { crm_id, .. } | Op::DeleteInCrm { crm_id } => (Some(*crm_id), on_item),
            Op::CreateInExchange { crm_id, .. } => (Some(*crm_id), None),
            Op::UpdateExchange { item_id, .. } | Op::DeleteInExchange { item_id } => {
                (on_contact, Some(item_id.clone()))
            }
            Op::Unlink { crm_id, item_id } => (Some(*crm_id), Some(item_id.clone())),
        };
        if outcome == ItemOutcome::Failed {
            self.counts.failed += 1;
        } else {
            self.counts.add(op.kind());
        }
        self.record(op.kind(), outcome, crm_id, item_id.as_deref(), err, before)
            .await;
    }

    pub(super) async fn record(
        &mut self,
        op: OpKind,
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
            // A success forgets an item's failures; only keys with failures on record
            // are kept (not every item of the run).
            ItemOutcome::Applied => {
                for key in item_id
                    .map(str::to_owned)
                    .into_iter()
                    .chain(crm_id.map(crm_key))
                {
                    if self.failures_on_record.contains(&key) {
                        self.ok_keys.insert(key);
                    }
                }
            }
            _ => {}
        }
        let item = RunItem {
            seq: self.seq,
            op,
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
