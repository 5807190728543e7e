//! The EWS shape of the field map (SPEC §6): which EWS element or MAPI property holds each
//! synchronized field, the `CrmContactId` stamp, and conversions between an EWS `Contact`
//! and the protocol-free `MappedContact` of `sync::fieldmap`.
use std::borrow::Cow;
use std::sync::LazyLock;

use ews::ops::update_item::ItemUpdate;
use ews::types::{
    AddressKey, AddressPart, Contact, EmailKey, ExtendedFieldUri, PhoneKey, PhysicalAddress,
    PropertyPath,
};
use uuid::Uuid;

use crate::sync::fieldmap::{
    BIRTHDAY_FORMAT, Changes, Field, MappedContact, compose, parse_birthday,
};

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

/// The three extended property paths, built once: every contact read looks them up.
static CRM_CONTACT_ID_URI: LazyLock<ExtendedFieldUri> =
    LazyLock::new(|| ExtendedFieldUri::named(PROPERTY_SET_ID, CRM_CONTACT_ID_NAME, "String"));
static SALUTATION_URI: LazyLock<ExtendedFieldUri> =
    LazyLock::new(|| ExtendedFieldUri::tag(SALUTATION_TAG, "String"));
static GENDER_URI: LazyLock<ExtendedFieldUri> =
    LazyLock::new(|| ExtendedFieldUri::tag(GENDER_TAG, "Short"));

/// The `CrmContactId` extended property path.
pub fn crm_contact_id_uri() -> ExtendedFieldUri {
    CRM_CONTACT_ID_URI.clone()
}

/// The salutation extended property path.
pub fn salutation_uri() -> ExtendedFieldUri {
    SALUTATION_URI.clone()
}

/// The gender extended property path.
pub fn gender_uri() -> ExtendedFieldUri {
    GENDER_URI.clone()
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
        .extended_property(&CRM_CONTACT_ID_URI)
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
}

/// The update that stamps an Exchange item with its CRM contact id.
pub fn stamp_crm_contact_id(crm_id: Uuid) -> ItemUpdate {
    ItemUpdate::set_extended(crm_contact_id_uri(), crm_id.to_string())
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

/// Where a field lives in an EWS contact.
fn exchange(field: Field) -> ExField {
    use AddressKey::{Business, Home};
    use AddressPart::*;
    match field {
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

/// The snapshot of an Exchange contact (extended properties as `extended_paths` asks).
pub fn from_exchange(c: &Contact) -> MappedContact {
    let mut m = MappedContact::default();
    for f in Field::ALL {
        // Borrowed from the contact where it can be: `set` makes the one copy it keeps.
        let value: Option<Cow<'_, str>> = match exchange(f) {
            ExField::Plain(uri) => plain(c, uri).map(Cow::Borrowed),
            ExField::Email(k) => c.email(k).map(Cow::Borrowed),
            ExField::Phone(k) => c.phone(k).map(Cow::Borrowed),
            ExField::Address(k, p) => c.address(k).and_then(|a| a.part(p)).map(Cow::Borrowed),
            ExField::Salutation => c.extended_property(&SALUTATION_URI).map(Cow::Borrowed),
            ExField::Gender => match c.extended_property(&GENDER_URI).map(str::trim) {
                Some("1") => Some(Cow::Borrowed("female")),
                Some("2") => Some(Cow::Borrowed("male")),
                _ => None,
            },
            ExField::Birthday => c
                .birthday
                .map(|d| Cow::Owned(d.format(BIRTHDAY_FORMAT).to_string())),
            ExField::FullName => match c
                .display_name
                .as_deref()
                .map(str::trim)
                .filter(|n| !n.is_empty())
            {
                Some(name) => Some(Cow::Borrowed(name)),
                None => Some(Cow::Owned(compose([
                    c.given_name.as_deref(),
                    c.middle_name.as_deref(),
                    c.surname.as_deref(),
                ]))),
            },
        };
        m.set(f, value.as_deref());
    }
    m
}

pub fn plain<'a>(c: &'a Contact, uri: &str) -> Option<&'a str> {
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

pub fn set_plain(c: &mut Contact, uri: &str, value: Option<String>) {
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
        match exchange(field) {
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
        match (exchange(*field), value.clone()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contact::{ContactFields, Gender};
    use crate::sync::fieldmap::apply_to_crm;
    use crate::sync::fieldmap::tests::full_crm;
    use chrono::NaiveDate;

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
        assert_eq!(from_exchange(&contact), mapped);
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
        assert_eq!(from_exchange(&back), mapped);
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
        let m = from_exchange(&c);
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
}
