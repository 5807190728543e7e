//! Contacts and the other item types a contacts folder can hold.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::extended::{ExtendedFieldUri, ExtendedProperty};
use super::ids::{FolderId, ItemId};

/// A contact (`t:Contact`, ContactItemType). Fields are in schema order, which is the
/// order they are written in; `None` fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Id and change key (read-only).
    #[serde(
        rename(serialize = "t:ItemId", deserialize = "ItemId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub item_id: Option<ItemId>,
    /// The folder holding the item (read-only).
    #[serde(
        rename(serialize = "t:ParentFolderId", deserialize = "ParentFolderId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_folder_id: Option<FolderId>,
    /// `IPM.Contact` for contacts.
    #[serde(
        rename(serialize = "t:ItemClass", deserialize = "ItemClass"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub item_class: Option<String>,
    /// Subject (Exchange mirrors the display name here).
    #[serde(
        rename(serialize = "t:Subject", deserialize = "Subject"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<String>,
    /// `Normal`, `Personal`, `Private` or `Confidential`.
    #[serde(
        rename(serialize = "t:Sensitivity", deserialize = "Sensitivity"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub sensitivity: Option<String>,
    /// Notes.
    #[serde(
        rename(serialize = "t:Body", deserialize = "Body"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<Body>,
    /// Categories.
    #[serde(
        rename(serialize = "t:Categories", deserialize = "Categories"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub categories: Option<Categories>,
    /// `Low`, `Normal` or `High`.
    #[serde(
        rename(serialize = "t:Importance", deserialize = "Importance"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub importance: Option<String>,
    /// Creation time (read-only).
    #[serde(
        rename(serialize = "t:DateTimeCreated", deserialize = "DateTimeCreated"),
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::dates::opt_date_time"
    )]
    pub date_time_created: Option<DateTime<Utc>>,
    /// Whether a reminder is set.
    #[serde(
        rename(serialize = "t:ReminderIsSet", deserialize = "ReminderIsSet"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reminder_is_set: Option<bool>,
    /// Reminder lead time.
    #[serde(
        rename(
            serialize = "t:ReminderMinutesBeforeStart",
            deserialize = "ReminderMinutesBeforeStart"
        ),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reminder_minutes_before_start: Option<i32>,
    /// Extended properties (only those asked for in AdditionalProperties).
    #[serde(
        rename(serialize = "t:ExtendedProperty", deserialize = "ExtendedProperty"),
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extended_properties: Vec<ExtendedProperty>,
    /// Culture, e.g. `en-US`.
    #[serde(
        rename(serialize = "t:Culture", deserialize = "Culture"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub culture: Option<String>,
    /// Who changed the item last (read-only).
    #[serde(
        rename(serialize = "t:LastModifiedName", deserialize = "LastModifiedName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_modified_name: Option<String>,
    /// When the item was changed last (read-only).
    #[serde(
        rename(serialize = "t:LastModifiedTime", deserialize = "LastModifiedTime"),
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::dates::opt_date_time"
    )]
    pub last_modified_time: Option<DateTime<Utc>>,
    /// How the contact is filed, e.g. `Plate, Tanja`.
    #[serde(
        rename(serialize = "t:FileAs", deserialize = "FileAs"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_as: Option<String>,
    /// How FileAs is composed (`LastCommaFirst`, ...).
    #[serde(
        rename(serialize = "t:FileAsMapping", deserialize = "FileAsMapping"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub file_as_mapping: Option<String>,
    /// Display name.
    #[serde(
        rename(serialize = "t:DisplayName", deserialize = "DisplayName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// First name.
    #[serde(
        rename(serialize = "t:GivenName", deserialize = "GivenName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub given_name: Option<String>,
    /// Initials.
    #[serde(
        rename(serialize = "t:Initials", deserialize = "Initials"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub initials: Option<String>,
    /// Middle name.
    #[serde(
        rename(serialize = "t:MiddleName", deserialize = "MiddleName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub middle_name: Option<String>,
    /// Nickname.
    #[serde(
        rename(serialize = "t:Nickname", deserialize = "Nickname"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub nickname: Option<String>,
    /// The composed name (read-only).
    #[serde(
        rename(serialize = "t:CompleteName", deserialize = "CompleteName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub complete_name: Option<CompleteName>,
    /// Company.
    #[serde(
        rename(serialize = "t:CompanyName", deserialize = "CompanyName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub company_name: Option<String>,
    /// E-mail addresses (keys EmailAddress1..3).
    #[serde(
        rename(serialize = "t:EmailAddresses", deserialize = "EmailAddresses"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub email_addresses: Option<EmailAddresses>,
    /// Postal addresses (Business, Home, Other).
    #[serde(
        rename(serialize = "t:PhysicalAddresses", deserialize = "PhysicalAddresses"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub physical_addresses: Option<PhysicalAddresses>,
    /// Phone numbers.
    #[serde(
        rename(serialize = "t:PhoneNumbers", deserialize = "PhoneNumbers"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_numbers: Option<PhoneNumbers>,
    /// Assistant.
    #[serde(
        rename(serialize = "t:AssistantName", deserialize = "AssistantName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub assistant_name: Option<String>,
    /// Birthday as a calendar date (see `dates::birthday_date`).
    #[serde(
        rename(serialize = "t:Birthday", deserialize = "Birthday"),
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::dates::opt_birthday"
    )]
    pub birthday: Option<NaiveDate>,
    /// Web page.
    #[serde(
        rename(serialize = "t:BusinessHomePage", deserialize = "BusinessHomePage"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub business_home_page: Option<String>,
    /// `Store` or `ActiveDirectory` (read-only).
    #[serde(
        rename(serialize = "t:ContactSource", deserialize = "ContactSource"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub contact_source: Option<String>,
    /// Department.
    #[serde(
        rename(serialize = "t:Department", deserialize = "Department"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub department: Option<String>,
    /// Name suffix (Jr., III).
    #[serde(
        rename(serialize = "t:Generation", deserialize = "Generation"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub generation: Option<String>,
    /// Job title.
    #[serde(
        rename(serialize = "t:JobTitle", deserialize = "JobTitle"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub job_title: Option<String>,
    /// Manager.
    #[serde(
        rename(serialize = "t:Manager", deserialize = "Manager"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub manager: Option<String>,
    /// Office.
    #[serde(
        rename(serialize = "t:OfficeLocation", deserialize = "OfficeLocation"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub office_location: Option<String>,
    /// Which address is the mailing address (`None`, `Business`, ...).
    #[serde(
        rename(serialize = "t:PostalAddressIndex", deserialize = "PostalAddressIndex"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub postal_address_index: Option<String>,
    /// Profession.
    #[serde(
        rename(serialize = "t:Profession", deserialize = "Profession"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub profession: Option<String>,
    /// Spouse.
    #[serde(
        rename(serialize = "t:SpouseName", deserialize = "SpouseName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub spouse_name: Option<String>,
    /// Last name.
    #[serde(
        rename(serialize = "t:Surname", deserialize = "Surname"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub surname: Option<String>,
}

/// The ItemType part of any other item (distribution lists, messages, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenericItem {
    /// Id and change key (read-only).
    #[serde(
        rename(serialize = "t:ItemId", deserialize = "ItemId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub item_id: Option<ItemId>,
    /// The folder holding the item (read-only).
    #[serde(
        rename(serialize = "t:ParentFolderId", deserialize = "ParentFolderId"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_folder_id: Option<FolderId>,
    /// `IPM.Contact` for contacts.
    #[serde(
        rename(serialize = "t:ItemClass", deserialize = "ItemClass"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub item_class: Option<String>,
    /// Subject (Exchange mirrors the display name here).
    #[serde(
        rename(serialize = "t:Subject", deserialize = "Subject"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subject: Option<String>,
    /// Extended properties (only those asked for in AdditionalProperties).
    #[serde(
        rename(serialize = "t:ExtendedProperty", deserialize = "ExtendedProperty"),
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub extended_properties: Vec<ExtendedProperty>,
    /// When the item was changed last (read-only).
    #[serde(
        rename(serialize = "t:LastModifiedTime", deserialize = "LastModifiedTime"),
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::dates::opt_date_time"
    )]
    pub last_modified_time: Option<DateTime<Utc>>,
}

/// An item body (`t:Body`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// `Text` or `HTML`.
    #[serde(rename = "@BodyType")]
    pub body_type: String,
    /// The text.
    #[serde(rename = "$text", default)]
    pub text: String,
}

impl Body {
    /// A plain-text body.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            body_type: "Text".into(),
            text: text.into(),
        }
    }
}

/// Categories (`t:Categories`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Categories {
    /// The category names.
    #[serde(rename(serialize = "t:String", deserialize = "String"), default)]
    pub names: Vec<String>,
}

/// The composed name Exchange derives from the name fields (read-only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteName {
    /// Title.
    #[serde(
        rename(serialize = "t:Title", deserialize = "Title"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub title: Option<String>,
    /// FirstName.
    #[serde(
        rename(serialize = "t:FirstName", deserialize = "FirstName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub first_name: Option<String>,
    /// MiddleName.
    #[serde(
        rename(serialize = "t:MiddleName", deserialize = "MiddleName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub middle_name: Option<String>,
    /// LastName.
    #[serde(
        rename(serialize = "t:LastName", deserialize = "LastName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_name: Option<String>,
    /// Suffix.
    #[serde(
        rename(serialize = "t:Suffix", deserialize = "Suffix"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub suffix: Option<String>,
    /// Initials.
    #[serde(
        rename(serialize = "t:Initials", deserialize = "Initials"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub initials: Option<String>,
    /// FullName.
    #[serde(
        rename(serialize = "t:FullName", deserialize = "FullName"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub full_name: Option<String>,
    /// Nickname.
    #[serde(
        rename(serialize = "t:Nickname", deserialize = "Nickname"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub nickname: Option<String>,
}

/// Keys of `EmailAddresses`: contacts have exactly three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EmailKey {
    /// First e-mail.
    EmailAddress1,
    /// Second e-mail.
    EmailAddress2,
    /// Third e-mail.
    EmailAddress3,
}

impl EmailKey {
    /// The key as written in XML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmailAddress1 => "EmailAddress1",
            Self::EmailAddress2 => "EmailAddress2",
            Self::EmailAddress3 => "EmailAddress3",
        }
    }
}

/// One e-mail entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailEntry {
    /// Which of the three.
    #[serde(rename = "@Key")]
    pub key: EmailKey,
    /// Display name of the address.
    #[serde(rename = "@Name", default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Routing type (`SMTP`, `EX`).
    #[serde(
        rename = "@RoutingType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub routing_type: Option<String>,
    /// Mailbox type.
    #[serde(
        rename = "@MailboxType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub mailbox_type: Option<String>,
    /// The address.
    #[serde(rename = "$text", default)]
    pub address: String,
}

/// `t:EmailAddresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddresses {
    /// The entries.
    #[serde(rename(serialize = "t:Entry", deserialize = "Entry"), default)]
    pub entries: Vec<EmailEntry>,
}

/// Keys of `PhoneNumbers` (PhoneNumberKeyType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum PhoneKey {
    AssistantPhone,
    BusinessFax,
    BusinessPhone,
    BusinessPhone2,
    Callback,
    CarPhone,
    CompanyMainPhone,
    HomeFax,
    HomePhone,
    HomePhone2,
    Isdn,
    MobilePhone,
    OtherFax,
    OtherTelephone,
    Pager,
    PrimaryPhone,
    RadioPhone,
    Telex,
    TtyTddPhone,
    BusinessMobile,
    IPPhone,
    Mms,
    Msn,
}

impl PhoneKey {
    /// The key as written in XML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssistantPhone => "AssistantPhone",
            Self::BusinessFax => "BusinessFax",
            Self::BusinessPhone => "BusinessPhone",
            Self::BusinessPhone2 => "BusinessPhone2",
            Self::Callback => "Callback",
            Self::CarPhone => "CarPhone",
            Self::CompanyMainPhone => "CompanyMainPhone",
            Self::HomeFax => "HomeFax",
            Self::HomePhone => "HomePhone",
            Self::HomePhone2 => "HomePhone2",
            Self::Isdn => "Isdn",
            Self::MobilePhone => "MobilePhone",
            Self::OtherFax => "OtherFax",
            Self::OtherTelephone => "OtherTelephone",
            Self::Pager => "Pager",
            Self::PrimaryPhone => "PrimaryPhone",
            Self::RadioPhone => "RadioPhone",
            Self::Telex => "Telex",
            Self::TtyTddPhone => "TtyTddPhone",
            Self::BusinessMobile => "BusinessMobile",
            Self::IPPhone => "IPPhone",
            Self::Mms => "Mms",
            Self::Msn => "Msn",
        }
    }
}

/// One phone entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneEntry {
    /// Which phone.
    #[serde(rename = "@Key")]
    pub key: PhoneKey,
    /// The number.
    #[serde(rename = "$text", default)]
    pub number: String,
}

/// `t:PhoneNumbers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumbers {
    /// The entries.
    #[serde(rename(serialize = "t:Entry", deserialize = "Entry"), default)]
    pub entries: Vec<PhoneEntry>,
}

/// Keys of `PhysicalAddresses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AddressKey {
    /// Business address.
    Business,
    /// Home address.
    Home,
    /// Other address.
    Other,
}

impl AddressKey {
    /// The key as written in XML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Business => "Business",
            Self::Home => "Home",
            Self::Other => "Other",
        }
    }
}

/// One postal address; every part is optional and is updated on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysicalAddress {
    /// Which address.
    #[serde(rename = "@Key")]
    pub key: AddressKey,
    /// Street.
    #[serde(
        rename(serialize = "t:Street", deserialize = "Street"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub street: Option<String>,
    /// City.
    #[serde(
        rename(serialize = "t:City", deserialize = "City"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    /// State.
    #[serde(
        rename(serialize = "t:State", deserialize = "State"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<String>,
    /// CountryOrRegion.
    #[serde(
        rename(serialize = "t:CountryOrRegion", deserialize = "CountryOrRegion"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub country_or_region: Option<String>,
    /// PostalCode.
    #[serde(
        rename(serialize = "t:PostalCode", deserialize = "PostalCode"),
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub postal_code: Option<String>,
}

impl PhysicalAddress {
    /// An empty address with the given key.
    pub fn new(key: AddressKey) -> Self {
        Self {
            key,
            street: None,
            city: None,
            state: None,
            country_or_region: None,
            postal_code: None,
        }
    }
}

/// The five parts of a postal address, for IndexedFieldURI `contacts:PhysicalAddress:<part>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressPart {
    /// Street.
    Street,
    /// City.
    City,
    /// State.
    State,
    /// Country or region.
    CountryOrRegion,
    /// Postal code.
    PostalCode,
}

impl AddressPart {
    /// All parts in schema order.
    pub const ALL: [AddressPart; 5] = [
        Self::Street,
        Self::City,
        Self::State,
        Self::CountryOrRegion,
        Self::PostalCode,
    ];

    /// The part's element name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Street => "Street",
            Self::City => "City",
            Self::State => "State",
            Self::CountryOrRegion => "CountryOrRegion",
            Self::PostalCode => "PostalCode",
        }
    }

    /// Parses an element name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl PhysicalAddress {
    /// One part of the address.
    pub fn part(&self, part: AddressPart) -> Option<&str> {
        match part {
            AddressPart::Street => self.street.as_deref(),
            AddressPart::City => self.city.as_deref(),
            AddressPart::State => self.state.as_deref(),
            AddressPart::CountryOrRegion => self.country_or_region.as_deref(),
            AddressPart::PostalCode => self.postal_code.as_deref(),
        }
    }

    /// Mutable access to one part of the address.
    pub fn part_mut(&mut self, part: AddressPart) -> &mut Option<String> {
        match part {
            AddressPart::Street => &mut self.street,
            AddressPart::City => &mut self.city,
            AddressPart::State => &mut self.state,
            AddressPart::CountryOrRegion => &mut self.country_or_region,
            AddressPart::PostalCode => &mut self.postal_code,
        }
    }

    /// Whether no part is set.
    pub fn is_empty(&self) -> bool {
        AddressPart::ALL.into_iter().all(|p| self.part(p).is_none())
    }
}

/// `t:PhysicalAddresses`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysicalAddresses {
    /// The entries.
    #[serde(rename(serialize = "t:Entry", deserialize = "Entry"), default)]
    pub entries: Vec<PhysicalAddress>,
}

impl Contact {
    /// The e-mail address under `key`.
    pub fn email(&self, key: EmailKey) -> Option<&str> {
        self.email_addresses
            .as_ref()?
            .entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.address.as_str())
    }

    /// Sets (or, with `None`, removes) the e-mail address under `key`.
    pub fn set_email(&mut self, key: EmailKey, address: Option<String>) {
        let list = self.email_addresses.get_or_insert_with(Default::default);
        list.entries.retain(|e| e.key != key);
        if let Some(address) = address {
            list.entries.push(EmailEntry {
                key,
                name: None,
                routing_type: None,
                mailbox_type: None,
                address,
            });
        }
        if list.entries.is_empty() {
            self.email_addresses = None;
        }
    }

    /// The phone number under `key`.
    pub fn phone(&self, key: PhoneKey) -> Option<&str> {
        self.phone_numbers
            .as_ref()?
            .entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.number.as_str())
    }

    /// Sets (or, with `None`, removes) the phone number under `key`.
    pub fn set_phone(&mut self, key: PhoneKey, number: Option<String>) {
        let list = self.phone_numbers.get_or_insert_with(Default::default);
        list.entries.retain(|e| e.key != key);
        if let Some(number) = number {
            list.entries.push(PhoneEntry { key, number });
        }
        if list.entries.is_empty() {
            self.phone_numbers = None;
        }
    }

    /// The postal address under `key`.
    pub fn address(&self, key: AddressKey) -> Option<&PhysicalAddress> {
        self.physical_addresses
            .as_ref()?
            .entries
            .iter()
            .find(|e| e.key == key)
    }

    /// Sets (or, with `None` or an empty address, removes) the postal address under its key.
    pub fn set_address(&mut self, key: AddressKey, address: Option<PhysicalAddress>) {
        let list = self.physical_addresses.get_or_insert_with(Default::default);
        list.entries.retain(|e| e.key != key);
        if let Some(mut address) = address.filter(|a| !a.is_empty()) {
            address.key = key;
            list.entries.push(address);
        }
        if list.entries.is_empty() {
            self.physical_addresses = None;
        }
    }

    /// The value of an extended property, matched with [`ExtendedFieldUri::same_property`].
    pub fn extended_property(&self, uri: &ExtendedFieldUri) -> Option<&str> {
        self.extended_properties
            .iter()
            .find(|p| p.field_uri.same_property(uri))
            .and_then(|p| p.value.as_deref())
    }

    /// Sets (replaces) a single-valued extended property.
    pub fn set_extended_property(&mut self, uri: ExtendedFieldUri, value: impl Into<String>) {
        self.extended_properties
            .retain(|p| !p.field_uri.same_property(&uri));
        self.extended_properties
            .push(ExtendedProperty::new(uri, value));
    }
}
