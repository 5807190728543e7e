//! Between the store's records and the `ews` wire types, honouring the requested shape.

use chrono::NaiveDate;
use ews::types::{
    AddressKey, BaseShape, Contact, EmailKey, FolderData, FolderId, ItemId, PhoneKey,
    PhysicalAddress, PropertyPath,
};

use crate::store::{self, Address, ContactData, ExtendedFieldUri, ExtendedProperty, FieldPath};

/// The store's name for an `ews` extended field URI.
pub fn ext_uri(u: &ews::types::ExtendedFieldUri) -> ExtendedFieldUri {
    ExtendedFieldUri {
        property_tag: u.property_tag.clone(),
        property_set_id: u.property_set_id.clone(),
        distinguished_property_set_id: u.distinguished_property_set_id.clone(),
        property_name: u.property_name.clone(),
        property_id: u.property_id.map(|i| i.to_string()),
        property_type: u.property_type.clone(),
    }
}

fn wire_ext_uri(u: &ExtendedFieldUri) -> ews::types::ExtendedFieldUri {
    ews::types::ExtendedFieldUri {
        distinguished_property_set_id: u.distinguished_property_set_id.clone(),
        property_set_id: u.property_set_id.clone(),
        property_tag: u.property_tag.clone(),
        property_name: u.property_name.clone(),
        property_id: u.property_id.as_deref().and_then(|i| i.parse().ok()),
        property_type: u.property_type.clone(),
    }
}

/// The store's path for a wire property path.
pub fn field_path(p: &PropertyPath) -> FieldPath {
    match p {
        PropertyPath::Field(f) => FieldPath::Field(f.field_uri.clone()),
        PropertyPath::Indexed(i) => FieldPath::Indexed {
            uri: i.field_uri.clone(),
            index: i.field_index.clone(),
        },
        PropertyPath::Extended(e) => FieldPath::Extended(ext_uri(e)),
    }
}

/// What a client sent, as the store keeps it.
pub fn contact_data(c: &Contact) -> ContactData {
    let mut d = ContactData {
        display_name: c.display_name.clone(),
        file_as: c.file_as.clone(),
        given_name: c.given_name.clone(),
        middle_name: c.middle_name.clone(),
        surname: c.surname.clone(),
        nickname: c.nickname.clone(),
        company_name: c.company_name.clone(),
        job_title: c.job_title.clone(),
        department: c.department.clone(),
        office_location: c.office_location.clone(),
        business_home_page: c.business_home_page.clone(),
        birthday: c.birthday.map(|b| b.format("%Y-%m-%d").to_string()),
        ..Default::default()
    };
    for e in c.email_addresses.iter().flat_map(|l| &l.entries) {
        d.email_addresses
            .insert(e.key.as_str().to_string(), e.address.clone());
    }
    for p in c.phone_numbers.iter().flat_map(|l| &l.entries) {
        d.phone_numbers
            .insert(p.key.as_str().to_string(), p.number.clone());
    }
    for a in c.physical_addresses.iter().flat_map(|l| &l.entries) {
        d.physical_addresses.insert(
            a.key.as_str().to_string(),
            Address {
                street: a.street.clone(),
                city: a.city.clone(),
                state: a.state.clone(),
                country_or_region: a.country_or_region.clone(),
                postal_code: a.postal_code.clone(),
            },
        );
    }
    for p in &c.extended_properties {
        let value = p
            .value
            .clone()
            .or_else(|| p.values.as_ref().map(|v| v.values.join("\n")))
            .unwrap_or_default();
        d.set_extended(ExtendedProperty {
            uri: ext_uri(&p.field_uri),
            value,
        });
    }
    d
}

fn email_key(k: &str) -> Option<EmailKey> {
    [
        EmailKey::EmailAddress1,
        EmailKey::EmailAddress2,
        EmailKey::EmailAddress3,
    ]
    .into_iter()
    .find(|e| e.as_str() == k)
}

fn phone_key(k: &str) -> Option<PhoneKey> {
    serde_json::from_value(serde_json::Value::String(k.to_string())).ok()
}

fn address_key(k: &str) -> Option<AddressKey> {
    [AddressKey::Business, AddressKey::Home, AddressKey::Other]
        .into_iter()
        .find(|a| a.as_str() == k)
}

/// Every property of an item as Exchange shows it (extended ones only when asked).
fn full_contact(it: &store::Item) -> Contact {
    let d = &it.data;
    let mut c = Contact {
        item_id: Some(ItemId::new(&it.id, &it.change_key)),
        parent_folder_id: Some(FolderId::new(&it.folder_id)),
        item_class: Some("IPM.Contact".into()),
        subject: d.file_as.clone().or_else(|| d.display_name.clone()),
        date_time_created: Some(it.created),
        last_modified_time: Some(it.modified),
        file_as: d.file_as.clone(),
        display_name: d.display_name.clone(),
        given_name: d.given_name.clone(),
        middle_name: d.middle_name.clone(),
        nickname: d.nickname.clone(),
        company_name: d.company_name.clone(),
        job_title: d.job_title.clone(),
        department: d.department.clone(),
        office_location: d.office_location.clone(),
        business_home_page: d.business_home_page.clone(),
        surname: d.surname.clone(),
        birthday: d
            .birthday
            .as_deref()
            .and_then(|b| NaiveDate::parse_from_str(b.get(..10).unwrap_or(b), "%Y-%m-%d").ok()),
        complete_name: complete_name(d),
        ..Default::default()
    };
    for (k, v) in &d.email_addresses {
        if let Some(key) = email_key(k) {
            c.set_email(key, Some(v.clone()));
        }
    }
    for (k, v) in &d.phone_numbers {
        if let Some(key) = phone_key(k) {
            c.set_phone(key, Some(v.clone()));
        }
    }
    for (k, a) in &d.physical_addresses {
        if let Some(key) = address_key(k) {
            c.set_address(
                key,
                Some(PhysicalAddress {
                    key,
                    street: a.street.clone(),
                    city: a.city.clone(),
                    state: a.state.clone(),
                    country_or_region: a.country_or_region.clone(),
                    postal_code: a.postal_code.clone(),
                }),
            );
        }
    }
    c
}

/// The read-only CompleteName Exchange composes from the name fields.
fn complete_name(d: &store::ContactData) -> Option<ews::types::CompleteName> {
    let parts: Vec<&str> = [&d.given_name, &d.middle_name, &d.surname]
        .into_iter()
        .filter_map(|p| p.as_deref().filter(|s| !s.trim().is_empty()))
        .collect();
    if parts.is_empty() && d.nickname.is_none() {
        return None;
    }
    let initials: String = parts
        .iter()
        .filter_map(|p| p.chars().next())
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect();
    Some(ews::types::CompleteName {
        first_name: d.given_name.clone(),
        middle_name: d.middle_name.clone(),
        last_name: d.surname.clone(),
        initials: (!initials.is_empty()).then_some(initials),
        full_name: d
            .display_name
            .clone()
            .or_else(|| (!parts.is_empty()).then(|| parts.join(" "))),
        nickname: d.nickname.clone(),
        ..Default::default()
    })
}

/// Copies what `path` names from `full` into `out`.
fn copy_path(item: &store::Item, full: &Contact, out: &mut Contact, path: &PropertyPath) {
    match path {
        PropertyPath::Extended(u) => {
            if let Some(p) = item.data.extended(&ext_uri(u)) {
                out.extended_properties
                    .push(ews::types::ExtendedProperty::new(
                        wire_ext_uri(&p.uri),
                        p.value.clone(),
                    ));
            }
        }
        PropertyPath::Indexed(i) => match i.field_uri.as_str() {
            "contacts:EmailAddress" => {
                if let Some(k) = email_key(&i.field_index) {
                    out.set_email(k, full.email(k).map(str::to_string));
                }
            }
            "contacts:PhoneNumber" => {
                if let Some(k) = phone_key(&i.field_index) {
                    out.set_phone(k, full.phone(k).map(str::to_string));
                }
            }
            uri if uri.starts_with("contacts:PhysicalAddress:") => {
                let part =
                    ews::types::AddressPart::parse(&uri["contacts:PhysicalAddress:".len()..]);
                if let (Some(k), Some(part)) = (address_key(&i.field_index), part) {
                    let have = full
                        .address(k)
                        .and_then(|a| a.part(part))
                        .map(str::to_string);
                    if have.is_some() {
                        let mut a = out.address(k).cloned().unwrap_or(PhysicalAddress::new(k));
                        *a.part_mut(part) = have;
                        out.set_address(k, Some(a));
                    }
                }
            }
            _ => {}
        },
        PropertyPath::Field(f) => {
            macro_rules! copy {
                ($($uri:literal => $field:ident),* $(,)?) => {
                    match f.field_uri.as_str() {
                        $($uri => out.$field = full.$field.clone(),)*
                        _ => {}
                    }
                };
            }
            copy!(
                "item:ParentFolderId" => parent_folder_id,
                "item:ItemClass" => item_class,
                "item:Subject" => subject,
                "item:DateTimeCreated" => date_time_created,
                "item:LastModifiedTime" => last_modified_time,
                "contacts:FileAs" => file_as,
                "contacts:DisplayName" => display_name,
                "contacts:GivenName" => given_name,
                "contacts:MiddleName" => middle_name,
                "contacts:Nickname" => nickname,
                "contacts:CompanyName" => company_name,
                "contacts:EmailAddresses" => email_addresses,
                "contacts:PhysicalAddresses" => physical_addresses,
                "contacts:PhoneNumbers" => phone_numbers,
                "contacts:Birthday" => birthday,
                "contacts:CompleteName" => complete_name,
                "contacts:BusinessHomePage" => business_home_page,
                "contacts:Department" => department,
                "contacts:JobTitle" => job_title,
                "contacts:OfficeLocation" => office_location,
                "contacts:Surname" => surname,
            );
        }
    }
}

/// An item as a response shows it for `base` + `extra` properties.
pub fn contact_view(item: &store::Item, base: BaseShape, extra: &[PropertyPath]) -> Contact {
    let full = full_contact(item);
    let mut out = match base {
        BaseShape::IdOnly => Contact {
            item_id: full.item_id.clone(),
            ..Default::default()
        },
        BaseShape::Default | BaseShape::AllProperties => full.clone(),
    };
    for p in extra {
        copy_path(item, &full, &mut out, p);
    }
    out
}

/// The wire folder for a store folder, for `base` + `extra` properties.
pub fn folder_view(
    mb: &store::Mailbox,
    f: &store::Folder,
    counts: &std::collections::HashMap<String, usize>,
    base: BaseShape,
    extra: &[PropertyPath],
) -> ews::types::Folder {
    let class = f.folder_class.as_deref().unwrap_or("");
    let plain = !(class.starts_with("IPF.Contact")
        || class.starts_with("IPF.Appointment")
        || class.starts_with("IPF.Task"));
    let asked = |uri: &str| {
        extra
            .iter()
            .any(|p| matches!(p, PropertyPath::Field(x) if x.field_uri == uri))
    };
    // Default shape: name and counts; AllProperties adds parent, class and rights.
    let default = base != BaseShape::IdOnly;
    let all = base == BaseShape::AllProperties;
    let data = FolderData {
        folder_id: Some(ews::types::FolderId {
            id: f.id.clone(),
            change_key: Some(f.change_key.clone()),
        }),
        parent_folder_id: f
            .parent_id
            .as_ref()
            .filter(|_| all || asked("folder:ParentFolderId"))
            .map(|p| FolderId::new(p.clone())),
        folder_class: f
            .folder_class
            .clone()
            .filter(|_| all || asked("folder:FolderClass")),
        display_name: Some(f.display_name.clone())
            .filter(|_| default || asked("folder:DisplayName")),
        total_count: Some(counts.get(f.id.as_str()).copied().unwrap_or(0) as i32)
            .filter(|_| default || asked("folder:TotalCount")),
        child_folder_count: Some(mb.children(&f.id).len() as i32)
            .filter(|_| default || asked("folder:ChildFolderCount")),
        extended_properties: Vec::new(),
        effective_rights: (all || asked("folder:EffectiveRights")).then_some({
            ews::types::EffectiveRights {
                create_associated: Some(true),
                create_contents: Some(true),
                create_hierarchy: Some(true),
                delete: Some(true),
                modify: Some(true),
                read: Some(true),
                view_private_items: Some(true),
            }
        }),
        distinguished_folder_id: f
            .distinguished
            .clone()
            .filter(|_| asked("folder:DistinguishedFolderId")),
        unread_count: Some(0).filter(|_| plain && (default || asked("folder:UnreadCount"))),
    };
    if class.starts_with("IPF.Contact") {
        ews::types::Folder::ContactsFolder(data)
    } else if class.starts_with("IPF.Appointment") {
        ews::types::Folder::CalendarFolder(data)
    } else if class.starts_with("IPF.Task") {
        ews::types::Folder::TasksFolder(data)
    } else {
        ews::types::Folder::Folder(data)
    }
}
