//! The JSON control API under `/_sim` (no authentication): seed, inspect, edit as the
//! Exchange user, inject faults and latency, read the request log, reset.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::faults::FaultRule;
use crate::state::Sim;
use crate::store::{ContactData, DeleteType, EwsError, FolderRef, Item, Mailbox, Store};

/// Registers the `/_sim` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim")
            .route("/reset", web::post().to(reset))
            .route("/mailboxes", web::get().to(list_mailboxes))
            .route("/mailboxes", web::post().to(add_mailbox))
            .route("/mailboxes/{email}/folders", web::get().to(list_folders))
            .route("/mailboxes/{email}/folders", web::post().to(post_folder))
            .route("/mailboxes/{email}/seed", web::post().to(seed))
            .route("/mailboxes/{email}/contacts", web::get().to(list_contacts))
            .route("/mailboxes/{email}/contacts", web::post().to(post_contact))
            .route(
                "/mailboxes/{email}/contacts/{id}",
                web::get().to(get_contact),
            )
            .route(
                "/mailboxes/{email}/contacts/{id}",
                web::patch().to(patch_contact),
            )
            .route(
                "/mailboxes/{email}/contacts/{id}",
                web::put().to(put_contact),
            )
            .route(
                "/mailboxes/{email}/contacts/{id}",
                web::delete().to(delete_contact),
            )
            .route("/faults", web::get().to(list_faults))
            .route("/faults", web::post().to(add_fault))
            .route("/faults", web::delete().to(clear_faults))
            .route("/faults/{id}", web::delete().to(delete_fault))
            .route("/latency", web::get().to(get_latency))
            .route("/latency", web::put().to(put_latency))
            .route("/requests", web::get().to(list_requests))
            .route("/requests", web::delete().to(clear_requests))
            .route("/stats", web::get().to(stats))
            .route("/churn", web::post().to(churn)),
    );
}

fn problem(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid status"))
        .json(json!({ "error": code, "message": message }))
}

fn ews_problem(e: &EwsError) -> HttpResponse {
    let status = match e.code.as_str() {
        "ErrorItemNotFound"
        | "ErrorFolderNotFound"
        | "ErrorNonExistentMailbox"
        | "ErrorInvalidIdMalformed" => 404,
        "ErrorFolderExists" => 409,
        _ => 400,
    };
    problem(status, &e.code, &e.message)
}

fn mailbox<'a>(store: &'a Store, email: &str) -> Result<&'a Mailbox, EwsError> {
    store
        .mailbox(email)
        .ok_or_else(|| EwsError::non_existent_mailbox(email))
}

fn mailbox_mut<'a>(store: &'a mut Store, email: &str) -> Result<&'a mut Mailbox, EwsError> {
    store
        .mailbox_mut(email)
        .ok_or_else(|| EwsError::non_existent_mailbox(email))
}

/// Creates `name` below `parent` (id, distinguished name or display-name path).
pub fn create_folder(
    store: &mut Store,
    email: &str,
    parent: &str,
    name: &str,
    class: Option<&str>,
) -> Result<String, EwsError> {
    let mb = mailbox_mut(store, email)?;
    let parent_id = mb
        .folder_by_any(parent)
        .ok_or_else(EwsError::folder_not_found)?
        .id
        .clone();
    mb.create_folder(
        &FolderRef::Id(parent_id),
        name,
        Some(class.unwrap_or("IPF.Contact")),
    )
}

/// Creates every missing folder of a `/`-separated path below msgfolderroot
/// (e.g. `Contacts/Clients/VIP`); answers the last one's id.
fn ensure_path(
    store: &mut Store,
    email: &str,
    path: &str,
    class: Option<&str>,
) -> Result<String, EwsError> {
    let mut done = String::new();
    let mut id = mailbox(store, email)?
        .folder_by_any("msgfolderroot")
        .expect("well-known")
        .id
        .clone();
    for part in path.split('/').filter(|p| !p.trim().is_empty()) {
        if !done.is_empty() {
            done.push('/');
        }
        done.push_str(part);
        let existing = mailbox(store, email)?
            .folder_by_any(&done)
            .map(|f| f.id.clone());
        id = match existing {
            Some(i) => i,
            None => create_folder(store, email, &id, part, class)?,
        };
    }
    Ok(id)
}

/// Creates contacts in a folder as the Exchange user.
pub fn seed_contacts(
    store: &mut Store,
    email: &str,
    folder: &str,
    contacts: Vec<ContactData>,
) -> Result<Vec<(String, String)>, EwsError> {
    let mb = mailbox_mut(store, email)?;
    let folder_id = mb
        .folder_by_any(folder)
        .ok_or_else(EwsError::folder_not_found)?
        .id
        .clone();
    contacts
        .into_iter()
        .map(|c| mb.create_item(&FolderRef::Id(folder_id.clone()), c))
        .collect()
}

/// Edits a contact as the Exchange user: merge (or replace) its data, new ChangeKey.
pub fn edit_contact(
    store: &mut Store,
    email: &str,
    id: &str,
    patch: &ContactData,
    replace: bool,
) -> Result<String, EwsError> {
    let mb = mailbox_mut(store, email)?;
    let mut data = mb.item(id)?.data.clone();
    if replace {
        data = patch.clone();
    } else {
        data.merge_from(patch);
    }
    Ok(mb.write_item(id, data).1)
}

/// A contact as the control API shows it.
#[derive(Debug, Serialize)]
struct ContactView<'a> {
    id: &'a str,
    change_key: &'a str,
    folder_id: &'a str,
    created: String,
    last_modified: String,
    #[serde(flatten)]
    data: &'a ContactData,
}

fn view(it: &Item) -> ContactView<'_> {
    ContactView {
        id: &it.id,
        change_key: &it.change_key,
        folder_id: &it.folder_id,
        created: it
            .created
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        last_modified: it
            .modified
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        data: &it.data,
    }
}

async fn reset(sim: web::Data<Sim>) -> HttpResponse {
    sim.reset();
    HttpResponse::NoContent().finish()
}

async fn list_mailboxes(sim: web::Data<Sim>) -> HttpResponse {
    let store = sim.store.lock().expect("store lock");
    let list: Vec<_> = store
        .mailboxes
        .values()
        .map(|m| json!({ "email": m.email, "folders": m.folders.len(), "items": m.items.len() }))
        .collect();
    HttpResponse::Ok().json(list)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMailbox {
    email: String,
    password: String,
}

async fn add_mailbox(sim: web::Data<Sim>, body: web::Json<NewMailbox>) -> HttpResponse {
    if !body.email.contains('@') || body.password.is_empty() {
        return problem(
            400,
            "invalid",
            "email must be an SMTP address and password non-empty",
        );
    }
    sim.store
        .lock()
        .expect("store lock")
        .ensure_mailbox(&body.email, &body.password);
    HttpResponse::Created().json(json!({ "email": body.email.to_ascii_lowercase() }))
}

fn folder_json(
    mb: &Mailbox,
    counts: &std::collections::HashMap<String, usize>,
    f: &crate::store::Folder,
) -> serde_json::Value {
    json!({
        "id": f.id, "change_key": f.change_key, "parent_id": f.parent_id,
        "display_name": f.display_name, "folder_class": f.folder_class,
        "distinguished": f.distinguished,
        "total_count": counts.get(f.id.as_str()).copied().unwrap_or(0),
        "child_folder_count": mb.children(&f.id).len(),
    })
}

async fn list_folders(sim: web::Data<Sim>, path: web::Path<String>) -> HttpResponse {
    let store = sim.store.lock().expect("store lock");
    let mb = match mailbox(&store, &path) {
        Ok(m) => m,
        Err(e) => return ews_problem(&e),
    };
    let counts = mb.counts();
    let root = mb.folder_by_any("root").expect("well-known");
    let mut list = vec![folder_json(mb, &counts, root)];
    list.extend(
        mb.descendants(&root.id)
            .into_iter()
            .map(|f| folder_json(mb, &counts, f)),
    );
    HttpResponse::Ok().json(list)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFolder {
    /// Parent: id, distinguished name or path; default `contacts`.
    #[serde(default)]
    parent: Option<String>,
    /// Name of the new folder (with `parent`).
    #[serde(default)]
    display_name: Option<String>,
    /// Or a whole path below msgfolderroot, created as needed.
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    folder_class: Option<String>,
}

async fn post_folder(
    sim: web::Data<Sim>,
    email: web::Path<String>,
    body: web::Json<NewFolder>,
) -> HttpResponse {
    let mut store = sim.store.lock().expect("store lock");
    let class = body.folder_class.as_deref();
    let result = match (&body.path, &body.display_name) {
        (Some(p), None) => ensure_path(&mut store, &email, p, class),
        (None, Some(name)) => create_folder(
            &mut store,
            &email,
            body.parent.as_deref().unwrap_or("contacts"),
            name,
            class,
        ),
        _ => {
            return problem(
                400,
                "invalid",
                "give either path, or display_name (and parent)",
            );
        }
    };
    match result {
        Ok(id) => {
            let mb = mailbox(&store, &email).expect("exists");
            let counts = mb.counts();
            HttpResponse::Created().json(folder_json(mb, &counts, &mb.folders[&id]))
        }
        Err(e) => ews_problem(&e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    /// Folder paths to create (nested ones with `/`).
    #[serde(default)]
    folders: Vec<String>,
    /// Folder the contacts go to; default `contacts`.
    #[serde(default)]
    folder: Option<String>,
    /// Contacts to create.
    #[serde(default)]
    contacts: Vec<ContactData>,
    /// Also create this many generated contacts.
    #[serde(default)]
    generate: usize,
}

/// A plausible generated contact number `i`.
fn generated(i: usize) -> ContactData {
    let mut c = ContactData {
        given_name: Some(format!("Given{i}")),
        surname: Some(format!("Surname{i}")),
        display_name: Some(format!("Given{i} Surname{i}")),
        company_name: Some(format!("Company {}", i % 50)),
        job_title: Some("Engineer".into()),
        ..Default::default()
    };
    c.email_addresses
        .insert("EmailAddress1".into(), format!("contact{i}@example.com"));
    c.phone_numbers
        .insert("BusinessPhone".into(), format!("+1 555 {:04}", i % 10_000));
    c
}

async fn seed(
    sim: web::Data<Sim>,
    email: web::Path<String>,
    body: web::Json<Seed>,
) -> HttpResponse {
    let body = body.into_inner();
    let mut store = sim.store.lock().expect("store lock");
    let mut folders = Vec::new();
    for p in &body.folders {
        match ensure_path(&mut store, &email, p, Some("IPF.Contact")) {
            Ok(id) => folders.push(json!({ "path": p, "id": id })),
            Err(e) => return ews_problem(&e),
        }
    }
    let mut contacts = body.contacts;
    contacts.extend((0..body.generate).map(generated));
    let folder = body.folder.as_deref().unwrap_or("contacts");
    match seed_contacts(&mut store, &email, folder, contacts) {
        Ok(items) => HttpResponse::Created().json(json!({
            "folders": folders,
            "items": items.iter().map(|(id, ck)| json!({ "id": id, "change_key": ck })).collect::<Vec<_>>(),
        })),
        Err(e) => ews_problem(&e),
    }
}

#[derive(Deserialize)]
struct FolderQuery {
    #[serde(default)]
    folder: Option<String>,
}

async fn list_contacts(
    sim: web::Data<Sim>,
    email: web::Path<String>,
    q: web::Query<FolderQuery>,
) -> HttpResponse {
    let store = sim.store.lock().expect("store lock");
    let mb = match mailbox(&store, &email) {
        Ok(m) => m,
        Err(e) => return ews_problem(&e),
    };
    let items: Vec<&Item> = match &q.folder {
        Some(f) => match mb.folder_by_any(f) {
            Some(f) => mb.items_in(&f.id),
            None => return ews_problem(&EwsError::folder_not_found()),
        },
        None => {
            let mut all: Vec<&Item> = mb.items.values().collect();
            all.sort_by_key(|i| i.created_seq);
            all
        }
    };
    HttpResponse::Ok().json(items.into_iter().map(view).collect::<Vec<_>>())
}

#[derive(Deserialize)]
struct NewContact {
    #[serde(default)]
    folder: Option<String>,
    #[serde(flatten)]
    data: ContactData,
}

async fn post_contact(
    sim: web::Data<Sim>,
    email: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let body: NewContact = match serde_json::from_value(body.into_inner()) {
        Ok(b) => b,
        Err(e) => return problem(400, "invalid", &e.to_string()),
    };
    let mut store = sim.store.lock().expect("store lock");
    let folder = body.folder.as_deref().unwrap_or("contacts");
    match seed_contacts(&mut store, &email, folder, vec![body.data]) {
        Ok(items) => {
            let mb = mailbox(&store, &email).expect("exists");
            HttpResponse::Created().json(view(&mb.items[&items[0].0]))
        }
        Err(e) => ews_problem(&e),
    }
}

async fn get_contact(sim: web::Data<Sim>, path: web::Path<(String, String)>) -> HttpResponse {
    let (email, id) = path.into_inner();
    let store = sim.store.lock().expect("store lock");
    match mailbox(&store, &email).and_then(|mb| mb.item(&id)) {
        Ok(it) => HttpResponse::Ok().json(view(it)),
        Err(e) => ews_problem(&e),
    }
}

async fn edit(
    sim: web::Data<Sim>,
    path: web::Path<(String, String)>,
    body: serde_json::Value,
    replace: bool,
) -> HttpResponse {
    let (email, id) = path.into_inner();
    let patch: ContactData = match serde_json::from_value(body) {
        Ok(p) => p,
        Err(e) => return problem(400, "invalid", &e.to_string()),
    };
    let mut store = sim.store.lock().expect("store lock");
    match edit_contact(&mut store, &email, &id, &patch, replace) {
        Ok(_) => {
            let it = &mailbox(&store, &email).expect("exists").items[&id];
            HttpResponse::Ok().json(view(it))
        }
        Err(e) => ews_problem(&e),
    }
}

async fn patch_contact(
    sim: web::Data<Sim>,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    edit(sim, path, body.into_inner(), false).await
}

async fn put_contact(
    sim: web::Data<Sim>,
    path: web::Path<(String, String)>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    edit(sim, path, body.into_inner(), true).await
}

async fn delete_contact(sim: web::Data<Sim>, path: web::Path<(String, String)>) -> HttpResponse {
    let (email, id) = path.into_inner();
    let mut store = sim.store.lock().expect("store lock");
    match mailbox_mut(&mut store, &email)
        .and_then(|mb| mb.delete_item(&id, crate::store::DeleteType::HardDelete))
    {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(e) => ews_problem(&e),
    }
}

async fn list_faults(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.faults.lock().expect("faults lock").list())
}

async fn add_fault(sim: web::Data<Sim>, body: web::Json<serde_json::Value>) -> HttpResponse {
    match serde_json::from_value::<FaultRule>(body.into_inner()) {
        Ok(rule) => HttpResponse::Created().json(sim.faults.lock().expect("faults lock").add(rule)),
        Err(e) => problem(400, "invalid", &e.to_string()),
    }
}

async fn clear_faults(sim: web::Data<Sim>) -> HttpResponse {
    sim.faults.lock().expect("faults lock").clear();
    HttpResponse::NoContent().finish()
}

async fn delete_fault(sim: web::Data<Sim>, id: web::Path<u64>) -> HttpResponse {
    if sim.faults.lock().expect("faults lock").remove(*id) {
        HttpResponse::NoContent().finish()
    } else {
        problem(404, "not_found", "no fault rule with that id")
    }
}

async fn get_latency(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok()
        .json(json!({ "latency_ms": sim.latency_ms.load(std::sync::atomic::Ordering::Relaxed) }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    latency_ms: u64,
}

async fn put_latency(sim: web::Data<Sim>, body: web::Json<Latency>) -> HttpResponse {
    sim.latency_ms
        .store(body.latency_ms, std::sync::atomic::Ordering::Relaxed);
    HttpResponse::Ok().json(json!({ "latency_ms": body.latency_ms }))
}

async fn list_requests(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.requests.lock().expect("log lock").all())
}

async fn stats(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.requests.lock().expect("log lock").stats())
}

/// What `POST /_sim/churn` does to the Contacts folder of every mailbox, as the Exchange
/// users would: the oldest `deletes` items deleted, the next `edits` edited (a new job
/// title), `creates` new contacts with addresses no other mailbox has.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Churn {
    #[serde(default)]
    edits: usize,
    #[serde(default)]
    creates: usize,
    #[serde(default)]
    deletes: usize,
}

async fn churn(sim: web::Data<Sim>, body: web::Json<Churn>) -> HttpResponse {
    let body = body.into_inner();
    // Unique per call, so that every call's edits are changes and its creates new people.
    let round = chrono::Utc::now().timestamp_micros();
    let mut store = sim.store.lock().expect("store lock");
    let mut changed = 0usize;
    for mb in store.mailboxes.values_mut() {
        let Some(folder) = mb.folder_by_any("contacts").map(|f| f.id.clone()) else {
            continue;
        };
        let items: Vec<(String, ContactData)> = mb
            .items_in(&folder)
            .into_iter()
            .take(body.deletes + body.edits)
            .map(|i| (i.id.clone(), i.data.clone()))
            .collect();
        for (i, (id, data)) in items.into_iter().enumerate() {
            if i < body.deletes {
                if mb.delete_item(&id, DeleteType::HardDelete).is_ok() {
                    changed += 1;
                }
            } else {
                let mut data = data;
                data.job_title = Some(format!("Title {round}"));
                mb.write_item(&id, data);
                changed += 1;
            }
        }
        let local = mb.email.split('@').next().unwrap_or("m").to_owned();
        for k in 0..body.creates {
            let mut c = ContactData {
                given_name: Some(format!("New{k}")),
                surname: Some(format!("Person{round}")),
                display_name: Some(format!("New{k} Person{round}")),
                company_name: Some(format!("Company of {local}")),
                ..Default::default()
            };
            c.email_addresses.insert(
                "EmailAddress1".into(),
                format!("new{k}.{round}.{local}@churn.test"),
            );
            if mb.create_item(&FolderRef::Id(folder.clone()), c).is_ok() {
                changed += 1;
            }
        }
    }
    HttpResponse::Ok().json(json!({ "changed": changed }))
}

async fn clear_requests(sim: web::Data<Sim>) -> HttpResponse {
    sim.requests.lock().expect("log lock").clear();
    HttpResponse::NoContent().finish()
}
