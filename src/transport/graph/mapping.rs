//! The Microsoft Graph shape of the field map (SPEC §6, §7b): which Graph property or
//! extended property holds each synchronized field, the `CrmContactId` stamp (the same
//! MAPI property as over EWS, so one mailbox carries one stamp whichever protocol wrote
//! it), and conversions between a Graph `Contact` and the protocol-free `MappedContact`.
use graph::types::contact::{birthday_date, birthday_value};
use graph::types::{
    Contact, ContactPatch, EmailAddress, ExtendedProperty, PhysicalAddress, PropertyId,
};
use uuid::Uuid;

use crate::sync::fieldmap::{
    AddressKind, AddressPart, BIRTHDAY_FORMAT, Changes, Field, MappedContact, compose,
    parse_birthday,
};
use crate::transport::ews::mapping::{
    CRM_CONTACT_ID_NAME, GENDER_TAG, PROPERTY_SET_ID, SALUTATION_TAG,
};

/// `String {<our property set>} Name CrmContactId`.
pub fn stamp_id() -> PropertyId {
    PropertyId::named_string(PROPERTY_SET_ID, CRM_CONTACT_ID_NAME)
}

/// `String 0x3A45` (PidTagDisplayNamePrefix).
pub fn salutation_id() -> PropertyId {
    PropertyId::tag("String", SALUTATION_TAG)
}

/// `Short 0x3A4D` (PidTagGender): 0 unspecified, 1 female, 2 male.
pub fn gender_id() -> PropertyId {
    PropertyId::tag("Short", GENDER_TAG)
}

/// The extended properties a read expands (delta cannot carry them).
pub fn extended() -> Vec<PropertyId> {
    vec![stamp_id(), salutation_id(), gender_id()]
}

/// The properties a read selects: the mapped ones and what the engine needs besides.
pub fn select() -> Vec<String> {
    [
        "id",
        "changeKey",
        "parentFolderId",
        "lastModifiedDateTime",
        "givenName",
        "middleName",
        "surname",
        "displayName",
        "fileAs",
        "companyName",
        "jobTitle",
        "department",
        "birthday",
        "businessHomePage",
        "emailAddresses",
        "businessPhones",
        "homePhones",
        "mobilePhone",
        "businessAddress",
        "homeAddress",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The collections a PATCH replaces whole: what an update must read first to keep the
/// entries the field map does not cover (a fourth address, a second phone, display names).
pub fn collections() -> Vec<String> {
    [
        "id",
        "changeKey",
        "emailAddresses",
        "businessPhones",
        "homePhones",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The `CrmContactId` stamp of a Graph contact, if it carries a valid one.
pub fn crm_contact_id(c: &Contact) -> Option<Uuid> {
    c.extended(&stamp_id())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
}

fn address(c: &Contact, kind: AddressKind) -> Option<&PhysicalAddress> {
    match kind {
        AddressKind::Business => c.business_address.as_ref(),
        AddressKind::Home => c.home_address.as_ref(),
    }
}

fn address_part(a: &PhysicalAddress, part: AddressPart) -> Option<&str> {
    match part {
        AddressPart::Street => a.street.as_deref(),
        AddressPart::City => a.city.as_deref(),
        AddressPart::State => a.state.as_deref(),
        AddressPart::PostalCode => a.postal_code.as_deref(),
        AddressPart::Country => a.country_or_region.as_deref(),
    }
}

/// The mapped address of `kind` in `m`, as Graph writes it (`None` when every part is empty).
fn address_of(m: &MappedContact, kind: AddressKind) -> Option<PhysicalAddress> {
    let part = |p: AddressPart| {
        Field::ALL
            .iter()
            .find(|f| f.address_part() == Some((kind, p)))
            .and_then(|f| m.get(*f))
            .map(str::to_owned)
    };
    let a = PhysicalAddress {
        street: part(AddressPart::Street),
        city: part(AddressPart::City),
        state: part(AddressPart::State),
        postal_code: part(AddressPart::PostalCode),
        country_or_region: part(AddressPart::Country),
    };
    (!a.is_empty()).then_some(a)
}

fn email_at(c: &Contact, i: usize) -> Option<&str> {
    c.email_addresses
        .as_deref()?
        .get(i)
        .and_then(|e| e.address.as_deref())
}

fn first(list: &Option<Vec<String>>) -> Option<&str> {
    list.as_deref()?.first().map(String::as_str)
}

/// The snapshot of a Graph contact (extended properties as [`extended`] expands them).
pub fn from_graph(c: &Contact) -> MappedContact {
    let mut m = MappedContact::default();
    for f in Field::ALL {
        let value: Option<String> = match f {
            Field::GivenName => c.given_name.clone(),
            Field::MiddleName => c.middle_name.clone(),
            Field::Surname => c.surname.clone(),
            Field::FullName => Some(
                c.display_name
                    .as_deref()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        compose([
                            c.given_name.as_deref(),
                            c.middle_name.as_deref(),
                            c.surname.as_deref(),
                        ])
                    }),
            ),
            Field::Salutation => c.extended(&salutation_id()).map(str::to_owned),
            Field::Gender => match c.extended(&gender_id()).map(str::trim) {
                Some("1") => Some("female".into()),
                Some("2") => Some("male".into()),
                _ => None,
            },
            Field::JobTitle => c.job_title.clone(),
            Field::Department => c.department.clone(),
            Field::Company => c.company_name.clone(),
            // The date part as written: never shifted by a time zone.
            Field::Birthday => c
                .birthday
                .as_deref()
                .and_then(birthday_date)
                .map(|d| d.format(BIRTHDAY_FORMAT).to_string()),
            Field::WebPage => c.business_home_page.clone(),
            Field::Email1 => email_at(c, 0).map(str::to_owned),
            Field::Email2 => email_at(c, 1).map(str::to_owned),
            Field::Email3 => email_at(c, 2).map(str::to_owned),
            Field::BusinessPhone => first(&c.business_phones).map(str::to_owned),
            Field::HomePhone => first(&c.home_phones).map(str::to_owned),
            Field::MobilePhone => c.mobile_phone.clone(),
            other => {
                let (kind, part) = other.address_part().expect("the rest are address parts");
                address(c, kind)
                    .and_then(|a| address_part(a, part))
                    .map(str::to_owned)
            }
        };
        m.set(f, value.as_deref());
    }
    m
}

fn gender_short(v: Option<&str>) -> &'static str {
    match v {
        Some("female") => "1",
        Some("male") => "2",
        _ => "0",
    }
}

fn emails_of(m: &MappedContact) -> Vec<EmailAddress> {
    [Field::Email1, Field::Email2, Field::Email3]
        .iter()
        .filter_map(|f| m.get(*f))
        .map(|a| EmailAddress {
            name: Some(a.to_owned()),
            address: Some(a.to_owned()),
        })
        .collect()
}

/// The contact to create (POST), stamped with its CRM id.
pub fn to_graph_contact(m: &MappedContact, crm_id: Uuid) -> Contact {
    let text = |f: Field| m.get(f).map(str::to_owned);
    let list = |f: Field| m.get(f).map(|v| vec![v.to_owned()]);
    let mut extended = vec![ExtendedProperty::new(&stamp_id(), crm_id.to_string())];
    if let Some(s) = m.get(Field::Salutation) {
        extended.push(ExtendedProperty::new(&salutation_id(), s));
    }
    if m.get(Field::Gender).is_some() {
        extended.push(ExtendedProperty::new(
            &gender_id(),
            gender_short(m.get(Field::Gender)),
        ));
    }
    let emails = emails_of(m);
    Contact {
        given_name: text(Field::GivenName),
        middle_name: text(Field::MiddleName),
        surname: text(Field::Surname),
        display_name: text(Field::FullName),
        file_as: text(Field::FullName),
        company_name: text(Field::Company),
        job_title: text(Field::JobTitle),
        department: text(Field::Department),
        birthday: m
            .get(Field::Birthday)
            .and_then(parse_birthday)
            .map(birthday_value),
        business_home_page: text(Field::WebPage),
        email_addresses: (!emails.is_empty()).then_some(emails),
        business_phones: list(Field::BusinessPhone),
        home_phones: list(Field::HomePhone),
        mobile_phone: text(Field::MobilePhone),
        business_address: address_of(m, AddressKind::Business),
        home_address: address_of(m, AddressKind::Home),
        single_value_extended_properties: Some(extended),
        ..Contact::default()
    }
}

/// Whether `changes` touch a collection Graph replaces whole (e-mails, business or home
/// phones): the item's current collections must then be read and merged.
pub fn needs_current(changes: &Changes) -> bool {
    changes.keys().any(|f| {
        matches!(
            f,
            Field::Email1 | Field::Email2 | Field::Email3 | Field::BusinessPhone | Field::HomePhone
        )
    })
}

/// The first entry of a phone list replaced (or removed), the others kept.
fn merge_first(current: &Option<Vec<String>>, value: Option<&str>) -> Vec<String> {
    let mut list: Vec<String> = current.clone().unwrap_or_default();
    match (value, list.is_empty()) {
        (Some(v), true) => list.push(v.to_owned()),
        (Some(v), false) => list[0] = v.to_owned(),
        (None, false) => {
            list.remove(0);
        }
        (None, true) => {}
    }
    list
}

/// The first three addresses replaced by the mapped ones, the others kept; an address
/// that stays keeps its display name.
fn merge_emails(current: &Option<Vec<EmailAddress>>, after: &MappedContact) -> Vec<EmailAddress> {
    let current = current.clone().unwrap_or_default();
    let mut out: Vec<EmailAddress> = emails_of(after)
        .into_iter()
        .map(|mut e| {
            if let Some(old) = current.iter().take(3).find(|o| {
                o.address
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(e.address.as_deref().unwrap_or("")))
            }) {
                e.name = old.name.clone().or(e.name);
            }
            e
        })
        .collect();
    out.extend(current.into_iter().skip(3));
    out
}

/// The PATCH that carries `changes` to Graph. Scalars are set or cleared one by one;
/// addresses and, merged into `current` (the item's collections as read), e-mail
/// addresses and phones go whole, as Graph replaces them whole.
pub fn patch(
    changes: &Changes,
    after: &MappedContact,
    current: Option<&Contact>,
    stamp: Option<Uuid>,
) -> ContactPatch {
    let mut p = ContactPatch::default();
    let mut extended = Vec::new();
    let mut emails = false;
    let mut addresses = Vec::new();
    for (field, value) in changes {
        let v = || value.clone();
        match field {
            Field::GivenName => p.given_name = Some(v()),
            Field::MiddleName => p.middle_name = Some(v()),
            Field::Surname => p.surname = Some(v()),
            Field::FullName => {
                p.display_name = Some(v());
                p.file_as = Some(v());
            }
            Field::JobTitle => p.job_title = Some(v()),
            Field::Department => p.department = Some(v()),
            Field::Company => p.company_name = Some(v()),
            Field::WebPage => p.business_home_page = Some(v()),
            Field::MobilePhone => p.mobile_phone = Some(v()),
            Field::Birthday => {
                p.birthday = Some(
                    value
                        .as_deref()
                        .and_then(parse_birthday)
                        .map(birthday_value),
                )
            }
            // A single-value extended property cannot be removed by a PATCH: cleared is
            // empty (salutation) or 0 (gender), which reads back as absent.
            Field::Salutation => extended.push(ExtendedProperty::new(
                &salutation_id(),
                value.clone().unwrap_or_default(),
            )),
            Field::Gender => extended.push(ExtendedProperty::new(
                &gender_id(),
                gender_short(value.as_deref()),
            )),
            Field::Email1 | Field::Email2 | Field::Email3 => emails = true,
            Field::BusinessPhone => {
                p.business_phones = Some(merge_first(
                    &current.and_then(|c| c.business_phones.clone()),
                    value.as_deref(),
                ))
            }
            Field::HomePhone => {
                p.home_phones = Some(merge_first(
                    &current.and_then(|c| c.home_phones.clone()),
                    value.as_deref(),
                ))
            }
            other => {
                let (kind, _) = other.address_part().expect("the rest are address parts");
                if !addresses.contains(&kind) {
                    addresses.push(kind);
                }
            }
        }
    }
    if emails {
        p.email_addresses = Some(merge_emails(
            &current.and_then(|c| c.email_addresses.clone()),
            after,
        ));
    }
    for kind in addresses {
        let whole = Some(address_of(after, kind));
        match kind {
            AddressKind::Business => p.business_address = whole,
            AddressKind::Home => p.home_address = whole,
        }
    }
    if let Some(id) = stamp {
        extended.push(ExtendedProperty::new(&stamp_id(), id.to_string()));
    }
    if !extended.is_empty() {
        p.single_value_extended_properties = Some(extended);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::fieldmap::tests::full_crm;

    #[test]
    fn round_trip_crm_to_graph_and_back_keeps_every_field() {
        let mapped = MappedContact::from_crm(&full_crm());
        let id = Uuid::now_v7();
        let c = to_graph_contact(&mapped, id);
        // Through JSON, as the server reads it and answers it.
        let back: Contact = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(from_graph(&back), mapped);
        assert_eq!(crm_contact_id(&back), Some(id));
        assert_eq!(back.extended(&gender_id()), Some("1"));
        assert_eq!(back.birthday.as_deref(), Some("1990-02-28T11:59:00Z"));
    }

    #[test]
    fn a_patch_merges_collections_and_clears_scalars() {
        let before = MappedContact::from_crm(&full_crm());
        let mut after = before.clone();
        after.set(Field::Email1, Some("new@x.example"));
        after.set(Field::BusinessPhone, None);
        after.set(Field::JobTitle, None);
        after.set(Field::HomeCity, Some("Oslo"));
        let changes = before.diff(&after);
        assert!(needs_current(&changes));
        let current = Contact {
            email_addresses: Some(
                ["a@x", "b@x", "c@x", "fourth@x"]
                    .map(|a| EmailAddress {
                        name: Some(format!("Name {a}")),
                        address: Some(a.into()),
                    })
                    .to_vec(),
            ),
            business_phones: Some(vec!["1".into(), "2".into()]),
            ..Contact::default()
        };
        let p = patch(&changes, &after, Some(&current), None);
        let emails = p.email_addresses.clone().unwrap();
        assert_eq!(emails[0].address.as_deref(), Some("new@x.example"));
        assert_eq!(emails.last().unwrap().address.as_deref(), Some("fourth@x"));
        assert_eq!(p.business_phones, Some(vec!["2".to_owned()]));
        assert_eq!(p.job_title, Some(None));
        assert_eq!(
            p.home_address.clone().unwrap().unwrap().city.as_deref(),
            Some("Oslo")
        );
        let json = serde_json::to_value(&p).unwrap();
        assert!(json["jobTitle"].is_null());
        assert!(
            json.get("givenName").is_none(),
            "unchanged fields stay out: {json}"
        );
    }
}
