//! The store's contact as Graph shows it, and Graph's create and PATCH bodies applied to
//! it. One store, two protocols: EWS's `EmailAddress1..3` are Graph's ordered
//! `emailAddresses`, `BusinessPhone`/`BusinessPhone2` its `businessPhones`, and so on.

use graph::types::{
    Contact, ContactPatch, EmailAddress, ExtendedProperty as GraphProperty, PhysicalAddress,
    PropertyId,
};
use serde_json::Value;

use super::ids;
use super::reply::Reply;
use crate::store::{Address, ContactData, ExtendedFieldUri, ExtendedProperty, Item, Mailbox};

const EMAIL_KEYS: [&str; 3] = ["EmailAddress1", "EmailAddress2", "EmailAddress3"];
const BUSINESS_PHONES: [&str; 2] = ["BusinessPhone", "BusinessPhone2"];
const HOME_PHONES: [&str; 2] = ["HomePhone", "HomePhone2"];

/// Well-known property sets EWS names by name instead of GUID.
const DISTINGUISHED_SETS: &[(&str, &str)] = &[
    ("PublicStrings", "00020329-0000-0000-c000-000000000046"),
    ("Common", "00062008-0000-0000-c000-000000000046"),
    ("Address", "00062004-0000-0000-c000-000000000046"),
];

/// An EWS extended field URI as a Graph property id (None for what Graph cannot name).
pub fn property_id(uri: &ExtendedFieldUri) -> Option<PropertyId> {
    let ty = uri.property_type.clone();
    if let Some(tag) = &uri.property_tag {
        let t = tag.trim();
        let n = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            Some(h) => u16::from_str_radix(h, 16).ok()?,
            None => t.parse().ok()?,
        };
        return Some(PropertyId::Tag { ty, tag: n });
    }
    let set = match (&uri.property_set_id, &uri.distinguished_property_set_id) {
        (Some(s), _) => s.trim().to_ascii_lowercase(),
        (None, Some(d)) => DISTINGUISHED_SETS
            .iter()
            .find(|(name, _)| name == d)?
            .1
            .to_owned(),
        _ => return None,
    };
    match (&uri.property_name, &uri.property_id) {
        (Some(name), _) => Some(PropertyId::Named {
            ty,
            set,
            name: name.clone(),
        }),
        (None, Some(id)) => Some(PropertyId::Numbered {
            ty,
            set,
            id: id.trim().parse().ok()?,
        }),
        _ => None,
    }
}

/// A Graph property id as the store's EWS field URI.
pub fn field_uri(id: &PropertyId) -> ExtendedFieldUri {
    match id {
        PropertyId::Tag { ty, tag } => ExtendedFieldUri {
            property_tag: Some(format!("0x{tag:04X}")),
            property_type: ty.clone(),
            ..Default::default()
        },
        PropertyId::Named { ty, set, name } => ExtendedFieldUri {
            property_set_id: Some(set.clone()),
            property_name: Some(name.clone()),
            property_type: ty.clone(),
            ..Default::default()
        },
        PropertyId::Numbered { ty, set, id } => ExtendedFieldUri {
            property_set_id: Some(set.clone()),
            property_id: Some(id.to_string()),
            property_type: ty.clone(),
            ..Default::default()
        },
    }
}

fn address_out(a: Option<&Address>) -> PhysicalAddress {
    let a = a.cloned().unwrap_or_default();
    PhysicalAddress {
        street: a.street,
        city: a.city,
        state: a.state,
        postal_code: a.postal_code,
        country_or_region: a.country_or_region,
    }
}

fn address_in(a: &PhysicalAddress) -> Option<Address> {
    let keep = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
    let out = Address {
        street: keep(&a.street),
        city: keep(&a.city),
        state: keep(&a.state),
        country_or_region: keep(&a.country_or_region),
        postal_code: keep(&a.postal_code),
    };
    (!out.is_empty()).then_some(out)
}

fn list(d: &ContactData, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter_map(|k| d.phone_numbers.get(*k).cloned())
        .collect()
}

/// Which extended properties a read returns.
pub enum Expand<'a> {
    /// None (Graph's default).
    Nothing,
    /// Every one the item has.
    All,
    /// These.
    Only(&'a [PropertyId]),
}

/// The contact as Graph answers it, cut to `select` (plus `id` and `@odata.etag`).
pub fn to_graph(
    mb: &Mailbox,
    it: &Item,
    immutable: bool,
    select: Option<&[String]>,
    expand: &Expand<'_>,
) -> Value {
    let d = &it.data;
    let folder = mb.folders.get(&it.folder_id);
    let extended: Vec<GraphProperty> = d
        .extended_properties
        .iter()
        .filter_map(|p| Some((property_id(&p.uri)?, p)))
        .filter(|(id, _)| match expand {
            Expand::Nothing => false,
            Expand::All => true,
            Expand::Only(wanted) => wanted.iter().any(|w| w.same_property(id)),
        })
        .map(|(id, p)| GraphProperty {
            id: id.to_string(),
            value: Some(p.value.clone()),
        })
        .collect();
    let c = Contact {
        etag: Some(format!("W/\"{}\"", it.change_key)),
        id: Some(ids::item_id(mb, it, immutable)),
        change_key: Some(it.change_key.clone()),
        parent_folder_id: folder.map(|f| ids::folder_id(mb, f)),
        created_date_time: Some(
            it.created
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        last_modified_date_time: Some(
            it.modified
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
        display_name: d.display_name.clone(),
        file_as: d.file_as.clone(),
        given_name: d.given_name.clone(),
        middle_name: d.middle_name.clone(),
        surname: d.surname.clone(),
        nick_name: d.nickname.clone(),
        company_name: d.company_name.clone(),
        job_title: d.job_title.clone(),
        department: d.department.clone(),
        office_location: d.office_location.clone(),
        business_home_page: d.business_home_page.clone(),
        birthday: d
            .birthday
            .as_deref()
            .and_then(graph::types::contact::birthday_date)
            .map(graph::types::contact::birthday_value),
        email_addresses: Some(
            EMAIL_KEYS
                .iter()
                .filter_map(|k| d.email_addresses.get(*k))
                .map(|a| EmailAddress {
                    name: Some(a.clone()),
                    address: Some(a.clone()),
                })
                .collect(),
        ),
        business_phones: Some(list(d, &BUSINESS_PHONES)),
        home_phones: Some(list(d, &HOME_PHONES)),
        mobile_phone: d.phone_numbers.get("MobilePhone").cloned(),
        business_address: Some(address_out(d.physical_addresses.get("Business"))),
        home_address: Some(address_out(d.physical_addresses.get("Home"))),
        other_address: Some(address_out(d.physical_addresses.get("Other"))),
        single_value_extended_properties: (!matches!(expand, Expand::Nothing)).then_some(extended),
        removed: None,
    };
    let mut v = serde_json::to_value(c).expect("serializes");
    if let (Some(select), Some(map)) = (select, v.as_object_mut()) {
        map.retain(|k, _| {
            k == "id"
                || k == "@odata.etag"
                || k == "singleValueExtendedProperties"
                || select.iter().any(|s| s.eq_ignore_ascii_case(k))
        });
    }
    if let Some(map) = v.as_object_mut() {
        map.insert(
            "@odata.type".into(),
            Value::String("#microsoft.graph.contact".into()),
        );
    }
    v
}

fn bad_property(what: &str) -> Reply {
    Reply::error(
        400,
        "ErrorInvalidProperty",
        &format!("The property {what} is not valid."),
    )
}

fn set_list(
    map: &mut std::collections::BTreeMap<String, String>,
    keys: &[&str],
    values: &[String],
    what: &str,
) -> Result<(), Reply> {
    if values.len() > keys.len() {
        return Err(bad_property(&format!("{what} (at most {})", keys.len())));
    }
    for k in keys {
        map.remove(*k);
    }
    for (k, v) in keys.iter().zip(values) {
        if !v.trim().is_empty() {
            map.insert((*k).to_owned(), v.clone());
        }
    }
    Ok(())
}

fn set_emails(d: &mut ContactData, list: &[EmailAddress]) -> Result<(), Reply> {
    let values: Vec<String> = list
        .iter()
        .map(|e| e.address.clone().unwrap_or_default())
        .collect();
    set_list(
        &mut d.email_addresses,
        &EMAIL_KEYS,
        &values,
        "emailAddresses",
    )
}

fn set_extended(d: &mut ContactData, props: &[GraphProperty]) -> Result<(), Reply> {
    for p in props {
        let id = PropertyId::parse(&p.id).map_err(|_| bad_property(&p.id))?;
        let uri = field_uri(&id);
        match &p.value {
            Some(v) => d.set_extended(ExtendedProperty {
                uri,
                value: v.clone(),
            }),
            None => {
                let key = uri.key();
                d.extended_properties.retain(|e| e.uri.key() != key);
            }
        }
    }
    Ok(())
}

fn text(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

/// The store's contact for a create body (Exchange composes the display name).
pub fn from_graph(c: &Contact) -> Result<ContactData, Reply> {
    let mut d = ContactData {
        display_name: text(&c.display_name),
        file_as: text(&c.file_as),
        given_name: text(&c.given_name),
        middle_name: text(&c.middle_name),
        surname: text(&c.surname),
        nickname: text(&c.nick_name),
        company_name: text(&c.company_name),
        job_title: text(&c.job_title),
        department: text(&c.department),
        office_location: text(&c.office_location),
        business_home_page: text(&c.business_home_page),
        ..Default::default()
    };
    if let Some(b) = &c.birthday {
        let date =
            graph::types::contact::birthday_date(b).ok_or_else(|| bad_property("birthday"))?;
        d.birthday = Some(date.format("%Y-%m-%d").to_string());
    }
    if let Some(list) = &c.email_addresses {
        set_emails(&mut d, list)?;
    }
    if let Some(p) = &c.business_phones {
        set_list(&mut d.phone_numbers, &BUSINESS_PHONES, p, "businessPhones")?;
    }
    if let Some(p) = &c.home_phones {
        set_list(&mut d.phone_numbers, &HOME_PHONES, p, "homePhones")?;
    }
    if let Some(m) = text(&c.mobile_phone) {
        d.phone_numbers.insert("MobilePhone".into(), m);
    }
    for (key, a) in [
        ("Business", &c.business_address),
        ("Home", &c.home_address),
        ("Other", &c.other_address),
    ] {
        if let Some(addr) = a.as_ref().and_then(address_in) {
            d.physical_addresses.insert(key.into(), addr);
        }
    }
    if let Some(props) = &c.single_value_extended_properties {
        set_extended(&mut d, props)?;
    }
    if d.display_name.is_none() {
        let parts: Vec<&str> = [&d.given_name, &d.middle_name, &d.surname]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        d.display_name = (!parts.is_empty()).then(|| parts.join(" "));
    }
    Ok(d)
}

/// Applies a PATCH: `null` clears, a value sets, collections are replaced whole.
pub fn apply_patch(d: &mut ContactData, p: &ContactPatch) -> Result<(), Reply> {
    for (slot, value) in [
        (&mut d.display_name, &p.display_name),
        (&mut d.file_as, &p.file_as),
        (&mut d.given_name, &p.given_name),
        (&mut d.middle_name, &p.middle_name),
        (&mut d.surname, &p.surname),
        (&mut d.nickname, &p.nick_name),
        (&mut d.company_name, &p.company_name),
        (&mut d.job_title, &p.job_title),
        (&mut d.department, &p.department),
        (&mut d.office_location, &p.office_location),
        (&mut d.business_home_page, &p.business_home_page),
    ] {
        if let Some(v) = value {
            *slot = text(v);
        }
    }
    if let Some(b) = &p.birthday {
        d.birthday = match b {
            None => None,
            Some(v) => Some(
                graph::types::contact::birthday_date(v)
                    .ok_or_else(|| bad_property("birthday"))?
                    .format("%Y-%m-%d")
                    .to_string(),
            ),
        };
    }
    if let Some(list) = &p.email_addresses {
        set_emails(d, list)?;
    }
    if let Some(list) = &p.business_phones {
        set_list(
            &mut d.phone_numbers,
            &BUSINESS_PHONES,
            list,
            "businessPhones",
        )?;
    }
    if let Some(list) = &p.home_phones {
        set_list(&mut d.phone_numbers, &HOME_PHONES, list, "homePhones")?;
    }
    if let Some(m) = &p.mobile_phone {
        match text(m) {
            Some(v) => d.phone_numbers.insert("MobilePhone".into(), v),
            None => d.phone_numbers.remove("MobilePhone"),
        };
    }
    for (key, a) in [
        ("Business", &p.business_address),
        ("Home", &p.home_address),
        ("Other", &p.other_address),
    ] {
        if let Some(a) = a {
            match a.as_ref().and_then(address_in) {
                Some(addr) => d.physical_addresses.insert(key.into(), addr),
                None => d.physical_addresses.remove(key),
            };
        }
    }
    if let Some(props) = &p.single_value_extended_properties {
        set_extended(d, props)?;
    }
    Ok(())
}
