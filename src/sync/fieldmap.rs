//! The field map of SPEC §6: a canonical snapshot of the mapped fields built from either
//! side, the writes that carry changes to each side, and a stable fingerprint.
//!
//! Normalization (so that values that mean the same compare equal):
//! - text is trimmed; an empty value is absent (a cleared field and a never-set field
//!   are the same thing);
//! - e-mail addresses keep their case and are compared exactly when detecting changes,
//!   so a case-only edit on one side is copied to the other (neither side re-cases
//!   addresses, so this cannot ping-pong); *matching* compares them case-insensitively
//!   (see `matching`). A leading `SMTP:` routing prefix from Exchange is dropped;
//! - `full_name` is `DisplayName`, or composed from the name parts when that is empty
//!   (the CRM composes it the same way, see `ContactFields::normalize`);
//! - birthday is a calendar date `YYYY-MM-DD`; gender `female`/`male`, unspecified is
//!   absent (Exchange `0` and a missing property both read as unspecified).
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::domain::contact::{Address, ContactFields, Gender};
use crate::domain::profile::{ContactSyncProfile, Direction};
use crate::domain::validation::{MAX_TEXT, looks_like_email};

/// One synchronized value. Addresses are synchronized part by part, so an edit of the
/// city on one side and of the street on the other both survive; the direction of a
/// part is that of its whole address (`business_address`, `home_address`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    GivenName,
    MiddleName,
    Surname,
    FullName,
    Salutation,
    Gender,
    JobTitle,
    Department,
    Company,
    Birthday,
    WebPage,
    Email1,
    Email2,
    Email3,
    BusinessPhone,
    HomePhone,
    MobilePhone,
    #[serde(rename = "business_address.street")]
    BusinessStreet,
    #[serde(rename = "business_address.city")]
    BusinessCity,
    #[serde(rename = "business_address.state")]
    BusinessState,
    #[serde(rename = "business_address.postal_code")]
    BusinessPostalCode,
    #[serde(rename = "business_address.country")]
    BusinessCountry,
    #[serde(rename = "home_address.street")]
    HomeStreet,
    #[serde(rename = "home_address.city")]
    HomeCity,
    #[serde(rename = "home_address.state")]
    HomeState,
    #[serde(rename = "home_address.postal_code")]
    HomePostalCode,
    #[serde(rename = "home_address.country")]
    HomeCountry,
}

impl Field {
    /// Every field, in a fixed order.
    pub const ALL: [Field; 27] = [
        Field::GivenName,
        Field::MiddleName,
        Field::Surname,
        Field::FullName,
        Field::Salutation,
        Field::Gender,
        Field::JobTitle,
        Field::Department,
        Field::Company,
        Field::Birthday,
        Field::WebPage,
        Field::Email1,
        Field::Email2,
        Field::Email3,
        Field::BusinessPhone,
        Field::HomePhone,
        Field::MobilePhone,
        Field::BusinessStreet,
        Field::BusinessCity,
        Field::BusinessState,
        Field::BusinessPostalCode,
        Field::BusinessCountry,
        Field::HomeStreet,
        Field::HomeCity,
        Field::HomeState,
        Field::HomePostalCode,
        Field::HomeCountry,
    ];

    /// The CRM field name that keys profile overrides (`domain::profile::FIELDS`).
    pub fn crm_name(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::MiddleName => "middle_name",
            Field::Surname => "surname",
            Field::FullName => "full_name",
            Field::Salutation => "salutation",
            Field::Gender => "gender",
            Field::JobTitle => "job_title",
            Field::Department => "department",
            Field::Company => "company",
            Field::Birthday => "birthday",
            Field::WebPage => "web_page",
            Field::Email1 => "email1",
            Field::Email2 => "email2",
            Field::Email3 => "email3",
            Field::BusinessPhone => "business_phone",
            Field::HomePhone => "home_phone",
            Field::MobilePhone => "mobile_phone",
            Field::BusinessStreet
            | Field::BusinessCity
            | Field::BusinessState
            | Field::BusinessPostalCode
            | Field::BusinessCountry => "business_address",
            Field::HomeStreet
            | Field::HomeCity
            | Field::HomeState
            | Field::HomePostalCode
            | Field::HomeCountry => "home_address",
        }
    }

    /// The direction the profile gives this field.
    pub fn direction(self, profile: &ContactSyncProfile) -> Direction {
        profile.direction(self.crm_name())
    }

    /// The address and part of an address field, `None` for the others.
    pub fn address_part(self) -> Option<(AddressKind, AddressPart)> {
        use AddressKind::{Business, Home};
        use AddressPart::*;
        Some(match self {
            Field::BusinessStreet => (Business, Street),
            Field::BusinessCity => (Business, City),
            Field::BusinessState => (Business, State),
            Field::BusinessPostalCode => (Business, PostalCode),
            Field::BusinessCountry => (Business, Country),
            Field::HomeStreet => (Home, Street),
            Field::HomeCity => (Home, City),
            Field::HomeState => (Home, State),
            Field::HomePostalCode => (Home, PostalCode),
            Field::HomeCountry => (Home, Country),
            _ => return None,
        })
    }
}

/// Which postal address of a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Business,
    Home,
}

/// One part of a postal address (addresses are synchronized part by part).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPart {
    Street,
    City,
    State,
    PostalCode,
    Country,
}

/// The changes to make on one side: `Some(value)` sets a field, `None` clears it.
pub type Changes = BTreeMap<Field, Option<String>>;

/// The mapped fields of one contact, normalized; absent fields are not stored. Stored as
/// JSON in the link row as the last-synced snapshot of a side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MappedContact(BTreeMap<Field, String>);

/// Trims; empty means absent.
fn clean(value: Option<&str>) -> Option<String> {
    let v = value?.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

fn clean_email(value: Option<&str>) -> Option<String> {
    let v = value?.trim();
    let v = match v.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("smtp:") => v[5..].trim(),
        _ => v,
    };
    (!v.is_empty()).then(|| v.to_owned())
}

fn gender_to_str(g: Gender) -> Option<&'static str> {
    match g {
        Gender::Unspecified => None,
        Gender::Female => Some("female"),
        Gender::Male => Some("male"),
    }
}

pub fn compose(parts: [Option<&str>; 3]) -> String {
    parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

pub const BIRTHDAY_FORMAT: &str = "%Y-%m-%d";

fn address_fields(kind: AddressKind) -> [(Field, AddressPart); 5] {
    let fields = match kind {
        AddressKind::Business => [
            Field::BusinessStreet,
            Field::BusinessCity,
            Field::BusinessState,
            Field::BusinessPostalCode,
            Field::BusinessCountry,
        ],
        AddressKind::Home => [
            Field::HomeStreet,
            Field::HomeCity,
            Field::HomeState,
            Field::HomePostalCode,
            Field::HomeCountry,
        ],
    };
    fields.map(|f| (f, f.address_part().expect("an address field").1))
}

fn crm_address_part(a: &mut Address, part: AddressPart) -> &mut String {
    match part {
        AddressPart::Street => &mut a.street,
        AddressPart::City => &mut a.city,
        AddressPart::State => &mut a.state,
        AddressPart::PostalCode => &mut a.postal_code,
        AddressPart::Country => &mut a.country,
    }
}

impl MappedContact {
    /// The value of a field, if present.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.0.get(&field).map(String::as_str)
    }

    /// Sets (or with `None` or an empty value, clears) a field, normalizing the value.
    pub fn set(&mut self, field: Field, value: Option<&str>) {
        let value = match field {
            Field::Email1 | Field::Email2 | Field::Email3 => clean_email(value),
            _ => clean(value),
        };
        match value {
            Some(v) => self.0.insert(field, v),
            None => self.0.remove(&field),
        };
    }

    /// Applies changes (as `plan` produced them).
    pub fn apply(&mut self, changes: &Changes) {
        for (field, value) in changes {
            self.set(*field, value.as_deref());
        }
    }

    /// The fields present, in `Field` order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        self.0.iter().map(|(f, v)| (*f, v.as_str()))
    }

    /// Whether no field is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Only the fields `keep` accepts.
    pub fn filtered(&self, keep: impl Fn(Field) -> bool) -> MappedContact {
        MappedContact(
            self.0
                .iter()
                .filter(|(f, _)| keep(**f))
                .map(|(f, v)| (*f, v.clone()))
                .collect(),
        )
    }

    /// The snapshot of a CRM contact (`company` is the account name, filled by the store).
    pub fn from_crm(fields: &ContactFields) -> MappedContact {
        let mut m = MappedContact::default();
        let full_name = if fields.full_name.trim().is_empty() {
            compose([
                Some(&fields.given_name),
                Some(&fields.middle_name),
                Some(&fields.surname),
            ])
        } else {
            fields.full_name.clone()
        };
        let texts: [(Field, &str); 15] = [
            (Field::GivenName, &fields.given_name),
            (Field::MiddleName, &fields.middle_name),
            (Field::Surname, &fields.surname),
            (Field::FullName, &full_name),
            (Field::Salutation, &fields.salutation),
            (Field::JobTitle, &fields.job_title),
            (Field::Department, &fields.department),
            (Field::Company, fields.company.as_deref().unwrap_or("")),
            (Field::WebPage, &fields.web_page),
            (Field::Email1, &fields.email1),
            (Field::Email2, &fields.email2),
            (Field::Email3, &fields.email3),
            (Field::BusinessPhone, &fields.business_phone),
            (Field::HomePhone, &fields.home_phone),
            (Field::MobilePhone, &fields.mobile_phone),
        ];
        for (f, v) in texts {
            m.set(f, Some(v));
        }
        m.set(Field::Gender, gender_to_str(fields.gender));
        let birthday = fields
            .birthday
            .map(|d| d.format(BIRTHDAY_FORMAT).to_string());
        m.set(Field::Birthday, birthday.as_deref());
        for (key, address) in [
            (AddressKind::Business, &fields.business_address),
            (AddressKind::Home, &fields.home_address),
        ] {
            let mut address = address.clone();
            for (f, part) in address_fields(key) {
                m.set(f, Some(crm_address_part(&mut address, part)));
            }
        }
        m
    }

    /// A stable fingerprint: FNV-1a (64 bit) over the canonical JSON, as 16 hex digits.
    /// The JSON is canonical because the map is ordered by `Field`.
    pub fn fingerprint(&self) -> String {
        // The JSON is hashed as it is written, never held whole.
        let mut hash = Fnv1a(0xcbf2_9ce4_8422_2325);
        serde_json::to_writer(&mut hash, self).expect("a map of strings always serializes");
        format!("{:016x}", hash.0)
    }

    /// The fields whose value differs in `other`, with `other`'s value.
    pub fn diff(&self, other: &MappedContact) -> Changes {
        Field::ALL
            .into_iter()
            .filter(|f| self.get(*f) != other.get(*f))
            .map(|f| (f, other.get(f).map(str::to_owned)))
            .collect()
    }
}

/// FNV-1a (64 bit) over the bytes written to it.
struct Fnv1a(u64);

impl std::io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn parse_birthday(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, BIRTHDAY_FORMAT).ok()
}

/// Applies `changes` to a CRM contact's fields. A changed `company` is the free-text
/// name; the engine links the account by it (`matching::link_account`).
pub fn apply_to_crm(fields: &mut ContactFields, changes: &Changes) {
    // A full name composed from the name parts follows them when they change and it does
    // not (SPEC §5 "derived values follow their sources"); one typed by hand stays.
    let names = [Field::GivenName, Field::MiddleName, Field::Surname];
    let composed = compose([
        Some(&fields.given_name),
        Some(&fields.middle_name),
        Some(&fields.surname),
    ]);
    let derived = fields.full_name.trim().is_empty() || fields.full_name.trim() == composed;
    let names_changed = names.iter().any(|f| changes.contains_key(f));
    let full_name_given = changes
        .get(&Field::FullName)
        .is_some_and(|v| v.as_deref().map(str::trim) != Some(composed.as_str()));
    if derived && names_changed && !full_name_given {
        fields.full_name.clear();
    }
    for (field, value) in changes {
        let v = value.clone().unwrap_or_default();
        let text = match field {
            Field::GivenName => &mut fields.given_name,
            Field::MiddleName => &mut fields.middle_name,
            Field::Surname => &mut fields.surname,
            Field::FullName => &mut fields.full_name,
            Field::Salutation => &mut fields.salutation,
            Field::JobTitle => &mut fields.job_title,
            Field::Department => &mut fields.department,
            Field::WebPage => &mut fields.web_page,
            Field::Email1 => &mut fields.email1,
            Field::Email2 => &mut fields.email2,
            Field::Email3 => &mut fields.email3,
            Field::BusinessPhone => &mut fields.business_phone,
            Field::HomePhone => &mut fields.home_phone,
            Field::MobilePhone => &mut fields.mobile_phone,
            Field::Company => {
                fields.company = value.clone().filter(|c| !c.trim().is_empty());
                continue;
            }
            Field::Gender => {
                fields.gender = Gender::parse(&v);
                continue;
            }
            Field::Birthday => {
                fields.birthday = parse_birthday(&v);
                continue;
            }
            f => {
                let (kind, part) = f
                    .address_part()
                    .expect("every other field is an address part");
                let address = match kind {
                    AddressKind::Business => &mut fields.business_address,
                    AddressKind::Home => &mut fields.home_address,
                };
                crm_address_part(address, part)
            }
        };
        *text = v;
    }
    if derived && names_changed && !full_name_given {
        // Composed again from the new parts by `normalize`.
        fields.full_name.clear();
    }
    fields.normalize();
}

/// Makes values that Exchange allows and the CRM refuses fit the CRM's rules (SPEC §5):
/// text cut at the CRM's limit, an e-mail that is not an SMTP address (an X500 address)
/// left empty. Answers what was changed, for a warning on the run item. The Exchange
/// value stays as it is: the link records it as seen, so it is never written back.
pub fn fit_for_crm(f: &mut ContactFields) -> Vec<String> {
    let mut notes = Vec::new();
    for (name, value) in [
        ("email1", &mut f.email1),
        ("email2", &mut f.email2),
        ("email3", &mut f.email3),
    ] {
        if !value.is_empty() && !looks_like_email(value) {
            value.clear();
            notes.push(format!("{name}: not an SMTP address, left empty"));
        }
    }
    let mut cut = |name: &str, value: &mut String| {
        if value.chars().count() > MAX_TEXT {
            *value = value
                .chars()
                .take(MAX_TEXT)
                .collect::<String>()
                .trim_end()
                .to_owned();
            notes.push(format!("{name}: cut at {MAX_TEXT} characters"));
        }
    };
    cut("given_name", &mut f.given_name);
    cut("middle_name", &mut f.middle_name);
    cut("surname", &mut f.surname);
    cut("full_name", &mut f.full_name);
    cut("salutation", &mut f.salutation);
    cut("job_title", &mut f.job_title);
    cut("department", &mut f.department);
    cut("web_page", &mut f.web_page);
    cut("business_phone", &mut f.business_phone);
    cut("home_phone", &mut f.home_phone);
    cut("mobile_phone", &mut f.mobile_phone);
    if let Some(c) = &mut f.company {
        cut("company", c);
    }
    for (prefix, a) in [
        ("business_address", &mut f.business_address),
        ("home_address", &mut f.home_address),
    ] {
        cut(&format!("{prefix}.street"), &mut a.street);
        cut(&format!("{prefix}.city"), &mut a.city);
        cut(&format!("{prefix}.state"), &mut a.state);
        cut(&format!("{prefix}.postal_code"), &mut a.postal_code);
        cut(&format!("{prefix}.country"), &mut a.country);
    }
    notes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn full_crm() -> ContactFields {
        let addr = |s: &str| Address {
            street: format!("{s} Street 1"),
            city: format!("{s} City"),
            state: format!("{s} State"),
            postal_code: format!("{s}-123"),
            country: format!("{s} Land"),
        };
        ContactFields {
            company: Some("Acme GmbH".into()),
            given_name: "Ann".into(),
            middle_name: "B.".into(),
            surname: "Lee".into(),
            full_name: "Dr. Ann B. Lee".into(),
            salutation: "Dr.".into(),
            gender: Gender::Female,
            job_title: "CTO".into(),
            department: "R&D".into(),
            birthday: NaiveDate::from_ymd_opt(1990, 2, 28),
            web_page: "https://acme.example".into(),
            email1: "Ann.Lee@Acme.example".into(),
            email2: "ann@home.example".into(),
            email3: "al@other.example".into(),
            business_phone: "+49 30 1234".into(),
            home_phone: "+49 30 5678".into(),
            mobile_phone: "+49 170 999".into(),
            business_address: addr("Work"),
            home_address: addr("Home"),
            ..ContactFields::default()
        }
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let m = MappedContact::from_crm(&full_crm());
        // Pinned: if this changes, every stored fingerprint stops matching.
        let mut small = MappedContact::default();
        small.set(Field::Surname, Some("Lee"));
        small.set(Field::GivenName, Some(" Ann"));
        assert_eq!(small.fingerprint(), "44b1abfcf20112b8");
        let mut other = m.clone();
        other.set(Field::HomeCity, Some("Elsewhere"));
        assert_ne!(m.fingerprint(), other.fingerprint());
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"business_address.city\":\"Work City\""));
        let back: MappedContact = serde_json::from_str(&json).unwrap();
        assert_eq!(back.fingerprint(), m.fingerprint());
    }

    #[test]
    fn a_composed_full_name_follows_a_new_surname_and_a_typed_one_stays() {
        let mut f = ContactFields {
            given_name: "Ann".into(),
            surname: "Lee".into(),
            full_name: "Ann Lee".into(),
            ..ContactFields::default()
        };
        // Exchange still says "Ann Lee" in DisplayName: the surname moved, the name follows.
        let changes: Changes = [
            (Field::Surname, Some("Smith".to_owned())),
            (Field::FullName, Some("Ann Lee".to_owned())),
        ]
        .into_iter()
        .collect();
        apply_to_crm(&mut f, &changes);
        assert_eq!(f.full_name, "Ann Smith");

        let mut typed = ContactFields {
            given_name: "Ann".into(),
            surname: "Lee".into(),
            full_name: "Dr. Ann Lee".into(),
            ..ContactFields::default()
        };
        apply_to_crm(
            &mut typed,
            &[(Field::Surname, Some("Smith".to_owned()))]
                .into_iter()
                .collect(),
        );
        assert_eq!(typed.full_name, "Dr. Ann Lee");
    }

    #[test]
    fn values_the_crm_refuses_are_fitted_and_named() {
        let mut f = ContactFields {
            given_name: "Ann".into(),
            job_title: "x".repeat(300),
            email1: "/o=Org/ou=Exchange/cn=Recipients/cn=ann".into(),
            email2: "ann@x.example".into(),
            ..ContactFields::default()
        };
        f.normalize();
        let notes = fit_for_crm(&mut f);
        assert_eq!(f.job_title.chars().count(), MAX_TEXT);
        assert_eq!(f.email1, "");
        assert_eq!(f.email2, "ann@x.example");
        assert_eq!(notes.len(), 2, "{notes:?}");
        let mut errors = crate::domain::ValidationErrors::default();
        f.validate(&mut errors);
        assert!(errors.into_result().is_ok());
    }

    #[test]
    fn address_parts_follow_their_address_direction() {
        let mut p = ContactSyncProfile::default();
        p.fields.insert("home_address".into(), Direction::ToCrm);
        assert_eq!(Field::HomeCity.direction(&p), Direction::ToCrm);
        assert_eq!(Field::BusinessCity.direction(&p), Direction::Both);
        assert_eq!(Field::Department.direction(&p), Direction::ToExchange);
        for f in Field::ALL {
            assert!(
                crate::domain::profile::default_direction(f.crm_name()).is_some(),
                "{f:?} is in the field map"
            );
        }
    }
}
