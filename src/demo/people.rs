//! Plausible people for the demo: a few hundred Outlook contacts in nested folders, and
//! CRM contacts of several types at a handful of companies.
use ews_sim::ContactData;

const GIVEN: [&str; 30] = [
    "Ada", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kavya", "Lukas", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sanjay", "Tamsin", "Umar",
    "Vera", "Wen", "Ximena", "Yusuf", "Zoe", "Amara", "Bastian", "Camille", "Dario",
];
const SURNAMES: [&str; 24] = [
    "Alvarez", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Quispe", "Rossi",
    "Schmidt", "Tanaka", "Umarov", "Varga", "Weber", "Yilmaz",
];
const COMPANIES: [&str; 8] = [
    "Contoso",
    "Fabrikam",
    "Northwind Traders",
    "Tailspin Toys",
    "Litware",
    "Adventure Works",
    "Wide World Importers",
    "Proseware",
];
const TITLES: [&str; 8] = [
    "Account Manager",
    "Buyer",
    "CFO",
    "Engineer",
    "Head of Sales",
    "Office Manager",
    "Project Lead",
    "Support Specialist",
];
const CITIES: [(&str, &str, &str); 6] = [
    ("Berlin", "10115", "Germany"),
    ("Lyon", "69002", "France"),
    ("Milan", "20121", "Italy"),
    ("Seattle", "98101", "United States"),
    ("Osaka", "530-0001", "Japan"),
    ("Oslo", "0150", "Norway"),
];

/// The Outlook folders the demo mailbox holds contacts in (below Contacts).
pub const OUTLOOK_FOLDERS: [(&str, &str); 4] = [
    ("Contacts", "Clients"),
    ("Contacts/Clients", "VIP"),
    ("Contacts", "Suppliers"),
    ("Contacts/Suppliers", "Logistics"),
];

/// Where the `i`-th Outlook contact lives: most in Contacts, the rest spread over the
/// nested folders.
pub fn outlook_folder(i: usize) -> &'static str {
    match i % 10 {
        0..=3 => "contacts",
        4 | 5 => "Contacts/Clients",
        6 => "Contacts/Clients/VIP",
        7 | 8 => "Contacts/Suppliers",
        _ => "Contacts/Suppliers/Logistics",
    }
}

fn slug(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// A person number `i` (no two alike for i < 720).
pub fn person(i: usize) -> (&'static str, &'static str, &'static str) {
    let given = GIVEN[i % GIVEN.len()];
    let surname = SURNAMES[(i / GIVEN.len() + i) % SURNAMES.len()];
    let company = COMPANIES[(i * 7 + 3) % COMPANIES.len()];
    (given, surname, company)
}

/// The Outlook side of person `i`.
pub fn outlook_contact(i: usize) -> ContactData {
    let (given, surname, company) = person(i);
    let (city, postal, country) = CITIES[i % CITIES.len()];
    let mut c = ContactData {
        given_name: Some(given.into()),
        surname: Some(surname.into()),
        display_name: Some(format!("{given} {surname}")),
        file_as: Some(format!("{surname}, {given}")),
        company_name: Some(company.into()),
        job_title: Some(TITLES[i % TITLES.len()].into()),
        ..Default::default()
    };
    c.email_addresses.insert(
        "EmailAddress1".into(),
        format!(
            "{}.{}.{i}@{}.example",
            slug(given),
            slug(surname),
            slug(company)
        ),
    );
    c.phone_numbers.insert(
        "BusinessPhone".into(),
        format!("+1 425 555 {:04}", 1000 + i),
    );
    if i.is_multiple_of(3) {
        c.phone_numbers
            .insert("MobilePhone".into(), format!("+1 206 555 {:04}", 2000 + i));
    }
    let address = ews_sim::Address {
        street: Some(format!("{} Market Street", 10 + i)),
        city: Some(city.into()),
        postal_code: Some(postal.into()),
        country_or_region: Some(country.into()),
        ..Default::default()
    };
    c.physical_addresses.insert("Business".into(), address);
    c
}

/// CRM contacts: (type, account index, given, surname, job title, e-mail).
pub fn crm_contacts() -> Vec<(&'static str, usize, String, String, &'static str, String)> {
    // Offset far from the Outlook people so the CRM adds people of its own.
    (0..40)
        .map(|n| {
            let i = 500 + n * 3;
            let (given, surname, _) = person(i);
            let kind = match n % 4 {
                0 => "Employee",
                1 | 2 => "Customer",
                _ => "Supplier",
            };
            let account = n % 4;
            let email = format!("{}.{}@crm.example", slug(given), slug(surname));
            (
                kind,
                account,
                given.to_owned(),
                surname.to_owned(),
                TITLES[n % TITLES.len()],
                email,
            )
        })
        .collect()
}
