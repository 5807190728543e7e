//! Applying a chunk of planned pairs: CRM writes in one short transaction (each conditional
//! on the version read), then Exchange writes in batches side by side, then the links; a
//! conflict is re-read and re-planned once.
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use futures_util::future::{BoxFuture, join_all};
use uuid::Uuid;

use super::commit::ex_from_link;
use super::{Halt, Pair, Run, Work};
use crate::crash_points::{self, CrashPoint};
use crate::domain::account::name_key;
use crate::domain::contact::ContactFields;
use crate::domain::run::{ItemOutcome, OpKind};
use crate::store::sync_state::{CrmRecord, CrmWrite};
use crate::sync::fieldmap::{self, Changes, Field, MappedContact};
use crate::sync::matching::link_account;
use crate::sync::plan::{ExSide, Op, plan};
use crate::transport::{ErrorKind, ExchangeContacts, ITEM_BATCH, ItemUpdate, TransportError};

impl<T: ExchangeContacts> Run<'_, T> {
    /// Plans and applies a chunk of pairs: CRM writes (one transaction), then Exchange
    /// writes (batches side by side), then links. `retry` allows one re-read and re-plan
    /// of items whose ChangeKey moved under us.
    pub(super) fn apply(
        &mut self,
        pairs: Vec<Pair>,
        retry: bool,
    ) -> BoxFuture<'_, Result<(), Halt>> {
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
            if !planned.is_empty() {
                self.wrote().await?;
            }
            let mut work: Vec<Work> = planned
                .into_iter()
                .map(|(pair, ops)| Work::new(pair, ops))
                .collect();
            let mut conflicts = self.apply_crm(&mut work).await?;
            // The walk ahead of our echoes learns when this chunk's writes have their links.
            let chunk = self
                .links_saved
                .as_ref()
                .filter(|_| work.iter().any(Work::writes_exchange))
                .map(|l| (l.clone(), l.writing()));
            conflicts.extend(self.apply_exchange(&mut work).await?);
            crash_points::reach(CrashPoint::BeforeLinks).await;
            self.apply_links(&mut work, chunk).await?;
            self.sink.progress(self.counts).await;
            if !conflicts.is_empty() {
                self.replan_conflicts(conflicts, retry).await?;
            }
            Ok(())
        })
    }

    /// CRM writes, each conditional on the version the run read; answers the pairs a
    /// user edited meanwhile (to re-read and re-plan, never to overwrite).
    pub(super) async fn apply_crm(&mut self, work: &mut [Work]) -> Result<Vec<Pair>, Halt> {
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
                    // A deletion keeps the whole contact; an update, what it overwrote.
                    let before = work[wi].pair.record.as_ref().and_then(|r| match op {
                        Op::CreateInCrm { .. } => None,
                        Op::DeleteInCrm { .. } => serde_json::to_value(&r.fields).ok(),
                        _ => Some(r.fields.overwritten_by(&record.fields)),
                    });
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
    pub(super) async fn apply_exchange(&mut self, work: &mut [Work]) -> Result<Vec<Pair>, Halt> {
        let mut creates: Vec<(usize, Uuid, MappedContact)> = Vec::new();
        let mut updates: Vec<(usize, Option<usize>, ItemUpdate)> = Vec::new();
        let mut deletes: Vec<(usize, usize, String)> = Vec::new();
        let mut stamps_owed: Vec<(usize, ItemUpdate)> = Vec::new();
        let mut stamps_deferred: Vec<usize> = Vec::new();
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
                        if self.t.ids_survive_moves() {
                            // The link holds the pair whatever the item does (moved, its
                            // id stays): the stamp is written by a later run, off this
                            // run's critical path (`owed_stamps`).
                            stamps_deferred.push(wi);
                        } else if let Some(crm) = &w.crm_now {
                            let stamp =
                                ItemUpdate::stamp_only(item_id.clone(), change_key.clone(), crm.id);
                            // Beside the run when the phase has a stamp writer (`stamps`).
                            if self.stamps.is_some() {
                                stamps_owed.push((wi, stamp));
                            } else {
                                updates.push((wi, None, stamp));
                            }
                        }
                    }
                    Op::DeleteInExchange { item_id } => deletes.push((wi, oi, item_id.clone())),
                    _ => {}
                }
            }
        }

        for (wi, stamp) in stamps_owed {
            work[wi].stamp_for_writer = Some(stamp);
        }
        for wi in stamps_deferred {
            work[wi].stamp_deferred = true;
        }
        let target = self.target_folder.clone();
        let create_batches: Vec<Vec<(Uuid, MappedContact)>> = creates
            .chunks(ITEM_BATCH)
            .map(|c| c.iter().map(|(_, id, f)| (*id, f.clone())).collect())
            .collect();
        let results = join_all(
            create_batches
                .iter()
                .map(|b| answered(self.t.create_contacts(&target, b))),
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
                    self.written_items.insert(written.item_id.clone());
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
        let results = join_all(
            update_batches
                .iter()
                .map(|b| answered(self.t.update_contacts(b))),
        )
        .await;
        let results = flatten(
            results,
            &update_batches.iter().map(Vec::len).collect::<Vec<_>>(),
        );
        let mut conflicts = Vec::new();
        for ((wi, oi, update), result) in updates.into_iter().zip(results) {
            match result {
                Ok(written) => {
                    self.wrote_exchange = true;
                    self.written_items.insert(written.item_id.clone());
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
        let results = join_all(
            delete_batches
                .iter()
                .map(|b| answered(self.t.delete_contacts(b))),
        )
        .await;
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

    /// Re-reads items whose ChangeKey moved under an update and plans them again, once.
    pub(super) async fn replan_conflicts(
        &mut self,
        pairs: Vec<Pair>,
        retry: bool,
    ) -> Result<(), Halt> {
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
                    OpKind::ExchangeUpdate,
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
                    let crm_id = pair.crm.as_ref().map(|c| c.id);
                    self.unread(Some(&folder), crm_id, id, &e).await;
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

    /// An item that could not be read (anything but "not found"): counted and recorded
    /// (the next run reads it again), its folder held back where trying again may help;
    /// and the run pairs nothing by content (`pair_matched_later`): the item may carry
    /// the stamp of the contact a content match would take.
    pub(super) async fn unread(
        &mut self,
        folder: Option<&str>,
        crm_id: Option<Uuid>,
        item_id: &str,
        e: &TransportError,
    ) {
        if let Some(folder) = folder {
            self.hold(folder, e.kind);
        }
        self.reads_failed = true;
        self.counts.failed += 1;
        self.record(
            OpKind::ExchangeRead,
            ItemOutcome::Failed,
            crm_id,
            Some(item_id),
            Some(e),
            None,
        )
        .await;
    }

    /// Whether this item failed in five runs in a row, and is no longer retried.
    pub(super) fn given_up(&self, item_id: &str) -> bool {
        self.failures_on_record.contains(item_id) && !self.retried.iter().any(|k| k == item_id)
    }

    /// Keeps a folder's state from moving past a failed item worth reading again.
    pub(super) fn hold(&mut self, folder: &str, kind: ErrorKind) {
        if matches!(
            kind,
            ErrorKind::Throttled | ErrorKind::Transient | ErrorKind::Conflict
        ) {
            self.failed_folders.insert(folder.to_owned());
            self.held += 1;
        }
    }
}

/// The item's synchronized fields once `changes` are written (a transport that replaces
/// multi-valued properties whole writes them from this).
pub(super) fn item_after(pair: &Pair, changes: &Changes) -> MappedContact {
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
pub(super) fn all_changes(fields: &MappedContact) -> Changes {
    fields
        .iter()
        .map(|(f, v)| (f, Some(v.to_owned())))
        .collect()
}

/// Flattens per-batch results into per-item results; a failed batch fails its items.
pub(super) fn flatten<R>(
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

/// A batch of Exchange writes, answered (the kill test may stop the process right after
/// it, while other batches of the chunk are still out).
pub(super) async fn answered<R>(call: impl std::future::Future<Output = R>) -> R {
    let result = call.await;
    crash_points::reach(CrashPoint::ExchangeBatch).await;
    result
}
