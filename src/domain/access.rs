//! Who is calling and what they may do with a record.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validation::ValidationErrors;

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The JWT `sub`.
    pub user_id: String,
    /// `roles` contained `admin`.
    pub is_admin: bool,
}

/// Level of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// May see the record.
    Read,
    /// May see and change the record's fields.
    Edit,
}

impl Access {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Edit => "edit",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Access> {
        match s {
            "read" => Some(Access::Read),
            "edit" => Some(Access::Edit),
            _ => None,
        }
    }
}

/// The grantee that means "every user".
pub const EVERYONE: &str = "*";

/// A share of a record with one user, or with everyone (`user_id` = `*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// A user id (JWT `sub`) or `*` for everyone.
    pub user_id: String,
    /// What the grantee may do.
    pub access: Access,
}

/// Checks a grant list: ids present, no grantee twice.
pub fn validate_grants(grants: &[Grant], errors: &mut ValidationErrors) {
    let mut seen = std::collections::HashSet::new();
    for (i, g) in grants.iter().enumerate() {
        if g.user_id.trim().is_empty() {
            errors.add(format!("grants[{i}].user_id"), "must not be empty");
        } else if g.user_id.len() > 200 {
            errors.add(
                format!("grants[{i}].user_id"),
                "must be at most 200 characters",
            );
        } else if !seen.insert(g.user_id.as_str()) {
            errors.add(format!("grants[{i}].user_id"), "appears twice");
        }
    }
    if grants.len() > 100 {
        errors.add("grants", "at most 100 grants");
    }
}

/// What a caller may do with a record, given its owner and grants.
pub fn access_of(caller: &Caller, owner_id: &str, grants: &[Grant]) -> Option<Access> {
    if caller.is_admin || caller.user_id == owner_id {
        return Some(Access::Edit);
    }
    grants
        .iter()
        .filter(|g| g.user_id == caller.user_id || g.user_id == EVERYONE)
        .map(|g| g.access)
        .max_by_key(|a| matches!(a, Access::Edit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(id: &str, admin: bool) -> Caller {
        Caller {
            user_id: id.into(),
            is_admin: admin,
        }
    }

    #[test]
    fn owner_admin_grantee_everyone_stranger() {
        let grants = vec![
            Grant {
                user_id: "bob".into(),
                access: Access::Read,
            },
            Grant {
                user_id: "carol".into(),
                access: Access::Edit,
            },
        ];
        assert_eq!(
            access_of(&caller("alice", false), "alice", &grants),
            Some(Access::Edit)
        );
        assert_eq!(
            access_of(&caller("root", true), "alice", &grants),
            Some(Access::Edit)
        );
        assert_eq!(
            access_of(&caller("bob", false), "alice", &grants),
            Some(Access::Read)
        );
        assert_eq!(
            access_of(&caller("carol", false), "alice", &grants),
            Some(Access::Edit)
        );
        assert_eq!(access_of(&caller("eve", false), "alice", &grants), None);
        let everyone = vec![Grant {
            user_id: EVERYONE.into(),
            access: Access::Read,
        }];
        assert_eq!(
            access_of(&caller("eve", false), "alice", &everyone),
            Some(Access::Read)
        );
    }
}

/// Why an ownership or sharing change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnershipError {
    /// A field-level problem (e.g. assigning another owner on create).
    Invalid(ValidationErrors),
    /// The caller may edit the record but not its owner or grants.
    Forbidden(&'static str),
}

/// Decides the owner of a new record: the caller, or whom an administrator names.
pub fn owner_for_new(caller: &Caller, requested: Option<&str>) -> Result<String, OwnershipError> {
    match requested.map(str::trim) {
        None => Ok(caller.user_id.clone()),
        Some("") => Err(OwnershipError::Invalid(ValidationErrors::one(
            "owner_id",
            "must not be empty",
        ))),
        Some(o) if o == caller.user_id || caller.is_admin => Ok(o.to_owned()),
        Some(_) => Err(OwnershipError::Invalid(ValidationErrors::one(
            "owner_id",
            "only an administrator may create a record for another user",
        ))),
    }
}

/// Checks that the caller may change owner or grants of an existing record: only its
/// owner or an administrator may.
pub fn may_reshare(
    caller: &Caller,
    owner_id: &str,
    new_owner: Option<&str>,
    new_grants: Option<&[Grant]>,
) -> Result<(), OwnershipError> {
    let is_owner = caller.is_admin || caller.user_id == owner_id;
    if let Some(o) = new_owner {
        if o.trim().is_empty() {
            return Err(OwnershipError::Invalid(ValidationErrors::one(
                "owner_id",
                "must not be empty",
            )));
        }
        if o != owner_id && !is_owner {
            return Err(OwnershipError::Forbidden(
                "only the owner or an administrator may change the owner",
            ));
        }
    }
    if new_grants.is_some() && !is_owner {
        return Err(OwnershipError::Forbidden(
            "only the owner or an administrator may change grants",
        ));
    }
    Ok(())
}
