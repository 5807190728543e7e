//! Contact folders repository: static member lists and dynamic filters.
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::crm_views::Touched;
use super::entities::{contact_folder_members, contact_folders, contacts};
use super::grants::{self, Listed, ListingColumns, RecordKind};
use super::{PageRequest, Slice, Store, StoreError, StoreResult, check_version, new_id};
use crate::domain::access::{Caller, access_of, may_reshare, owner_for_new, validate_grants};
use crate::domain::folder::{ContactFolder, ContactFolderWrite, FolderFilter, FolderKind};
use crate::domain::{Access, Grant, ValidationErrors};

fn to_folder(m: contact_folders::Model, grants: Vec<Grant>) -> ContactFolder {
    let kind = FolderKind::parse(&m.kind);
    ContactFolder {
        id: m.id,
        name: m.name,
        kind,
        filter: m
            .filter
            .as_deref()
            .and_then(|f| serde_json::from_str::<FolderFilter>(f).ok()),
        owner_id: m.owner_id,
        grants,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn visible(caller: &Caller) -> Option<sea_orm::sea_query::SimpleExpr> {
    grants::visible_condition(
        caller,
        RecordKind::ContactFolder,
        contact_folders::Column::Id,
        contact_folders::Column::OwnerId,
    )
}

async fn find_visible(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> StoreResult<contact_folders::Model> {
    let mut q = contact_folders::Entity::find_by_id(id);
    if let Some(c) = visible(caller) {
        q = q.filter(c);
    }
    q.one(db).await?.ok_or(StoreError::NotFound)
}

/// The folder row if the caller may edit it.
async fn find_editable(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> StoreResult<(contact_folders::Model, Vec<Grant>)> {
    let m = find_visible(db, caller, id).await?;
    let g = grants::of_record(db, id).await?;
    if access_of(caller, &m.owner_id, &g) != Some(Access::Edit) {
        return Err(StoreError::Forbidden("read-only access to this folder"));
    }
    Ok((m, g))
}

fn filter_json(kind: FolderKind, filter: Option<FolderFilter>) -> Option<String> {
    match kind {
        FolderKind::Dynamic => {
            Some(serde_json::to_string(&filter.unwrap_or_default()).expect("filter serializes"))
        }
        FolderKind::Static => None,
    }
}

impl Store {
    /// Folders the caller may see.
    pub async fn list_folders(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> StoreResult<Slice<Listed>> {
        Ok(grants::first_visible(
            &self.db,
            caller,
            RecordKind::ContactFolder,
            ListingColumns {
                id: contact_folders::Column::Id,
                owner: contact_folders::Column::OwnerId,
                version: contact_folders::Column::Version,
            },
            contact_folders::Entity::find(),
            page,
        )
        .await?)
    }

    /// The folders of a listing's rows as they are now ([`grants::listed_records`]).
    pub async fn listed_folders(&self, listed: &[Listed]) -> StoreResult<Vec<ContactFolder>> {
        Ok(grants::listed_records(
            &self.db,
            listed,
            contact_folders::Column::Id,
            contact_folders::Entity::find(),
            |m| m.id,
            to_folder,
        )
        .await?)
    }

    /// One visible folder.
    pub async fn get_folder(&self, caller: &Caller, id: Uuid) -> StoreResult<ContactFolder> {
        let m = find_visible(&self.db, caller, id).await?;
        let g = grants::of_record(&self.db, id).await?;
        Ok(to_folder(m, g))
    }

    /// Creates a folder.
    pub async fn create_folder(
        &self,
        caller: &Caller,
        w: ContactFolderWrite,
    ) -> StoreResult<ContactFolder> {
        let owner = owner_for_new(caller, w.owner_id.as_deref())?;
        let name = w.name.unwrap_or_default().trim().to_owned();
        let grant_list = w.grants.unwrap_or_default();
        let mut errors = ValidationErrors::default();
        errors.check_required("name", &name);
        errors.check_len("name", &name, 250);
        validate_grants(&grant_list, &mut errors);
        // A folder is a hand-picked list unless the caller asks for a dynamic one.
        let kind = w.kind.unwrap_or(FolderKind::Static);
        match (kind, &w.filter) {
            (FolderKind::Static, Some(_)) => {
                errors.add("filter", "only dynamic folders have a filter")
            }
            (FolderKind::Dynamic, None) => errors.add("filter", "a dynamic folder needs a filter"),
            (FolderKind::Dynamic, Some(f)) => f.validate(&mut errors),
            _ => {}
        }
        errors.into_result()?;
        let now = Utc::now();
        let row = contact_folders::ActiveModel {
            id: Set(new_id()),
            name: Set(name),
            kind: Set(kind.as_str().to_owned()),
            filter: Set(filter_json(kind, w.filter)),
            owner_id: Set(owner),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let txn = self.write_txn().await?;
        let m = contact_folders::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        let list = grants::replace(&txn, RecordKind::ContactFolder, m.id, grant_list).await?;
        txn.commit().await?;
        Ok(to_folder(m, list))
    }

    /// Renames, refilters or reshares a folder; its kind is fixed.
    pub async fn update_folder(
        &self,
        caller: &Caller,
        id: Uuid,
        w: ContactFolderWrite,
        if_match: Option<i32>,
    ) -> StoreResult<ContactFolder> {
        let txn = self.write_txn().await?;
        let (m, current_grants) = find_editable(&txn, caller, id).await?;
        check_version(if_match, m.version)?;
        may_reshare(
            caller,
            &m.owner_id,
            w.owner_id.as_deref(),
            w.grants.as_deref(),
        )?;
        let kind = FolderKind::parse(&m.kind);
        let mut errors = ValidationErrors::default();
        if w.kind.is_some_and(|k| k != kind) {
            errors.add("kind", "the kind of a folder cannot change");
        }
        let name = w
            .name
            .map(|n| n.trim().to_owned())
            .unwrap_or(m.name.clone());
        errors.check_required("name", &name);
        errors.check_len("name", &name, 250);
        if let Some(f) = &w.filter {
            if kind == FolderKind::Static {
                errors.add("filter", "only dynamic folders have a filter");
            }
            f.validate(&mut errors);
        }
        if let Some(g) = &w.grants {
            validate_grants(g, &mut errors);
        }
        errors.into_result()?;
        let version = m.version + 1;
        let mut am = m.into_active_model();
        am.name = Set(name);
        if let Some(f) = w.filter {
            am.filter = Set(filter_json(kind, Some(f)));
        }
        if let Some(o) = w.owner_id {
            am.owner_id = Set(o.trim().to_owned());
        }
        am.version = Set(version);
        am.updated_at = Set(Utc::now());
        let m = am.update(&txn).await?;
        let list = grants::replace_if_given(
            &txn,
            RecordKind::ContactFolder,
            id,
            w.grants,
            current_grants,
        )
        .await?;
        // Exports of chosen CRM folders see other members, or none.
        Touched::folder_scope().write(&txn).await?;
        txn.commit().await?;
        Ok(to_folder(m, list))
    }

    /// Deletes a folder (its contacts stay).
    pub async fn delete_folder(
        &self,
        caller: &Caller,
        id: Uuid,
        if_match: Option<i32>,
    ) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        let m = find_visible(&txn, caller, id).await?;
        if !(caller.is_admin || caller.user_id == m.owner_id) {
            return Err(StoreError::Forbidden(
                "only the owner or an administrator may delete a folder",
            ));
        }
        check_version(if_match, m.version)?;
        contact_folder_members::Entity::delete_many()
            .filter(contact_folder_members::Column::FolderId.eq(id))
            .exec(&txn)
            .await?;
        contact_folders::Entity::delete_by_id(id).exec(&txn).await?;
        grants::remove_all(&txn, id).await?;
        // Exports of chosen CRM folders see other members, or none.
        Touched::folder_scope().write(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Adds visible contacts to a static folder; adding a member twice is harmless.
    pub async fn add_folder_members(
        &self,
        caller: &Caller,
        id: Uuid,
        contact_ids: &[Uuid],
    ) -> StoreResult<()> {
        let mut errors = ValidationErrors::default();
        if contact_ids.is_empty() {
            errors.add("contact_ids", "must name at least one contact");
        }
        if contact_ids.len() > 500 {
            errors.add("contact_ids", "at most 500 contacts per call");
        }
        errors.into_result()?;
        let mut errors = ValidationErrors::default();
        let txn = self.write_txn().await?;
        let (m, _) = find_editable(&txn, caller, id).await?;
        if FolderKind::parse(&m.kind) != FolderKind::Static {
            return Err(ValidationErrors::one(
                "contact_ids",
                "members of a dynamic folder come from its filter",
            )
            .into());
        }
        let mut q = contacts::Entity::find()
            .select_only()
            .column(contacts::Column::Id)
            .filter(contacts::Column::Id.is_in(contact_ids.iter().copied()))
            .filter(contacts::Column::DeletedAt.is_null());
        if let Some(c) = grants::visible_condition(
            caller,
            RecordKind::Contact,
            contacts::Column::Id,
            contacts::Column::OwnerId,
        ) {
            q = q.filter(c);
        }
        let found: std::collections::HashSet<Uuid> =
            q.into_tuple().all(&txn).await?.into_iter().collect();
        for (i, c) in contact_ids.iter().enumerate() {
            if !found.contains(c) {
                errors.add(
                    format!("contact_ids[{i}]"),
                    "no visible contact has this id",
                );
            }
        }
        errors.into_result()?;
        let now = Utc::now();
        let mut unique: Vec<Uuid> = contact_ids.to_vec();
        unique.sort();
        unique.dedup();
        let rows = unique
            .into_iter()
            .map(|c| contact_folder_members::ActiveModel {
                folder_id: Set(id),
                contact_id: Set(c),
                added_at: Set(now),
            });
        contact_folder_members::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    contact_folder_members::Column::FolderId,
                    contact_folder_members::Column::ContactId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        // Exports of chosen CRM folders see other members, or none.
        Touched::folder_scope().write(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes one member from a static folder.
    pub async fn remove_folder_member(
        &self,
        caller: &Caller,
        id: Uuid,
        contact_id: Uuid,
    ) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        find_editable(&txn, caller, id).await?;
        let res = contact_folder_members::Entity::delete_many()
            .filter(contact_folder_members::Column::FolderId.eq(id))
            .filter(contact_folder_members::Column::ContactId.eq(contact_id))
            .exec(&txn)
            .await?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        // Exports of chosen CRM folders see other members, or none.
        Touched::folder_scope().write(&txn).await?;
        txn.commit().await?;
        Ok(())
    }
}
