//! Contacts repository: CRUD with visibility, versions and tombstones.
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, QuerySelect, Set,
};
use uuid::Uuid;

use super::crm_views::Touched;
use super::entities::{contact_folder_members, contact_types, contacts};
use super::grants::{self, Listed, ListingColumns, RecordKind};
use super::{
    PageRequest, Slice, Store, StoreError, StoreResult, accounts, check_version, like_pattern,
    new_id,
};
use crate::domain::access::{Caller, access_of, may_reshare, owner_for_new};
use crate::domain::contact::{
    Address, Contact, ContactFields, ContactWrite, Gender, validate_write_grants,
};
use crate::domain::folder::{FolderFilter, FolderKind};
use crate::domain::{Access, Grant, ValidationErrors};

/// Filters of `GET /contacts`; all given must match.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    pub q: Option<String>,
    pub type_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    pub folder_id: Option<Uuid>,
    pub updated_since: Option<DateTime<Utc>>,
    pub include_deleted: bool,
}

pub(crate) fn fields_of(m: &contacts::Model) -> ContactFields {
    into_fields(m.clone())
}

/// A contact row's fields, moved out of the row (a listing page's rows are not copied).
pub(crate) fn into_fields(m: contacts::Model) -> ContactFields {
    ContactFields {
        type_id: m.type_id,
        account_id: m.account_id,
        company: (!m.company.is_empty()).then_some(m.company),
        given_name: m.given_name,
        middle_name: m.middle_name,
        surname: m.surname,
        full_name: m.full_name,
        salutation: m.salutation,
        gender: Gender::parse(&m.gender),
        job_title: m.job_title,
        department: m.department,
        birthday: m.birthday,
        web_page: m.web_page,
        email1: m.email1,
        email2: m.email2,
        email3: m.email3,
        business_phone: m.business_phone,
        home_phone: m.home_phone,
        mobile_phone: m.mobile_phone,
        business_address: Address {
            street: m.business_street,
            city: m.business_city,
            state: m.business_state,
            postal_code: m.business_postal_code,
            country: m.business_country,
        },
        home_address: Address {
            street: m.home_street,
            city: m.home_city,
            state: m.home_state,
            postal_code: m.home_postal_code,
            country: m.home_country,
        },
    }
}

/// The keys first-sync matching finds the contact by, kept with every write of its fields.
fn set_match_keys(am: &mut contacts::ActiveModel, f: &ContactFields) {
    let ([email1, email2, email3], name) = crate::sync::matching::stored_keys(f);
    am.email1_key = Set(Some(email1));
    am.email2_key = Set(Some(email2));
    am.email3_key = Set(Some(email3));
    am.name_key = Set(Some(name));
}

/// Gives contacts written before the match keys existed their keys, 500 at a time (only
/// the service folds text as the matcher does, so the migration leaves them NULL). A
/// no-op once done: one indexed lookup.
pub(crate) async fn fill_match_keys(store: &super::Store) -> Result<(), sea_orm::DbErr> {
    loop {
        let rows = contacts::Entity::find()
            .filter(contacts::Column::NameKey.is_null())
            .limit(500)
            .all(store.connection())
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        let txn = store.write_txn().await?;
        for m in rows {
            let fields = fields_of(&m);
            let mut am = m.into_active_model();
            set_match_keys(&mut am, &fields);
            am.update(&txn).await?;
        }
        txn.commit().await?;
    }
}

pub(crate) fn set_fields(am: &mut contacts::ActiveModel, f: ContactFields) {
    set_match_keys(am, &f);
    am.type_id = Set(f.type_id);
    am.account_id = Set(f.account_id);
    am.company = Set(f.company.unwrap_or_default());
    am.given_name = Set(f.given_name);
    am.middle_name = Set(f.middle_name);
    am.surname = Set(f.surname);
    am.full_name = Set(f.full_name);
    am.salutation = Set(f.salutation);
    am.gender = Set(f.gender.as_str().to_owned());
    am.job_title = Set(f.job_title);
    am.department = Set(f.department);
    am.birthday = Set(f.birthday);
    am.web_page = Set(f.web_page);
    am.email1 = Set(f.email1);
    am.email2 = Set(f.email2);
    am.email3 = Set(f.email3);
    am.business_phone = Set(f.business_phone);
    am.home_phone = Set(f.home_phone);
    am.mobile_phone = Set(f.mobile_phone);
    am.business_street = Set(f.business_address.street);
    am.business_city = Set(f.business_address.city);
    am.business_state = Set(f.business_address.state);
    am.business_postal_code = Set(f.business_address.postal_code);
    am.business_country = Set(f.business_address.country);
    am.home_street = Set(f.home_address.street);
    am.home_city = Set(f.home_address.city);
    am.home_state = Set(f.home_address.state);
    am.home_postal_code = Set(f.home_address.postal_code);
    am.home_country = Set(f.home_address.country);
}

/// The contact a row holds, its strings moved rather than copied (a page of 50 is some
/// 1,500 of them).
fn to_contact(mut m: contacts::Model, grants: Vec<Grant>) -> Contact {
    let owner_id = std::mem::take(&mut m.owner_id);
    Contact {
        id: m.id,
        owner_id,
        grants,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
        deleted_at: m.deleted_at,
        fields: into_fields(m),
    }
}

fn visible(caller: &Caller) -> Option<SimpleExpr> {
    grants::visible_condition(
        caller,
        RecordKind::Contact,
        contacts::Column::Id,
        contacts::Column::OwnerId,
    )
}

/// The condition "matches this dynamic folder's filter".
pub(crate) fn filter_condition(f: &FolderFilter) -> Condition {
    let mut c = Condition::all();
    if !f.type_ids.is_empty() {
        c = c.add(contacts::Column::TypeId.is_in(f.type_ids.iter().copied()));
    }
    if !f.account_ids.is_empty() {
        c = c.add(contacts::Column::AccountId.is_in(f.account_ids.iter().copied()));
    }
    if !f.owner_ids.is_empty() {
        c = c.add(contacts::Column::OwnerId.is_in(f.owner_ids.iter().cloned()));
    }
    if let Some(q) = f.q.as_deref().filter(|q| !q.trim().is_empty()) {
        c = c.add(text_search(q));
    }
    match f.has_email {
        Some(true) => c = c.add(contacts::Column::Email1.ne("")),
        Some(false) => c = c.add(contacts::Column::Email1.eq("")),
        None => {}
    }
    c
}

fn text_search(q: &str) -> Condition {
    let pattern = like_pattern(q);
    let lower = |col: contacts::Column| Expr::expr(sea_orm::sea_query::Func::lower(Expr::col(col)));
    Condition::any()
        .add(lower(contacts::Column::FullName).like(pattern.clone()))
        .add(lower(contacts::Column::Company).like(pattern.clone()))
        .add(lower(contacts::Column::Email1).like(pattern.clone()))
        .add(lower(contacts::Column::Email2).like(pattern.clone()))
        .add(lower(contacts::Column::Email3).like(pattern))
}

/// The visible, live contact row, or `NotFound`.
async fn find_visible(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> StoreResult<contacts::Model> {
    let mut q = contacts::Entity::find_by_id(id).filter(contacts::Column::DeletedAt.is_null());
    if let Some(c) = visible(caller) {
        q = q.filter(c);
    }
    q.one(db).await?.ok_or(StoreError::NotFound)
}

/// Checks the references of a contact: its type exists, its account is visible. Fills
/// `company` from the account when the write gave none.
async fn resolve_links(
    db: &impl ConnectionTrait,
    caller: &Caller,
    f: &mut ContactFields,
    errors: &mut ValidationErrors,
) -> StoreResult<()> {
    if let Some(t) = f.type_id
        && contact_types::Entity::find_by_id(t)
            .one(db)
            .await?
            .is_none()
    {
        errors.add("type_id", "no contact type has this id");
    }
    if let Some(a) = f.account_id {
        match accounts::find_visible(db, caller, a).await {
            Ok(account) => {
                if f.company.is_none() {
                    f.company = Some(account.name);
                }
            }
            Err(StoreError::NotFound) => errors.add("account_id", "no visible account has this id"),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Store {
    /// Contacts the caller may see, filtered: the page's rows
    /// ([`Store::listed_contacts`] reads the contacts).
    pub async fn list_contacts(
        &self,
        caller: &Caller,
        filter: &ContactFilter,
        page: PageRequest,
    ) -> StoreResult<Slice<Listed>> {
        let mut cond = Condition::all();
        if !filter.include_deleted {
            cond = cond.add(contacts::Column::DeletedAt.is_null());
        }
        if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
            cond = cond.add(text_search(q));
        }
        if let Some(t) = filter.type_id {
            cond = cond.add(contacts::Column::TypeId.eq(t));
        }
        if let Some(a) = filter.account_id {
            cond = cond.add(contacts::Column::AccountId.eq(a));
        }
        if let Some(since) = filter.updated_since {
            cond = cond.add(contacts::Column::UpdatedAt.gte(since));
        }
        if let Some(folder_id) = filter.folder_id {
            let folder = self.get_folder(caller, folder_id).await?;
            cond = cond.add(match folder.kind {
                FolderKind::Static => Condition::all().add(
                    Expr::col(contacts::Column::Id).in_subquery(
                        Query::select()
                            .column(contact_folder_members::Column::ContactId)
                            .from(contact_folder_members::Entity)
                            .and_where(contact_folder_members::Column::FolderId.eq(folder_id))
                            .to_owned(),
                    ),
                ),
                FolderKind::Dynamic => filter_condition(&folder.filter.unwrap_or_default()),
            });
        }
        Ok(grants::first_visible(
            &self.db,
            caller,
            RecordKind::Contact,
            ListingColumns {
                id: contacts::Column::Id,
                owner: contacts::Column::OwnerId,
                version: contacts::Column::Version,
            },
            contacts::Entity::find().filter(cond),
            page,
        )
        .await?)
    }

    /// The contacts of a listing's rows as they are now ([`grants::listed_records`]);
    /// one deleted since is left out unless the listing included tombstones.
    pub async fn listed_contacts(
        &self,
        listed: &[Listed],
        include_deleted: bool,
    ) -> StoreResult<Vec<Contact>> {
        let mut q = contacts::Entity::find();
        if !include_deleted {
            q = q.filter(contacts::Column::DeletedAt.is_null());
        }
        Ok(grants::listed_records(
            &self.db,
            listed,
            contacts::Column::Id,
            q,
            |m| m.id,
            to_contact,
        )
        .await?)
    }

    /// One visible, live contact.
    pub async fn get_contact(&self, caller: &Caller, id: Uuid) -> StoreResult<Contact> {
        let m = find_visible(&self.db, caller, id).await?;
        let g = grants::of_record(&self.db, id).await?;
        Ok(to_contact(m, g))
    }

    /// Creates a contact.
    pub async fn create_contact(&self, caller: &Caller, w: ContactWrite) -> StoreResult<Contact> {
        let owner = owner_for_new(caller, w.owner_id.as_deref())?;
        let mut errors = ValidationErrors::default();
        validate_write_grants(&w.grants, &mut errors);
        let grant_list = w.grants.clone().unwrap_or_default();
        let mut fields = ContactFields::default();
        w.apply_to(&mut fields);
        fields.validate(&mut errors);
        let txn = self.write_txn().await?;
        resolve_links(&txn, caller, &mut fields, &mut errors).await?;
        errors.into_result()?;
        let now = Utc::now();
        let mut am = contacts::ActiveModel {
            id: Set(new_id()),
            owner_id: Set(owner),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        };
        set_fields(&mut am, fields);
        let m = contacts::Entity::insert(am)
            .exec_with_returning(&txn)
            .await?;
        let list = grants::replace(&txn, RecordKind::Contact, m.id, grant_list).await?;
        let mut touched = Touched::contacts();
        touched.contact(&m.owner_id, &list);
        touched.write(&txn).await?;
        txn.commit().await?;
        Ok(to_contact(m, list))
    }

    /// Changes the fields present in `w`.
    pub async fn update_contact(
        &self,
        caller: &Caller,
        id: Uuid,
        w: ContactWrite,
        if_match: Option<i32>,
    ) -> StoreResult<Contact> {
        let txn = self.write_txn().await?;
        let m = find_visible(&txn, caller, id).await?;
        let current_grants = grants::of_record(&txn, id).await?;
        if access_of(caller, &m.owner_id, &current_grants) != Some(Access::Edit) {
            return Err(StoreError::Forbidden("read-only access to this contact"));
        }
        check_version(if_match, m.version)?;
        may_reshare(
            caller,
            &m.owner_id,
            w.owner_id.as_deref(),
            w.grants.as_deref(),
        )?;
        let mut errors = ValidationErrors::default();
        validate_write_grants(&w.grants, &mut errors);
        let new_grants = w.grants.clone();
        let new_owner = w.owner_id.clone();
        let old_fields = fields_of(&m);
        let mut fields = old_fields.clone();
        // A changed account with no company given takes the new account's name.
        if w.account_id.is_some() && w.company.is_none() {
            fields.company = None;
        }
        w.apply_to(&mut fields);
        fields.validate(&mut errors);
        resolve_links(&txn, caller, &mut fields, &mut errors).await?;
        errors.into_result()?;
        let owner_changed = new_owner.as_deref().is_some_and(|o| o.trim() != m.owner_id);
        if fields == old_fields && new_grants.is_none() && !owner_changed {
            txn.commit().await?;
            return Ok(to_contact(m, current_grants));
        }
        // Seen before by the old owner and grantees, now by the new ones.
        let mut touched = Touched::contacts();
        touched.contact(
            &m.owner_id,
            current_grants.iter().chain(new_grants.iter().flatten()),
        );
        let version = m.version + 1;
        let mut am = m.into_active_model();
        set_fields(&mut am, fields);
        if let Some(o) = new_owner {
            am.owner_id = Set(o.trim().to_owned());
        }
        am.version = Set(version);
        am.updated_at = Set(Utc::now());
        let m = am.update(&txn).await?;
        touched.user(&m.owner_id);
        let list =
            grants::replace_if_given(&txn, RecordKind::Contact, id, new_grants, current_grants)
                .await?;
        touched.write(&txn).await?;
        txn.commit().await?;
        Ok(to_contact(m, list))
    }

    /// Soft-deletes a contact: the row stays as a tombstone (for sync) until purged.
    pub async fn delete_contact(
        &self,
        caller: &Caller,
        id: Uuid,
        if_match: Option<i32>,
    ) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        let m = find_visible(&txn, caller, id).await?;
        let current_grants = grants::of_record(&txn, id).await?;
        if access_of(caller, &m.owner_id, &current_grants) != Some(Access::Edit) {
            return Err(StoreError::Forbidden("read-only access to this contact"));
        }
        check_version(if_match, m.version)?;
        let mut touched = Touched::contacts();
        touched.contact(&m.owner_id, &current_grants);
        let version = m.version + 1;
        let now = Utc::now();
        let mut am = m.into_active_model();
        am.deleted_at = Set(Some(now));
        am.updated_at = Set(now);
        am.version = Set(version);
        am.update(&txn).await?;
        contact_folder_members::Entity::delete_many()
            .filter(contact_folder_members::Column::ContactId.eq(id))
            .exec(&txn)
            .await?;
        touched.write(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes tombstones deleted before `cutoff`; returns how many went.
    pub async fn purge_tombstones(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
        let txn = self.write_txn().await?;
        let ids: Vec<Uuid> = contacts::Entity::find()
            .select_only()
            .column(contacts::Column::Id)
            .filter(contacts::Column::DeletedAt.lt(cutoff))
            .into_tuple()
            .all(&txn)
            .await?;
        // A purged contact leaves its owners' and grantees' views (its links go with it).
        let mut touched = Touched::contacts();
        touched.of_contacts(&txn, &ids).await?;
        for chunk in ids.chunks(500) {
            grants::remove_for_records(&txn, chunk).await?;
            contacts::Entity::delete_many()
                .filter(contacts::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?;
        }
        if !ids.is_empty() {
            touched.write(&txn).await?;
        }
        txn.commit().await?;
        Ok(ids.len() as u64)
    }
}
