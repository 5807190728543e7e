//! The in-memory Exchange store: mailboxes, folders, contact items and change logs.
//!
//! Everything here is synchronous and I/O free; the HTTP layer holds it behind one
//! mutex, which keeps every EWS call atomic as Exchange's store transactions are.

pub mod contact;
pub mod error;
pub mod ids;
pub mod sync;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

pub use contact::{Address, ContactData, ExtendedFieldUri, ExtendedProperty, FieldPath};
pub use error::EwsError;
pub use sync::{SyncChange, SyncPage};

/// The well-known folders every mailbox has: (distinguished id, display name, class, parent).
const WELL_KNOWN: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    ("root", "", None, None),
    (
        "msgfolderroot",
        "Top of Information Store",
        None,
        Some("root"),
    ),
    ("inbox", "Inbox", Some("IPF.Note"), Some("msgfolderroot")),
    ("drafts", "Drafts", Some("IPF.Note"), Some("msgfolderroot")),
    (
        "sentitems",
        "Sent Items",
        Some("IPF.Note"),
        Some("msgfolderroot"),
    ),
    ("outbox", "Outbox", Some("IPF.Note"), Some("msgfolderroot")),
    (
        "deleteditems",
        "Deleted Items",
        Some("IPF.Note"),
        Some("msgfolderroot"),
    ),
    (
        "junkemail",
        "Junk Email",
        Some("IPF.Note"),
        Some("msgfolderroot"),
    ),
    (
        "calendar",
        "Calendar",
        Some("IPF.Appointment"),
        Some("msgfolderroot"),
    ),
    (
        "contacts",
        "Contacts",
        Some("IPF.Contact"),
        Some("msgfolderroot"),
    ),
    ("tasks", "Tasks", Some("IPF.Task"), Some("msgfolderroot")),
    (
        "notes",
        "Notes",
        Some("IPF.StickyNote"),
        Some("msgfolderroot"),
    ),
    (
        "journal",
        "Journal",
        Some("IPF.Journal"),
        Some("msgfolderroot"),
    ),
];

/// How a request names a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderRef {
    /// `t:FolderId Id=".."`.
    Id(String),
    /// `t:DistinguishedFolderId Id="contacts"`.
    Distinguished(String),
}

/// `DeleteType` of DeleteItem / DeleteFolder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteType {
    /// Gone at once.
    HardDelete,
    /// Gone from the folder (to the dumpster, which the simulator does not model).
    SoftDelete,
    /// Moved to Deleted Items (with a new ItemId, as Exchange does).
    MoveToDeletedItems,
}

/// `ConflictResolution` of UpdateItem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictResolution {
    /// Fail on a stale ChangeKey.
    NeverOverwrite,
    /// Merge; the simulator lets the update win.
    AutoResolve,
    /// Overwrite whatever changed meanwhile.
    AlwaysOverwrite,
}

/// One change of an UpdateItem, applied in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// SetItemField / AppendToItemField: copy what `value` sets.
    Set {
        /// The path named by the request (checked to be a contact property).
        path: FieldPath,
        /// A contact carrying just that property.
        value: Box<ContactData>,
    },
    /// DeleteItemField.
    Delete(FieldPath),
}

/// A folder of a mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Folder {
    /// FolderId.
    pub id: String,
    /// Number inside the mailbox (part of sync states).
    pub n: u64,
    /// ChangeKey.
    pub change_key: String,
    /// Parent FolderId; `None` for `root`.
    pub parent_id: Option<String>,
    /// DisplayName.
    pub display_name: String,
    /// FolderClass, e.g. `IPF.Contact`.
    pub folder_class: Option<String>,
    /// The distinguished name, for well-known folders.
    pub distinguished: Option<String>,
    /// The change log SyncFolderItems reads, in write order.
    #[serde(default)]
    pub log: Vec<sync::LogEntry>,
}

impl Folder {
    /// True when contacts may be created here.
    pub fn is_contact_folder(&self) -> bool {
        self.folder_class
            .as_deref()
            .is_some_and(|c| c == "IPF.Contact" || c.starts_with("IPF.Contact."))
    }
}

/// A contact item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// ItemId.
    pub id: String,
    /// ChangeKey (new on every write).
    pub change_key: String,
    /// ParentFolderId.
    pub folder_id: String,
    /// DateTimeCreated.
    pub created: DateTime<Utc>,
    /// LastModifiedTime.
    pub modified: DateTime<Utc>,
    /// Creation order (FindItem and listings sort by it).
    pub created_seq: u64,
    /// The number of the item's first ItemId: kept when it moves, so that Graph's
    /// immutable id stays the same (0 in state files from before: `created_seq`).
    #[serde(default)]
    pub origin: u64,
    /// The contact's properties.
    pub data: ContactData,
}

impl Item {
    /// The number of the item's first ItemId, kept across moves.
    pub fn origin(&self) -> u64 {
        if self.origin == 0 {
            self.created_seq
        } else {
            self.origin
        }
    }
}

/// One mailbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mailbox {
    /// Primary SMTP address (lower case).
    pub email: String,
    /// Password (Basic) and bearer token.
    pub password: String,
    /// Mailbox number, part of every id.
    pub n: u32,
    /// Store epoch the ids were made in.
    pub epoch: u32,
    /// Write counter: ids, change keys and change-log positions.
    pub seq: u64,
    /// Folders by FolderId.
    pub folders: BTreeMap<String, Folder>,
    /// Items by ItemId.
    pub items: HashMap<String, Item>,
    /// Item counts per folder, as of the write counter and item count they were made at.
    #[serde(skip)]
    counts: CountsCache,
}

/// Item counts per folder, counted again only after a write: every run asks for the
/// folder tree with each folder's `TotalCount`, which Exchange keeps stored; counting
/// 100,000 items at each request made the simulator the slowest part of a run with
/// nothing to do.
#[derive(Default)]
struct CountsCache(std::sync::Mutex<Option<CountsAt>>);

type CountsAt = ((u64, usize), std::sync::Arc<HashMap<String, usize>>);

impl Clone for CountsCache {
    fn clone(&self) -> Self {
        CountsCache::default()
    }
}

impl std::fmt::Debug for CountsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CountsCache")
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

impl Mailbox {
    /// A mailbox with the well-known folders.
    pub fn new(email: &str, password: &str, n: u32, epoch: u32) -> Self {
        let mut mb = Mailbox {
            email: email.to_ascii_lowercase(),
            password: password.to_string(),
            n,
            epoch,
            seq: 0,
            folders: BTreeMap::new(),
            items: HashMap::new(),
            counts: CountsCache::default(),
        };
        for (name, display, class, parent) in WELL_KNOWN {
            let parent_id = parent.map(|p| mb.distinguished_id(p).expect("parent first"));
            mb.insert_folder(parent_id, display, class.map(str::to_string), Some(name));
        }
        mb
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn new_change_key(&mut self) -> String {
        let s = self.next();
        ids::change_key(self.epoch, s)
    }

    fn insert_folder(
        &mut self,
        parent_id: Option<String>,
        name: &str,
        class: Option<String>,
        distinguished: Option<&str>,
    ) -> String {
        let n = self.next();
        let id = ids::folder_id(self.epoch, self.n, n);
        let change_key = self.new_change_key();
        self.folders.insert(
            id.clone(),
            Folder {
                id: id.clone(),
                n,
                change_key,
                parent_id,
                display_name: name.to_string(),
                folder_class: class,
                distinguished: distinguished.map(str::to_string),
                log: Vec::new(),
            },
        );
        id
    }

    fn distinguished_id(&self, name: &str) -> Option<String> {
        self.folders
            .values()
            .find(|f| f.distinguished.as_deref() == Some(name))
            .map(|f| f.id.clone())
    }

    /// Finds a folder; unknown ids and distinguished names the simulator lacks are
    /// ErrorFolderNotFound, ids that are not ours ErrorInvalidIdMalformed.
    pub fn folder(&self, r: &FolderRef) -> Result<&Folder, EwsError> {
        match r {
            FolderRef::Distinguished(name) => self
                .folders
                .values()
                .find(|f| f.distinguished.as_deref() == Some(name.as_str()))
                .ok_or_else(EwsError::folder_not_found),
            FolderRef::Id(id) => {
                if ids::decode_folder(id).is_none() {
                    return Err(EwsError::id_malformed());
                }
                self.folders.get(id).ok_or_else(EwsError::folder_not_found)
            }
        }
    }

    /// Finds a folder by FolderId, distinguished name, or `/`-separated display-name
    /// path below `msgfolderroot` (control API convenience).
    pub fn folder_by_any(&self, s: &str) -> Option<&Folder> {
        if let Some(f) = self.folders.get(s) {
            return Some(f);
        }
        if let Ok(f) = self.folder(&FolderRef::Distinguished(s.to_string())) {
            return Some(f);
        }
        let mut cur = self
            .folder(&FolderRef::Distinguished("msgfolderroot".into()))
            .ok()?;
        for part in s.split('/').filter(|p| !p.is_empty()) {
            cur = self
                .children(&cur.id)
                .into_iter()
                .find(|f| f.display_name.eq_ignore_ascii_case(part))?;
        }
        Some(cur)
    }

    /// Direct subfolders, in creation order.
    pub fn children(&self, parent: &str) -> Vec<&Folder> {
        let mut v: Vec<&Folder> = self
            .folders
            .values()
            .filter(|f| f.parent_id.as_deref() == Some(parent))
            .collect();
        v.sort_by_key(|f| f.n);
        v
    }

    /// Every folder below `parent`, depth first, in creation order.
    pub fn descendants(&self, parent: &str) -> Vec<&Folder> {
        let mut out = Vec::new();
        for c in self.children(parent) {
            out.push(c);
            out.extend(self.descendants(&c.id));
        }
        out
    }

    /// Item counts per folder id. Every write moves `seq` (or the number of items), so
    /// counts made at the same pair still hold.
    pub fn counts(&self) -> std::sync::Arc<HashMap<String, usize>> {
        let at = (self.seq, self.items.len());
        let mut cache = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((made_at, counts)) = cache.as_ref()
            && *made_at == at
        {
            return counts.clone();
        }
        let mut m = HashMap::new();
        for it in self.items.values() {
            *m.entry(it.folder_id.clone()).or_insert(0) += 1;
        }
        let counts = std::sync::Arc::new(m);
        *cache = Some((at, counts.clone()));
        counts
    }

    /// CreateFolder: a subfolder of `parent` (names are unique among siblings).
    pub fn create_folder(
        &mut self,
        parent: &FolderRef,
        name: &str,
        class: Option<&str>,
    ) -> Result<String, EwsError> {
        let parent_id = self.folder(parent)?.id.clone();
        if name.trim().is_empty() {
            return Err(EwsError::invalid_request("a folder needs a DisplayName"));
        }
        if self
            .children(&parent_id)
            .iter()
            .any(|f| f.display_name.eq_ignore_ascii_case(name))
        {
            return Err(EwsError::folder_exists());
        }
        Ok(self.insert_folder(
            Some(parent_id),
            name,
            Some(class.unwrap_or("IPF.Note").to_string()),
            None,
        ))
    }

    /// DeleteFolder: the folder, its subfolders and their items.
    pub fn delete_folder(&mut self, r: &FolderRef, how: DeleteType) -> Result<(), EwsError> {
        let f = self.folder(r)?;
        if f.distinguished.is_some() {
            return Err(EwsError::delete_distinguished_folder());
        }
        let id = f.id.clone();
        if how == DeleteType::MoveToDeletedItems {
            let bin = self.distinguished_id("deleteditems").expect("well-known");
            if self.descendants(&id).iter().all(|d| d.id != bin) && id != bin {
                let ck = self.new_change_key();
                let f = self.folders.get_mut(&id).expect("exists");
                f.parent_id = Some(bin);
                f.change_key = ck;
                return Ok(());
            }
        }
        let mut doomed: Vec<String> = self.descendants(&id).iter().map(|f| f.id.clone()).collect();
        doomed.push(id);
        self.items.retain(|_, it| !doomed.contains(&it.folder_id));
        for d in doomed {
            self.folders.remove(&d);
        }
        Ok(())
    }

    /// Finds an item by ItemId.
    pub fn item(&self, id: &str) -> Result<&Item, EwsError> {
        if ids::decode_item(id).is_none() {
            return Err(EwsError::id_malformed());
        }
        self.items.get(id).ok_or_else(EwsError::item_not_found)
    }

    /// Items of a folder in creation order.
    pub fn items_in(&self, folder_id: &str) -> Vec<&Item> {
        let mut v: Vec<&Item> = self
            .items
            .values()
            .filter(|i| i.folder_id == folder_id)
            .collect();
        v.sort_by_key(|i| i.created_seq);
        v
    }

    fn log(&mut self, folder_id: &str, item_id: &str, origin: u64, kind: sync::ChangeKind) {
        let seq = self.next();
        if let Some(f) = self.folders.get_mut(folder_id) {
            f.log.push(sync::LogEntry {
                seq,
                item_id: item_id.to_string(),
                origin,
                kind,
            });
        }
    }

    /// CreateItem of one contact; answers its ItemId and ChangeKey.
    pub fn create_item(
        &mut self,
        folder: &FolderRef,
        data: ContactData,
    ) -> Result<(String, String), EwsError> {
        let f = self.folder(folder)?;
        if !f.is_contact_folder() {
            return Err(EwsError::non_contact_folder());
        }
        let folder_id = f.id.clone();
        Ok(self.insert_item(&folder_id, data, now(), None))
    }

    fn insert_item(
        &mut self,
        folder_id: &str,
        mut data: ContactData,
        created: DateTime<Utc>,
        origin: Option<u64>,
    ) -> (String, String) {
        if data.file_as.is_none() {
            data.file_as = default_file_as(&data);
        }
        let n = self.next();
        let id = ids::item_id(self.epoch, self.n, n);
        let change_key = self.new_change_key();
        self.items.insert(
            id.clone(),
            Item {
                id: id.clone(),
                change_key: change_key.clone(),
                folder_id: folder_id.to_string(),
                created,
                modified: now(),
                created_seq: n,
                origin: origin.unwrap_or(n),
                data,
            },
        );
        self.log(
            folder_id,
            &id,
            origin.unwrap_or(n),
            sync::ChangeKind::Created,
        );
        (id, change_key)
    }

    /// UpdateItem of one item with Exchange's ChangeKey rules; answers the new ChangeKey.
    pub fn update_item(
        &mut self,
        id: &str,
        change_key: Option<&str>,
        conflict: ConflictResolution,
        updates: &[Update],
    ) -> Result<(String, String), EwsError> {
        let item = self.item(id)?;
        let Some(ck) = change_key.filter(|c| !c.is_empty()) else {
            return Err(EwsError::change_key_required());
        };
        if ck != item.change_key && conflict == ConflictResolution::NeverOverwrite {
            return Err(EwsError::irresolvable_conflict());
        }
        let mut data = item.data.clone();
        for u in updates {
            match u {
                Update::Set { path, value } => {
                    check_settable(path)?;
                    data.merge_from(value);
                }
                Update::Delete(path) => data.delete(path).map_err(|e| match e {
                    contact::PathError::Unknown(p) => EwsError::invalid_property(&p),
                    contact::PathError::NotDeletable(p) => EwsError::invalid_property_delete(&p),
                })?,
            }
        }
        Ok(self.write_item(id, data))
    }

    /// Replaces an item's data as a write (new ChangeKey, LastModifiedTime, change log).
    pub fn write_item(&mut self, id: &str, data: ContactData) -> (String, String) {
        let change_key = self.new_change_key();
        let item = self.items.get_mut(id).expect("checked by caller");
        item.data = data;
        item.change_key = change_key.clone();
        item.modified = now();
        let folder_id = item.folder_id.clone();
        let origin = item.origin();
        self.log(&folder_id, id, origin, sync::ChangeKind::Updated);
        (id.to_string(), change_key)
    }

    /// DeleteItem of one item.
    pub fn delete_item(&mut self, id: &str, how: DeleteType) -> Result<(), EwsError> {
        let item = self.item(id)?.clone();
        let bin = self.distinguished_id("deleteditems").expect("well-known");
        self.items.remove(id);
        self.log(
            &item.folder_id,
            id,
            item.origin(),
            sync::ChangeKind::Deleted,
        );
        if how == DeleteType::MoveToDeletedItems && item.folder_id != bin {
            let origin = item.origin();
            self.insert_item(&bin, item.data, item.created, Some(origin));
        }
        Ok(())
    }

    /// Moves an item to another folder: a new ItemId (as Exchange gives without
    /// immutable ids), the same immutable identity; answers the new ItemId and ChangeKey.
    pub fn move_item(&mut self, id: &str, to: &FolderRef) -> Result<(String, String), EwsError> {
        let target = self.folder(to)?;
        if !target.is_contact_folder() && target.distinguished.as_deref() != Some("deleteditems") {
            return Err(EwsError::non_contact_folder());
        }
        let target = target.id.clone();
        let item = self.item(id)?.clone();
        if item.folder_id == target {
            return Ok((item.id, item.change_key));
        }
        self.items.remove(id);
        self.log(
            &item.folder_id,
            id,
            item.origin(),
            sync::ChangeKind::Deleted,
        );
        let origin = item.origin();
        Ok(self.insert_item(&target, item.data, item.created, Some(origin)))
    }

    /// The item whose immutable identity is `origin` (see [`Item::origin`]).
    pub fn item_by_origin(&self, origin: u64) -> Option<&Item> {
        let direct = ids::item_id(self.epoch, self.n, origin);
        match self.items.get(&direct) {
            Some(it) if it.origin() == origin => Some(it),
            // Moved at least once: rare, so a scan is fine.
            _ => self.items.values().find(|it| it.origin() == origin),
        }
    }

    /// FindItem: items of a folder whose extended property (or field) equals `value`.
    pub fn find_items<'a>(
        &'a self,
        folder_id: &str,
        filter: Option<&(FieldPath, String)>,
    ) -> Vec<&'a Item> {
        self.items_in(folder_id)
            .into_iter()
            .filter(|it| filter.is_none_or(|(path, value)| matches(&it.data, path, value)))
            .collect()
    }
}

fn matches(data: &ContactData, path: &FieldPath, value: &str) -> bool {
    match path {
        FieldPath::Extended(uri) => data.extended(uri).is_some_and(|p| p.value == value),
        FieldPath::Indexed { uri, index } => match uri.as_str() {
            "contacts:EmailAddress" => data
                .email_addresses
                .get(index)
                .is_some_and(|v| v.eq_ignore_ascii_case(value)),
            "contacts:PhoneNumber" => data.phone_numbers.get(index).is_some_and(|v| v == value),
            _ => false,
        },
        FieldPath::Field(uri) => scalar(data, uri).is_some_and(|v| v.eq_ignore_ascii_case(value)),
    }
}

fn scalar<'a>(d: &'a ContactData, uri: &str) -> Option<&'a str> {
    match uri {
        "contacts:DisplayName" | "item:Subject" => d.display_name.as_deref(),
        "contacts:FileAs" => d.file_as.as_deref(),
        "contacts:GivenName" => d.given_name.as_deref(),
        "contacts:MiddleName" => d.middle_name.as_deref(),
        "contacts:Surname" => d.surname.as_deref(),
        "contacts:CompanyName" => d.company_name.as_deref(),
        "contacts:JobTitle" => d.job_title.as_deref(),
        "contacts:Department" => d.department.as_deref(),
        _ => None,
    }
}

fn check_settable(path: &FieldPath) -> Result<(), EwsError> {
    match path {
        FieldPath::Field(uri) if uri == "contacts:CompleteName" || uri == "item:ItemId" => {
            Err(EwsError::invalid_property(uri))
        }
        FieldPath::Field(uri) if !contact::is_known_field(uri) => {
            Err(EwsError::invalid_property(uri))
        }
        _ => Ok(()),
    }
}

/// What Exchange files a contact under when the client does not say: "Surname, Given".
fn default_file_as(d: &ContactData) -> Option<String> {
    match (&d.surname, &d.given_name) {
        (Some(s), Some(g)) => Some(format!("{s}, {g}")),
        (Some(s), None) => Some(s.clone()),
        (None, Some(g)) => Some(g.clone()),
        (None, None) => d.display_name.clone().or_else(|| d.company_name.clone()),
    }
}

/// All mailboxes of the simulator.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Store {
    /// Changes on every reset, so ids and sync states from before are refused.
    pub epoch: u32,
    /// Mailboxes by lower-case SMTP address.
    pub mailboxes: BTreeMap<String, Mailbox>,
}

impl Store {
    /// An empty store with a fresh epoch.
    pub fn new() -> Self {
        Store {
            epoch: (uuid::Uuid::new_v4().as_u128() & 0xffff_ffff) as u32,
            mailboxes: BTreeMap::new(),
        }
    }

    /// Adds a mailbox, or updates the password of an existing one.
    pub fn ensure_mailbox(&mut self, email: &str, password: &str) -> &mut Mailbox {
        let key = email.trim().to_ascii_lowercase();
        let n = self.mailboxes.len() as u32 + 1;
        let epoch = self.epoch;
        let mb = self
            .mailboxes
            .entry(key.clone())
            .or_insert_with(|| Mailbox::new(&key, password, n, epoch));
        mb.password = password.to_string();
        mb
    }

    /// A mailbox by SMTP address (case-insensitive).
    pub fn mailbox(&self, email: &str) -> Option<&Mailbox> {
        self.mailboxes.get(&email.trim().to_ascii_lowercase())
    }

    /// A mailbox by SMTP address, mutable.
    pub fn mailbox_mut(&mut self, email: &str) -> Option<&mut Mailbox> {
        self.mailboxes.get_mut(&email.trim().to_ascii_lowercase())
    }

    /// The mailbox a Basic user name means: the address, or its unique local part.
    pub fn resolve_login(&self, user: &str) -> Option<&Mailbox> {
        if let Some(mb) = self.mailbox(user) {
            return Some(mb);
        }
        let user = user.trim().to_ascii_lowercase();
        // DOMAIN\user is how NTLM-minded clients spell it.
        let local = user.rsplit('\\').next().unwrap_or(&user);
        let mut hits = self
            .mailboxes
            .values()
            .filter(|m| m.email.split('@').next() == Some(local));
        match (hits.next(), hits.next()) {
            (Some(m), None) => Some(m),
            _ => None,
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contacts() -> FolderRef {
        FolderRef::Distinguished("contacts".into())
    }

    fn named(given: &str) -> ContactData {
        ContactData {
            given_name: Some(given.into()),
            surname: Some("Test".into()),
            ..Default::default()
        }
    }

    #[test]
    fn every_write_changes_the_change_key_and_never_overwrite_refuses_a_stale_one() {
        let mut mb = Mailbox::new("a@x", "p", 1, 1);
        let (id, ck1) = mb.create_item(&contacts(), named("A")).unwrap();
        let set = Update::Set {
            path: FieldPath::Field("contacts:JobTitle".into()),
            value: Box::new(ContactData {
                job_title: Some("Boss".into()),
                ..Default::default()
            }),
        };
        let (_, ck2) = mb
            .update_item(
                &id,
                Some(&ck1),
                ConflictResolution::NeverOverwrite,
                std::slice::from_ref(&set),
            )
            .unwrap();
        assert_ne!(ck1, ck2);
        let err = mb
            .update_item(
                &id,
                Some(&ck1),
                ConflictResolution::NeverOverwrite,
                std::slice::from_ref(&set),
            )
            .unwrap_err();
        assert_eq!(err.code, "ErrorIrresolvableConflict");
        let err = mb
            .update_item(
                &id,
                None,
                ConflictResolution::AlwaysOverwrite,
                std::slice::from_ref(&set),
            )
            .unwrap_err();
        assert_eq!(err.code, "ErrorChangeKeyRequiredForWriteOperations");
        mb.update_item(&id, Some(&ck1), ConflictResolution::AlwaysOverwrite, &[set])
            .unwrap();
        assert_eq!(
            mb.item(&id).unwrap().data.job_title.as_deref(),
            Some("Boss")
        );
    }

    #[test]
    fn contacts_only_go_into_contact_folders() {
        let mut mb = Mailbox::new("a@x", "p", 1, 1);
        let err = mb
            .create_item(&FolderRef::Distinguished("inbox".into()), named("A"))
            .unwrap_err();
        assert_eq!(err.code, "ErrorCannotCreateContactInNonContactFolder");
    }

    #[test]
    fn folders_nest_and_distinguished_ones_cannot_be_deleted() {
        let mut mb = Mailbox::new("a@x", "p", 1, 1);
        let a = mb
            .create_folder(&contacts(), "A", Some("IPF.Contact"))
            .unwrap();
        let b = mb
            .create_folder(&FolderRef::Id(a.clone()), "B", Some("IPF.Contact"))
            .unwrap();
        assert_eq!(mb.folder_by_any("Contacts/A/B").unwrap().id, b);
        assert_eq!(
            mb.create_folder(&contacts(), "a", None).unwrap_err().code,
            "ErrorFolderExists"
        );
        mb.create_item(&FolderRef::Id(b.clone()), named("x"))
            .unwrap();
        mb.delete_folder(&FolderRef::Id(a), DeleteType::HardDelete)
            .unwrap();
        assert!(mb.items.is_empty());
        assert_eq!(
            mb.delete_folder(&contacts(), DeleteType::HardDelete)
                .unwrap_err()
                .code,
            "ErrorDeleteDistinguishedFolder"
        );
    }

    #[test]
    fn unknown_and_foreign_ids() {
        let mb = Mailbox::new("a@x", "p", 1, 1);
        assert_eq!(
            mb.item("ZmFrZS1pdGVtLTAwMDAwNQ==").unwrap_err().code,
            "ErrorInvalidIdMalformed"
        );
        assert_eq!(
            mb.item(&ids::item_id(1, 1, 999)).unwrap_err().code,
            "ErrorItemNotFound"
        );
    }

    #[test]
    fn login_by_local_part_when_unique() {
        let mut s = Store::new();
        s.ensure_mailbox("Alice@Example.com", "p");
        assert_eq!(s.resolve_login("alice").unwrap().email, "alice@example.com");
        assert_eq!(
            s.resolve_login("ALICE@example.com").unwrap().email,
            "alice@example.com"
        );
        s.ensure_mailbox("alice@other.org", "q");
        assert!(s.resolve_login("alice").is_none());
    }
}
