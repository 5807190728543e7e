//! `microsoft.graph.contact`: what a read, a delta page or a create carries, and the
//! PATCH body that can also clear a property.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::extended::ExtendedProperty;

/// `emailAddress`: one entry of `emailAddresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddress {
    /// The display name of the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The SMTP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// `physicalAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalAddress {
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_or_region: Option<String>,
}

impl PhysicalAddress {
    /// True when no part is set (Graph answers such an address with empty parts).
    pub fn is_empty(&self) -> bool {
        [
            &self.street,
            &self.city,
            &self.state,
            &self.postal_code,
            &self.country_or_region,
        ]
        .iter()
        .all(|p| p.as_deref().is_none_or(str::is_empty))
    }
}

/// `@removed` of a delta entry: the contact left the folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// `deleted` (Graph says `changed` for a move out of the folder as well).
    pub reason: String,
}

/// A contact as Graph answers it (GET, delta, create) and as a create sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// `@odata.etag`: `W/"<changeKey>"`, the value for `If-Match`.
    #[serde(
        rename = "@odata.etag",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub etag: Option<String>,
    /// The contact id (immutable when the request preferred `IdType="ImmutableId"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Changes on every write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_key: Option<String>,
    /// The folder holding the contact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_folder_id: Option<String>,
    /// ISO 8601, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date_time: Option<String>,
    /// ISO 8601, UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified_date_time: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// File-as name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_as: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Surname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// Nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Office location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_location: Option<String>,
    /// Business home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_home_page: Option<String>,
    /// A DateTimeOffset whose date part is the birthday (see [`Contact::birthday_date`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
    /// E-mail addresses, in Outlook's order (Email 1, 2, 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_addresses: Option<Vec<EmailAddress>>,
    /// Business phones (the first is Outlook's "Business").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_phones: Option<Vec<String>>,
    /// Home phones (the first is Outlook's "Home").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_phones: Option<Vec<String>>,
    /// Mobile phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile_phone: Option<String>,
    /// Business address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_address: Option<PhysicalAddress>,
    /// Home address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_address: Option<PhysicalAddress>,
    /// Other address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_address: Option<PhysicalAddress>,
    /// Extended properties, when asked for with `$expand` (or sent with a create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<ExtendedProperty>>,
    /// Set in a delta page when the contact left the folder.
    #[serde(rename = "@removed", default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removed>,
}

/// The DateTimeOffset written for a birthday: noon-ish UTC, as Outlook does, so that no
/// time zone moves it to another day.
pub fn birthday_value(date: NaiveDate) -> String {
    format!("{}T11:59:00Z", date.format("%Y-%m-%d"))
}

/// The date part of a Graph DateTimeOffset (`1815-12-10T11:59:00Z` → 1815-12-10).
pub fn birthday_date(value: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(value.get(..10)?, "%Y-%m-%d").ok()
}

impl Contact {
    /// The birthday's date, never shifted by a zone.
    pub fn birthday_date(&self) -> Option<NaiveDate> {
        self.birthday.as_deref().and_then(birthday_date)
    }

    /// The value of an extended property, if the contact carries it.
    pub fn extended(&self, id: &super::PropertyId) -> Option<&str> {
        self.single_value_extended_properties
            .as_deref()?
            .iter()
            .find(|p| super::PropertyId::parse(&p.id).is_ok_and(|p| p.same_property(id)))
            .and_then(|p| p.value.as_deref())
    }

    /// The ChangeKey an `If-Match` must name: `@odata.etag`, else `W/"changeKey"`.
    pub fn if_match(&self) -> Option<String> {
        self.etag
            .clone()
            .or_else(|| self.change_key.as_ref().map(|ck| format!("W/\"{ck}\"")))
    }
}

/// PATCH body: a field left `None` is not touched, `Some(None)` clears it (`null`).
/// Collections are replaced whole (Graph has no per-entry update), `[]` clears them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContactPatch {
    /// Tolerated when a client sends it; never written.
    #[serde(rename = "@odata.type", default, skip_serializing)]
    pub odata_type: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub display_name: Option<Option<String>>,
    /// File-as name.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub file_as: Option<Option<String>>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub given_name: Option<Option<String>>,
    /// Middle name.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub middle_name: Option<Option<String>>,
    /// Surname.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub surname: Option<Option<String>>,
    /// Nickname.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub nick_name: Option<Option<String>>,
    /// Company name.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub company_name: Option<Option<String>>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub job_title: Option<Option<String>>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub department: Option<Option<String>>,
    /// Office location.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub office_location: Option<Option<String>>,
    /// Business home page.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub business_home_page: Option<Option<String>>,
    /// Birthday (see [`birthday_value`]).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub birthday: Option<Option<String>>,
    /// Every e-mail address, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_addresses: Option<Vec<EmailAddress>>,
    /// Every business phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_phones: Option<Vec<String>>,
    /// Every home phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home_phones: Option<Vec<String>>,
    /// Mobile phone.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub mobile_phone: Option<Option<String>>,
    /// Business address (whole).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub business_address: Option<Option<PhysicalAddress>>,
    /// Home address (whole).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub home_address: Option<Option<PhysicalAddress>>,
    /// Other address (whole).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub other_address: Option<Option<PhysicalAddress>>,
    /// Extended properties to set (the ones not named stay as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_value_extended_properties: Option<Vec<ExtendedProperty>>,
}

impl ContactPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ContactPatch::default()
    }
}

/// `Option<Option<T>>` as "absent / null / value" (serde `with`).
pub mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// `Some(Some(v))` → v, otherwise `null` (absent is skipped by the field attribute).
    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(Some(x)) => x.serialize(s),
            _ => s.serialize_none(),
        }
    }

    /// A present field: `null` → `Some(None)`, a value → `Some(Some(v))`.
    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patch_tells_absent_from_cleared() {
        let p: ContactPatch =
            serde_json::from_str(r#"{"jobTitle": null, "givenName": "Ann"}"#).unwrap();
        assert_eq!(p.job_title, Some(None));
        assert_eq!(p.given_name, Some(Some("Ann".into())));
        assert_eq!(p.surname, None);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"givenName":"Ann","jobTitle":null}"#
        );
        assert!(serde_json::from_str::<ContactPatch>(r#"{"shoeSize": 4}"#).is_err());
    }

    #[test]
    fn birthdays_keep_their_date() {
        let d = NaiveDate::from_ymd_opt(1815, 12, 10).unwrap();
        assert_eq!(birthday_value(d), "1815-12-10T11:59:00Z");
        assert_eq!(birthday_date("1815-12-10T00:00:00-08:00"), Some(d));
        assert_eq!(birthday_date("garbage"), None);
    }
}
