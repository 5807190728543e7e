//! What the sync engine keeps and reads: links, folder sync states, and the CRM contacts
//! of a mailbox owner seen the way sync needs them.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use uuid::Uuid;

use super::crm_views::Touched;
use super::entities::{
    accounts, contact_folder_members, contact_folders, contact_links, contact_sync_profiles,
    contacts, folder_sync_states,
};
use super::grants::{self, RecordKind};
use super::{Store, StoreError, StoreResult, new_id, placeholder, placeholders};
use crate::domain::access::Caller;
use crate::domain::account::name_key;
use crate::domain::contact::ContactFields;
use crate::domain::folder::{FolderFilter, FolderKind};
use crate::domain::profile::ContactSyncProfile;
use crate::sync::{AccountCandidate, Link, MappedContact};

/// A CRM contact as sync sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRecord {
    pub id: Uuid,
    pub fields: ContactFields,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
}

/// A CRM write of sync.
#[derive(Debug, Clone)]
pub enum CrmWrite {
    /// Import a contact, owned by the mailbox owner.
    Create(ContactFields),
    /// Replace the fields of a contact, if it is still at `expected` (the version the run
    /// read; `None`: whatever it is). A newer version is `PreconditionFailed`: someone
    /// edited it meanwhile, and the run plans the pair again instead of overwriting.
    Update {
        id: Uuid,
        fields: ContactFields,
        expected: Option<i32>,
    },
    /// Tombstone a contact (conditional like an update).
    Delete { id: Uuid, expected: Option<i32> },
}

fn record(m: contacts::Model) -> CrmRecord {
    CrmRecord {
        id: m.id,
        version: m.version,
        updated_at: m.updated_at,
        deleted: m.deleted_at.is_some(),
        fields: super::contacts::into_fields(m),
    }
}

fn link_of(m: contact_links::Model) -> Link {
    Link {
        crm_id: m.crm_id,
        item_id: m.item_id,
        change_key: m.change_key,
        folder_id: m.folder_id,
        crm_version: m.crm_version,
        crm_in_export_scope: m.crm_in_export_scope,
        crm_base: serde_json::from_str(&m.crm_base).unwrap_or_default(),
        ex_base: serde_json::from_str(&m.ex_base).unwrap_or_default(),
        crm_fingerprint: m.crm_fingerprint,
        ex_fingerprint: m.ex_fingerprint,
        detached: m.detached,
        stamp_owed: m.stamp_owed,
    }
}

fn json(m: &MappedContact) -> String {
    serde_json::to_string(m).expect("mapped contact serializes")
}

fn visible(owner: &Caller) -> Option<sea_orm::sea_query::SimpleExpr> {
    grants::visible_condition(
        owner,
        RecordKind::Contact,
        contacts::Column::Id,
        contacts::Column::OwnerId,
    )
}

/// A link whose item still owes its `CrmContactId` stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedStamp {
    pub crm_id: Uuid,
    pub item_id: String,
    /// The item's ChangeKey as the link knows it: the stamp is written only on that.
    pub change_key: String,
}

/// What a run needs of every link to find what moved, without the snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHead {
    pub crm_id: Uuid,
    pub item_id: String,
    pub change_key: String,
    pub crm_version: i32,
    pub crm_in_export_scope: bool,
    pub detached: bool,
}

/// A CRM contact that moved for a mailbox's sync: what it is now and what its link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmMove {
    pub id: Uuid,
    pub version: i32,
    pub deleted: bool,
    /// `(crm_version, crm_in_export_scope, detached)` of its link, if it has one.
    pub link: Option<(i32, bool, bool)>,
    /// Its contact type, read only for a scope of types (`ScopeInSql::Types`).
    pub type_id: Option<Uuid>,
}

/// What the database can tell of a mailbox's export scope when a run compares
/// (`Store::crm_moves`).
#[derive(Debug, Clone, Copy)]
pub enum ScopeInSql<'a> {
    /// Every contact the owner sees.
    All,
    /// The contacts of these types (a scope of contact types alone, not empty): each row
    /// says its type.
    Types(&'a [Uuid]),
    /// Chosen CRM folders: the run decides per contact.
    DecidedByRun,
}

/// The indexes a run's comparisons read instead of rows (migration
/// `m20261202_000012_sync_state_indexes`).
const LINKS_BY_CRM_STATE: &str = "ix_links_mailbox_crm_state";
const CONTACTS_BY_OWNER_STATE: &str = "ix_contacts_owner_state";

/// `INDEXED BY` an index on SQLite, whose planner takes the unique `(mailbox_id, crm_id)`
/// index for a link looked up by both and then reads the link row, snapshots and all;
/// PostgreSQL chooses by its statistics.
fn indexed_by(backend: DbBackend, index: &str) -> String {
    match backend {
        DbBackend::Sqlite => format!(" INDEXED BY {index}"),
        _ => String::new(),
    }
}

/// Contacts shared with the caller (their ids), over `grants g`.
fn shared_ids_sql(user: &str) -> String {
    format!(
        "SELECT g.record_id FROM grants g WHERE g.record_kind = 'contact' \
         AND (g.grantee = {user} OR g.grantee = '*')"
    )
}

/// What new Exchange items may be matched by (see [`Store::match_candidates`]): CRM ids
/// they carry, and their e-mail addresses and full names, trimmed and in lower case.
#[derive(Debug, Clone, Default)]
pub struct MatchKeys {
    pub crm_ids: Vec<Uuid>,
    pub emails: Vec<String>,
    pub names: Vec<String>,
}

impl MatchKeys {
    pub fn is_empty(&self) -> bool {
        self.crm_ids.is_empty() && self.emails.is_empty() && self.names.is_empty()
    }
}

enum MatchSlice {
    Ids(Vec<Uuid>),
    Emails(Vec<String>),
    Names(Vec<String>),
}

impl MatchSlice {
    /// The contacts whose stored keys (`sync::matching::stored_keys`) hold one of the
    /// slice's, one condition per key column: each is answered by its own index (with the
    /// owner, by the `(key, owner_id)` indexes), so a statement reads what it finds, not
    /// the CRM.
    fn conditions(&self) -> Vec<Condition> {
        let keys = |keys: &[String]| -> Vec<String> {
            keys.iter()
                .map(|k| crate::sync::matching::lookup_key(k))
                .collect()
        };
        let one = |c: sea_orm::sea_query::SimpleExpr| Condition::all().add(c);
        match self {
            MatchSlice::Ids(ids) => vec![one(contacts::Column::Id.is_in(ids.iter().copied()))],
            MatchSlice::Emails(e) => {
                let e = keys(e);
                vec![
                    one(contacts::Column::Email1Key.is_in(e.clone())),
                    one(contacts::Column::Email2Key.is_in(e.clone())),
                    one(contacts::Column::Email3Key.is_in(e)),
                ]
            }
            MatchSlice::Names(n) => vec![one(contacts::Column::NameKey.is_in(keys(n)))],
        }
    }

    /// Any of [`MatchSlice::conditions`].
    fn condition(&self) -> Condition {
        self.conditions()
            .into_iter()
            .fold(Condition::any(), |any, c| any.add(c))
    }
}

impl Store {
    /// The owner's contacts that a mailbox's run must look at, found in the database: new
    /// (unlinked, live, in scope) — only with `new_ones`, when the run may export — moved
    /// since their link (version), or in or out of the export scope since their link.
    /// Where the scope is chosen CRM folders ([`ScopeInSql::DecidedByRun`]) every visible
    /// linked contact and every unlinked one comes back, for the caller to compare with
    /// its scope. Without `new_ones` only linked contacts are read (an import-only
    /// mailbox's run costs what its links cost, not what its owner's CRM holds).
    pub async fn crm_moves(
        &self,
        owner: &Caller,
        mailbox_id: Uuid,
        scope: ScopeInSql<'_>,
        new_ones: bool,
    ) -> StoreResult<Vec<CrmMove>> {
        let backend = self.db.get_database_backend();
        // Whether the export scope selects the contact now, where SQL can tell. Each use
        // has placeholders of its own, in order (SQLite's `?` are positional).
        let in_scope = |next: &mut usize, values: &mut Vec<sea_orm::Value>| match scope {
            ScopeInSql::All => Some("TRUE".to_owned()),
            // No type at all selects nothing (and `IN ()` is not SQL).
            ScopeInSql::Types([]) => Some("FALSE".to_owned()),
            ScopeInSql::Types(types) => {
                values.extend(types.iter().map(|t| sea_orm::Value::from(*t)));
                Some(format!(
                    "COALESCE(c.type_id IN ({}), FALSE)",
                    placeholders(backend, next, types.len())
                ))
            }
            ScopeInSql::DecidedByRun => None,
        };
        let linked_moved =
            |next: &mut usize, values: &mut Vec<sea_orm::Value>| match in_scope(next, values) {
                Some(s) => format!(
                    "(l.detached = FALSE AND (l.crm_version <> c.version \
                 OR l.crm_in_export_scope <> {s}))"
                ),
                // The run compares every linked contact with its scope.
                None => "l.detached = FALSE".to_owned(),
            };
        let filter = |next: &mut usize, values: &mut Vec<sea_orm::Value>| {
            if !new_ones {
                return linked_moved(next, values);
            }
            let new = match in_scope(next, values) {
                Some(s) => format!("(l.crm_id IS NULL AND c.deleted_at IS NULL AND {s})"),
                None => "(l.crm_id IS NULL AND c.deleted_at IS NULL)".to_owned(),
            };
            let linked_moved = linked_moved(next, values);
            // An unlinked pair whose contact had left the export scope may come back.
            let back = format!(
                "(l.detached = TRUE AND l.crm_in_export_scope = FALSE \
                 AND c.deleted_at IS NULL AND {})",
                in_scope(next, values).unwrap_or_else(|| "TRUE".to_owned())
            );
            format!("({new} OR {linked_moved} OR {back})")
        };
        let join = if new_ones { "LEFT JOIN" } else { "JOIN" };
        let by_type = matches!(scope, ScopeInSql::Types(_));
        let type_id = if by_type {
            ", c.type_id AS type_id"
        } else {
            ""
        };
        let links = indexed_by(backend, LINKS_BY_CRM_STATE);
        let mut next = 0;
        let mut values: Vec<sea_orm::Value> = Vec::new();
        // Only columns of the two indexes: no link row is read, and no contact row but
        // for its type where a scope of types asks.
        let select = |next: &mut usize, values: &mut Vec<sea_orm::Value>| {
            let m = placeholder(backend, next);
            values.push(mailbox_id.into());
            format!(
                "SELECT c.id AS id, c.version AS version, \
                 CASE WHEN c.deleted_at IS NULL THEN 0 ELSE 1 END AS deleted, \
                 l.crm_version AS l_version, \
                 CASE WHEN l.crm_in_export_scope THEN 1 ELSE 0 END AS l_scope, \
                 CASE WHEN l.detached THEN 1 ELSE 0 END AS l_detached, \
                 CASE WHEN l.crm_id IS NULL THEN 0 ELSE 1 END AS linked{type_id} \
                 FROM contacts c {join} contact_links l{links} \
                 ON l.crm_id = c.id AND l.mailbox_id = {m}"
            )
        };
        let sql = if owner.is_admin {
            let select = select(&mut next, &mut values);
            format!("{select} WHERE {}", filter(&mut next, &mut values))
        } else {
            // The owner's own contacts off the owner's index, and those shared with the
            // owner by their grants: each side reads what it finds, and an `OR` of the
            // two would read every contact of the CRM.
            let own = select(&mut next, &mut values);
            let me = placeholder(backend, &mut next);
            values.push(owner.user_id.clone().into());
            let own_filter = filter(&mut next, &mut values);
            let shared = select(&mut next, &mut values);
            let not_me = placeholder(backend, &mut next);
            let grantee = placeholder(backend, &mut next);
            values.push(owner.user_id.clone().into());
            values.push(owner.user_id.clone().into());
            let shared_filter = filter(&mut next, &mut values);
            format!(
                "{own} WHERE c.owner_id = {me} AND {own_filter} \
                 UNION ALL {shared} WHERE c.owner_id <> {not_me} \
                 AND c.id IN ({}) AND {shared_filter}",
                shared_ids_sql(&grantee)
            )
        };
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        rows.into_iter()
            .map(|r| {
                let linked: i32 = r.try_get("", "linked")?;
                Ok(CrmMove {
                    id: r.try_get("", "id")?,
                    version: r.try_get("", "version")?,
                    deleted: r.try_get::<i32>("", "deleted")? == 1,
                    link: if linked == 1 {
                        Some((
                            r.try_get("", "l_version")?,
                            r.try_get::<i32>("", "l_scope")? == 1,
                            r.try_get::<i32>("", "l_detached")? == 1,
                        ))
                    } else {
                        None
                    },
                    type_id: if by_type {
                        r.try_get("", "type_id")?
                    } else {
                        None
                    },
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(StoreError::from)
    }

    /// CRM ids of a mailbox's live, in-scope links whose contacts the owner no longer
    /// sees (unshared or purged). Each link's contact is looked up by its id (`NOT
    /// EXISTS`): a `NOT IN` list of what the owner sees would read every contact of the
    /// owner, or of the whole CRM for an administrator, in every run. The links and the
    /// owner's contacts are read off their indexes; grants are looked up only for the
    /// links whose contact is not the owner's.
    pub async fn links_gone_from_view(
        &self,
        owner: &Caller,
        mailbox_id: Uuid,
    ) -> StoreResult<Vec<Uuid>> {
        let backend = self.db.get_database_backend();
        let mut next = 0;
        let m = placeholder(backend, &mut next);
        let mut values: Vec<sea_orm::Value> = vec![mailbox_id.into()];
        let gone = if owner.is_admin {
            "NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = l.crm_id)".to_owned()
        } else {
            let me = placeholder(backend, &mut next);
            let grantee = placeholder(backend, &mut next);
            values.push(owner.user_id.clone().into());
            values.push(owner.user_id.clone().into());
            format!(
                "NOT EXISTS (SELECT 1 FROM contacts c{} WHERE c.owner_id = {me} \
                 AND c.id = l.crm_id) \
                 AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.id = l.crm_id \
                 AND c.id IN ({}))",
                indexed_by(backend, CONTACTS_BY_OWNER_STATE),
                shared_ids_sql(&grantee)
            )
        };
        let sql = format!(
            "SELECT l.crm_id AS crm_id FROM contact_links l{} WHERE l.mailbox_id = {m} \
             AND l.detached = FALSE AND l.crm_in_export_scope = TRUE AND {gone}",
            indexed_by(backend, LINKS_BY_CRM_STATE)
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        rows.into_iter()
            .map(|r| r.try_get("", "crm_id").map_err(StoreError::from))
            .collect()
    }

    /// The folders that hold the mailbox's live linked items, one index seek per folder
    /// (`ix_links_mailbox_folder`: mailbox, detached, folder): each step takes the least
    /// folder after the one before. A `DISTINCT` read every link's entry, 19–30 ms at
    /// 100,000 links on SQLite, in every run.
    pub async fn linked_folders(&self, mailbox_id: Uuid) -> StoreResult<Vec<String>> {
        let backend = self.db.get_database_backend();
        let mut next = 0;
        let first = placeholder(backend, &mut next);
        let then = placeholder(backend, &mut next);
        let sql = format!(
            "WITH RECURSIVE f(folder_id) AS ( \
               SELECT MIN(folder_id) FROM contact_links \
               WHERE mailbox_id = {first} AND detached = FALSE \
               UNION ALL \
               SELECT (SELECT MIN(l.folder_id) FROM contact_links l \
                       WHERE l.mailbox_id = {then} AND l.detached = FALSE \
                       AND l.folder_id > f.folder_id) \
               FROM f WHERE f.folder_id IS NOT NULL) \
             SELECT folder_id FROM f WHERE folder_id IS NOT NULL"
        );
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [mailbox_id.into(), mailbox_id.into()],
            ))
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| r.try_get::<String>("", "folder_id"))
            .collect::<Result<_, _>>()?)
    }

    /// Which of these contacts the owner may change (owner, edit grant, or administrator).
    pub async fn editable_among(&self, owner: &Caller, ids: &[Uuid]) -> StoreResult<HashSet<Uuid>> {
        let mut out = HashSet::new();
        for chunk in ids.chunks(500) {
            let mut q = contacts::Entity::find()
                .select_only()
                .column(contacts::Column::Id)
                .filter(contacts::Column::Id.is_in(chunk.iter().copied()));
            if !owner.is_admin {
                let shared = Query::select()
                    .column(super::entities::grants::Column::RecordId)
                    .from(super::entities::grants::Entity)
                    .and_where(super::entities::grants::Column::RecordKind.eq("contact"))
                    .and_where(super::entities::grants::Column::Access.eq("edit"))
                    .and_where(super::entities::grants::Column::Grantee.is_in([
                        owner.user_id.clone(),
                        crate::domain::access::EVERYONE.to_owned(),
                    ]))
                    .to_owned();
                q = q.filter(
                    Condition::any()
                        .add(contacts::Column::OwnerId.eq(owner.user_id.clone()))
                        .add(
                            Expr::col((contacts::Entity, contacts::Column::Id)).in_subquery(shared),
                        ),
                );
            }
            let rows: Vec<Uuid> = q.into_tuple().all(&self.db).await?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Which of these contacts the owner may see.
    pub async fn visible_among(&self, owner: &Caller, ids: &[Uuid]) -> StoreResult<HashSet<Uuid>> {
        let mut out = HashSet::new();
        for chunk in ids.chunks(500) {
            let mut q = contacts::Entity::find()
                .select_only()
                .column(contacts::Column::Id)
                .filter(contacts::Column::Id.is_in(chunk.iter().copied()));
            if let Some(c) = visible(owner) {
                q = q.filter(c);
            }
            let rows: Vec<Uuid> = q.into_tuple().all(&self.db).await?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The heads of the links of some items, or of some CRM contacts, of a mailbox.
    pub async fn link_heads_of(
        &self,
        mailbox_id: Uuid,
        item_ids: &[String],
        crm_ids: &[Uuid],
    ) -> StoreResult<Vec<LinkHead>> {
        let mut out = Vec::new();
        let by_item = item_ids
            .chunks(500)
            .map(|c| contact_links::Column::ItemId.is_in(c.iter().cloned()));
        let by_crm = crm_ids
            .chunks(500)
            .map(|c| contact_links::Column::CrmId.is_in(c.iter().copied()));
        for cond in by_item.chain(by_crm) {
            let rows: Vec<(Uuid, String, String, i32, bool, bool)> = contact_links::Entity::find()
                .select_only()
                .column(contact_links::Column::CrmId)
                .column(contact_links::Column::ItemId)
                .column(contact_links::Column::ChangeKey)
                .column(contact_links::Column::CrmVersion)
                .column(contact_links::Column::CrmInExportScope)
                .column(contact_links::Column::Detached)
                .filter(contact_links::Column::MailboxId.eq(mailbox_id))
                .filter(cond)
                .into_tuple()
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(
                |(crm_id, item_id, change_key, crm_version, crm_in_export_scope, detached)| {
                    LinkHead {
                        crm_id,
                        item_id,
                        change_key,
                        crm_version,
                        crm_in_export_scope,
                        detached,
                    }
                },
            ));
        }
        Ok(out)
    }

    /// The whole links (with their snapshots) of some CRM contacts of a mailbox.
    pub async fn links_for(&self, mailbox_id: Uuid, crm_ids: &[Uuid]) -> StoreResult<Vec<Link>> {
        let mut out = Vec::with_capacity(crm_ids.len());
        for chunk in crm_ids.chunks(500) {
            let rows = contact_links::Entity::find()
                .filter(contact_links::Column::MailboxId.eq(mailbox_id))
                .filter(contact_links::Column::CrmId.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(link_of));
        }
        Ok(out)
    }

    /// The ChangeKeys of items just stamped, each into its link while the link still
    /// waits for its stamp (an empty ChangeKey, not the mark of a failed write: version
    /// -1); a link this run wrote again since is left as it is.
    pub async fn settle_stamps(
        &self,
        mailbox_id: Uuid,
        stamped: &[(String, String)],
    ) -> StoreResult<()> {
        if stamped.is_empty() {
            return Ok(());
        }
        let txn = self.write_txn().await?;
        let now = Utc::now();
        // One statement a slice (a statement costs a trip to the database's thread).
        for slice in stamped.chunks(200) {
            let mut change_key = CaseStatement::new();
            for (item_id, key) in slice {
                change_key = change_key.case(
                    contact_links::Column::ItemId.eq(item_id.clone()),
                    Expr::value(key.clone()),
                );
            }
            contact_links::Entity::update_many()
                .col_expr(
                    contact_links::Column::ChangeKey,
                    change_key
                        .finally(Expr::col(contact_links::Column::ChangeKey))
                        .into(),
                )
                .col_expr(contact_links::Column::UpdatedAt, Expr::value(now))
                .filter(contact_links::Column::MailboxId.eq(mailbox_id))
                .filter(contact_links::Column::ItemId.is_in(slice.iter().map(|(id, _)| id.clone())))
                .filter(contact_links::Column::ChangeKey.eq(""))
                .filter(contact_links::Column::CrmVersion.ne(Link::NEVER_MERGED))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Links whose item still owes its stamp (an import left it to a later run), at most
    /// `limit`, in item order.
    pub async fn owed_stamps(&self, mailbox_id: Uuid, limit: u64) -> StoreResult<Vec<OwedStamp>> {
        Ok(contact_links::Entity::find()
            .select_only()
            .column(contact_links::Column::CrmId)
            .column(contact_links::Column::ItemId)
            .column(contact_links::Column::ChangeKey)
            .filter(contact_links::Column::MailboxId.eq(mailbox_id))
            .filter(contact_links::Column::StampOwed.eq(true))
            .order_by_asc(contact_links::Column::ItemId)
            .limit(limit)
            .into_tuple::<(Uuid, String, String)>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|(crm_id, item_id, change_key)| OwedStamp {
                crm_id,
                item_id,
                change_key,
            })
            .collect())
    }

    /// Owed stamps answered (`(owed, the item's ChangeKey now)`: the stamped item's, or
    /// the one the link knows when the stamp was not written): each link takes the
    /// ChangeKey and owes nothing more, unless it changed since it was read (a run wrote
    /// it again): then it is left as it is.
    pub async fn settle_owed_stamps(
        &self,
        mailbox_id: Uuid,
        stamped: &[(OwedStamp, String)],
    ) -> StoreResult<()> {
        if stamped.is_empty() {
            return Ok(());
        }
        let txn = self.write_txn().await?;
        let now = Utc::now();
        for slice in stamped.chunks(200) {
            let mut change_key = CaseStatement::new();
            let mut still_owed = Condition::any();
            for (owed, key) in slice {
                let unchanged = Condition::all()
                    .add(contact_links::Column::ItemId.eq(owed.item_id.clone()))
                    .add(contact_links::Column::ChangeKey.eq(owed.change_key.clone()))
                    .add(contact_links::Column::CrmId.eq(owed.crm_id));
                change_key = change_key.case(unchanged.clone(), Expr::value(key.clone()));
                still_owed = still_owed.add(unchanged);
            }
            contact_links::Entity::update_many()
                .col_expr(
                    contact_links::Column::ChangeKey,
                    change_key
                        .finally(Expr::col(contact_links::Column::ChangeKey))
                        .into(),
                )
                .col_expr(contact_links::Column::StampOwed, Expr::value(false))
                .col_expr(contact_links::Column::UpdatedAt, Expr::value(now))
                .filter(contact_links::Column::MailboxId.eq(mailbox_id))
                .filter(contact_links::Column::StampOwed.eq(true))
                .filter(still_owed)
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Records links as given (one per CRM contact and per item: the older rows of either
    /// go).
    pub async fn save_links(&self, mailbox_id: Uuid, links: &[Link]) -> StoreResult<()> {
        if links.is_empty() {
            return Ok(());
        }
        let txn = self.write_txn().await?;
        for chunk in links.chunks(200) {
            // Two statements, one per unique index: with `crm_id IN (..) OR item_id IN (..)`
            // SQLite read every link of the mailbox for each chunk.
            let older = [
                contact_links::Column::CrmId.is_in(chunk.iter().map(|l| l.crm_id)),
                contact_links::Column::ItemId.is_in(chunk.iter().map(|l| l.item_id.clone())),
            ];
            for held_by_either in older {
                contact_links::Entity::delete_many()
                    .filter(contact_links::Column::MailboxId.eq(mailbox_id))
                    .filter(held_by_either)
                    .exec(&txn)
                    .await?;
            }
            let now = Utc::now();
            let rows = chunk.iter().map(|l| contact_links::ActiveModel {
                id: Set(new_id()),
                mailbox_id: Set(mailbox_id),
                crm_id: Set(l.crm_id),
                item_id: Set(l.item_id.clone()),
                change_key: Set(l.change_key.clone()),
                folder_id: Set(l.folder_id.clone()),
                crm_version: Set(l.crm_version),
                crm_in_export_scope: Set(l.crm_in_export_scope),
                crm_base: Set(json(&l.crm_base)),
                ex_base: Set(json(&l.ex_base)),
                crm_fingerprint: Set(l.crm_fingerprint.clone()),
                ex_fingerprint: Set(l.ex_fingerprint.clone()),
                detached: Set(l.detached),
                stamp_owed: Set(l.stamp_owed),
                updated_at: Set(now),
            });
            contact_links::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// The saved SyncFolderItems state of each folder of a mailbox.
    pub async fn sync_states(&self, mailbox_id: Uuid) -> StoreResult<HashMap<String, String>> {
        Ok(folder_sync_states::Entity::find()
            .filter(folder_sync_states::Column::MailboxId.eq(mailbox_id))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|r| (r.folder_id, r.sync_state))
            .collect())
    }

    /// Replaces every feed state of a mailbox with `states` (`(folder, state)`), in one
    /// transaction.
    pub async fn replace_sync_states(
        &self,
        mailbox_id: Uuid,
        states: &[(String, String)],
    ) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        folder_sync_states::Entity::delete_many()
            .filter(folder_sync_states::Column::MailboxId.eq(mailbox_id))
            .exec(&txn)
            .await?;
        put_sync_states(&txn, mailbox_id, states).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Saves the sync states of some folders of a mailbox (`(folder, state)`), in one
    /// transaction: a commit is a flush to disk, and a run saves every folder it read.
    pub async fn save_sync_states(
        &self,
        mailbox_id: Uuid,
        states: &[(String, String)],
    ) -> StoreResult<()> {
        if states.is_empty() {
            return Ok(());
        }
        let txn = self.write_txn().await?;
        put_sync_states(&txn, mailbox_id, states).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Whether the mailbox has any link (detached ones included).
    pub async fn has_links(&self, mailbox_id: Uuid) -> StoreResult<bool> {
        Ok(contact_links::Entity::find()
            .select_only()
            .column(contact_links::Column::Id)
            .filter(contact_links::Column::MailboxId.eq(mailbox_id))
            .into_tuple::<Uuid>()
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Forgets an Exchange folder that is gone (deleted, or moved under Deleted Items), in
    /// one transaction: its pairs are unlinked (detached: neither side is deleted nor
    /// created again), its feed state dropped, the profile no longer lists it as an import
    /// folder nor as the export target, and the mailbox owner is told. Answers how many pairs were unlinked.
    pub async fn forget_gone_folder(
        &self,
        mailbox_id: Uuid,
        owner_id: &str,
        folder_id: &str,
    ) -> StoreResult<u64> {
        let txn = self.write_txn().await?;
        let unlinked = contact_links::Entity::update_many()
            .col_expr(contact_links::Column::Detached, Expr::value(true))
            .filter(contact_links::Column::MailboxId.eq(mailbox_id))
            .filter(contact_links::Column::FolderId.eq(folder_id))
            .filter(contact_links::Column::Detached.eq(false))
            .exec(&txn)
            .await?
            .rows_affected;
        folder_sync_states::Entity::delete_many()
            .filter(folder_sync_states::Column::MailboxId.eq(mailbox_id))
            .filter(folder_sync_states::Column::FolderId.eq(folder_id))
            .exec(&txn)
            .await?;
        let mut dropped = false;
        if let Some(row) = contact_sync_profiles::Entity::find_by_id(mailbox_id)
            .one(&txn)
            .await?
        {
            let mut profile: ContactSyncProfile =
                serde_json::from_str(&row.profile).unwrap_or_default();
            let before = profile.import.folder_ids.len();
            profile.import.folder_ids.retain(|f| f != folder_id);
            let target_gone = profile.export.target_folder_id.as_deref() == Some(folder_id);
            if target_gone {
                // Exported contacts go to the default Contacts folder from now on.
                profile.export.target_folder_id = None;
            }
            if profile.import.folder_ids.len() != before || target_gone {
                dropped = true;
                let version = row.version + 1;
                let mut am = row.into_active_model();
                am.profile = Set(serde_json::to_string(&profile).expect("profile serializes"));
                am.version = Set(version);
                am.updated_at = Set(Utc::now());
                am.update(&txn).await?;
            }
        }
        if dropped || unlinked > 0 {
            super::notifications::notify(
                &txn,
                owner_id,
                crate::domain::schedule::NotificationKind::ExchangeFolderGone,
                Some(mailbox_id),
                None,
                format!(
                    "The Exchange folder {folder_id} is gone: {unlinked} synced contacts were unlinked (none deleted){}.",
                    if dropped {
                        ", and it was removed from the import folders"
                    } else {
                        ""
                    }
                ),
                Utc::now(),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(unlinked)
    }

    /// The ids a `specific` export scope selects (before visibility): contacts of the
    /// chosen types and members of the chosen folders. A run reads them only for a scope
    /// of folders; a scope of types alone is known from each contact's type.
    pub async fn export_scope_ids(
        &self,
        owner: &Caller,
        profile: &ContactSyncProfile,
    ) -> StoreResult<HashSet<Uuid>> {
        let mut ids = HashSet::new();
        let types = &profile.export.contact_type_ids;
        if !types.is_empty() {
            let rows: Vec<Uuid> = contacts::Entity::find()
                .select_only()
                .column(contacts::Column::Id)
                .filter(contacts::Column::TypeId.is_in(types.iter().copied()))
                .into_tuple()
                .all(&self.db)
                .await?;
            ids.extend(rows);
        }
        for folder_id in &profile.export.folder_ids {
            let mut q = contact_folders::Entity::find_by_id(*folder_id);
            if let Some(c) = grants::visible_condition(
                owner,
                RecordKind::ContactFolder,
                contact_folders::Column::Id,
                contact_folders::Column::OwnerId,
            ) {
                q = q.filter(c);
            }
            // A folder the owner can no longer see selects nothing.
            let Some(folder) = q.one(&self.db).await? else {
                continue;
            };
            let cond = match FolderKind::parse(&folder.kind) {
                FolderKind::Static => Condition::all().add(
                    Expr::col(contacts::Column::Id).in_subquery(
                        Query::select()
                            .column(contact_folder_members::Column::ContactId)
                            .from(contact_folder_members::Entity)
                            .and_where(contact_folder_members::Column::FolderId.eq(*folder_id))
                            .to_owned(),
                    ),
                ),
                FolderKind::Dynamic => {
                    let filter: FolderFilter = folder
                        .filter
                        .as_deref()
                        .and_then(|f| serde_json::from_str(f).ok())
                        .unwrap_or_default();
                    super::contacts::filter_condition(&filter)
                }
            };
            let rows: Vec<Uuid> = contacts::Entity::find()
                .select_only()
                .column(contacts::Column::Id)
                .filter(cond)
                .into_tuple()
                .all(&self.db)
                .await?;
            ids.extend(rows);
        }
        Ok(ids)
    }

    /// Contacts by id, tombstones included (missing ids are purged contacts).
    pub async fn contacts_for_sync(&self, ids: &[Uuid]) -> StoreResult<Vec<CrmRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let rows = contacts::Entity::find()
                .filter(contacts::Column::Id.is_in(chunk.iter().copied()))
                .all(&self.db)
                .await?;
            out.extend(rows.into_iter().map(record));
        }
        Ok(out)
    }

    /// Live contacts the owner may see and no link of the mailbox holds that may match new
    /// Exchange items: carrying one of `keys`' ids, or — by their stored keys, trimmed and
    /// in lower case — one of its e-mail addresses or full names; the matcher decides among
    /// them. Every part is an index lookup (the keys; the link by mailbox and contact), so
    /// what is read follows the new items, not the size of the owner's CRM or the links.
    pub async fn match_candidates(
        &self,
        owner: &Caller,
        mailbox_id: Uuid,
        keys: &MatchKeys,
    ) -> StoreResult<Vec<CrmRecord>> {
        let mut out: HashMap<Uuid, contacts::Model> = HashMap::new();
        // Bounded statements: each part of the keys is asked in slices.
        let slices = keys
            .crm_ids
            .chunks(500)
            .map(|ids| MatchSlice::Ids(ids.to_vec()))
            .chain(
                keys.emails
                    .chunks(300)
                    .map(|e| MatchSlice::Emails(e.to_vec())),
            )
            .chain(
                keys.names
                    .chunks(500)
                    .map(|n| MatchSlice::Names(n.to_vec())),
            );
        // NOT EXISTS, not NOT IN: SQLite would list every link of the mailbox for each
        // statement; this probes the link index for each contact found.
        let unlinked = || {
            let linked = Query::select()
                .expr(Expr::val(1))
                .from(contact_links::Entity)
                .and_where(contact_links::Column::MailboxId.eq(mailbox_id))
                .and_where(
                    Expr::col((contact_links::Entity, contact_links::Column::CrmId))
                        .equals((contacts::Entity, contacts::Column::Id)),
                )
                .to_owned();
            contacts::Entity::find()
                .filter(contacts::Column::DeletedAt.is_null())
                .filter(Expr::exists(linked).not())
        };
        for slice in slices {
            let mut statements = Vec::new();
            if owner.is_admin {
                // Every contact is the administrator's to match: the keys alone.
                statements.push(unlinked().filter(slice.condition()));
            } else {
                // The owner's own, by key and owner, one key column at a time: beside an
                // `OR` of the three address columns SQLite would read every contact of the
                // owner instead.
                for c in slice.conditions() {
                    statements.push(
                        unlinked()
                            .filter(contacts::Column::OwnerId.eq(owner.user_id.clone()))
                            .filter(c),
                    );
                }
                // Those shared with the owner, from the owner's grants.
                statements.push(
                    unlinked()
                        .filter(
                            Expr::col((contacts::Entity, contacts::Column::Id))
                                .in_subquery(grants::shared_with(owner, RecordKind::Contact)),
                        )
                        .filter(contacts::Column::OwnerId.ne(owner.user_id.clone()))
                        .filter(slice.condition()),
                );
            }
            for statement in statements {
                for m in statement.all(&self.db).await? {
                    out.entry(m.id).or_insert(m);
                }
            }
        }
        Ok(out.into_values().map(record).collect())
    }

    /// Accounts whose name matches one of `companies` (trimmed, case-insensitive), with
    /// whether the owner may see each.
    pub async fn account_candidates(
        &self,
        owner: &Caller,
        companies: &[String],
    ) -> StoreResult<HashMap<String, Vec<AccountCandidate>>> {
        let keys: HashSet<String> = companies
            .iter()
            .map(|c| name_key(c))
            .filter(|k| !k.is_empty())
            .collect();
        let mut out: HashMap<String, Vec<AccountCandidate>> = HashMap::new();
        if keys.is_empty() {
            return Ok(out);
        }
        let rows = accounts::Entity::find()
            .filter(accounts::Column::NameKey.is_in(keys.iter().cloned()))
            .all(&self.db)
            .await?;
        let ids: Vec<Uuid> = rows.iter().map(|a| a.id).collect();
        let shares = grants::of_records(&self.db, &ids).await?;
        for a in rows {
            let list = shares.get(&a.id).map(Vec::as_slice).unwrap_or(&[]);
            let visible_to_owner =
                crate::domain::access::access_of(owner, &a.owner_id, list).is_some();
            out.entry(a.name_key.clone())
                .or_default()
                .push(AccountCandidate {
                    id: a.id,
                    name: a.name,
                    visible_to_owner,
                });
        }
        Ok(out)
    }

    /// Applies sync's CRM writes in one short transaction; one result per write.
    pub async fn apply_crm_writes(
        &self,
        owner_id: &str,
        writes: Vec<CrmWrite>,
    ) -> StoreResult<Vec<StoreResult<CrmRecord>>> {
        let txn = self.write_txn().await?;
        let mut out = Vec::with_capacity(writes.len());
        let now = Utc::now();
        // Creates go in multi-row inserts (the ids are ours, so nothing needs to come
        // back); at ~36 columns a row, 200 rows stay under SQLite's variable limit.
        let mut creates: Vec<(usize, contacts::ActiveModel, CrmRecord)> = Vec::new();
        for w in writes {
            let result = match w {
                CrmWrite::Create(fields) => {
                    let id = new_id();
                    let mut am = contacts::ActiveModel {
                        id: Set(id),
                        owner_id: Set(owner_id.to_owned()),
                        version: Set(1),
                        created_at: Set(now),
                        updated_at: Set(now),
                        deleted_at: Set(None),
                        ..Default::default()
                    };
                    super::contacts::set_fields(&mut am, fields.clone());
                    let rec = CrmRecord {
                        id,
                        fields,
                        version: 1,
                        updated_at: now,
                        deleted: false,
                    };
                    creates.push((out.len(), am, rec));
                    Err(StoreError::NotFound) // replaced once the batch is written
                }
                CrmWrite::Update {
                    id,
                    fields,
                    expected,
                } => match contacts::Entity::find_by_id(id).one(&txn).await? {
                    None => Err(StoreError::NotFound),
                    Some(m) if expected.is_some_and(|v| v != m.version) => {
                        Err(StoreError::PreconditionFailed { current: m.version })
                    }
                    Some(m) => {
                        let version = m.version + 1;
                        let mut am = m.into_active_model();
                        super::contacts::set_fields(&mut am, fields);
                        am.version = Set(version);
                        am.updated_at = Set(now);
                        am.update(&txn).await.map(record).map_err(StoreError::from)
                    }
                },
                CrmWrite::Delete { id, expected } => {
                    match contacts::Entity::find_by_id(id).one(&txn).await? {
                        None => Err(StoreError::NotFound),
                        Some(m) if m.deleted_at.is_some() => Ok(record(m)),
                        Some(m) if expected.is_some_and(|v| v != m.version) => {
                            Err(StoreError::PreconditionFailed { current: m.version })
                        }
                        Some(m) => {
                            let version = m.version + 1;
                            let mut am = m.into_active_model();
                            am.deleted_at = Set(Some(now));
                            am.updated_at = Set(now);
                            am.version = Set(version);
                            contact_folder_members::Entity::delete_many()
                                .filter(contact_folder_members::Column::ContactId.eq(id))
                                .exec(&txn)
                                .await?;
                            am.update(&txn).await.map(record).map_err(StoreError::from)
                        }
                    }
                }
            };
            out.push(result);
        }
        for chunk in creates.chunks(200) {
            contacts::Entity::insert_many(chunk.iter().map(|(_, am, _)| am.clone()))
                .exec_without_returning(&txn)
                .await?;
        }
        // Imported contacts are the owner's; those changed are seen by their owners and
        // grantees (sync changes neither).
        let changed: Vec<Uuid> = out
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|rec| rec.id))
            .collect();
        let mut touched = Touched::contacts();
        touched.user(owner_id);
        touched.of_contacts(&txn, &changed).await?;
        for (i, _, rec) in creates {
            out[i] = Ok(rec);
        }
        if !out.is_empty() {
            touched.write(&txn).await?;
        }
        crate::crash_points::reach(crate::crash_points::CrashPoint::CrmTransaction).await;
        txn.commit().await?;
        Ok(out)
    }
}

/// Writes the feed states of some folders of a mailbox (`(folder, state)`), each
/// replacing the folder's row, inside `txn`.
async fn put_sync_states(
    txn: &impl ConnectionTrait,
    mailbox_id: Uuid,
    states: &[(String, String)],
) -> StoreResult<()> {
    let now = Utc::now();
    for (folder_id, state) in states {
        folder_sync_states::Entity::delete_many()
            .filter(folder_sync_states::Column::MailboxId.eq(mailbox_id))
            .filter(folder_sync_states::Column::FolderId.eq(folder_id.as_str()))
            .exec(txn)
            .await?;
        folder_sync_states::Entity::insert(folder_sync_states::ActiveModel {
            mailbox_id: Set(mailbox_id),
            folder_id: Set(folder_id.clone()),
            sync_state: Set(state.clone()),
            updated_at: Set(now),
        })
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}
