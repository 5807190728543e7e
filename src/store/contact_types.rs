//! The contact type lookup (Employee, Customer, ...), seeded by the first migration.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::entities::contact_types;
use super::{Store, StoreError, StoreResult, new_id};
use crate::domain::ValidationErrors;

/// A contact type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ContactType {
    pub id: Uuid,
    pub name: String,
}

impl From<contact_types::Model> for ContactType {
    fn from(m: contact_types::Model) -> Self {
        ContactType {
            id: m.id,
            name: m.name,
        }
    }
}

impl Store {
    /// Every contact type, by name.
    pub async fn list_contact_types(&self) -> StoreResult<Vec<ContactType>> {
        Ok(contact_types::Entity::find()
            .order_by_asc(contact_types::Column::Name)
            .all(&self.db)
            .await?
            .into_iter()
            .map(ContactType::from)
            .collect())
    }

    /// One contact type.
    pub async fn get_contact_type(&self, id: Uuid) -> StoreResult<ContactType> {
        contact_types::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(ContactType::from)
            .ok_or(StoreError::NotFound)
    }

    /// Adds a contact type (administrators only; checked by the caller).
    pub async fn create_contact_type(&self, name: &str) -> StoreResult<ContactType> {
        let name = name.trim();
        let mut errors = ValidationErrors::default();
        errors.check_required("name", name);
        errors.check_len("name", name, 100);
        errors.into_result()?;
        let txn = self.write_txn().await?;
        let exists = contact_types::Entity::find()
            .filter(contact_types::Column::Name.eq(name))
            .one(&txn)
            .await?;
        if exists.is_some() {
            return Err(
                ValidationErrors::one("name", "a contact type with this name exists").into(),
            );
        }
        let row = contact_types::ActiveModel {
            id: Set(new_id()),
            name: Set(name.to_owned()),
        };
        let m = contact_types::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(m.into())
    }
}
