//! Graph additions to the control API: `/_sim/graph/faults`, token revocation, whether
//! delta serves `$expand` (`/_sim/graph/delta-expand`), the Graph ids of a contact, and
//! moving a contact between folders as the Exchange user.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::faults::GraphFaultRule;
use super::ids;
use crate::state::Sim;
use crate::store::FolderRef;

/// Registers the routes (before the `/_sim` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sim/graph")
            .route("/faults", web::get().to(list_faults))
            .route("/faults", web::post().to(add_fault))
            .route("/faults", web::delete().to(clear_faults))
            .route("/faults/{id}", web::delete().to(delete_fault))
            .route("/tokens", web::delete().to(revoke_tokens))
            .route("/delta-expand", web::get().to(get_delta_expand))
            .route("/delta-expand", web::put().to(put_delta_expand))
            .route("/mailboxes/{email}/contacts/{id}", web::get().to(graph_ids)),
    )
    .route(
        "/_sim/mailboxes/{email}/contacts/{id}/move",
        web::post().to(move_contact),
    );
}

fn problem(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .json(json!({ "error": code, "message": message }))
}

async fn list_faults(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(sim.graph.faults.lock().expect("faults lock").list())
}

async fn add_fault(sim: web::Data<Sim>, body: web::Json<serde_json::Value>) -> HttpResponse {
    match serde_json::from_value::<GraphFaultRule>(body.into_inner()) {
        Ok(rule) => {
            HttpResponse::Created().json(sim.graph.faults.lock().expect("faults lock").add(rule))
        }
        Err(e) => problem(400, "invalid", &e.to_string()),
    }
}

async fn clear_faults(sim: web::Data<Sim>) -> HttpResponse {
    sim.graph.faults.lock().expect("faults lock").clear();
    HttpResponse::NoContent().finish()
}

async fn delete_fault(sim: web::Data<Sim>, id: web::Path<u64>) -> HttpResponse {
    if sim.graph.faults.lock().expect("faults lock").remove(*id) {
        HttpResponse::NoContent().finish()
    } else {
        problem(404, "not_found", "no Graph fault rule with that id")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeltaExpand {
    /// Delta serves `$expand` of extended properties (else: 400).
    served: bool,
}

async fn get_delta_expand(sim: web::Data<Sim>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "served": sim.graph.delta_expand() }))
}

async fn put_delta_expand(sim: web::Data<Sim>, body: web::Json<DeltaExpand>) -> HttpResponse {
    sim.graph
        .delta_expand_refused
        .store(!body.served, std::sync::atomic::Ordering::Relaxed);
    HttpResponse::Ok().json(json!({ "served": body.served }))
}

async fn revoke_tokens(sim: web::Data<Sim>) -> HttpResponse {
    sim.graph.tokens.lock().expect("tokens lock").revoke_all();
    HttpResponse::NoContent().finish()
}

/// The Graph ids (REST and immutable) of a contact named by its EWS ItemId.
async fn graph_ids(sim: web::Data<Sim>, path: web::Path<(String, String)>) -> HttpResponse {
    let (email, id) = path.into_inner();
    let store = sim.store.lock().expect("store lock");
    let Some(mb) = store.mailbox(&email) else {
        return problem(404, "ErrorNonExistentMailbox", "no such mailbox");
    };
    match mb.item(&id) {
        Ok(it) => HttpResponse::Ok().json(json!({
            "ews_id": it.id,
            "rest_id": ids::item_id(mb, it, false),
            "immutable_id": ids::item_id(mb, it, true),
            "parent_folder_id": mb.folders.get(&it.folder_id).map(|f| ids::folder_id(mb, f)),
        })),
        Err(e) => problem(404, &e.code, &e.message),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveTo {
    /// Folder id, distinguished name or display-name path.
    folder: String,
}

async fn move_contact(
    sim: web::Data<Sim>,
    path: web::Path<(String, String)>,
    body: web::Json<MoveTo>,
) -> HttpResponse {
    let (email, id) = path.into_inner();
    let mut store = sim.store.lock().expect("store lock");
    let Some(mb) = store.mailbox_mut(&email) else {
        return problem(404, "ErrorNonExistentMailbox", "no such mailbox");
    };
    let Some(target) = mb.folder_by_any(&body.folder).map(|f| f.id.clone()) else {
        return problem(404, "ErrorFolderNotFound", "no such folder");
    };
    match mb.move_item(&id, &FolderRef::Id(target)) {
        Ok((new_id, change_key)) => {
            let it = &mb.items[&new_id];
            HttpResponse::Ok().json(json!({
                "id": new_id, "change_key": change_key,
                "rest_id": ids::item_id(mb, it, false),
                "immutable_id": ids::item_id(mb, it, true),
            }))
        }
        Err(e) => problem(404, &e.code, &e.message),
    }
}
