//! Accounts repository.
use chrono::Utc;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    QueryFilter, Set,
};
use uuid::Uuid;

use super::crm_views::Touched;
use super::entities::{accounts, contacts};
use super::grants::{self, Listed, ListingColumns, RecordKind};
use super::{
    PageRequest, Slice, Store, StoreError, StoreResult, check_version, like_pattern, new_id,
};
use crate::domain::access::{Caller, access_of, may_reshare, owner_for_new, validate_grants};
use crate::domain::account::{Account, AccountWrite, name_key};
use crate::domain::{Access, ValidationErrors};

/// Filters of `GET /accounts`.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub q: Option<String>,
    pub owner_id: Option<String>,
}

fn to_account(m: accounts::Model, grants: Vec<crate::domain::Grant>) -> Account {
    Account {
        id: m.id,
        name: m.name,
        website: m.website,
        owner_id: m.owner_id,
        grants,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn validate(name: &str, website: &str, errors: &mut ValidationErrors) {
    errors.check_required("name", name);
    errors.check_len("name", name, 250);
    errors.check_len("website", website, 250);
}

/// The visible account row, or `NotFound`.
pub(crate) async fn find_visible(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> StoreResult<accounts::Model> {
    let mut q = accounts::Entity::find_by_id(id);
    if let Some(c) = grants::visible_condition(
        caller,
        RecordKind::Account,
        accounts::Column::Id,
        accounts::Column::OwnerId,
    ) {
        q = q.filter(c);
    }
    q.one(db).await?.ok_or(StoreError::NotFound)
}

impl Store {
    /// Accounts the caller may see.
    pub async fn list_accounts(
        &self,
        caller: &Caller,
        filter: &AccountFilter,
        page: PageRequest,
    ) -> StoreResult<Slice<Listed>> {
        let mut cond = Condition::all();
        if let Some(q) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
            cond = cond.add(accounts::Column::NameKey.like(like_pattern(q)));
        }
        if let Some(o) = &filter.owner_id {
            cond = cond.add(accounts::Column::OwnerId.eq(o.clone()));
        }
        Ok(grants::first_visible(
            &self.db,
            caller,
            RecordKind::Account,
            ListingColumns {
                id: accounts::Column::Id,
                owner: accounts::Column::OwnerId,
                version: accounts::Column::Version,
            },
            accounts::Entity::find().filter(cond),
            page,
        )
        .await?)
    }

    /// The accounts of a listing's rows as they are now ([`grants::listed_records`]).
    pub async fn listed_accounts(&self, listed: &[Listed]) -> StoreResult<Vec<Account>> {
        Ok(grants::listed_records(
            &self.db,
            listed,
            accounts::Column::Id,
            accounts::Entity::find(),
            |m| m.id,
            to_account,
        )
        .await?)
    }

    /// One visible account.
    pub async fn get_account(&self, caller: &Caller, id: Uuid) -> StoreResult<Account> {
        let m = find_visible(&self.db, caller, id).await?;
        let g = grants::of_record(&self.db, id).await?;
        Ok(to_account(m, g))
    }

    /// Creates an account owned by the caller (or whom an administrator names).
    pub async fn create_account(&self, caller: &Caller, w: AccountWrite) -> StoreResult<Account> {
        let owner = owner_for_new(caller, w.owner_id.as_deref())?;
        let name = w.name.unwrap_or_default().trim().to_owned();
        let website = w.website.unwrap_or_default().trim().to_owned();
        let grant_list = w.grants.unwrap_or_default();
        let mut errors = ValidationErrors::default();
        validate(&name, &website, &mut errors);
        validate_grants(&grant_list, &mut errors);
        errors.into_result()?;
        let now = Utc::now();
        let row = accounts::ActiveModel {
            id: Set(new_id()),
            name_key: Set(name_key(&name)),
            name: Set(name),
            website: Set(website),
            owner_id: Set(owner),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let txn = self.write_txn().await?;
        let m = accounts::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        let list = grants::replace(&txn, RecordKind::Account, m.id, grant_list).await?;
        txn.commit().await?;
        Ok(to_account(m, list))
    }

    /// Changes the fields present in `w`.
    pub async fn update_account(
        &self,
        caller: &Caller,
        id: Uuid,
        w: AccountWrite,
        if_match: Option<i32>,
    ) -> StoreResult<Account> {
        let txn = self.write_txn().await?;
        let m = find_visible(&txn, caller, id).await?;
        let current_grants = grants::of_record(&txn, id).await?;
        if access_of(caller, &m.owner_id, &current_grants) != Some(Access::Edit) {
            return Err(StoreError::Forbidden("read-only access to this account"));
        }
        check_version(if_match, m.version)?;
        may_reshare(
            caller,
            &m.owner_id,
            w.owner_id.as_deref(),
            w.grants.as_deref(),
        )?;
        let name = w
            .name
            .map(|s| s.trim().to_owned())
            .unwrap_or(m.name.clone());
        let website = w
            .website
            .map(|s| s.trim().to_owned())
            .unwrap_or(m.website.clone());
        let mut errors = ValidationErrors::default();
        validate(&name, &website, &mut errors);
        if let Some(g) = &w.grants {
            validate_grants(g, &mut errors);
        }
        errors.into_result()?;
        let version = m.version + 1;
        let old_name = m.name.clone();
        let mut am = m.into_active_model();
        let touched = if name != old_name {
            Some(rename_in_contacts(&txn, id, &old_name, &name).await?)
        } else {
            None
        };
        am.name_key = Set(name_key(&name));
        am.name = Set(name);
        am.website = Set(website);
        if let Some(o) = w.owner_id {
            am.owner_id = Set(o.trim().to_owned());
        }
        am.version = Set(version);
        am.updated_at = Set(Utc::now());
        let m = am.update(&txn).await?;
        let list =
            grants::replace_if_given(&txn, RecordKind::Account, id, w.grants, current_grants)
                .await?;
        if let Some(touched) = touched {
            touched.write(&txn).await?;
        }
        txn.commit().await?;
        Ok(to_account(m, list))
    }

    /// Deletes an account; its contacts stay, unlinked (the foreign key sets null).
    pub async fn delete_account(
        &self,
        caller: &Caller,
        id: Uuid,
        if_match: Option<i32>,
    ) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        let m = find_visible(&txn, caller, id).await?;
        if !(caller.is_admin || caller.user_id == m.owner_id) {
            return Err(StoreError::Forbidden(
                "only the owner or an administrator may delete an account",
            ));
        }
        check_version(if_match, m.version)?;
        // Linked contacts change (their account goes), so they get a new version for sync.
        let mut touched = Touched::contacts();
        touched.of_account_contacts(&txn, id).await?;
        contacts::Entity::update_many()
            .col_expr(
                contacts::Column::AccountId,
                sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
            )
            .col_expr(
                contacts::Column::Version,
                sea_orm::sea_query::Expr::col(contacts::Column::Version).add(1),
            )
            .col_expr(
                contacts::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(Utc::now()),
            )
            .filter(contacts::Column::AccountId.eq(id))
            .exec(&txn)
            .await?;
        accounts::Entity::delete_by_id(id).exec(&txn).await?;
        grants::remove_all(&txn, id).await?;
        touched.write(&txn).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// A renamed account's contacts that carried its old name as their company take the new
/// one (a new version, so that sync carries it to Exchange's CompanyName, SPEC §5
/// "derived values follow their sources"). A company typed differently stays.
async fn rename_in_contacts(
    txn: &impl sea_orm::ConnectionTrait,
    account_id: Uuid,
    old_name: &str,
    new_name: &str,
) -> StoreResult<Touched> {
    use sea_orm::sea_query::Expr;
    let mut touched = Touched::contacts();
    touched.of_account_contacts(txn, account_id).await?;
    contacts::Entity::update_many()
        .col_expr(contacts::Column::Company, Expr::value(new_name.to_owned()))
        .col_expr(
            contacts::Column::Version,
            Expr::col(contacts::Column::Version).add(1),
        )
        .col_expr(contacts::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(contacts::Column::AccountId.eq(account_id))
        .filter(contacts::Column::Company.eq(old_name))
        .filter(contacts::Column::DeletedAt.is_null())
        .exec(txn)
        .await?;
    Ok(touched)
}
