//! The plan: a pure function from (CRM side, Exchange side, link) to the operations
//! that bring one pair into agreement (SPEC §5), in the pimsync/vstorage shape.
//!
//! A side is `None` when the run has no news of it: unchanged since the link (the
//! engine reads only what moved), or not there at all when there is no link. "Changed"
//! means different from the link's snapshot of that side as last synced; the link keeps
//! one snapshot per side because one-way fields let the sides differ legitimately.
//!
//! A change that cannot flow (the field's direction, import/export disabled, or the
//! run's mode) is absorbed: the link records it as seen, and it flows only if edited
//! again. Exchange reports a change once, so keeping it pending is not possible anyway.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::fieldmap::{Changes, Field, MappedContact};
use crate::domain::profile::{ConflictPolicy, ContactSyncProfile, OnCrmDelete, OnExchangeDelete};
use crate::domain::run::{OpKind, RunMode};

/// The CRM side of a pair as the run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmSide {
    pub id: Uuid,
    pub fields: MappedContact,
    /// Grows on every change (our own writes too).
    pub version: i32,
    pub updated_at: DateTime<Utc>,
    /// A tombstone.
    pub deleted: bool,
    /// Whether the contact is in the profile's export scope now.
    pub in_export_scope: bool,
}

/// The Exchange side of a pair as the run sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExSide {
    pub item_id: String,
    /// Changes on every write of the item (our own writes too).
    pub change_key: String,
    pub folder_id: String,
    pub fields: MappedContact,
    pub last_modified: DateTime<Utc>,
    /// The `CrmContactId` stamp the item carries.
    pub crm_contact_id: Option<Uuid>,
    /// SyncFolderItems reported it deleted (the other fields are then empty).
    pub deleted: bool,
    /// In a folder the sync watches (an import folder, or the export target folder).
    pub in_import_scope: bool,
}

impl ExSide {
    /// An item SyncFolderItems reported deleted.
    pub fn deleted(item_id: impl Into<String>, folder_id: impl Into<String>) -> ExSide {
        ExSide {
            item_id: item_id.into(),
            change_key: String::new(),
            folder_id: folder_id.into(),
            fields: MappedContact::default(),
            last_modified: DateTime::<Utc>::MIN_UTC,
            crm_contact_id: None,
            deleted: true,
            in_import_scope: false,
        }
    }
}

/// The state of a synced pair as last synced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub crm_id: Uuid,
    pub item_id: String,
    pub change_key: String,
    pub folder_id: String,
    pub crm_version: i32,
    /// Whether the CRM contact was in the export scope: only then is leaving it a delete.
    pub crm_in_export_scope: bool,
    /// The CRM side's mapped fields as last synced (the merge base of CRM changes).
    pub crm_base: MappedContact,
    /// The Exchange side's mapped fields as last synced (the merge base of Exchange changes).
    pub ex_base: MappedContact,
    pub crm_fingerprint: String,
    pub ex_fingerprint: String,
    /// The pair was unlinked: neither side is synced, nor imported or exported as new.
    pub detached: bool,
    /// The item does not carry its `CrmContactId` stamp yet: the import left it to a later
    /// run (over a transport whose ids survive a move, the link holds the pair meanwhile).
    pub stamp_owed: bool,
}

impl Link {
    /// The `crm_version` of a link recorded for a pair whose write failed: merged again by
    /// the next run, never settled by a stamp.
    pub const NEVER_MERGED: i32 = -1;

    /// The link of a pair whose sides are now as given (after the plan's writes).
    pub fn new(crm: &CrmSide, ex: &ExSide) -> Link {
        Link {
            crm_id: crm.id,
            item_id: ex.item_id.clone(),
            change_key: ex.change_key.clone(),
            folder_id: ex.folder_id.clone(),
            crm_version: crm.version,
            crm_in_export_scope: crm.in_export_scope,
            crm_base: crm.fields.clone(),
            ex_base: ex.fields.clone(),
            crm_fingerprint: crm.fields.fingerprint(),
            ex_fingerprint: ex.fields.fingerprint(),
            detached: false,
            stamp_owed: false,
        }
    }
}

/// One operation of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Nothing to do for this pair.
    Unchanged,
    /// Import a new Exchange contact; then stamp the item with the new CRM id
    /// (`fieldmap::stamp_crm_contact_id`; where ids survive a move, a later run writes
    /// it, and the link says it is owed), link the account by company, and record the link.
    CreateInCrm {
        item_id: String,
        change_key: String,
        fields: MappedContact,
    },
    /// Export a new CRM contact (`fieldmap::to_exchange_contact`) to the export target
    /// folder, and record the link.
    CreateInExchange { crm_id: Uuid, fields: MappedContact },
    /// Write changed fields to the CRM contact (`fieldmap::apply_to_crm`); a changed
    /// company re-links the account (`matching::link_account`).
    UpdateCrm { crm_id: Uuid, changes: Changes },
    /// Write changed fields to the Exchange item (`fieldmap::exchange_updates`), with
    /// NeverOverwrite and `change_key`; `stamp` also sets `CrmContactId` to that id.
    UpdateExchange {
        item_id: String,
        change_key: String,
        changes: Changes,
        stamp: Option<Uuid>,
    },
    /// Delete (tombstone) the CRM contact.
    DeleteInCrm { crm_id: Uuid },
    /// Delete the Exchange item.
    DeleteInExchange { item_id: String },
    /// Record the pair's link from both sides as they are after this plan's writes.
    Link { crm_id: Uuid, item_id: String },
    /// Detach the pair (`Link::detached`).
    Unlink { crm_id: Uuid, item_id: String },
}

impl Op {
    /// Its kind (what run items record and metrics count).
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Unchanged => OpKind::Unchanged,
            Op::CreateInCrm { .. } => OpKind::CrmCreate,
            Op::CreateInExchange { .. } => OpKind::ExchangeCreate,
            Op::UpdateCrm { .. } => OpKind::CrmUpdate,
            Op::UpdateExchange { .. } => OpKind::ExchangeUpdate,
            Op::DeleteInCrm { .. } => OpKind::CrmDelete,
            Op::DeleteInExchange { .. } => OpKind::ExchangeDelete,
            Op::Link { .. } => OpKind::Link,
            Op::Unlink { .. } => OpKind::Unlink,
        }
    }

    /// Whether the operation writes to the CRM or to Exchange.
    pub fn is_write(&self) -> bool {
        self.kind().is_write()
    }
}

/// What the profile and the run's mode allow.
struct Allowed<'a> {
    profile: &'a ContactSyncProfile,
    import: bool,
    export: bool,
}

impl Allowed<'_> {
    fn to_crm(&self, f: Field) -> bool {
        self.import && f.direction(self.profile).to_crm()
    }

    fn to_exchange(&self, f: Field) -> bool {
        self.export && f.direction(self.profile).to_exchange()
    }
}

/// A detached pair is never synced again, but its item keeps our stamp, as every item
/// we linked does. One read without it gets it: an import over ids that survive moves
/// leaves its stamps to later runs, and the pair may be detached first (its item moved out
/// of the import folders); unstamped, it would be neither imported again when its folder
/// is one nor found by its stamp after a loss of the links.
fn stamp_of_detached(ex: Option<&ExSide>, l: &Link) -> Vec<Op> {
    match ex {
        Some(e) if !e.deleted && e.crm_contact_id.is_none() => vec![Op::UpdateExchange {
            item_id: e.item_id.clone(),
            change_key: e.change_key.clone(),
            changes: Changes::new(),
            stamp: Some(l.crm_id),
        }],
        _ => vec![],
    }
}

/// The operations that bring one pair into agreement (see the module docs for `None`).
pub fn plan(
    crm: Option<&CrmSide>,
    ex: Option<&ExSide>,
    link: Option<&Link>,
    profile: &ContactSyncProfile,
    mode: RunMode,
) -> Vec<Op> {
    let allowed = Allowed {
        profile,
        import: profile.import.enabled && mode != RunMode::ExportOnly,
        export: profile.export.enabled && mode != RunMode::ImportOnly,
    };
    let ops = match (crm, ex, link) {
        (_, ex, Some(l)) if l.detached => stamp_of_detached(ex, l),
        (None, None, _) => vec![],
        (None, Some(ex), None) => new_in_exchange(ex, &allowed),
        (Some(crm), None, None) => new_in_crm(crm, &allowed),
        _ => pair(crm, ex, link, &allowed),
    };
    if ops.is_empty() {
        vec![Op::Unchanged]
    } else {
        ops
    }
}

/// Fields a create carries: those that flow that way, and always the full name (a
/// contact needs one; import "composes it from the names, or takes DisplayName").
fn create_fields(fields: &MappedContact, flows: impl Fn(Field) -> bool) -> MappedContact {
    fields.filtered(|f| f == Field::FullName || flows(f))
}

fn new_in_exchange(ex: &ExSide, allowed: &Allowed) -> Vec<Op> {
    if ex.deleted || !ex.in_import_scope || !allowed.import {
        return vec![];
    }
    let fields = create_fields(&ex.fields, |f| f.direction(allowed.profile).to_crm());
    vec![Op::CreateInCrm {
        item_id: ex.item_id.clone(),
        change_key: ex.change_key.clone(),
        fields,
    }]
}

fn new_in_crm(crm: &CrmSide, allowed: &Allowed) -> Vec<Op> {
    if crm.deleted || !crm.in_export_scope || !allowed.export {
        return vec![];
    }
    let fields = create_fields(&crm.fields, |f| f.direction(allowed.profile).to_exchange());
    vec![Op::CreateInExchange {
        crm_id: crm.id,
        fields,
    }]
}

/// A linked pair, or a pair matched on first sync (no link: both merge bases empty, so
/// a value on one side only fills the other and differing values are a conflict).
fn pair(crm: Option<&CrmSide>, ex: Option<&ExSide>, link: Option<&Link>, a: &Allowed) -> Vec<Op> {
    let (Some(crm_id), Some(item_id)) = (
        crm.map(|c| c.id).or(link.map(|l| l.crm_id)),
        ex.map(|e| e.item_id.clone())
            .or(link.map(|l| l.item_id.clone())),
    ) else {
        return vec![];
    };
    let unlink = || {
        link.map(|_| Op::Unlink {
            crm_id,
            item_id: item_id.clone(),
        })
    };
    let crm_gone = crm.is_some_and(|c| {
        c.deleted || (!c.in_export_scope && link.is_some_and(|l| l.crm_in_export_scope))
    });
    let ex_gone = ex.is_some_and(|e| e.deleted || !e.in_import_scope);
    if link.is_none() && (crm_gone || ex_gone) {
        // Never synced as a pair: a deletion on one side says nothing about the other.
        return vec![];
    }

    if ex_gone {
        let mut ops = Vec::new();
        let crm_deleted = crm.is_some_and(|c| c.deleted);
        if a.profile.on_exchange_delete == OnExchangeDelete::DeleteInCrm && a.import && !crm_deleted
        {
            ops.push(Op::DeleteInCrm { crm_id });
        }
        ops.extend(unlink());
        return ops;
    }
    if crm_gone {
        let mut ops = Vec::new();
        if a.profile.on_crm_delete == OnCrmDelete::DeleteInExchange && a.export {
            ops.push(Op::DeleteInExchange {
                item_id: item_id.clone(),
            });
        } else if let Some(e) = ex.filter(|e| e.crm_contact_id != Some(crm_id)) {
            // The item stays: it keeps the stamp of the contact it was paired with, as it
            // would had the run that linked them not died before stamping it. A contact
            // back in scope finds it by that stamp, and an import never takes it for new.
            ops.push(Op::UpdateExchange {
                item_id: item_id.clone(),
                change_key: e.change_key.clone(),
                changes: Changes::new(),
                stamp: Some(crm_id),
            });
        }
        ops.extend(unlink());
        return ops;
    }

    let empty = MappedContact::default();
    let crm_now = crm
        .map(|c| &c.fields)
        .or(link.map(|l| &l.crm_base))
        .unwrap_or(&empty);
    let ex_now = ex
        .map(|e| &e.fields)
        .or(link.map(|l| &l.ex_base))
        .unwrap_or(&empty);
    // Our own writes come back with the version / ChangeKey the link recorded: whatever
    // the fields say, that side has not changed since.
    let crm_base = match link {
        Some(l) if crm.is_some_and(|c| c.version == l.crm_version) => crm_now,
        Some(l) => &l.crm_base,
        None => &empty,
    };
    let ex_base = match link {
        Some(l) if ex.is_some_and(|e| e.change_key == l.change_key) => ex_now,
        Some(l) => &l.ex_base,
        None => &empty,
    };

    let (to_crm, to_ex) = merge(crm_now, crm_base, ex_now, ex_base, crm, ex, a);

    let mut ops = Vec::new();
    if !to_crm.is_empty() {
        ops.push(Op::UpdateCrm {
            crm_id,
            changes: to_crm,
        });
    }
    // An item read without our stamp gets it; one not read, when its link says the
    // stamp is still owed (an import left it to a later run).
    let stamp = match ex {
        Some(e) => (e.crm_contact_id != Some(crm_id)).then_some(crm_id),
        None => link.filter(|l| l.stamp_owed).map(|_| crm_id),
    };
    if !to_ex.is_empty() || stamp.is_some() {
        ops.push(Op::UpdateExchange {
            item_id: item_id.clone(),
            change_key: ex
                .map(|e| e.change_key.clone())
                .or(link.map(|l| l.change_key.clone()))
                .unwrap_or_default(),
            changes: to_ex,
            stamp,
        });
    }
    let link_moved = match link {
        None => true,
        Some(l) => {
            crm.is_some_and(|c| {
                c.version != l.crm_version
                    || c.in_export_scope != l.crm_in_export_scope
                    || c.fields.fingerprint() != l.crm_fingerprint
            }) || ex.is_some_and(|e| {
                e.change_key != l.change_key
                    || e.folder_id != l.folder_id
                    || e.fields.fingerprint() != l.ex_fingerprint
            })
        }
    };
    if link_moved || !ops.is_empty() {
        ops.push(Op::Link { crm_id, item_id });
    }
    ops
}

/// Field-level three-way merge: the changes to write to the CRM and to Exchange.
fn merge(
    crm_now: &MappedContact,
    crm_base: &MappedContact,
    ex_now: &MappedContact,
    ex_base: &MappedContact,
    crm: Option<&CrmSide>,
    ex: Option<&ExSide>,
    a: &Allowed,
) -> (Changes, Changes) {
    let mut to_crm = Changes::new();
    let mut to_ex = Changes::new();
    for f in Field::ALL {
        let (c, e) = (crm_now.get(f), ex_now.get(f));
        if c == e {
            continue;
        }
        let crm_flows = c != crm_base.get(f) && a.to_exchange(f);
        let ex_flows = e != ex_base.get(f) && a.to_crm(f);
        let crm_wins = match (crm_flows, ex_flows) {
            (false, false) => continue,
            (true, false) => true,
            (false, true) => false,
            (true, true) => match a.profile.conflict_policy {
                ConflictPolicy::CrmWins => true,
                ConflictPolicy::ExchangeWins => false,
                // A tie goes to the CRM, the system of record.
                ConflictPolicy::NewestWins => match (crm, ex) {
                    (Some(c), Some(x)) => c.updated_at >= x.last_modified,
                    // Both changed implies both sides are present.
                    _ => true,
                },
            },
        };
        if crm_wins {
            to_ex.insert(f, c.map(str::to_owned));
        } else {
            to_crm.insert(f, e.map(str::to_owned));
        }
    }
    (to_crm, to_ex)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::profile::Direction;
    use crate::domain::run::RunCounts;

    const CRM_ID: Uuid = Uuid::from_u128(0xC);
    const ITEM: &str = "item-1";

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 12, minute, 0).unwrap()
    }

    fn fields(pairs: &[(Field, &str)]) -> MappedContact {
        let mut m = MappedContact::default();
        for (f, v) in pairs {
            m.set(*f, Some(v));
        }
        m
    }

    fn base() -> MappedContact {
        fields(&[
            (Field::FullName, "Ann Lee"),
            (Field::GivenName, "Ann"),
            (Field::Surname, "Lee"),
            (Field::JobTitle, "CTO"),
            (Field::Department, "R&D"),
            (Field::Email1, "ann@acme.example"),
            (Field::HomeCity, "Berlin"),
        ])
    }

    fn with(m: &MappedContact, f: Field, v: Option<&str>) -> MappedContact {
        let mut m = m.clone();
        m.set(f, v);
        m
    }

    fn profile() -> ContactSyncProfile {
        let mut p = ContactSyncProfile::default();
        p.import.enabled = true;
        p.export.enabled = true;
        p
    }

    fn crm(fields: MappedContact, version: i32, at: u32) -> CrmSide {
        CrmSide {
            id: CRM_ID,
            fields,
            version,
            updated_at: t(at),
            deleted: false,
            in_export_scope: true,
        }
    }

    fn ex(fields: MappedContact, change_key: &str, at: u32) -> ExSide {
        ExSide {
            item_id: ITEM.into(),
            change_key: change_key.into(),
            folder_id: "contacts".into(),
            fields,
            last_modified: t(at),
            crm_contact_id: Some(CRM_ID),
            deleted: false,
            in_import_scope: true,
        }
    }

    /// A pair synced at version 1 / ChangeKey ck1 with `base()` on both sides.
    fn link() -> Link {
        Link::new(&crm(base(), 1, 0), &ex(base(), "ck1", 0))
    }

    fn two_way(crm: Option<&CrmSide>, ex: Option<&ExSide>, link: Option<&Link>) -> Vec<Op> {
        plan(crm, ex, link, &profile(), RunMode::TwoWay)
    }

    fn changes(pairs: &[(Field, Option<&str>)]) -> Changes {
        pairs
            .iter()
            .map(|(f, v)| (*f, v.map(str::to_owned)))
            .collect()
    }

    fn update_ex(ck: &str, pairs: &[(Field, Option<&str>)]) -> Op {
        Op::UpdateExchange {
            item_id: ITEM.into(),
            change_key: ck.into(),
            changes: changes(pairs),
            stamp: None,
        }
    }

    fn update_crm(pairs: &[(Field, Option<&str>)]) -> Op {
        Op::UpdateCrm {
            crm_id: CRM_ID,
            changes: changes(pairs),
        }
    }

    fn linked() -> Op {
        Op::Link {
            crm_id: CRM_ID,
            item_id: ITEM.into(),
        }
    }

    fn unlinked() -> Op {
        Op::Unlink {
            crm_id: CRM_ID,
            item_id: ITEM.into(),
        }
    }

    // --- new on either side ---

    #[test]
    fn new_exchange_contact_with_import_on_is_created_in_crm_with_fields_that_flow_to_crm() {
        let e = ex(base(), "ck1", 0);
        let ops = two_way(None, Some(&e), None);
        let Op::CreateInCrm {
            item_id, fields, ..
        } = &ops[0]
        else {
            panic!("{ops:?}")
        };
        assert_eq!(item_id, ITEM);
        // department is to_exchange by default: not imported. full_name always is.
        assert_eq!(*fields, with(&base(), Field::Department, None));
        assert_eq!(ops.len(), 1);
    }

    #[test]
    fn new_exchange_contact_with_import_off_is_ignored() {
        let mut p = profile();
        p.import.enabled = false;
        let ops = plan(None, Some(&ex(base(), "ck1", 0)), None, &p, RunMode::TwoWay);
        assert_eq!(ops, [Op::Unchanged]);
    }

    #[test]
    fn new_exchange_contact_in_export_only_mode_is_ignored() {
        let ops = plan(
            None,
            Some(&ex(base(), "ck1", 0)),
            None,
            &profile(),
            RunMode::ExportOnly,
        );
        assert_eq!(ops, [Op::Unchanged]);
    }

    #[test]
    fn new_exchange_contact_deleted_or_out_of_import_scope_is_ignored() {
        let mut e = ex(base(), "ck1", 0);
        e.in_import_scope = false;
        assert_eq!(two_way(None, Some(&e), None), [Op::Unchanged]);
        let gone = ExSide::deleted(ITEM, "contacts");
        assert_eq!(two_way(None, Some(&gone), None), [Op::Unchanged]);
    }

    #[test]
    fn new_crm_contact_in_export_scope_with_export_on_is_created_in_exchange() {
        let mut p = profile();
        p.fields.insert("job_title".into(), Direction::ToCrm);
        let ops = plan(Some(&crm(base(), 1, 0)), None, None, &p, RunMode::TwoWay);
        assert_eq!(
            ops,
            [Op::CreateInExchange {
                crm_id: CRM_ID,
                fields: with(&base(), Field::JobTitle, None),
            }]
        );
    }

    #[test]
    fn new_crm_contact_with_export_off_is_ignored() {
        let mut p = profile();
        p.export.enabled = false;
        let ops = plan(Some(&crm(base(), 1, 0)), None, None, &p, RunMode::TwoWay);
        assert_eq!(ops, [Op::Unchanged]);
    }

    #[test]
    fn new_crm_contact_in_import_only_mode_is_ignored() {
        let ops = plan(
            Some(&crm(base(), 1, 0)),
            None,
            None,
            &profile(),
            RunMode::ImportOnly,
        );
        assert_eq!(ops, [Op::Unchanged]);
    }

    #[test]
    fn new_crm_contact_outside_export_scope_or_deleted_is_ignored() {
        let mut c = crm(base(), 1, 0);
        c.in_export_scope = false;
        assert_eq!(two_way(Some(&c), None, None), [Op::Unchanged]);
        let mut c = crm(base(), 1, 0);
        c.deleted = true;
        assert_eq!(two_way(Some(&c), None, None), [Op::Unchanged]);
    }

    // --- first sync: a matched pair (no link) ---

    #[test]
    fn matched_pair_fills_each_side_links_and_stamps_the_item() {
        let c = crm(with(&base(), Field::MobilePhone, Some("+1 555")), 3, 0);
        let mut e = ex(with(&base(), Field::HomeCity, None), "ck9", 0);
        e.fields.set(Field::WebPage, Some("https://ann.example"));
        e.crm_contact_id = None;
        let ops = two_way(Some(&c), Some(&e), None);
        assert_eq!(
            ops,
            [
                update_crm(&[(Field::WebPage, Some("https://ann.example"))]),
                Op::UpdateExchange {
                    item_id: ITEM.into(),
                    change_key: "ck9".into(),
                    changes: changes(&[
                        (Field::MobilePhone, Some("+1 555")),
                        (Field::HomeCity, Some("Berlin")),
                    ]),
                    stamp: Some(CRM_ID),
                },
                linked(),
            ]
        );
    }

    #[test]
    fn relinked_pair_by_crm_contact_id_with_equal_fields_only_links() {
        let ops = two_way(Some(&crm(base(), 3, 0)), Some(&ex(base(), "ck9", 0)), None);
        assert_eq!(ops, [linked()]);
    }

    #[test]
    fn matched_pair_with_differing_values_follows_conflict_policy() {
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 3, 10);
        let e = ex(with(&base(), Field::JobTitle, Some("Chair")), "ck9", 5);
        let ops = two_way(Some(&c), Some(&e), None);
        assert_eq!(
            ops,
            [
                update_ex("ck9", &[(Field::JobTitle, Some("CEO"))]),
                linked()
            ]
        );
    }

    // --- changed on one side ---

    #[test]
    fn changed_in_crm_only_updates_exchange() {
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        let ops = two_way(Some(&c), None, Some(&link()));
        assert_eq!(
            ops,
            [
                update_ex("ck1", &[(Field::JobTitle, Some("CEO"))]),
                linked()
            ]
        );
    }

    #[test]
    fn changed_in_exchange_only_updates_crm() {
        let e = ex(
            with(&base(), Field::Email1, Some("ann@new.example")),
            "ck2",
            5,
        );
        let ops = two_way(None, Some(&e), Some(&link()));
        assert_eq!(
            ops,
            [
                update_crm(&[(Field::Email1, Some("ann@new.example"))]),
                linked()
            ]
        );
    }

    #[test]
    fn department_edited_in_exchange_is_not_imported() {
        let e = ex(with(&base(), Field::Department, Some("Sales")), "ck2", 5);
        let ops = two_way(None, Some(&e), Some(&link()));
        // Absorbed: nothing is written, the link records the new ChangeKey.
        assert_eq!(ops, [linked()]);
        assert_eq!(RunCounts::of(ops.iter().map(Op::kind)).writes(), 0);
    }

    #[test]
    fn field_override_to_crm_stops_crm_edits_and_none_stops_both() {
        let mut p = profile();
        p.fields.insert("job_title".into(), Direction::ToCrm);
        p.fields.insert("home_address".into(), Direction::None);
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        assert_eq!(
            plan(Some(&c), None, Some(&link()), &p, RunMode::TwoWay),
            [linked()]
        );
        let e = ex(with(&base(), Field::HomeCity, Some("Paris")), "ck2", 5);
        assert_eq!(
            plan(None, Some(&e), Some(&link()), &p, RunMode::TwoWay),
            [linked()]
        );
        let e = ex(with(&base(), Field::JobTitle, Some("Chair")), "ck2", 5);
        assert_eq!(
            plan(None, Some(&e), Some(&link()), &p, RunMode::TwoWay),
            [update_crm(&[(Field::JobTitle, Some("Chair"))]), linked()]
        );
    }

    #[test]
    fn clearing_a_field_in_crm_clears_it_in_exchange() {
        let c = crm(with(&base(), Field::Email1, None), 2, 5);
        let ops = two_way(Some(&c), None, Some(&link()));
        assert_eq!(ops, [update_ex("ck1", &[(Field::Email1, None)]), linked()]);
        let Op::UpdateExchange { changes, .. } = &ops[0] else {
            unreachable!()
        };
        // A cleared field travels as `None` (the transport deletes it).
        assert_eq!(changes.get(&Field::Email1), Some(&None));
    }

    #[test]
    fn clearing_a_field_in_exchange_clears_it_in_crm() {
        let e = ex(with(&base(), Field::HomeCity, None), "ck2", 5);
        let ops = two_way(None, Some(&e), Some(&link()));
        assert_eq!(ops, [update_crm(&[(Field::HomeCity, None)]), linked()]);
    }

    #[test]
    fn import_only_mode_does_not_export_crm_edits() {
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        let ops = plan(
            Some(&c),
            None,
            Some(&link()),
            &profile(),
            RunMode::ImportOnly,
        );
        assert_eq!(ops, [linked()]);
    }

    #[test]
    fn export_only_mode_does_not_import_exchange_edits() {
        let e = ex(with(&base(), Field::JobTitle, Some("Chair")), "ck2", 5);
        let ops = plan(
            None,
            Some(&e),
            Some(&link()),
            &profile(),
            RunMode::ExportOnly,
        );
        assert_eq!(ops, [linked()]);
    }

    #[test]
    fn import_disabled_does_not_import_edits_of_a_linked_pair() {
        let mut p = profile();
        p.import.enabled = false;
        let e = ex(with(&base(), Field::JobTitle, Some("Chair")), "ck2", 5);
        assert_eq!(
            plan(None, Some(&e), Some(&link()), &p, RunMode::TwoWay),
            [linked()]
        );
    }

    // --- changed on both sides ---

    #[test]
    fn changed_on_both_sides_in_different_fields_merges() {
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        let e = ex(with(&base(), Field::HomeCity, Some("Paris")), "ck2", 6);
        let ops = two_way(Some(&c), Some(&e), Some(&link()));
        assert_eq!(
            ops,
            [
                update_crm(&[(Field::HomeCity, Some("Paris"))]),
                update_ex("ck2", &[(Field::JobTitle, Some("CEO"))]),
                linked(),
            ]
        );
    }

    fn conflict(policy: ConflictPolicy, crm_at: u32, ex_at: u32) -> Vec<Op> {
        let mut p = profile();
        p.conflict_policy = policy;
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, crm_at);
        let e = ex(with(&base(), Field::JobTitle, Some("Chair")), "ck2", ex_at);
        plan(Some(&c), Some(&e), Some(&link()), &p, RunMode::TwoWay)
    }

    #[test]
    fn conflict_newest_wins_takes_the_later_crm_edit() {
        assert_eq!(
            conflict(ConflictPolicy::NewestWins, 9, 5),
            [
                update_ex("ck2", &[(Field::JobTitle, Some("CEO"))]),
                linked()
            ]
        );
    }

    #[test]
    fn conflict_newest_wins_takes_the_later_exchange_edit() {
        assert_eq!(
            conflict(ConflictPolicy::NewestWins, 5, 9),
            [update_crm(&[(Field::JobTitle, Some("Chair"))]), linked()]
        );
    }

    #[test]
    fn conflict_crm_wins_even_when_exchange_is_newer() {
        assert_eq!(
            conflict(ConflictPolicy::CrmWins, 5, 9),
            [
                update_ex("ck2", &[(Field::JobTitle, Some("CEO"))]),
                linked()
            ]
        );
    }

    #[test]
    fn conflict_exchange_wins_even_when_crm_is_newer() {
        assert_eq!(
            conflict(ConflictPolicy::ExchangeWins, 9, 5),
            [update_crm(&[(Field::JobTitle, Some("Chair"))]), linked()]
        );
    }

    #[test]
    fn same_edit_on_both_sides_writes_nothing() {
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        let e = ex(with(&base(), Field::JobTitle, Some("CEO")), "ck2", 6);
        assert_eq!(two_way(Some(&c), Some(&e), Some(&link())), [linked()]);
    }

    #[test]
    fn one_way_field_changed_on_both_sides_takes_the_side_it_flows_from() {
        // department flows to Exchange only: the CRM edit wins whatever the policy.
        let mut p = profile();
        p.conflict_policy = ConflictPolicy::ExchangeWins;
        let c = crm(with(&base(), Field::Department, Some("Ops")), 2, 5);
        let e = ex(with(&base(), Field::Department, Some("Sales")), "ck2", 9);
        assert_eq!(
            plan(Some(&c), Some(&e), Some(&link()), &p, RunMode::TwoWay),
            [
                update_ex("ck2", &[(Field::Department, Some("Ops"))]),
                linked()
            ]
        );
    }

    // --- deleted or out of scope ---

    #[test]
    fn deleted_in_exchange_with_unlink_policy_unlinks() {
        let gone = ExSide::deleted(ITEM, "contacts");
        assert_eq!(two_way(None, Some(&gone), Some(&link())), [unlinked()]);
    }

    #[test]
    fn deleted_in_exchange_with_delete_in_crm_policy_deletes_the_crm_contact() {
        let mut p = profile();
        p.on_exchange_delete = OnExchangeDelete::DeleteInCrm;
        let gone = ExSide::deleted(ITEM, "contacts");
        assert_eq!(
            plan(None, Some(&gone), Some(&link()), &p, RunMode::TwoWay),
            [Op::DeleteInCrm { crm_id: CRM_ID }, unlinked()]
        );
        // A run that may not write to the CRM only unlinks.
        assert_eq!(
            plan(None, Some(&gone), Some(&link()), &p, RunMode::ExportOnly),
            [unlinked()]
        );
    }

    #[test]
    fn moved_out_of_the_import_folders_is_an_exchange_delete() {
        let mut p = profile();
        p.on_exchange_delete = OnExchangeDelete::DeleteInCrm;
        let mut e = ex(base(), "ck2", 5);
        e.folder_id = "elsewhere".into();
        e.in_import_scope = false;
        assert_eq!(
            plan(None, Some(&e), Some(&link()), &p, RunMode::TwoWay),
            [Op::DeleteInCrm { crm_id: CRM_ID }, unlinked()]
        );
    }

    #[test]
    fn deleted_in_crm_with_keep_in_exchange_policy_unlinks() {
        let mut c = crm(base(), 2, 5);
        c.deleted = true;
        assert_eq!(two_way(Some(&c), None, Some(&link())), [unlinked()]);
    }

    #[test]
    fn deleted_in_crm_with_delete_in_exchange_policy_deletes_the_item() {
        let mut p = profile();
        p.on_crm_delete = OnCrmDelete::DeleteInExchange;
        let mut c = crm(base(), 2, 5);
        c.deleted = true;
        assert_eq!(
            plan(Some(&c), None, Some(&link()), &p, RunMode::TwoWay),
            [
                Op::DeleteInExchange {
                    item_id: ITEM.into()
                },
                unlinked()
            ]
        );
        assert_eq!(
            plan(Some(&c), None, Some(&link()), &p, RunMode::ImportOnly),
            [unlinked()]
        );
    }

    #[test]
    fn left_the_export_scope_is_a_crm_delete() {
        let mut p = profile();
        p.on_crm_delete = OnCrmDelete::DeleteInExchange;
        let mut c = crm(base(), 2, 5);
        c.in_export_scope = false;
        assert_eq!(
            plan(Some(&c), None, Some(&link()), &p, RunMode::TwoWay),
            [
                Op::DeleteInExchange {
                    item_id: ITEM.into()
                },
                unlinked()
            ]
        );
    }

    #[test]
    fn an_unstamped_item_unlinked_from_a_contact_gone_from_scope_is_stamped() {
        let mut c = crm(base(), 2, 5);
        c.in_export_scope = false;
        let mut l = link();
        // The run that imported the item died before stamping it.
        l.change_key = String::new();
        let mut e = ex(base(), "ck1", 0);
        e.crm_contact_id = None;
        let stamp = Op::UpdateExchange {
            item_id: ITEM.into(),
            change_key: "ck1".into(),
            changes: Changes::new(),
            stamp: Some(CRM_ID),
        };
        assert_eq!(
            two_way(Some(&c), Some(&e), Some(&l)),
            [stamp.clone(), unlinked()]
        );
        c.in_export_scope = true;
        c.deleted = true;
        assert_eq!(two_way(Some(&c), Some(&e), Some(&l)), [stamp, unlinked()]);
        // Stamped already: only unlinked.
        e.crm_contact_id = Some(CRM_ID);
        assert_eq!(two_way(Some(&c), Some(&e), Some(&l)), [unlinked()]);
    }

    #[test]
    fn imported_contact_outside_the_export_scope_is_not_a_crm_delete() {
        let mut p = profile();
        p.on_crm_delete = OnCrmDelete::DeleteInExchange;
        let mut l = link();
        l.crm_in_export_scope = false;
        let mut c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        c.in_export_scope = false;
        assert_eq!(
            plan(Some(&c), None, Some(&l), &p, RunMode::TwoWay),
            [
                update_ex("ck1", &[(Field::JobTitle, Some("CEO"))]),
                linked()
            ]
        );
    }

    #[test]
    fn deleted_on_both_sides_only_unlinks() {
        let mut p = profile();
        p.on_exchange_delete = OnExchangeDelete::DeleteInCrm;
        p.on_crm_delete = OnCrmDelete::DeleteInExchange;
        let mut c = crm(base(), 2, 5);
        c.deleted = true;
        let gone = ExSide::deleted(ITEM, "contacts");
        assert_eq!(
            plan(Some(&c), Some(&gone), Some(&link()), &p, RunMode::TwoWay),
            [unlinked()]
        );
    }

    #[test]
    fn matched_pair_with_a_deleted_side_deletes_nothing() {
        let mut p = profile();
        p.on_exchange_delete = OnExchangeDelete::DeleteInCrm;
        p.on_crm_delete = OnCrmDelete::DeleteInExchange;
        let mut c = crm(base(), 2, 5);
        c.deleted = true;
        let e = ex(base(), "ck1", 0);
        assert_eq!(
            plan(Some(&c), Some(&e), None, &p, RunMode::TwoWay),
            [Op::Unchanged]
        );
        let gone = ExSide::deleted(ITEM, "contacts");
        let c = crm(base(), 2, 5);
        assert_eq!(
            plan(Some(&c), Some(&gone), None, &p, RunMode::TwoWay),
            [Op::Unchanged]
        );
    }

    #[test]
    fn detached_pair_is_never_synced_again() {
        let mut l = link();
        l.detached = true;
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        assert_eq!(two_way(Some(&c), None, Some(&l)), [Op::Unchanged]);
        let e = ex(with(&base(), Field::JobTitle, Some("CTO")), "ck9", 9);
        assert_eq!(two_way(Some(&c), Some(&e), Some(&l)), [Op::Unchanged]);
    }

    #[test]
    fn detached_pairs_item_read_without_our_stamp_gets_it_and_nothing_else() {
        let mut l = link();
        l.detached = true;
        let c = crm(with(&base(), Field::JobTitle, Some("CEO")), 2, 5);
        let mut e = ex(with(&base(), Field::JobTitle, Some("CTO")), "ck9", 9);
        e.crm_contact_id = None;
        assert_eq!(
            two_way(Some(&c), Some(&e), Some(&l)),
            [Op::UpdateExchange {
                item_id: e.item_id.clone(),
                change_key: "ck9".into(),
                changes: Changes::new(),
                stamp: Some(l.crm_id),
            }]
        );
    }

    // --- echoes ---

    #[test]
    fn echo_of_our_exchange_write_by_change_key_is_unchanged() {
        assert_eq!(
            two_way(None, Some(&ex(base(), "ck1", 9)), Some(&link())),
            [Op::Unchanged]
        );
    }

    #[test]
    fn echo_by_change_key_with_other_fields_writes_nothing_and_refreshes_the_link() {
        // The fields differ from the snapshot (say the server filled something in), but
        // the ChangeKey is the one our write got back: not an edit, so nothing flows.
        let e = ex(with(&base(), Field::JobTitle, Some("Chief")), "ck1", 9);
        assert_eq!(two_way(None, Some(&e), Some(&link())), [linked()]);
    }

    #[test]
    fn echo_of_our_crm_write_by_version_is_unchanged() {
        assert_eq!(
            two_way(Some(&crm(base(), 1, 9)), None, Some(&link())),
            [Op::Unchanged]
        );
    }

    #[test]
    fn echo_by_fingerprint_with_a_new_change_key_plans_no_write() {
        let e = ex(base(), "ck7", 9);
        let ops = two_way(None, Some(&e), Some(&link()));
        assert_eq!(ops, [linked()]);
        assert_eq!(RunCounts::of(ops.iter().map(Op::kind)).writes(), 0);
    }

    #[test]
    fn no_news_of_either_side_is_unchanged() {
        assert_eq!(two_way(None, None, Some(&link())), [Op::Unchanged]);
        assert_eq!(two_way(None, None, None), [Op::Unchanged]);
    }

    #[test]
    fn counts_tell_writes_from_bookkeeping() {
        let ops = [
            Op::Unchanged,
            linked(),
            unlinked(),
            update_crm(&[]),
            Op::DeleteInCrm { crm_id: CRM_ID },
        ];
        let c = RunCounts::of(ops.iter().map(Op::kind));
        assert_eq!(c.writes(), 2);
        assert_eq!((c.unchanged, c.linked, c.unlinked), (1, 1, 1));
        assert!(!Op::Unchanged.is_write() && ops[3].is_write());
    }
}
