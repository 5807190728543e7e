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
use ews::ops::update_item::ItemUpdate;
use ews::types::{
    AddressKey, AddressPart, Contact, EmailKey, ExtendedFieldUri, PhoneKey, PhysicalAddress,
    PropertyPath,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::contact::{Address, ContactFields, Gender};
use crate::domain::profile::{ContactSyncProfile, Direction};

/// The service's own MAPI property set: it holds the `CrmContactId` stamp on every
/// Exchange item the service creates or links. Never change it: existing stamps would
/// no longer be found.
pub const PROPERTY_SET_ID: &str = "6f1d3c2a-8b54-4e0f-9a7d-2c1b5e4f8a90";

/// Name of the extended property holding the CRM contact id.
pub const CRM_CONTACT_ID_NAME: &str = "CrmContactId";

/// MAPI tag of the salutation (PidTagDisplayNamePrefix), a String.
pub const SALUTATION_TAG: u16 = 0x3A45;

/// MAPI tag of the gender (PidTagGender), a Short: 0 unspecified, 1 female, 2 male.
pub const GENDER_TAG: u16 = 0x3A4D;

/// The `CrmContactId` extended property path.
pub fn crm_contact_id_uri() -> ExtendedFieldUri {
    ExtendedFieldUri::named(PROPERTY_SET_ID, CRM_CONTACT_ID_NAME, "String")
}

/// The salutation extended property path.
pub fn salutation_uri() -> ExtendedFieldUri {
    ExtendedFieldUri::tag(SALUTATION_TAG, "String")
}

/// The gender extended property path.
pub fn gender_uri() -> ExtendedFieldUri {
    ExtendedFieldUri::tag(GENDER_TAG, "Short")
}

/// The extended properties a GetItem must ask for so that `from_exchange` sees them.
pub fn extended_paths() -> Vec<PropertyPath> {
    vec![
        crm_contact_id_uri().into(),
        salutation_uri().into(),
        gender_uri().into(),
    ]
}

/// The `CrmContactId` stamp of an Exchange item, if it carries a valid one.
pub fn crm_contact_id(contact: &Contact) -> Option<Uuid> {
    contact
        .extended_property(&crm_contact_id_uri())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
}

/// The update that stamps an Exchange item with its CRM contact id.
pub fn stamp_crm_contact_id(crm_id: Uuid) -> ItemUpdate {
    ItemUpdate::set_extended(crm_contact_id_uri(), crm_id.to_string())
}

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

/// The shape of a field on the Exchange side.
enum ExField {
    /// A plain element, by FieldURI.
    Plain(&'static str),
    Email(EmailKey),
    Phone(PhoneKey),
    Address(AddressKey, AddressPart),
    Salutation,
    Gender,
    Birthday,
    /// DisplayName and FileAs together.
    FullName,
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

    fn exchange(self) -> ExField {
        use AddressKey::{Business, Home};
        use AddressPart::*;
        match self {
            Field::GivenName => ExField::Plain("contacts:GivenName"),
            Field::MiddleName => ExField::Plain("contacts:MiddleName"),
            Field::Surname => ExField::Plain("contacts:Surname"),
            Field::FullName => ExField::FullName,
            Field::Salutation => ExField::Salutation,
            Field::Gender => ExField::Gender,
            Field::JobTitle => ExField::Plain("contacts:JobTitle"),
            Field::Department => ExField::Plain("contacts:Department"),
            Field::Company => ExField::Plain("contacts:CompanyName"),
            Field::Birthday => ExField::Birthday,
            Field::WebPage => ExField::Plain("contacts:BusinessHomePage"),
            Field::Email1 => ExField::Email(EmailKey::EmailAddress1),
            Field::Email2 => ExField::Email(EmailKey::EmailAddress2),
            Field::Email3 => ExField::Email(EmailKey::EmailAddress3),
            Field::BusinessPhone => ExField::Phone(PhoneKey::BusinessPhone),
            Field::HomePhone => ExField::Phone(PhoneKey::HomePhone),
            Field::MobilePhone => ExField::Phone(PhoneKey::MobilePhone),
            Field::BusinessStreet => ExField::Address(Business, Street),
            Field::BusinessCity => ExField::Address(Business, City),
            Field::BusinessState => ExField::Address(Business, State),
            Field::BusinessPostalCode => ExField::Address(Business, PostalCode),
            Field::BusinessCountry => ExField::Address(Business, CountryOrRegion),
            Field::HomeStreet => ExField::Address(Home, Street),
            Field::HomeCity => ExField::Address(Home, City),
            Field::HomeState => ExField::Address(Home, State),
            Field::HomePostalCode => ExField::Address(Home, PostalCode),
            Field::HomeCountry => ExField::Address(Home, CountryOrRegion),
        }
    }
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

fn compose(parts: [Option<&str>; 3]) -> String {
    parts
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

const BIRTHDAY_FORMAT: &str = "%Y-%m-%d";

fn address_fields(key: AddressKey) -> [(Field, AddressPart); 5] {
    use AddressPart::*;
    match key {
        AddressKey::Business => [
            (Field::BusinessStreet, Street),
            (Field::BusinessCity, City),
            (Field::BusinessState, State),
            (Field::BusinessPostalCode, PostalCode),
            (Field::BusinessCountry, CountryOrRegion),
        ],
        _ => [
            (Field::HomeStreet, Street),
            (Field::HomeCity, City),
            (Field::HomeState, State),
            (Field::HomePostalCode, PostalCode),
            (Field::HomeCountry, CountryOrRegion),
        ],
    }
}

fn crm_address_part(a: &mut Address, part: AddressPart) -> &mut String {
    match part {
        AddressPart::Street => &mut a.street,
        AddressPart::City => &mut a.city,
        AddressPart::State => &mut a.state,
        AddressPart::PostalCode => &mut a.postal_code,
        AddressPart::CountryOrRegion => &mut a.country,
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
            (AddressKey::Business, &fields.business_address),
            (AddressKey::Home, &fields.home_address),
        ] {
            let mut address = address.clone();
            for (f, part) in address_fields(key) {
                m.set(f, Some(crm_address_part(&mut address, part)));
            }
        }
        m
    }

    /// The snapshot of an Exchange contact (extended properties as `extended_paths` asks).
    pub fn from_exchange(c: &Contact) -> MappedContact {
        let mut m = MappedContact::default();
        for f in Field::ALL {
            let value = match f.exchange() {
                ExField::Plain(uri) => plain(c, uri).map(str::to_owned),
                ExField::Email(k) => c.email(k).map(str::to_owned),
                ExField::Phone(k) => c.phone(k).map(str::to_owned),
                ExField::Address(k, p) => c.address(k).and_then(|a| a.part(p)).map(str::to_owned),
                ExField::Salutation => c.extended_property(&salutation_uri()).map(str::to_owned),
                ExField::Gender => match c.extended_property(&gender_uri()).map(str::trim) {
                    Some("1") => Some("female".to_owned()),
                    Some("2") => Some("male".to_owned()),
                    _ => None,
                },
                ExField::Birthday => c.birthday.map(|d| d.format(BIRTHDAY_FORMAT).to_string()),
                ExField::FullName => match clean(c.display_name.as_deref()) {
                    Some(name) => Some(name),
                    None => Some(compose([
                        c.given_name.as_deref(),
                        c.middle_name.as_deref(),
                        c.surname.as_deref(),
                    ])),
                },
            };
            m.set(f, value.as_deref());
        }
        m
    }

    /// A stable fingerprint: FNV-1a (64 bit) over the canonical JSON, as 16 hex digits.
    /// The JSON is canonical because the map is ordered by `Field`.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).expect("a map of strings always serializes");
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in json {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
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

pub(super) fn plain<'a>(c: &'a Contact, uri: &str) -> Option<&'a str> {
    match uri {
        "contacts:GivenName" => c.given_name.as_deref(),
        "contacts:MiddleName" => c.middle_name.as_deref(),
        "contacts:Surname" => c.surname.as_deref(),
        "contacts:JobTitle" => c.job_title.as_deref(),
        "contacts:Department" => c.department.as_deref(),
        "contacts:CompanyName" => c.company_name.as_deref(),
        "contacts:BusinessHomePage" => c.business_home_page.as_deref(),
        _ => None,
    }
}

pub(super) fn set_plain(c: &mut Contact, uri: &str, value: Option<String>) {
    let slot = match uri {
        "contacts:GivenName" => &mut c.given_name,
        "contacts:MiddleName" => &mut c.middle_name,
        "contacts:Surname" => &mut c.surname,
        "contacts:JobTitle" => &mut c.job_title,
        "contacts:Department" => &mut c.department,
        "contacts:CompanyName" => &mut c.company_name,
        "contacts:BusinessHomePage" => &mut c.business_home_page,
        _ => return,
    };
    *slot = value;
}

fn parse_birthday(v: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(v, BIRTHDAY_FORMAT).ok()
}

fn gender_to_short(v: &str) -> &'static str {
    match v {
        "female" => "1",
        "male" => "2",
        _ => "0",
    }
}

/// The contact to create in Exchange (CreateItem), stamped with its CRM id.
pub fn to_exchange_contact(m: &MappedContact, crm_id: Uuid) -> Contact {
    let mut c = Contact {
        item_class: Some("IPM.Contact".into()),
        ..Contact::default()
    };
    c.set_extended_property(crm_contact_id_uri(), crm_id.to_string());
    for (field, value) in m.iter() {
        let value = value.to_owned();
        match field.exchange() {
            ExField::Plain(uri) => set_plain(&mut c, uri, Some(value)),
            ExField::Email(k) => c.set_email(k, Some(value)),
            ExField::Phone(k) => c.set_phone(k, Some(value)),
            ExField::Address(k, p) => {
                let mut a = c
                    .address(k)
                    .cloned()
                    .unwrap_or_else(|| PhysicalAddress::new(k));
                *a.part_mut(p) = Some(value);
                c.set_address(k, Some(a));
            }
            ExField::Salutation => c.set_extended_property(salutation_uri(), value),
            ExField::Gender => c.set_extended_property(gender_uri(), gender_to_short(&value)),
            ExField::Birthday => c.birthday = parse_birthday(&value),
            ExField::FullName => {
                c.file_as = Some(value.clone());
                c.display_name = Some(value);
            }
        }
    }
    c
}

/// The UpdateItem updates that carry `changes` to Exchange; a cleared field becomes a
/// DeleteItemField (with an IndexedFieldURI for e-mails, phones and address parts).
pub fn exchange_updates(changes: &Changes) -> Vec<ItemUpdate> {
    let mut out = Vec::new();
    for (field, value) in changes {
        match (field.exchange(), value.clone()) {
            (ExField::Plain(uri), Some(v)) => {
                let mut c = Contact::default();
                set_plain(&mut c, uri, Some(v));
                out.push(ItemUpdate::set_field(uri, c));
            }
            (ExField::Plain(uri), None) => out.push(ItemUpdate::delete(PropertyPath::field(uri))),
            (ExField::Email(k), Some(v)) => out.push(ItemUpdate::set_email(k, v)),
            (ExField::Email(k), None) => out.push(ItemUpdate::delete_email(k)),
            (ExField::Phone(k), Some(v)) => out.push(ItemUpdate::set_phone(k, v)),
            (ExField::Phone(k), None) => out.push(ItemUpdate::delete_phone(k)),
            (ExField::Address(k, p), Some(v)) => out.push(ItemUpdate::set_address_part(k, p, v)),
            (ExField::Address(k, p), None) => out.push(ItemUpdate::delete_address_part(k, p)),
            (ExField::Salutation, Some(v)) => {
                out.push(ItemUpdate::set_extended(salutation_uri(), v))
            }
            (ExField::Salutation, None) => out.push(ItemUpdate::delete_extended(salutation_uri())),
            (ExField::Gender, Some(v)) => {
                out.push(ItemUpdate::set_extended(gender_uri(), gender_to_short(&v)))
            }
            (ExField::Gender, None) => out.push(ItemUpdate::delete_extended(gender_uri())),
            (ExField::Birthday, v) => match v.as_deref().and_then(parse_birthday) {
                Some(d) => out.push(ItemUpdate::set_field(
                    "contacts:Birthday",
                    Contact {
                        birthday: Some(d),
                        ..Contact::default()
                    },
                )),
                None => out.push(ItemUpdate::delete(PropertyPath::field("contacts:Birthday"))),
            },
            (ExField::FullName, Some(v)) => {
                // One property per SetItemField (else ErrorIncorrectUpdatePropertyCount).
                let display = Contact {
                    display_name: Some(v.clone()),
                    ..Contact::default()
                };
                let file_as = Contact {
                    file_as: Some(v),
                    ..Contact::default()
                };
                out.push(ItemUpdate::set_field("contacts:DisplayName", display));
                out.push(ItemUpdate::set_field("contacts:FileAs", file_as));
            }
            (ExField::FullName, None) => {
                out.push(ItemUpdate::delete(PropertyPath::field(
                    "contacts:DisplayName",
                )));
                out.push(ItemUpdate::delete(PropertyPath::field("contacts:FileAs")));
            }
        }
    }
    out
}

/// Applies `changes` to a CRM contact's fields. A changed `company` is the free-text
/// name; the engine links the account by it (`matching::link_account`).
pub fn apply_to_crm(fields: &mut ContactFields, changes: &Changes) {
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
                let (address, key) = if f.crm_name() == "business_address" {
                    (&mut fields.business_address, AddressKey::Business)
                } else {
                    (&mut fields.home_address, AddressKey::Home)
                };
                let part = address_fields(key)
                    .into_iter()
                    .find(|(af, _)| af == f)
                    .map(|(_, p)| p)
                    .expect("every other field is an address part");
                crm_address_part(address, part)
            }
        };
        *text = v;
    }
    fields.normalize();
}

#[cfg(test)]
mod tests {
    use super::*;
    use ews::ops::update_item::ItemUpdate;

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
    fn round_trip_crm_to_exchange_and_back_keeps_every_field() {
        let crm = full_crm();
        let mapped = MappedContact::from_crm(&crm);
        assert_eq!(
            mapped.iter().count(),
            Field::ALL.len(),
            "every field is set"
        );
        let contact = to_exchange_contact(&mapped, Uuid::nil());
        assert_eq!(MappedContact::from_exchange(&contact), mapped);
        assert_eq!(contact.file_as.as_deref(), Some("Dr. Ann B. Lee"));
        assert_eq!(crm_contact_id(&contact), Some(Uuid::nil()));
        assert_eq!(contact.extended_property(&gender_uri()), Some("1"));
        assert_eq!(contact.extended_property(&salutation_uri()), Some("Dr."));

        // Through the XML of a CreateItem request and back, as the server would read it.
        let req = ews::ops::create_item::CreateItem {
            message_disposition: None,
            send_meeting_invitations: None,
            saved_item_folder_id: None,
            items: [contact].into_iter().collect(),
        };
        let header = ews::Header::request("Exchange2013_SP1", None);
        let xml = ews::envelope::to_xml(&header, &req.into()).unwrap();
        let (_, body) = ews::envelope::parse(&xml).unwrap();
        let ews::Body::CreateItem(back) = body else {
            panic!("not a CreateItem")
        };
        let back = back.items.items[0].as_contact().unwrap().clone();
        assert_eq!(MappedContact::from_exchange(&back), mapped);
        assert_eq!(back.birthday, NaiveDate::from_ymd_opt(1990, 2, 28));

        // And into a fresh CRM contact.
        let mut fresh = ContactFields::default();
        apply_to_crm(&mut fresh, &MappedContact::default().diff(&mapped));
        assert_eq!(MappedContact::from_crm(&fresh), mapped);
        assert_eq!(fresh.gender, Gender::Female);
        assert_eq!(fresh.business_address, crm.business_address);
    }

    #[test]
    fn normalization_trims_drops_empty_and_composes_full_name() {
        let c = Contact {
            given_name: Some("  Ann ".into()),
            surname: Some("Lee".into()),
            display_name: Some("   ".into()),
            job_title: Some("".into()),
            extended_properties: vec![ews::types::ExtendedProperty::new(gender_uri(), "0")],
            ..Contact::default()
        };
        let mut c = c;
        c.set_email(EmailKey::EmailAddress1, Some(" SMTP:ann@x.example ".into()));
        let m = MappedContact::from_exchange(&c);
        assert_eq!(m.get(Field::GivenName), Some("Ann"));
        assert_eq!(m.get(Field::FullName), Some("Ann Lee"));
        assert_eq!(m.get(Field::JobTitle), None);
        assert_eq!(m.get(Field::Gender), None);
        assert_eq!(m.get(Field::Email1), Some("ann@x.example"));

        let crm = ContactFields {
            given_name: "Ann".into(),
            surname: " Lee ".into(),
            company: Some(" ".into()),
            ..ContactFields::default()
        };
        let m2 = MappedContact::from_crm(&crm);
        assert_eq!(m2.get(Field::FullName), Some("Ann Lee"));
        assert_eq!(m2.get(Field::Company), None);
    }

    #[test]
    fn cleared_fields_become_delete_item_field_with_indexed_paths() {
        let changes: Changes = [
            (Field::Email2, None),
            (Field::MobilePhone, None),
            (Field::HomeCity, None),
            (Field::Salutation, None),
            (Field::JobTitle, None),
            (Field::BusinessStreet, Some("Main 1".into())),
        ]
        .into_iter()
        .collect();
        let updates = exchange_updates(&changes);
        let deletes: Vec<_> = updates
            .iter()
            .filter(|u| matches!(u, ItemUpdate::Delete(_)))
            .map(|u| u.path().unwrap())
            .collect();
        assert!(deletes.contains(&PropertyPath::indexed(
            "contacts:EmailAddress",
            "EmailAddress2"
        )));
        assert!(deletes.contains(&PropertyPath::indexed(
            "contacts:PhoneNumber",
            "MobilePhone"
        )));
        assert!(deletes.contains(&PropertyPath::indexed(
            "contacts:PhysicalAddress:City",
            "Home"
        )));
        assert!(deletes.contains(&PropertyPath::Extended(salutation_uri())));
        assert!(deletes.contains(&PropertyPath::field("contacts:JobTitle")));
        assert_eq!(deletes.len(), 5);
        let set = updates
            .iter()
            .find(|u| matches!(u, ItemUpdate::Set(_)))
            .unwrap();
        assert_eq!(
            set.path(),
            Some(ews::ops::update_item::address_path(
                AddressKey::Business,
                AddressPart::Street
            ))
        );

        // The request is valid XML the server reads back to the same updates.
        let req = ews::ops::update_item::UpdateItem {
            conflict_resolution: ews::ops::update_item::ConflictResolution::NeverOverwrite,
            message_disposition: None,
            send_meeting_invitations_or_cancellations: None,
            suppress_read_receipts: None,
            saved_item_folder_id: None,
            item_changes: ews::ops::update_item::ItemChanges {
                changes: vec![ews::ops::update_item::ItemChange::new(
                    ews::types::ItemId::new("AAA", "CK1"),
                    updates.clone(),
                )],
            },
        };
        let xml =
            ews::envelope::to_xml(&ews::Header::request("Exchange2013_SP1", None), &req.into())
                .unwrap();
        assert!(xml.contains("DeleteItemField"));
        let (_, ews::Body::UpdateItem(back)) = ews::envelope::parse(&xml).unwrap() else {
            panic!("not an UpdateItem")
        };
        assert_eq!(back.item_changes.changes[0].updates.updates, updates);
    }

    #[test]
    fn each_set_item_field_carries_exactly_one_property() {
        let all = MappedContact::from_crm(&full_crm());
        let updates = exchange_updates(&MappedContact::default().diff(&all));
        // 27 fields, FullName writes DisplayName and FileAs.
        assert_eq!(updates.len(), Field::ALL.len() + 1);
        for u in &updates {
            let ItemUpdate::Set(set) = u else {
                panic!("only sets: {u:?}")
            };
            let c = set.contact.as_ref().unwrap();
            // Serialized, a contact lists only the elements it carries.
            let json = serde_json::to_value(c).unwrap();
            let count = json.as_object().unwrap().len();
            assert_eq!(count, 1, "{:?}", set.path());
        }
    }

    #[test]
    fn updates_carry_values_for_full_name_birthday_and_gender() {
        let changes: Changes = [
            (Field::FullName, Some("Ann Lee".into())),
            (Field::Birthday, Some("2000-01-31".into())),
            (Field::Gender, Some("male".into())),
        ]
        .into_iter()
        .collect();
        let updates = exchange_updates(&changes);
        let paths: Vec<_> = updates.iter().map(|u| u.path().unwrap()).collect();
        assert!(paths.contains(&PropertyPath::field("contacts:DisplayName")));
        assert!(paths.contains(&PropertyPath::field("contacts:FileAs")));
        assert!(paths.contains(&PropertyPath::field("contacts:Birthday")));
        let ItemUpdate::Set(g) = updates
            .iter()
            .find(|u| u.path() == Some(gender_uri().into()))
            .unwrap()
        else {
            panic!("gender is set")
        };
        assert_eq!(
            g.contact.as_ref().unwrap().extended_property(&gender_uri()),
            Some("2")
        );
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
