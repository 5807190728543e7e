//! The contact sync profile of a mailbox and the field map.
use actix_web::{HttpResponse, get, put, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

use super::error::ApiResult;
use super::extract::{IfMatch, Json, RecordId, etag};
use super::{AppState, CurrentUser};
use crate::domain::ValidationErrors;
use crate::domain::profile::{ContactSyncProfile, FIELDS, FieldSpec, ImportScope};
use crate::transport::{self, ExchangeContacts, Purpose};

/// The field map.
#[derive(Serialize, ToSchema)]
pub struct FieldMap {
    pub items: Vec<FieldSpec>,
}

/// The sync profile (defaults until first saved; ETag `"0"` then).
#[utoipa::path(operation_id = "get_contact_sync_profile", tag = "contact-sync", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "mailbox id")),
    responses((status = 200, description = "The profile", body = ContactSyncProfile, headers(("ETag" = String, description = "the version, for `If-Match` (`\"0\"` until first saved)")))))]
#[get("/mailboxes/{id}/contact-sync")]
async fn get_profile(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let (profile, version) = state.store.get_profile(&user.0, id.0).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(version)))
        .json(profile))
}

/// Replaces the sync profile; absent settings take their defaults. Each bad field is
/// named; Exchange folder ids are checked against the mailbox when it can be reached.
#[utoipa::path(operation_id = "put_contact_sync_profile", tag = "contact-sync", security(("bearer" = [])), request_body = ContactSyncProfile,
    params(("id" = uuid::Uuid, Path, description = "mailbox id"),
        ("If-Match" = Option<String>, Header, description = "the ETag last read")),
    responses((status = 200, description = "The profile, saved", body = ContactSyncProfile, headers(("ETag" = String, description = "the new version"))),
        (status = 422, description = "A setting breaks a rule; `errors` names each")))]
#[put("/mailboxes/{id}/contact-sync")]
async fn put_profile(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    if_match: IfMatch,
    body: Json<ContactSyncProfile>,
) -> ApiResult<HttpResponse> {
    let profile = body.0;
    exchange_folder_problems(&state, &user.0, id.0, &profile)
        .await?
        .into_result()?;
    let (profile, version) = state
        .store
        .put_profile(&user.0, id.0, profile, if_match.0)
        .await?;
    // Saving the profile resumes a suspended automatic sync and reschedules it.
    state.store.profile_saved(id.0, chrono::Utc::now()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("ETag", etag(version)))
        .json(profile))
}

/// Checks the Exchange folder ids of a profile against the mailbox's folders; answers
/// the ids no folder has. An unreachable mailbox is not a reason to refuse a profile: the
/// first run reports it.
pub(super) async fn exchange_folder_problems(
    state: &AppState,
    caller: &crate::domain::Caller,
    mailbox_id: uuid::Uuid,
    profile: &ContactSyncProfile,
) -> ApiResult<ValidationErrors> {
    let mut errors = ValidationErrors::default();
    let wanted_import =
        profile.import.scope == ImportScope::Folders && !profile.import.folder_ids.is_empty();
    if !wanted_import && profile.export.target_folder_id.is_none() {
        return Ok(errors);
    }
    let conn = state
        .store
        .mailbox_connection(&state.secrets, caller, mailbox_id)
        .await?;
    // The check is a courtesy: a caller already waiting on Exchange saves unchecked.
    let Ok(_slot) = state.interactive_calls.acquire(&caller.user_id) else {
        return Ok(errors);
    };
    let folders = match transport::open(
        &conn,
        &state.settings.ews_allowed_hosts,
        Purpose::Interactive,
    )
    .await
    {
        Ok(t) => t.contact_folders().await,
        Err(e) => Err(e),
    };
    let folders = match folders {
        Ok(f) => f,
        Err(e) => {
            tracing::info!(mailbox = %mailbox_id, error = %e, "profile accepted without checking Exchange folder ids");
            return Ok(errors);
        }
    };
    let known: Vec<&str> = folders.iter().flat_map(|f| f.ids()).collect();
    if wanted_import {
        for (i, id) in profile.import.folder_ids.iter().enumerate() {
            if !known.contains(&id.as_str()) {
                errors.add(
                    format!("import.folder_ids[{i}]"),
                    "no contacts folder of this mailbox has this id",
                );
            }
        }
    }
    if let Some(t) = &profile.export.target_folder_id
        && !known.contains(&t.as_str())
    {
        errors.add(
            "export.target_folder_id",
            "no contacts folder of this mailbox has this id",
        );
    }
    Ok(errors)
}

/// The field map with default directions (profiles override per field).
#[utoipa::path(operation_id = "list_contact_sync_fields", tag = "contact-sync", security(("bearer" = [])),
    responses((status = 200, description = "Every mapped field with its default direction", body = FieldMap)))]
#[get("/contact-sync/fields")]
async fn fields(_user: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(FieldMap {
        items: FIELDS.to_vec(),
    })
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(get_profile)
        .service(put_profile)
        .service(fields);
}
