//! Sync runs: "Synchronize now", the run queue as the owner sees it, live events, and
//! the per-mailbox sync status.
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, Responder, get, post, web};
use actix_web_lab::sse;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

use super::contact_sync::exchange_folder_problems;
use super::error::{ApiError, ApiResult, ErrorCode};
use super::extract::{OptionalJson, Query, RecordId};
use super::pagination::{Page, page_request};
use super::{AppState, CurrentUser};
use crate::domain::ValidationErrors;
use crate::domain::profile::ContactSyncProfile;
use crate::domain::run::{ItemOutcome, Run, RunItem, RunMode, RunStatus, Trigger};
use crate::domain::schedule::SyncStatus;
use crate::store::Store;
use crate::store::runs::{Enqueued, NewRun, RunFilter};
use crate::worker::events::{RunEvent, RunEvents};

/// The header that makes a "Synchronize now" safe to retry.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// How often an event stream rereads the run, for runs executed by another process.
const STREAM_POLL: Duration = Duration::from_secs(2);

/// Options of a run; every field is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RunOptions {
    /// Which directions to write (default `two_way`; the profile still decides what is
    /// enabled).
    pub mode: RunMode,
    /// Plan and report without writing anything.
    pub dry_run: bool,
    /// Ignore saved sync states and reconcile everything.
    pub full: bool,
    /// With `dry_run`: an unsaved profile to preview (what saving it would do), checked
    /// like a profile save. Per mailbox only.
    pub profile: Option<ContactSyncProfile>,
}

/// One mailbox's answer to `POST /contact-sync/runs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunStarted {
    /// False when the mailbox already had an active run (it is returned instead).
    pub created: bool,
    pub run: Run,
}

/// The runs started (or already active) for every mailbox of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunsStarted {
    pub items: Vec<RunStarted>,
}

/// One event of a run's stream as an event-stream parser gives it (OpenAPI 3.1 describes
/// a stream by its events). Only the document uses this type: the stream is written by
/// `actix_web_lab::sse`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RunStreamEvent {
    event: RunStreamEventName,
    /// JSON: the `Run` (`state`, `end`), its counts (`progress`), a `RunItem` (`item`) or
    /// `{"notice": "..."}` (`notice`: the run's notice, when it has one to give).
    data: String,
}

/// The names of a run's events.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum RunStreamEventName {
    State,
    Progress,
    Item,
    Notice,
    End,
}

/// Query of `GET /contact-sync/runs`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only runs of this mailbox.
    pub mailbox_id: Option<Uuid>,
    /// Only runs in this state.
    #[param(inline)]
    pub status: Option<RunStatus>,
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Query of `GET /contact-sync/runs/{id}/items`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ItemsQuery {
    /// Only items with this outcome.
    #[param(inline)]
    pub outcome: Option<ItemOutcome>,
    /// Opaque cursor from `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

fn idempotency_key(req: &HttpRequest) -> ApiResult<Option<String>> {
    let Some(v) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if (1..=200).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(ApiError::field(
            ErrorCode::ValidationFailed,
            IDEMPOTENCY_KEY,
            "must be 1 to 200 visible ASCII characters",
        )),
    }
}

fn new_run(o: RunOptions, key: Option<String>) -> NewRun {
    NewRun {
        mode: o.mode,
        dry_run: o.dry_run,
        full: o.full,
        trigger: Trigger::Manual,
        idempotency_key: key,
        profile: o.profile,
    }
}

/// Checks the unsaved profile a dry run previews as a profile save would (its rules, its
/// CRM references, its Exchange folder ids); each problem names its field under
/// `profile.`.
async fn check_preview(
    state: &AppState,
    caller: &crate::domain::Caller,
    mailbox_id: Uuid,
    o: &RunOptions,
) -> ApiResult<()> {
    let Some(profile) = &o.profile else {
        return Ok(());
    };
    if !o.dry_run {
        return Err(ApiError::field(
            ErrorCode::ValidationFailed,
            "profile",
            "only a dry run previews an unsaved profile (`dry_run: true`)",
        ));
    }
    let mut problems = state
        .store
        .profile_problems(caller, mailbox_id, profile)
        .await?;
    problems.0.extend(
        exchange_folder_problems(state, caller, mailbox_id, profile)
            .await?
            .0,
    );
    let mut errors = ValidationErrors::default();
    for e in problems.0 {
        errors.add(format!("profile.{}", e.field), e.message);
    }
    errors.into_result()?;
    Ok(())
}

fn run_path(id: Uuid) -> String {
    format!("/api/v1/contact-sync/runs/{id}")
}

/// "Synchronize now": queues a run of the mailbox. One run per mailbox may be queued or
/// running; a second request answers 409 with `active_run_id`. A retry with the same
/// `Idempotency-Key` answers the run the key created.
#[utoipa::path(operation_id = "start_run", tag = "contact-sync", security(("bearer" = [])), request_body(content = Option<RunOptions>),
    params(("id" = Uuid, Path, description = "mailbox id"),
        ("Idempotency-Key" = Option<String>, Header, description = "makes retries safe: the same key answers the same run")),
    responses((status = 202, description = "The run, queued (or the run an `Idempotency-Key` created before)", body = Run, headers(("Location" = String, description = "the run"))),
        (status = 409, description = "A run is active; `active_run_id` names it"),
        (status = 422, description = "A bad `Idempotency-Key`, or an unsaved `profile` that a save would refuse (each field named under `profile.`), or sent without `dry_run`")))]
#[post("/mailboxes/{id}/contact-sync/runs")]
async fn start_run(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    req: HttpRequest,
    body: OptionalJson<RunOptions>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    let options = body.0.unwrap_or_default();
    check_preview(&state, &user.0, id.0, &options).await?;
    let Enqueued { run, created } = state
        .store
        .enqueue_run(&user.0, id.0, new_run(options, key), chrono::Utc::now())
        .await?;
    if created {
        state.events.wake_workers();
    }
    let mut res = HttpResponse::Accepted();
    res.insert_header(("Location", run_path(run.id)));
    if !created {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    Ok(res.json(run))
}

/// "Synchronize contacts → Synchronize now" for every mailbox of the caller: a new run
/// each, or the run already active.
#[utoipa::path(operation_id = "start_all_runs", tag = "contact-sync", security(("bearer" = [])), request_body(content = Option<RunOptions>),
    params(("Idempotency-Key" = Option<String>, Header, description = "makes retries safe, per mailbox")),
    responses((status = 202, description = "A run per mailbox of the caller", body = RunsStarted), (status = 422, description = "A bad `Idempotency-Key`, or a `profile` (previewed per mailbox only)")))]
#[post("/contact-sync/runs")]
async fn start_all_runs(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    body: OptionalJson<RunOptions>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    let options = body.0.unwrap_or_default();
    if options.profile.is_some() {
        // Exchange folder ids belong to one mailbox.
        return Err(ApiError::field(
            ErrorCode::ValidationFailed,
            "profile",
            "a profile is previewed per mailbox: POST /mailboxes/{id}/contact-sync/runs",
        ));
    }
    let runs = state
        .store
        .enqueue_all(&user.0, new_run(options, key), chrono::Utc::now())
        .await?;
    if runs.iter().any(|r| r.created) {
        state.events.wake_workers();
    }
    let items = runs
        .into_iter()
        .map(|e| RunStarted {
            created: e.created,
            run: e.run,
        })
        .collect();
    Ok(HttpResponse::Accepted().json(RunsStarted { items }))
}

/// Runs of the caller's mailboxes (every run for an administrator), oldest first.
#[utoipa::path(operation_id = "list_runs", tag = "contact-sync", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, description = "A page of the runs of the caller's mailboxes", body = Page<Run>)))]
#[get("/contact-sync/runs")]
async fn list_runs(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let filter = RunFilter {
        mailbox_id: q.mailbox_id,
        status: q.status,
    };
    let slice = state.store.list_runs(&user.0, filter, page).await?;
    Ok(HttpResponse::Ok().json(Page::from(slice)))
}

/// One run.
#[utoipa::path(operation_id = "get_run", tag = "contact-sync", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "run id")),
    responses((status = 200, description = "The run", body = Run)))]
#[get("/contact-sync/runs/{id}")]
async fn get_run(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.store.get_run(&user.0, id.0).await?))
}

/// The item outcomes of a run, in order (`before` keeps CRM values sync overwrote).
#[utoipa::path(operation_id = "list_run_items", tag = "contact-sync", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "run id"), ItemsQuery),
    responses((status = 200, description = "A page of the run's items", body = Page<RunItem>)))]
#[get("/contact-sync/runs/{id}/items")]
async fn list_items(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
    query: Query<ItemsQuery>,
) -> ApiResult<HttpResponse> {
    let q = query.0;
    let page = page_request(q.cursor.as_deref(), q.limit)?;
    let slice = state
        .store
        .list_run_items(&user.0, id.0, q.outcome, page)
        .await?;
    Ok(HttpResponse::Ok().json(Page::from(slice)))
}

/// Cancels a run: a queued run at once; a running one stops at its next batch (what
/// was applied stays applied). A finished run answers 409.
#[utoipa::path(operation_id = "cancel_run", tag = "contact-sync", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "run id")),
    responses((status = 200, description = "The run, cancelled or asked to stop", body = Run), (status = 409, description = "The run has finished")))]
#[post("/contact-sync/runs/{id}/cancel")]
async fn cancel_run(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    let run = state
        .store
        .cancel_run(&user.0, id.0, chrono::Utc::now())
        .await?;
    Ok(HttpResponse::Ok().json(run))
}

/// Server-Sent Events of a run: `state` (the run now), then `progress` (counts), `item`
/// (one outcome) and `notice` (what the run wants its watcher to know) as they happen,
/// and `end` (the final run); then the stream closes. A finished run answers `state` and `end` at once.
#[utoipa::path(operation_id = "run_events", tag = "contact-sync", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "run id")),
    responses((status = 200, content_type = "text/event-stream", body = RunStreamEvent,
        description = "events `state`, `progress`, `item`, `notice`, `end`; each `data` is JSON"),
        (status = 429, description = "The caller already holds `max_event_streams_per_user` live event streams")))]
#[get("/contact-sync/runs/{id}/events")]
async fn run_events(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<impl Responder> {
    // Subscribe before reading the state, so that nothing falls between the two.
    let rx = state.events.subscribe(id.0);
    let run = match state.store.get_run(&user.0, id.0).await {
        Ok(run) => run,
        Err(e) => {
            drop(rx);
            state.events.forget_if_unused(id.0);
            return Err(e.into());
        }
    };
    // Held by the stream's task until the stream ends or the client leaves.
    let slot = match state.event_streams.acquire(&user.0.user_id) {
        Ok(slot) => slot,
        Err(e) => {
            drop(rx);
            state.events.forget_if_unused(id.0);
            return Err(e);
        }
    };
    let (tx, out) = mpsc::channel(64);
    actix_web::rt::spawn(stream_run(
        state.store.clone(),
        state.events.clone(),
        run,
        rx,
        tx,
        slot,
    ));
    Ok(sse::Sse::from_infallible_receiver(out).with_keep_alive(Duration::from_secs(15)))
}

fn event(name: &'static str, value: &impl Serialize) -> sse::Event {
    let data = sse::Data::new_json(value).unwrap_or_else(|_| sse::Data::new("null"));
    data.event(name).into()
}

/// Feeds one client: the state, the live events of this process, and a periodic reread
/// of the run that catches runs executed by another process.
async fn stream_run(
    store: Store,
    events: RunEvents,
    run: Run,
    rx: broadcast::Receiver<RunEvent>,
    tx: mpsc::Sender<sse::Event>,
    slot: super::quota::Slot,
) {
    let run_id = run.id;
    follow(&store, run, rx, &tx).await;
    events.forget_if_unused(run_id);
    drop(slot);
}

async fn follow(
    store: &Store,
    run: Run,
    rx: broadcast::Receiver<RunEvent>,
    tx: &mpsc::Sender<sse::Event>,
) {
    if tx.send(event("state", &run)).await.is_err() {
        return;
    }
    if !run.status.is_active() {
        let _ = tx.send(event("end", &run)).await;
        return;
    }
    let mut rx = Some(rx);
    let mut last_counts = run.counts;
    let mut poll = tokio::time::interval(STREAM_POLL);
    poll.tick().await;
    loop {
        let live = async {
            match rx.as_mut() {
                Some(r) => r.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = live => match ev {
                Ok(RunEvent::Progress(c)) => {
                    last_counts = c;
                    if tx.send(event("progress", &c)).await.is_err() { return; }
                }
                Ok(RunEvent::Item(i)) => {
                    if tx.send(event("item", &i)).await.is_err() { return; }
                }
                Ok(RunEvent::Notice(n)) => {
                    if tx.send(event("notice", &serde_json::json!({"notice": n}))).await.is_err() { return; }
                }
                Ok(RunEvent::End(r)) => {
                    let _ = tx.send(event("end", &r)).await;
                    return;
                }
                // A slow client missed some events; the reread keeps counts and the end true.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => rx = None,
            },
            _ = poll.tick() => {
                let Ok(now) = store.run_by_id(run.id).await else { return };
                if !now.status.is_active() {
                    let _ = tx.send(event("end", &now)).await;
                    return;
                }
                if now.counts != last_counts {
                    last_counts = now.counts;
                    if tx.send(event("progress", &now.counts)).await.is_err() { return; }
                }
            }
            _ = tx.closed() => return,
        }
    }
}

/// The sync status of a mailbox: automatic sync, next due time, failures in a row,
/// suspension, the active run and the last finished one.
#[utoipa::path(operation_id = "get_sync_status", tag = "contact-sync", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "mailbox id")),
    responses((status = 200, description = "The sync status", body = SyncStatus)))]
#[get("/mailboxes/{id}/contact-sync/status")]
async fn sync_status(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: RecordId,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(state.store.sync_status(&user.0, id.0).await?))
}

/// Registers the routes of this module.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start_run)
        .service(start_all_runs)
        .service(list_runs)
        .service(get_run)
        .service(list_items)
        .service(cancel_run)
        .service(run_events)
        .service(sync_status);
}
