//! The contact record kept by the simulator and the field paths EWS uses to address it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One postal address (a `PhysicalAddresses` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    /// `t:Street`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// `t:City`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// `t:State`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `t:CountryOrRegion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_or_region: Option<String>,
    /// `t:PostalCode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
}

impl Address {
    /// True when no part is set (Exchange then drops the entry).
    pub fn is_empty(&self) -> bool {
        self.street.is_none()
            && self.city.is_none()
            && self.state.is_none()
            && self.country_or_region.is_none()
            && self.postal_code.is_none()
    }

    /// The part named by the last segment of `contacts:PhysicalAddress:<Part>`.
    pub fn part_mut(&mut self, part: &str) -> Option<&mut Option<String>> {
        Some(match part {
            "Street" => &mut self.street,
            "City" => &mut self.city,
            "State" => &mut self.state,
            "CountryOrRegion" => &mut self.country_or_region,
            "PostalCode" => &mut self.postal_code,
            _ => return None,
        })
    }

    fn merge_from(&mut self, other: &Address) {
        for (dst, src) in [
            (&mut self.street, &other.street),
            (&mut self.city, &other.city),
            (&mut self.state, &other.state),
            (&mut self.country_or_region, &other.country_or_region),
            (&mut self.postal_code, &other.postal_code),
        ] {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
    }
}

/// How an extended (MAPI) property is named: by tag, or by property set + name/id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExtendedFieldUri {
    /// `PropertyTag`, e.g. `0x3A45` (kept as sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_tag: Option<String>,
    /// `PropertySetId` (a GUID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_set_id: Option<String>,
    /// `DistinguishedPropertySetId`, e.g. `PublicStrings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinguished_property_set_id: Option<String>,
    /// `PropertyName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_name: Option<String>,
    /// `PropertyId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_id: Option<String>,
    /// `PropertyType`, e.g. `String`, `Short`.
    pub property_type: String,
}

impl ExtendedFieldUri {
    /// The identity Exchange uses: tags compare numerically, GUIDs case-insensitively,
    /// and the type is not part of the name.
    pub fn key(&self) -> String {
        if let Some(tag) = &self.property_tag {
            let t = tag.trim();
            let n = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => t.parse::<u32>().ok(),
            };
            return match n {
                Some(n) => format!("tag:{n:#06x}"),
                None => format!("tag:{}", t.to_ascii_lowercase()),
            };
        }
        let set = self
            .property_set_id
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .or_else(|| self.distinguished_property_set_id.clone())
            .unwrap_or_default();
        match (&self.property_name, &self.property_id) {
            (Some(name), _) => format!("set:{set}:name:{name}"),
            (None, Some(id)) => format!("set:{set}:id:{}", id.trim()),
            (None, None) => format!("set:{set}"),
        }
    }
}

/// An extended property with its value (single-valued types).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendedProperty {
    /// Which property.
    pub uri: ExtendedFieldUri,
    /// Its value as EWS writes it in `t:Value`.
    pub value: String,
}

/// Every contact field the simulator keeps (SPEC §6 and the usual companions).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactData {
    /// `t:DisplayName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `t:FileAs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_as: Option<String>,
    /// `t:GivenName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `t:MiddleName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// `t:Surname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// `t:Nickname`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// `t:CompanyName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// `t:JobTitle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// `t:Department`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// `t:OfficeLocation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_location: Option<String>,
    /// `t:BusinessHomePage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_home_page: Option<String>,
    /// `t:Birthday`, an xs:dateTime kept exactly as written (never shifted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    /// `t:EmailAddresses` by key (`EmailAddress1..3`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub email_addresses: BTreeMap<String, String>,
    /// `t:PhoneNumbers` by key (`BusinessPhone`, `HomePhone`, `MobilePhone`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub phone_numbers: BTreeMap<String, String>,
    /// `t:PhysicalAddresses` by key (`Business`, `Home`, `Other`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub physical_addresses: BTreeMap<String, Address>,
    /// `t:ExtendedProperty` values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extended_properties: Vec<ExtendedProperty>,
}

/// A property path as EWS names it in `FieldURI` / `IndexedFieldURI` / `ExtendedFieldURI`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    /// `FieldURI="contacts:GivenName"` and friends.
    Field(String),
    /// `IndexedFieldURI FieldURI=".." FieldIndex=".."`.
    Indexed {
        /// e.g. `contacts:PhoneNumber`.
        uri: String,
        /// e.g. `MobilePhone`.
        index: String,
    },
    /// `ExtendedFieldURI`.
    Extended(ExtendedFieldUri),
}

/// Why a path could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path names nothing a contact has (ErrorInvalidPropertyRequest).
    #[error("the property {0} is not valid for this item type")]
    Unknown(String),
    /// The path names a read-only or required property (ErrorInvalidPropertyDelete).
    #[error("the property {0} cannot be deleted")]
    NotDeletable(String),
}

impl ContactData {
    fn scalar_mut(&mut self, uri: &str) -> Option<&mut Option<String>> {
        Some(match uri {
            "contacts:DisplayName" => &mut self.display_name,
            "contacts:FileAs" => &mut self.file_as,
            "contacts:GivenName" => &mut self.given_name,
            "contacts:MiddleName" => &mut self.middle_name,
            "contacts:Surname" => &mut self.surname,
            "contacts:Nickname" => &mut self.nickname,
            "contacts:CompanyName" => &mut self.company_name,
            "contacts:JobTitle" => &mut self.job_title,
            "contacts:Department" => &mut self.department,
            "contacts:OfficeLocation" => &mut self.office_location,
            "contacts:BusinessHomePage" => &mut self.business_home_page,
            "contacts:Birthday" => &mut self.birthday,
            _ => return None,
        })
    }

    /// Copies every field that `other` sets (a SetItemField or a partial edit).
    pub fn merge_from(&mut self, other: &ContactData) {
        for (dst, src) in [
            (&mut self.display_name, &other.display_name),
            (&mut self.file_as, &other.file_as),
            (&mut self.given_name, &other.given_name),
            (&mut self.middle_name, &other.middle_name),
            (&mut self.surname, &other.surname),
            (&mut self.nickname, &other.nickname),
            (&mut self.company_name, &other.company_name),
            (&mut self.job_title, &other.job_title),
            (&mut self.department, &other.department),
            (&mut self.office_location, &other.office_location),
            (&mut self.business_home_page, &other.business_home_page),
            (&mut self.birthday, &other.birthday),
        ] {
            if src.is_some() {
                dst.clone_from(src);
            }
        }
        for (k, v) in &other.email_addresses {
            self.email_addresses.insert(k.clone(), v.clone());
        }
        for (k, v) in &other.phone_numbers {
            self.phone_numbers.insert(k.clone(), v.clone());
        }
        for (k, v) in &other.physical_addresses {
            self.physical_addresses
                .entry(k.clone())
                .or_default()
                .merge_from(v);
        }
        for p in &other.extended_properties {
            self.set_extended(p.clone());
        }
    }

    /// Sets (or replaces) one extended property.
    pub fn set_extended(&mut self, prop: ExtendedProperty) {
        let key = prop.uri.key();
        match self
            .extended_properties
            .iter_mut()
            .find(|p| p.uri.key() == key)
        {
            Some(existing) => *existing = prop,
            None => self.extended_properties.push(prop),
        }
    }

    /// The value of an extended property, if set.
    pub fn extended(&self, uri: &ExtendedFieldUri) -> Option<&ExtendedProperty> {
        let key = uri.key();
        self.extended_properties.iter().find(|p| p.uri.key() == key)
    }

    /// Clears what `path` names (DeleteItemField); clearing an unset field is not an error.
    pub fn delete(&mut self, path: &FieldPath) -> Result<(), PathError> {
        match path {
            FieldPath::Field(uri) => {
                if let Some(slot) = self.scalar_mut(uri) {
                    *slot = None;
                    return Ok(());
                }
                match uri.as_str() {
                    "contacts:EmailAddresses" => self.email_addresses.clear(),
                    "contacts:PhoneNumbers" => self.phone_numbers.clear(),
                    "contacts:PhysicalAddresses" => self.physical_addresses.clear(),
                    "item:ItemId" | "item:ItemClass" | "contacts:CompleteName" => {
                        return Err(PathError::NotDeletable(uri.clone()));
                    }
                    // Properties the simulator does not keep are simply absent.
                    u if is_known_field(u) => {}
                    _ => return Err(PathError::Unknown(uri.clone())),
                }
                Ok(())
            }
            FieldPath::Indexed { uri, index } => {
                match uri.as_str() {
                    "contacts:EmailAddress" => {
                        self.email_addresses.remove(index);
                    }
                    "contacts:PhoneNumber" => {
                        self.phone_numbers.remove(index);
                    }
                    "contacts:ImAddress" => {}
                    other => {
                        let part = other
                            .strip_prefix("contacts:PhysicalAddress:")
                            .ok_or_else(|| PathError::Unknown(other.to_string()))?;
                        if let Some(addr) = self.physical_addresses.get_mut(index) {
                            let slot = addr
                                .part_mut(part)
                                .ok_or_else(|| PathError::Unknown(other.to_string()))?;
                            *slot = None;
                            if addr.is_empty() {
                                self.physical_addresses.remove(index);
                            }
                        } else if Address::default().part_mut(part).is_none() {
                            return Err(PathError::Unknown(other.to_string()));
                        }
                    }
                }
                Ok(())
            }
            FieldPath::Extended(uri) => {
                let key = uri.key();
                self.extended_properties.retain(|p| p.uri.key() != key);
                Ok(())
            }
        }
    }

    /// True when the contact carries nothing (an empty SetItemField payload).
    pub fn is_empty(&self) -> bool {
        *self == ContactData::default()
    }
}

/// Field URIs of the item/contact schema that exist in EWS even where the simulator
/// keeps no value, so that requests naming them are valid.
pub fn is_known_field(uri: &str) -> bool {
    let Some((prefix, _)) = uri.split_once(':') else {
        return false;
    };
    matches!(
        prefix,
        "item"
            | "contacts"
            | "message"
            | "calendar"
            | "task"
            | "meeting"
            | "meetingRequest"
            | "postitem"
            | "distributionlist"
            | "folder"
            | "persona"
            | "conversation"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crm_id(value: &str) -> ExtendedProperty {
        ExtendedProperty {
            uri: ExtendedFieldUri {
                property_set_id: Some("6F1D2C5E-3B7A-4E0F-9C21-5A8D4B3E7F10".into()),
                property_name: Some("CrmContactId".into()),
                property_type: "String".into(),
                ..Default::default()
            },
            value: value.into(),
        }
    }

    #[test]
    fn tags_compare_numerically_and_guids_case_insensitively() {
        let hex = ExtendedFieldUri {
            property_tag: Some("0x3A45".into()),
            property_type: "String".into(),
            ..Default::default()
        };
        let dec = ExtendedFieldUri {
            property_tag: Some("14917".into()),
            property_type: "String".into(),
            ..Default::default()
        };
        assert_eq!(hex.key(), dec.key());
        let mut lower = crm_id("x").uri;
        lower.property_set_id = Some("6f1d2c5e-3b7a-4e0f-9c21-5a8d4b3e7f10".into());
        assert_eq!(lower.key(), crm_id("y").uri.key());
    }

    #[test]
    fn delete_then_set_of_the_same_indexed_entry_keeps_the_new_value() {
        let mut c = ContactData::default();
        c.phone_numbers.insert("HomePhone".into(), "1".into());
        c.delete(&FieldPath::Indexed {
            uri: "contacts:PhoneNumber".into(),
            index: "HomePhone".into(),
        })
        .unwrap();
        let mut set = ContactData::default();
        set.phone_numbers.insert("HomePhone".into(), "2".into());
        c.merge_from(&set);
        assert_eq!(c.phone_numbers["HomePhone"], "2");
    }

    #[test]
    fn deleting_every_address_part_drops_the_entry() {
        let mut c = ContactData::default();
        c.physical_addresses.insert(
            "Home".into(),
            Address {
                street: Some("s".into()),
                city: Some("c".into()),
                ..Default::default()
            },
        );
        for part in ["Street", "City"] {
            c.delete(&FieldPath::Indexed {
                uri: format!("contacts:PhysicalAddress:{part}"),
                index: "Home".into(),
            })
            .unwrap();
        }
        assert!(c.physical_addresses.is_empty());
    }

    #[test]
    fn extended_properties_replace_by_identity() {
        let mut c = ContactData::default();
        c.set_extended(crm_id("a"));
        c.set_extended(crm_id("b"));
        assert_eq!(c.extended_properties.len(), 1);
        assert_eq!(c.extended(&crm_id("").uri).unwrap().value, "b");
        c.delete(&FieldPath::Extended(crm_id("").uri)).unwrap();
        assert!(c.extended_properties.is_empty());
    }
}
