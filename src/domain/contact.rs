//! A CRM contact: the mapped fields of SPEC §6, the write shape and its rules.
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::access::{Grant, validate_grants};
use super::validation::{MAX_TEXT, ValidationErrors, looks_like_email};

/// A postal address; every part may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country: String,
}

impl Address {
    fn parts(&self) -> [(&'static str, &String); 5] {
        [
            ("street", &self.street),
            ("city", &self.city),
            ("state", &self.state),
            ("postal_code", &self.postal_code),
            ("country", &self.country),
        ]
    }
}

/// Gender as the CRM keeps it (Exchange stores it as a Short extended property).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    #[default]
    Unspecified,
    Female,
    Male,
}

impl Gender {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Unspecified => "unspecified",
            Gender::Female => "female",
            Gender::Male => "male",
        }
    }

    /// Parses the stored form; anything unknown reads as unspecified.
    pub fn parse(s: &str) -> Gender {
        match s {
            "female" => Gender::Female,
            "male" => Gender::Male,
            _ => Gender::Unspecified,
        }
    }
}

/// The fields a contact carries and sync maps (SPEC §6), plus its type and account links.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ContactFields {
    pub type_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
    /// Free-text company name; defaults to the linked account's name.
    pub company: Option<String>,
    pub given_name: String,
    pub middle_name: String,
    pub surname: String,
    /// Display name; composed from the name parts when left empty.
    pub full_name: String,
    pub salutation: String,
    pub gender: Gender,
    pub job_title: String,
    pub department: String,
    /// A calendar date, never shifted by a time zone.
    #[schema(value_type = Option<String>, format = Date)]
    pub birthday: Option<NaiveDate>,
    pub web_page: String,
    pub email1: String,
    pub email2: String,
    pub email3: String,
    pub business_phone: String,
    pub home_phone: String,
    pub mobile_phone: String,
    pub business_address: Address,
    pub home_address: Address,
}

/// A contact as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Contact {
    pub id: Uuid,
    #[serde(flatten)]
    pub fields: ContactFields,
    pub owner_id: String,
    pub grants: Vec<Grant>,
    /// Grows by one on every change; the ETag.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when the contact was deleted (tombstones are listed only with `include_deleted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A partial address in a write: absent parts are left as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressWrite {
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// The body of `POST /contacts` and `PATCH /contacts/{id}`: absent fields keep their value
/// (or the default on create); `null` clears `type_id`, `account_id`, `company`, `birthday`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactWrite {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub type_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    pub account_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub surname: Option<String>,
    pub full_name: Option<String>,
    pub salutation: Option<String>,
    pub gender: Option<Gender>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date)]
    pub birthday: Option<Option<NaiveDate>>,
    pub web_page: Option<String>,
    pub email1: Option<String>,
    pub email2: Option<String>,
    pub email3: Option<String>,
    pub business_phone: Option<String>,
    pub home_phone: Option<String>,
    pub mobile_phone: Option<String>,
    pub business_address: Option<AddressWrite>,
    pub home_address: Option<AddressWrite>,
    /// Only an administrator (or the current owner, on update) may set another owner.
    pub owner_id: Option<String>,
    /// Replaces the whole grant list; only the owner or an administrator may change it.
    pub grants: Option<Vec<Grant>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

fn set_address(target: &mut Address, value: Option<AddressWrite>) {
    if let Some(a) = value {
        set(&mut target.street, a.street);
        set(&mut target.city, a.city);
        set(&mut target.state, a.state);
        set(&mut target.postal_code, a.postal_code);
        set(&mut target.country, a.country);
    }
}

impl ContactWrite {
    /// Applies the fields present in the write to `fields`, trimming text.
    pub fn apply_to(self, f: &mut ContactFields) {
        set(&mut f.type_id, self.type_id);
        set(&mut f.account_id, self.account_id);
        set(&mut f.company, self.company);
        set(&mut f.given_name, self.given_name);
        set(&mut f.middle_name, self.middle_name);
        set(&mut f.surname, self.surname);
        set(&mut f.full_name, self.full_name);
        set(&mut f.salutation, self.salutation);
        set(&mut f.gender, self.gender);
        set(&mut f.job_title, self.job_title);
        set(&mut f.department, self.department);
        set(&mut f.birthday, self.birthday);
        set(&mut f.web_page, self.web_page);
        set(&mut f.email1, self.email1);
        set(&mut f.email2, self.email2);
        set(&mut f.email3, self.email3);
        set(&mut f.business_phone, self.business_phone);
        set(&mut f.home_phone, self.home_phone);
        set(&mut f.mobile_phone, self.mobile_phone);
        set_address(&mut f.business_address, self.business_address);
        set_address(&mut f.home_address, self.home_address);
        f.normalize();
    }
}

impl ContactFields {
    /// The values of `self` that `after` replaced, by field name: what a run keeps as an
    /// update's `before`. Only the overwritten fields, because a run's history holds one
    /// of these per changed contact and the untouched fields are still on the contact.
    pub fn overwritten_by(&self, after: &ContactFields) -> serde_json::Value {
        let (serde_json::Value::Object(mut was), serde_json::Value::Object(now)) =
            (serde_json::json!(self), serde_json::json!(after))
        else {
            unreachable!("a struct serializes to an object")
        };
        was.retain(|k, v| now.get(k) != Some(v));
        serde_json::Value::Object(was)
    }

    /// Trims text and composes `full_name` from the name parts when it is empty.
    pub fn normalize(&mut self) {
        for s in self.texts_mut() {
            let t = s.trim();
            if t.len() != s.len() {
                *s = t.to_owned();
            }
        }
        if let Some(c) = &mut self.company {
            *c = c.trim().to_owned();
            if c.is_empty() {
                self.company = None;
            }
        }
        if self.full_name.is_empty() {
            self.full_name = self.composed_name();
        }
    }

    /// "Given Middle Surname", skipping empty parts.
    pub fn composed_name(&self) -> String {
        [&self.given_name, &self.middle_name, &self.surname]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn texts_mut(&mut self) -> Vec<&mut String> {
        let mut v = vec![
            &mut self.given_name,
            &mut self.middle_name,
            &mut self.surname,
            &mut self.full_name,
            &mut self.salutation,
            &mut self.job_title,
            &mut self.department,
            &mut self.web_page,
            &mut self.email1,
            &mut self.email2,
            &mut self.email3,
            &mut self.business_phone,
            &mut self.home_phone,
            &mut self.mobile_phone,
        ];
        for a in [&mut self.business_address, &mut self.home_address] {
            v.extend([
                &mut a.street,
                &mut a.city,
                &mut a.state,
                &mut a.postal_code,
                &mut a.country,
            ]);
        }
        v
    }

    /// Field rules that need no database: a name, e-mail shapes, lengths.
    pub fn validate(&self, errors: &mut ValidationErrors) {
        if self.full_name.is_empty() && self.email1.is_empty() {
            errors.add(
                "full_name",
                "a contact needs a name (full_name, given_name or surname) or email1",
            );
        }
        let texts: [(&str, &String); 14] = [
            ("given_name", &self.given_name),
            ("middle_name", &self.middle_name),
            ("surname", &self.surname),
            ("full_name", &self.full_name),
            ("salutation", &self.salutation),
            ("job_title", &self.job_title),
            ("department", &self.department),
            ("web_page", &self.web_page),
            ("email1", &self.email1),
            ("email2", &self.email2),
            ("email3", &self.email3),
            ("business_phone", &self.business_phone),
            ("home_phone", &self.home_phone),
            ("mobile_phone", &self.mobile_phone),
        ];
        for (name, value) in texts {
            errors.check_len(name, value, MAX_TEXT);
        }
        if let Some(c) = &self.company {
            errors.check_len("company", c, MAX_TEXT);
        }
        for (name, value) in [
            ("email1", &self.email1),
            ("email2", &self.email2),
            ("email3", &self.email3),
        ] {
            if !value.is_empty() && !looks_like_email(value) {
                errors.add(name, "is not an e-mail address");
            }
        }
        for (prefix, addr) in [
            ("business_address", &self.business_address),
            ("home_address", &self.home_address),
        ] {
            for (part, value) in addr.parts() {
                errors.check_len(&format!("{prefix}.{part}"), value, MAX_TEXT);
            }
        }
    }
}

/// Validates a write's grant list, if it carries one.
pub fn validate_write_grants(w: &Option<Vec<Grant>>, errors: &mut ValidationErrors) {
    if let Some(g) = w {
        validate_grants(g, errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_name_is_composed_and_text_trimmed() {
        let mut f = ContactFields::default();
        let w: ContactWrite =
            serde_json::from_str(r#"{"given_name":" Ann ","surname":"Lee","company":"  "}"#)
                .unwrap();
        w.apply_to(&mut f);
        assert_eq!(f.given_name, "Ann");
        assert_eq!(f.full_name, "Ann Lee");
        assert_eq!(f.company, None);
    }

    #[test]
    fn null_clears_and_absent_keeps() {
        let mut f = ContactFields {
            birthday: NaiveDate::from_ymd_opt(1990, 2, 3),
            job_title: "CTO".into(),
            full_name: "X".into(),
            ..Default::default()
        };
        let w: ContactWrite = serde_json::from_str(r#"{"birthday":null}"#).unwrap();
        w.apply_to(&mut f);
        assert_eq!(f.birthday, None);
        assert_eq!(f.job_title, "CTO");
    }

    #[test]
    fn an_update_keeps_only_the_values_it_overwrote() {
        let was = ContactFields {
            given_name: "Ann".into(),
            job_title: "CTO".into(),
            birthday: NaiveDate::from_ymd_opt(1990, 2, 3),
            ..Default::default()
        };
        let mut now = was.clone();
        now.job_title = "CEO".into();
        now.birthday = None;
        now.home_address.city = "Oslo".into();
        assert_eq!(
            was.overwritten_by(&now),
            serde_json::json!({
                "job_title": "CTO",
                "birthday": "1990-02-03",
                "home_address": serde_json::json!(was.home_address),
            })
        );
        assert_eq!(was.overwritten_by(&was), serde_json::json!({}));
    }

    #[test]
    fn validation_names_each_field() {
        let f = ContactFields {
            email2: "nope".into(),
            job_title: "x".repeat(300),
            ..Default::default()
        };
        let mut e = ValidationErrors::default();
        f.validate(&mut e);
        let fields: Vec<_> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["full_name", "job_title", "email2"]);
    }
}
