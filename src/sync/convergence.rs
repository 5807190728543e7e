//! Convergence of the pure core: an in-memory CRM, an in-memory Exchange folder with a
//! change feed, and links; random contacts and random edits on both sides; the engine's
//! run reduced to feed → match → plan → apply. After a run, the next one plans no write,
//! and both sides agree on every field that flows both ways.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeZone, Utc};
use ews::ops::update_item::ItemUpdate;
use ews::types::{
    AddressKey, AddressPart, Contact, EmailKey, PhoneKey, PhysicalAddress, PropertyPath,
};
use proptest::prelude::*;
use uuid::Uuid;

use super::fieldmap::{
    self, Changes, Field, MappedContact, apply_to_crm, exchange_updates, to_exchange_contact,
};
use super::matching::{Candidate, Matcher};
use super::plan::{Counts, CrmSide, ExSide, Link, Mode, Op, plan};
use crate::domain::contact::ContactFields;
use crate::domain::profile::{
    ConflictPolicy, ContactSyncProfile, Direction, MatchExisting, OnCrmDelete, OnExchangeDelete,
};

const FOLDER: &str = "contacts";

struct CrmRec {
    fields: ContactFields,
    version: i32,
    updated_at: i64,
    deleted: bool,
}

struct ExRec {
    contact: Contact,
    change_key: u64,
    last_modified: i64,
}

#[derive(Default)]
struct World {
    crm: BTreeMap<Uuid, CrmRec>,
    ex: BTreeMap<String, ExRec>,
    links: Vec<Link>,
    /// The folder's sync state: the ChangeKey of every item as of the last run's start.
    seen: BTreeMap<String, u64>,
    clock: i64,
    next: u128,
}

fn at(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + t, 0).unwrap()
}

/// Applies UpdateItem updates the way a server does.
fn apply_updates(c: &mut Contact, updates: &[ItemUpdate]) {
    for u in updates {
        let carried = match u {
            ItemUpdate::Set(s) => s.contact.clone(),
            _ => None,
        };
        match u.path().expect("every update has a path") {
            PropertyPath::Field(f) => match f.field_uri.as_str() {
                "contacts:DisplayName" => c.display_name = carried.and_then(|x| x.display_name),
                "contacts:FileAs" => c.file_as = carried.and_then(|x| x.file_as),
                "contacts:Birthday" => c.birthday = carried.and_then(|x| x.birthday),
                uri => {
                    let v = carried.and_then(|x| fieldmap::plain(&x, uri).map(str::to_owned));
                    fieldmap::set_plain(c, uri, v);
                }
            },
            PropertyPath::Indexed(i) => {
                let idx = i.field_index.as_str();
                match i.field_uri.as_str() {
                    "contacts:EmailAddress" => {
                        let key = [
                            EmailKey::EmailAddress1,
                            EmailKey::EmailAddress2,
                            EmailKey::EmailAddress3,
                        ]
                        .into_iter()
                        .find(|k| k.as_str() == idx)
                        .unwrap();
                        c.set_email(key, carried.and_then(|x| x.email(key).map(str::to_owned)));
                    }
                    "contacts:PhoneNumber" => {
                        let key = [
                            PhoneKey::BusinessPhone,
                            PhoneKey::HomePhone,
                            PhoneKey::MobilePhone,
                        ]
                        .into_iter()
                        .find(|k| k.as_str() == idx)
                        .unwrap();
                        c.set_phone(key, carried.and_then(|x| x.phone(key).map(str::to_owned)));
                    }
                    uri => {
                        let part = AddressPart::parse(
                            uri.strip_prefix("contacts:PhysicalAddress:").unwrap(),
                        )
                        .unwrap();
                        let key = if idx == "Business" {
                            AddressKey::Business
                        } else {
                            AddressKey::Home
                        };
                        let v = carried.and_then(|x| {
                            x.address(key).and_then(|a| a.part(part)).map(str::to_owned)
                        });
                        let mut a = c
                            .address(key)
                            .cloned()
                            .unwrap_or_else(|| PhysicalAddress::new(key));
                        *a.part_mut(part) = v;
                        c.set_address(key, Some(a));
                    }
                }
            }
            PropertyPath::Extended(uri) => {
                c.extended_properties
                    .retain(|p| !p.field_uri.same_property(&uri));
                if let Some(v) = carried.and_then(|x| x.extended_property(&uri).map(str::to_owned))
                {
                    c.set_extended_property(uri, v);
                }
            }
        }
    }
    // Like the CRM (`ContactFields::normalize`), Exchange stores a composed display name
    // when none is given.
    if c.display_name
        .as_deref()
        .is_none_or(|d| d.trim().is_empty())
    {
        let composed = [&c.given_name, &c.middle_name, &c.surname]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        c.display_name = (!composed.is_empty()).then_some(composed);
    }
}

impl World {
    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    fn new_id(&mut self) -> u128 {
        self.next += 1;
        self.next
    }

    fn crm_side(&self, id: Uuid) -> CrmSide {
        let r = &self.crm[&id];
        CrmSide {
            id,
            fields: MappedContact::from_crm(&r.fields),
            version: r.version,
            updated_at: at(r.updated_at),
            deleted: r.deleted,
            in_export_scope: true,
        }
    }

    fn ex_side(&self, item: &str) -> ExSide {
        match self.ex.get(item) {
            None => ExSide::deleted(item, FOLDER),
            Some(r) => ExSide {
                item_id: item.to_owned(),
                change_key: format!("ck{}", r.change_key),
                folder_id: FOLDER.into(),
                fields: MappedContact::from_exchange(&r.contact),
                last_modified: at(r.last_modified),
                crm_contact_id: fieldmap::crm_contact_id(&r.contact),
                deleted: false,
                in_import_scope: true,
            },
        }
    }

    fn link_of_crm(&self, id: Uuid) -> Option<&Link> {
        self.links.iter().find(|l| l.crm_id == id)
    }

    fn link_of_item(&self, item: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.item_id == item)
    }

    fn edit_crm(&mut self, id: Uuid, changes: &Changes) {
        let t = self.tick();
        let r = self.crm.get_mut(&id).unwrap();
        let before = r.fields.clone();
        apply_to_crm(&mut r.fields, changes);
        // A write that changes nothing keeps the version (architecture.md).
        if r.fields != before {
            r.version += 1;
            r.updated_at = t;
        }
    }

    fn edit_ex(&mut self, item: &str, updates: &[ItemUpdate]) {
        let t = self.tick();
        let r = self.ex.get_mut(item).unwrap();
        apply_updates(&mut r.contact, updates);
        r.change_key += 1;
        r.last_modified = t;
    }

    fn add_crm(&mut self, fields: &MappedContact) -> Uuid {
        let id = Uuid::from_u128(self.new_id());
        let t = self.tick();
        let mut f = ContactFields::default();
        apply_to_crm(&mut f, &MappedContact::default().diff(fields));
        self.crm.insert(
            id,
            CrmRec {
                fields: f,
                version: 1,
                updated_at: t,
                deleted: false,
            },
        );
        id
    }

    fn add_ex(&mut self, contact: Contact) -> String {
        let item = format!("item{}", self.new_id());
        let t = self.tick();
        let mut contact = contact;
        apply_updates(&mut contact, &[]);
        self.ex.insert(
            item.clone(),
            ExRec {
                contact,
                change_key: 1,
                last_modified: t,
            },
        );
        item
    }

    fn set_link(&mut self, crm_id: Uuid, item: &str) {
        let link = Link::new(&self.crm_side(crm_id), &self.ex_side(item));
        self.links
            .retain(|l| l.crm_id != crm_id && l.item_id != item);
        self.links.push(link);
    }

    fn apply(&mut self, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Unchanged => {}
                Op::CreateInCrm {
                    item_id, fields, ..
                } => {
                    let id = self.add_crm(fields);
                    self.edit_ex(item_id, &[fieldmap::stamp_crm_contact_id(id)]);
                    self.set_link(id, item_id);
                }
                Op::CreateInExchange { crm_id, fields } => {
                    let item = self.add_ex(to_exchange_contact(fields, *crm_id));
                    self.set_link(*crm_id, &item);
                }
                Op::UpdateCrm { crm_id, changes } => self.edit_crm(*crm_id, changes),
                Op::UpdateExchange {
                    item_id,
                    change_key,
                    changes,
                    stamp,
                } => {
                    // NeverOverwrite: the plan must name the item's current ChangeKey.
                    assert_eq!(*change_key, format!("ck{}", self.ex[item_id].change_key));
                    let mut updates = exchange_updates(changes);
                    updates.extend(stamp.map(fieldmap::stamp_crm_contact_id));
                    self.edit_ex(item_id, &updates);
                }
                Op::DeleteInCrm { crm_id } => {
                    let t = self.tick();
                    let r = self.crm.get_mut(crm_id).unwrap();
                    r.deleted = true;
                    r.version += 1;
                    r.updated_at = t;
                }
                Op::DeleteInExchange { item_id } => {
                    self.ex.remove(item_id);
                }
                Op::Link { crm_id, item_id } => self.set_link(*crm_id, item_id),
                Op::Unlink { crm_id, .. } => {
                    for l in self.links.iter_mut().filter(|l| l.crm_id == *crm_id) {
                        l.detached = true;
                    }
                }
            }
        }
    }

    /// Plans one pair and applies it. An update of an item that is gone (created and
    /// deleted between two feeds, so never reported) fails with ErrorItemNotFound; the
    /// engine then re-plans the pair with the item deleted, as done here.
    fn execute(
        &mut self,
        crm: Option<&CrmSide>,
        ex: Option<&ExSide>,
        link: Option<&Link>,
        profile: &ContactSyncProfile,
    ) -> Vec<Op> {
        let mut ops = plan(crm, ex, link, profile, Mode::TwoWay);
        let missing = ops.iter().find_map(|op| match op {
            Op::UpdateExchange { item_id, .. } if !self.ex.contains_key(item_id) => {
                Some(item_id.clone())
            }
            _ => None,
        });
        if let Some(item) = missing {
            let gone = ExSide::deleted(item, FOLDER);
            ops = plan(crm, Some(&gone), link, profile, Mode::TwoWay);
        }
        self.apply(&ops);
        ops
    }

    /// One run: collect both feeds, plan each pair, apply; returns every planned op.
    fn run(&mut self, profile: &ContactSyncProfile) -> Vec<Op> {
        let mut all = Vec::new();
        let snapshot: BTreeMap<String, u64> = self
            .ex
            .iter()
            .map(|(k, r)| (k.clone(), r.change_key))
            .collect();
        // Exchange feed: created/updated since the sync state, and deletions.
        let mut ex_feed: BTreeSet<String> = snapshot
            .iter()
            .filter(|(k, ck)| self.seen.get(*k) != Some(ck))
            .map(|(k, _)| k.clone())
            .collect();
        ex_feed.extend(
            self.seen
                .keys()
                .filter(|k| !self.ex.contains_key(*k))
                .cloned(),
        );
        // CRM feed: linked contacts whose version moved, and contacts without a link.
        let crm_feed: BTreeSet<Uuid> = self
            .crm
            .iter()
            .filter(|(id, r)| match self.link_of_crm(**id) {
                Some(l) => l.crm_version != r.version,
                None => !r.deleted,
            })
            .map(|(id, _)| *id)
            .collect();

        // Linked pairs.
        let linked: Vec<(Uuid, String)> = self
            .links
            .iter()
            .filter(|l| crm_feed.contains(&l.crm_id) || ex_feed.contains(&l.item_id))
            .map(|l| (l.crm_id, l.item_id.clone()))
            .collect();
        for (crm_id, item) in linked {
            let link = self.link_of_crm(crm_id).unwrap().clone();
            let crm = crm_feed.contains(&crm_id).then(|| self.crm_side(crm_id));
            let ex = ex_feed.contains(&item).then(|| self.ex_side(&item));
            let ops = self.execute(crm.as_ref(), ex.as_ref(), Some(&link), profile);
            all.extend(ops);
        }

        // New Exchange items: relink or match against unlinked CRM contacts, else import.
        let mut paired_crm = BTreeSet::new();
        let mut paired_items = BTreeSet::new();
        if profile.import.enabled {
            let new_items: Vec<String> = ex_feed
                .iter()
                .filter(|k| self.ex.contains_key(*k) && self.link_of_item(k).is_none())
                .cloned()
                .collect();
            let mut matcher = Matcher::new(
                self.crm
                    .iter()
                    .filter(|(id, r)| !r.deleted && self.link_of_crm(**id).is_none())
                    .map(|(id, _)| Candidate {
                        key: *id,
                        crm_id: Some(*id),
                        fields: self.crm_side(*id).fields,
                    })
                    .collect(),
            );
            for item in new_items {
                let ex = self.ex_side(&item);
                let m = matcher.find(&ex.fields, ex.crm_contact_id, profile.match_existing);
                let crm = m.map(|m| self.crm_side(m.key));
                if let Some(c) = &crm {
                    paired_crm.insert(c.id);
                }
                paired_items.insert(item);
                let ops = self.execute(crm.as_ref(), Some(&ex), None, profile);
                all.extend(ops);
            }
        }

        // New CRM contacts: match against the folder's unlinked items, else export.
        if profile.export.enabled {
            let new_crm: Vec<Uuid> = crm_feed
                .iter()
                .filter(|id| self.link_of_crm(**id).is_none() && !paired_crm.contains(*id))
                .copied()
                .collect();
            let mut matcher = Matcher::new(
                self.ex
                    .keys()
                    .filter(|k| self.link_of_item(k).is_none() && !paired_items.contains(*k))
                    .map(|k| {
                        let s = self.ex_side(k);
                        Candidate {
                            key: k.clone(),
                            crm_id: s.crm_contact_id,
                            fields: s.fields,
                        }
                    })
                    .collect(),
            );
            for id in new_crm {
                let crm = self.crm_side(id);
                let m = matcher.find(&crm.fields, Some(id), profile.match_existing);
                let ex = m.map(|m| self.ex_side(&m.key));
                let ops = self.execute(Some(&crm), ex.as_ref(), None, profile);
                all.extend(ops);
            }
        }
        self.seen = snapshot;
        all
    }
}

/// A small pool per field so that edits collide (same value on both sides, shared
/// e-mails that make matches and ambiguities).
fn value(f: Field, i: usize) -> Option<String> {
    let pool: [&str; 3] = match f {
        Field::Birthday => ["1990-01-01", "1985-12-31", "2000-02-29"],
        Field::Gender => ["female", "male", "female"],
        Field::Email1 | Field::Email2 | Field::Email3 => {
            ["a@x.example", "B@x.example", "c@x.example"]
        }
        Field::FullName => ["Ann Lee", "Bob Ray", "Cy Doe"],
        _ => ["v1", "v2", "v3"],
    };
    (i > 0).then(|| pool[(i - 1) % 3].to_owned())
}

/// (field index, value index; 0 clears).
type Spec = Vec<(usize, usize)>;

fn changes_of(spec: &Spec) -> Changes {
    spec.iter()
        .map(|(f, v)| {
            let f = Field::ALL[f % Field::ALL.len()];
            (f, value(f, *v))
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Edit {
    Crm(usize, Spec),
    Ex(usize, Spec),
    DeleteCrm(usize),
    DeleteEx(usize),
    NewCrm(Spec),
    NewEx(Spec),
}

fn spec() -> impl Strategy<Value = Spec> {
    prop::collection::vec((0..Field::ALL.len(), 0..4usize), 0..6)
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), spec()).prop_map(|(i, s)| Edit::Crm(i, s)),
        4 => (any::<usize>(), spec()).prop_map(|(i, s)| Edit::Ex(i, s)),
        1 => any::<usize>().prop_map(Edit::DeleteCrm),
        1 => any::<usize>().prop_map(Edit::DeleteEx),
        1 => spec().prop_map(Edit::NewCrm),
        1 => spec().prop_map(Edit::NewEx),
    ]
}

/// Overridable fields: the name parts and `full_name` stay at their defaults because
/// `full_name` is derived from them on both sides when empty.
const OVERRIDABLE: [&str; 11] = [
    "salutation",
    "gender",
    "job_title",
    "department",
    "company",
    "birthday",
    "web_page",
    "email2",
    "mobile_phone",
    "business_address",
    "home_address",
];

fn profile() -> impl Strategy<Value = ContactSyncProfile> {
    let direction = prop_oneof![
        Just(Direction::Both),
        Just(Direction::ToCrm),
        Just(Direction::ToExchange),
        Just(Direction::None)
    ];
    (
        any::<(bool, bool, bool, bool, bool)>(),
        0..3usize,
        prop::collection::btree_map(prop::sample::select(&OVERRIDABLE[..]), direction, 0..4),
        any::<bool>(),
    )
        .prop_map(
            |((import, export, match_, ex_del, crm_del), policy, fields, both_on)| {
                let mut p = ContactSyncProfile::default();
                // Mostly two-way: that is where agreement is checked.
                p.import.enabled = import || both_on;
                p.export.enabled = export || both_on;
                p.match_existing = if match_ {
                    MatchExisting::EmailThenName
                } else {
                    MatchExisting::None
                };
                p.on_exchange_delete = if ex_del {
                    OnExchangeDelete::DeleteInCrm
                } else {
                    OnExchangeDelete::Unlink
                };
                p.on_crm_delete = if crm_del {
                    OnCrmDelete::DeleteInExchange
                } else {
                    OnCrmDelete::KeepInExchange
                };
                p.conflict_policy = [
                    ConflictPolicy::NewestWins,
                    ConflictPolicy::CrmWins,
                    ConflictPolicy::ExchangeWins,
                ][policy];
                p.fields = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                p
            },
        )
}

fn nth<K: Clone>(keys: impl Iterator<Item = K>, i: usize) -> Option<K> {
    let keys: Vec<K> = keys.collect();
    (!keys.is_empty()).then(|| keys[i % keys.len()].clone())
}

fn name(spec: &Spec, i: usize) -> Changes {
    let mut c = changes_of(spec);
    c.entry(Field::GivenName)
        .or_insert_with(|| Some(format!("P{i}")));
    c
}

impl World {
    fn edit(&mut self, e: &Edit) {
        match e {
            Edit::Crm(i, s) => {
                if let Some(id) = nth(
                    self.crm.iter().filter(|(_, r)| !r.deleted).map(|(k, _)| *k),
                    *i,
                ) {
                    self.edit_crm(id, &changes_of(s));
                }
            }
            Edit::Ex(i, s) => {
                if let Some(item) = nth(self.ex.keys().cloned(), *i) {
                    self.edit_ex(&item, &exchange_updates(&changes_of(s)));
                }
            }
            Edit::DeleteCrm(i) => {
                if let Some(id) = nth(
                    self.crm.iter().filter(|(_, r)| !r.deleted).map(|(k, _)| *k),
                    *i,
                ) {
                    self.apply(&[Op::DeleteInCrm { crm_id: id }]);
                }
            }
            Edit::DeleteEx(i) => {
                if let Some(item) = nth(self.ex.keys().cloned(), *i) {
                    self.ex.remove(&item);
                }
            }
            Edit::NewCrm(s) => {
                let mut m = MappedContact::default();
                m.apply(&name(s, self.crm.len()));
                self.add_crm(&m);
            }
            Edit::NewEx(s) => {
                let mut c = Contact::default();
                apply_updates(&mut c, &exchange_updates(&name(s, self.ex.len())));
                self.add_ex(c);
            }
        }
    }

    /// Every live pair agrees on the fields that flow both ways.
    fn assert_agree(&self, profile: &ContactSyncProfile) {
        for l in self.links.iter().filter(|l| !l.detached) {
            let (crm, ex) = (self.crm_side(l.crm_id), self.ex_side(&l.item_id));
            if crm.deleted || ex.deleted {
                continue;
            }
            for f in Field::ALL
                .into_iter()
                .filter(|f| f.direction(profile) == Direction::Both)
            {
                assert_eq!(crm.fields.get(f), ex.fields.get(f), "{f:?} of {l:?}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_run_after_a_run_plans_no_writes_and_the_sides_agree(
        profile in profile(),
        crm in prop::collection::vec(spec(), 0..5),
        ex in prop::collection::vec(spec(), 0..5),
        rounds in prop::collection::vec(prop::collection::vec(edit(), 0..6), 1..4),
    ) {
        let mut w = World::default();
        for s in &crm {
            w.edit(&Edit::NewCrm(s.clone()));
        }
        for s in &ex {
            w.edit(&Edit::NewEx(s.clone()));
        }
        w.run(&profile);
        let again = w.run(&profile);
        prop_assert_eq!(Counts::of(&again).writes(), 0, "{:?}", again);

        // Several rounds of edits, each followed by one run: a link left stale by one
        // run shows in a later one (a wrong ChangeKey fails the NeverOverwrite check).
        for round in &rounds {
            for e in round {
                w.edit(e);
            }
            w.run(&profile);
        }
        let again = w.run(&profile);
        prop_assert_eq!(Counts::of(&again).writes(), 0, "{:?}", again);
        if profile.import.enabled && profile.export.enabled {
            w.assert_agree(&profile);
        }
    }
}
