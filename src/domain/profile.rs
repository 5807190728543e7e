//! The contact sync profile of one mailbox (SPEC §4) and the field map's default
//! directions (SPEC §6).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::validation::ValidationErrors;

/// Which way a field flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Both,
    ToExchange,
    ToCrm,
    None,
}

impl Direction {
    /// Changes made in the CRM are written to Exchange.
    pub fn to_exchange(self) -> bool {
        matches!(self, Direction::Both | Direction::ToExchange)
    }

    /// Changes made in Exchange are written to the CRM.
    pub fn to_crm(self) -> bool {
        matches!(self, Direction::Both | Direction::ToCrm)
    }
}

/// One row of the field map.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldSpec {
    /// The CRM field (the key of `fields` overrides).
    pub field: &'static str,
    /// The EWS element or property it maps to.
    pub exchange: &'static str,
    /// Direction when the profile does not override it.
    pub default_direction: Direction,
    /// Notes for integrators.
    pub notes: &'static str,
}

/// The field map of SPEC §6.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        field: "given_name",
        exchange: "GivenName",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "middle_name",
        exchange: "MiddleName",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "surname",
        exchange: "Surname",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "full_name",
        exchange: "DisplayName (and FileAs)",
        default_direction: Direction::ToExchange,
        notes: "import composes it from the names, or takes DisplayName",
    },
    FieldSpec {
        field: "salutation",
        exchange: "ExtendedProperty tag 0x3A45 (String)",
        default_direction: Direction::ToExchange,
        notes: "",
    },
    FieldSpec {
        field: "gender",
        exchange: "ExtendedProperty tag 0x3A4D (Short: 0 unspecified, 1 female, 2 male)",
        default_direction: Direction::ToExchange,
        notes: "",
    },
    FieldSpec {
        field: "job_title",
        exchange: "JobTitle",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "department",
        exchange: "Department",
        default_direction: Direction::ToExchange,
        notes: "",
    },
    FieldSpec {
        field: "company",
        exchange: "CompanyName",
        default_direction: Direction::Both,
        notes: "export writes the account's name or the free-text company; import links the account by name",
    },
    FieldSpec {
        field: "birthday",
        exchange: "Birthday",
        default_direction: Direction::Both,
        notes: "a date, never shifted by a time zone",
    },
    FieldSpec {
        field: "web_page",
        exchange: "BusinessHomePage",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "email1",
        exchange: "EmailAddresses[EmailAddress1]",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "email2",
        exchange: "EmailAddresses[EmailAddress2]",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "email3",
        exchange: "EmailAddresses[EmailAddress3]",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "business_phone",
        exchange: "PhoneNumbers[BusinessPhone]",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "home_phone",
        exchange: "PhoneNumbers[HomePhone]",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "mobile_phone",
        exchange: "PhoneNumbers[MobilePhone]",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "business_address",
        exchange: "PhysicalAddresses[Business] (Street, City, State, PostalCode, CountryOrRegion)",
        default_direction: Direction::Both,
        notes: "",
    },
    FieldSpec {
        field: "home_address",
        exchange: "PhysicalAddresses[Home] (Street, City, State, PostalCode, CountryOrRegion)",
        default_direction: Direction::Both,
        notes: "",
    },
];

/// The default direction of a CRM field, or `None` if it is not mapped.
pub fn default_direction(field: &str) -> Option<Direction> {
    FIELDS
        .iter()
        .find(|f| f.field == field)
        .map(|f| f.default_direction)
}

/// Where imported contacts come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportScope {
    /// Every folder of class IPF.Contact.
    #[default]
    All,
    /// Only `folder_ids`.
    Folders,
}

/// Which CRM contacts are exported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportScope {
    /// Every contact the mailbox owner may see.
    #[default]
    All,
    /// Contacts of `contact_type_ids` and/or members of `folder_ids` (union).
    Specific,
}

/// Import settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ImportSettings {
    pub enabled: bool,
    pub scope: ImportScope,
    /// Exchange folder ids (with `scope = folders`).
    pub folder_ids: Vec<String>,
}

/// Export settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSettings {
    pub enabled: bool,
    pub scope: ExportScope,
    /// CRM contact types (with `scope = specific`).
    pub contact_type_ids: Vec<Uuid>,
    /// CRM contact folders (with `scope = specific`).
    pub folder_ids: Vec<Uuid>,
    /// Exchange folder that receives exported contacts; `null` = the Contacts folder.
    pub target_folder_id: Option<String>,
}

/// Automatic sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AutoSync {
    pub enabled: bool,
    /// 5–1440.
    #[schema(minimum = 5, maximum = 1440)]
    pub interval_minutes: u32,
}

impl Default for AutoSync {
    fn default() -> Self {
        AutoSync {
            enabled: false,
            interval_minutes: 60,
        }
    }
}

/// How a field changed on both sides is decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The side changed last wins (CRM `updated_at` vs Exchange `LastModifiedTime`).
    #[default]
    NewestWins,
    CrmWins,
    ExchangeWins,
}

/// How a first sync finds contacts that already exist on the other side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatchExisting {
    /// One unambiguous match by e-mail, then by full name + company.
    #[default]
    EmailThenName,
    /// Never match: create on the other side.
    None,
}

/// What a deletion in Exchange does in the CRM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnExchangeDelete {
    /// Forget the pair; the CRM contact stays.
    #[default]
    Unlink,
    DeleteInCrm,
}

/// What a deletion in the CRM (or leaving the export scope) does in Exchange.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnCrmDelete {
    /// Forget the pair; the Exchange contact stays.
    #[default]
    KeepInExchange,
    DeleteInExchange,
}

/// The contact sync profile of a mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ContactSyncProfile {
    pub import: ImportSettings,
    pub export: ExportSettings,
    pub auto_sync: AutoSync,
    pub conflict_policy: ConflictPolicy,
    pub match_existing: MatchExisting,
    pub on_exchange_delete: OnExchangeDelete,
    pub on_crm_delete: OnCrmDelete,
    /// Per-field direction overrides, keyed by CRM field (see `GET /contact-sync/fields`).
    pub fields: BTreeMap<String, Direction>,
}

impl ContactSyncProfile {
    /// The direction in force for a CRM field.
    pub fn direction(&self, field: &str) -> Direction {
        self.fields
            .get(field)
            .copied()
            .or_else(|| default_direction(field))
            .unwrap_or(Direction::None)
    }

    /// Rules that need no database or Exchange: ranges, required lists, known fields.
    pub fn validate(&self, errors: &mut ValidationErrors) {
        if self.import.scope == ImportScope::Folders && self.import.folder_ids.is_empty() {
            errors.add(
                "import.folder_ids",
                "name at least one Exchange folder when scope is `folders`",
            );
        }
        if self.import.scope == ImportScope::All && !self.import.folder_ids.is_empty() {
            errors.add("import.folder_ids", "only with scope `folders`");
        }
        for (i, id) in self.import.folder_ids.iter().enumerate() {
            if id.trim().is_empty() || id.len() > 512 {
                errors.add(
                    format!("import.folder_ids[{i}]"),
                    "is not an Exchange folder id",
                );
            }
        }
        if self.import.folder_ids.len() > MAX_LISTED_IDS {
            errors.add(
                "import.folder_ids",
                format!("at most {MAX_LISTED_IDS} folders"),
            );
        }
        let specific = self.export.scope == ExportScope::Specific;
        if specific && self.export.contact_type_ids.is_empty() && self.export.folder_ids.is_empty()
        {
            errors.add(
                "export.scope",
                "`specific` needs contact_type_ids and/or folder_ids",
            );
        }
        // Each id is looked up in the save's write transaction: the lists are bounded.
        if self.export.contact_type_ids.len() > MAX_LISTED_IDS {
            errors.add(
                "export.contact_type_ids",
                format!("at most {MAX_LISTED_IDS} contact types"),
            );
        }
        if self.export.folder_ids.len() > MAX_LISTED_IDS {
            errors.add(
                "export.folder_ids",
                format!("at most {MAX_LISTED_IDS} folders"),
            );
        }
        if !specific && !self.export.contact_type_ids.is_empty() {
            errors.add("export.contact_type_ids", "only with scope `specific`");
        }
        if !specific && !self.export.folder_ids.is_empty() {
            errors.add("export.folder_ids", "only with scope `specific`");
        }
        if let Some(t) = &self.export.target_folder_id
            && (t.trim().is_empty() || t.len() > 512)
        {
            errors.add("export.target_folder_id", "is not an Exchange folder id");
        }
        if !(5..=1440).contains(&self.auto_sync.interval_minutes) {
            errors.add("auto_sync.interval_minutes", "must be between 5 and 1440");
        }
        for name in self.fields.keys() {
            if default_direction(name).is_none() {
                errors.add(format!("fields.{name}"), "is not a synchronized field");
            }
        }
    }
}

/// Longest id list a profile may name (import folders, export types and folders).
pub const MAX_LISTED_IDS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let p = ContactSyncProfile::default();
        assert!(!p.import.enabled && !p.export.enabled && !p.auto_sync.enabled);
        assert_eq!(p.auto_sync.interval_minutes, 60);
        assert_eq!(p.direction("job_title"), Direction::Both);
        assert_eq!(p.direction("department"), Direction::ToExchange);
        assert_eq!(p.direction("unknown"), Direction::None);
        let mut e = ValidationErrors::default();
        p.validate(&mut e);
        assert!(e.0.is_empty());
    }

    #[test]
    fn overrides_and_validation() {
        let p: ContactSyncProfile = serde_json::from_value(serde_json::json!({
            "import": {"enabled": true, "scope": "folders"},
            "export": {"enabled": true, "scope": "specific"},
            "auto_sync": {"interval_minutes": 2},
            "fields": {"job_title": "to_crm", "shoe_size": "both"}
        }))
        .unwrap();
        assert_eq!(p.direction("job_title"), Direction::ToCrm);
        let mut e = ValidationErrors::default();
        p.validate(&mut e);
        let fields: Vec<_> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "import.folder_ids",
                "export.scope",
                "auto_sync.interval_minutes",
                "fields.shoe_size"
            ]
        );
    }

    #[test]
    fn id_lists_are_bounded() {
        let ids: Vec<String> = (0..=MAX_LISTED_IDS)
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let p: ContactSyncProfile = serde_json::from_value(serde_json::json!({
            "export": {"enabled": true, "scope": "specific",
                       "contact_type_ids": ids, "folder_ids": ids}
        }))
        .unwrap();
        let mut e = ValidationErrors::default();
        p.validate(&mut e);
        let fields: Vec<_> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["export.contact_type_ids", "export.folder_ids"]);
    }
}
