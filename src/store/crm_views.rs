//! Counters of what each view of the CRM holds, so that a run with nothing to do need not
//! compare every contact of its owner with its link to find that out.
//!
//! A mailbox's CRM phase reads the contacts its owner sees (with their versions, deletion
//! and export scope) against the mailbox's links. What it finds can change only when
//! - a contact the owner sees is written (created, edited, deleted, purged, given to
//!   another owner, shared or unshared): the views `u:<owner>` and `u:<grantee>` of that
//!   contact (`u:*` when shared with everyone) and `all`, an administrator's view, move;
//! - a CRM folder's members or visibility change: `scope` moves, which only mailboxes
//!   exporting chosen folders read;
//! - the owner becomes an administrator or stops being one: the token names the kind;
//! - the mailbox's links or profile change (the engine's mark, see `sync::engine`).
//!
//! Every counter moves in the transaction of the write, as its last statement: a reader
//! that saw the old counter sees the old data, and PostgreSQL holds the counter's row lock
//! only while committing (keys are taken in order, so two writers never wait on each
//! other in a circle).
use std::collections::BTreeSet;

use sea_orm::{ConnectionTrait, DbErr, Statement, Value};
use uuid::Uuid;

use super::{Store, StoreResult, placeholder, placeholders};
use crate::domain::Grant;
use crate::domain::access::{Caller, EVERYONE};

/// An administrator's view: every contact.
const ALL: &str = "all";
/// The export scopes by CRM folder.
const SCOPE: &str = "scope";

fn user(id: &str) -> String {
    format!("u:{id}")
}

/// The views a write changes, gathered over the write's transaction and moved at its end.
#[derive(Debug, Default)]
pub(crate) struct Touched(BTreeSet<String>);

impl Touched {
    /// A change of contacts (the views of their owners and grantees are added to it).
    pub fn contacts() -> Self {
        Touched(BTreeSet::from([ALL.to_owned()]))
    }

    /// A change of CRM folders' members or visibility.
    pub fn folder_scope() -> Self {
        Touched(BTreeSet::from([SCOPE.to_owned()]))
    }

    /// The view of a user who owns a changed contact, or is (or was) granted it;
    /// [`EVERYONE`] names the contacts shared with everyone.
    pub fn user(&mut self, id: &str) -> &mut Self {
        self.0.insert(user(id));
        self
    }

    /// The views of one contact's owner and grantees.
    pub fn contact<'g>(
        &mut self,
        owner: &str,
        grants: impl IntoIterator<Item = &'g Grant>,
    ) -> &mut Self {
        self.user(owner);
        for g in grants {
            self.user(&g.user_id);
        }
        self
    }

    /// The views of the owners and grantees of these contacts, as they are now.
    pub async fn of_contacts(
        &mut self,
        db: &impl ConnectionTrait,
        ids: &[Uuid],
    ) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        for chunk in ids.chunks(400) {
            let mut next = 0;
            let owners = placeholders(backend, &mut next, chunk.len());
            let grantees = placeholders(backend, &mut next, chunk.len());
            let values: Vec<Value> = chunk.iter().chain(chunk).map(|id| (*id).into()).collect();
            let sql = format!(
                "SELECT owner_id AS k FROM contacts WHERE id IN ({owners}) \
                 UNION SELECT grantee AS k FROM grants \
                 WHERE record_kind = 'contact' AND record_id IN ({grantees})"
            );
            self.add_rows(db, Statement::from_sql_and_values(backend, sql, values))
                .await?;
        }
        Ok(())
    }

    /// The views of the owners and grantees of an account's contacts.
    pub async fn of_account_contacts(
        &mut self,
        db: &impl ConnectionTrait,
        account_id: Uuid,
    ) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        let mut next = 0;
        let a = placeholders(backend, &mut next, 1);
        let b = placeholders(backend, &mut next, 1);
        let sql = format!(
            "SELECT owner_id AS k FROM contacts WHERE account_id = {a} \
             UNION SELECT grantee AS k FROM grants WHERE record_kind = 'contact' \
             AND record_id IN (SELECT id FROM contacts WHERE account_id = {b})"
        );
        let values = vec![account_id.into(), account_id.into()];
        self.add_rows(db, Statement::from_sql_and_values(backend, sql, values))
            .await
    }

    async fn add_rows(&mut self, db: &impl ConnectionTrait, st: Statement) -> Result<(), DbErr> {
        for row in db.query_all_raw(st).await? {
            let k: String = row.try_get("", "k")?;
            self.0.insert(user(&k));
        }
        Ok(())
    }

    /// Moves the counters: the last statement of the write's transaction.
    pub async fn write(self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        if self.0.is_empty() {
            return Ok(());
        }
        let backend = db.get_database_backend();
        let mut next = 0;
        let rows: Vec<String> = self
            .0
            .iter()
            .map(|_| format!("({}, 1)", placeholder(backend, &mut next)))
            .collect();
        // In key order: PostgreSQL takes the rows' locks in it.
        let sql = format!(
            "INSERT INTO crm_views (view_key, epoch) VALUES {} \
             ON CONFLICT (view_key) DO UPDATE SET epoch = crm_views.epoch + 1",
            rows.join(", ")
        );
        let values: Vec<Value> = self.0.into_iter().map(Value::from).collect();
        db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        Ok(())
    }
}

impl Store {
    /// Where the owner's view of the CRM stands: equal tokens mean that no contact the
    /// owner sees was written in between (nor, with `by_folder`, any CRM folder's members).
    pub async fn crm_view_token(&self, owner: &Caller, by_folder: bool) -> StoreResult<String> {
        let mut keys = if owner.is_admin {
            vec![ALL.to_owned()]
        } else {
            vec![user(&owner.user_id), user(EVERYONE)]
        };
        if by_folder {
            keys.push(SCOPE.to_owned());
        }
        let backend = self.db.get_database_backend();
        let mut next = 0;
        let sql = format!(
            "SELECT view_key, epoch FROM crm_views WHERE view_key IN ({})",
            placeholders(backend, &mut next, keys.len())
        );
        let values: Vec<Value> = keys.iter().cloned().map(Value::from).collect();
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        let mut epochs = vec![0i64; keys.len()];
        for row in rows {
            let key: String = row.try_get("", "view_key")?;
            let epoch: i64 = row.try_get("", "epoch")?;
            if let Some(i) = keys.iter().position(|k| *k == key) {
                epochs[i] = epoch;
            }
        }
        let kind = if owner.is_admin { "admin" } else { "user" };
        let epochs: Vec<String> = epochs.iter().map(i64::to_string).collect();
        Ok(format!("{kind} {} {}", owner.user_id, epochs.join(":")))
    }

    /// The mark a mailbox's last comparison that found nothing left, if it still stands.
    pub async fn crm_mark(&self, mailbox_id: Uuid) -> StoreResult<Option<String>> {
        let backend = self.db.get_database_backend();
        let sql = format!(
            "SELECT mark FROM mailbox_crm_marks WHERE mailbox_id = {}",
            placeholder(backend, &mut 0)
        );
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [mailbox_id.into()],
            ))
            .await?;
        Ok(row.map(|r| r.try_get("", "mark")).transpose()?)
    }

    /// Sets (or, with `None`, removes) a mailbox's mark.
    pub async fn set_crm_mark(&self, mailbox_id: Uuid, mark: Option<&str>) -> StoreResult<()> {
        let Some(mark) = mark else {
            return Ok(forget_mark(&self.db, mailbox_id).await?);
        };
        let backend = self.db.get_database_backend();
        let mut next = 0;
        let sql = format!(
            "INSERT INTO mailbox_crm_marks (mailbox_id, mark) VALUES ({}, {}) \
             ON CONFLICT (mailbox_id) DO UPDATE SET mark = excluded.mark",
            placeholder(backend, &mut next),
            placeholder(backend, &mut next)
        );
        self.db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [mailbox_id.into(), mark.into()],
            ))
            .await?;
        Ok(())
    }
}

/// Removes a mailbox's mark: a write to its links or profile outside a run.
pub(crate) async fn forget_mark(db: &impl ConnectionTrait, mailbox_id: Uuid) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "DELETE FROM mailbox_crm_marks WHERE mailbox_id = {}",
        placeholder(backend, &mut 0)
    );
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [mailbox_id.into()],
    ))
    .await?;
    Ok(())
}
