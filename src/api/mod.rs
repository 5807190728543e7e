//! The HTTP API: one module per resource, each with `configure` and its OpenAPI paths.
pub mod accounts;
pub mod contact_sync;
pub mod contact_types;
pub mod contacts;
pub mod error;
pub mod extract;
pub mod folders;
pub mod health;
pub mod mailboxes;
pub mod me;
pub mod notifications;
pub mod pagination;
pub mod quota;
pub mod rendered;
pub mod responses;
pub mod runs;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use crate::auth::{AuthError, JwtVerifier};
use crate::config::Settings;
use crate::crypto::SecretBox;
use crate::domain::Caller;
use crate::store::Store;
use crate::worker::events::RunEvents;
use error::{ApiError, ErrorCode};

/// What every handler shares.
pub struct AppState {
    pub store: Store,
    pub verifier: JwtVerifier,
    pub settings: Settings,
    /// Seals and opens mailbox secrets.
    pub secrets: SecretBox,
    /// Live run events of this process's workers, and the bell that wakes them.
    pub events: RunEvents,
    /// Users already upserted by this process, with the name and role last written, so
    /// that a request writes the users table only when something changed.
    seen_users: Mutex<HashMap<String, (String, bool)>>,
    /// Live event streams held open, per user.
    pub event_streams: quota::UserSlots,
    /// Calls to Exchange a user is waiting on (`/test`, `/exchange-folders`, profile checks).
    pub interactive_calls: quota::UserSlots,
    /// Listed records rendered, by version.
    pub rendered: rendered::Listings,
}

impl AppState {
    /// Bundles the shared parts.
    pub fn new(
        store: Store,
        verifier: JwtVerifier,
        secrets: SecretBox,
        settings: Settings,
    ) -> AppState {
        AppState {
            store,
            verifier,
            secrets,
            events: RunEvents::default(),
            seen_users: Mutex::new(HashMap::new()),
            event_streams: quota::UserSlots::new(
                "live event streams",
                settings.max_event_streams_per_user,
            ),
            interactive_calls: quota::UserSlots::new(
                "Exchange calls (connection tests, folder trees)",
                settings.max_interactive_calls_per_user,
            ),
            rendered: rendered::Listings::default(),
            settings,
        }
    }
}

impl AppState {
    /// Shares `events` with the workers of this process.
    pub fn with_events(mut self, events: RunEvents) -> AppState {
        self.events = events;
        self
    }
}

/// The authenticated caller, extracted from `Authorization: Bearer <JWT>`.
pub struct CurrentUser(pub Caller);

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::new(ErrorCode::Internal, "no app state"))?;
            let claims = state
                .verifier
                .verify_header(header.as_deref())
                .map_err(|e| {
                    let detail = match e {
                        AuthError::Missing => "send Authorization: Bearer <JWT>".to_owned(),
                        AuthError::Invalid(why) => why,
                    };
                    ApiError::new(ErrorCode::Unauthorized, detail)
                })?;
            let caller = claims.caller();
            // With the request id of the enclosing span, this ties a request to its caller.
            tracing::debug!(user = %caller.user_id, admin = caller.is_admin, "caller authenticated");
            let name = claims
                .name
                .clone()
                .unwrap_or_else(|| caller.user_id.clone());
            let known = state
                .seen_users
                .lock()
                .expect("seen users lock")
                .get(&caller.user_id)
                .is_some_and(|(n, a)| *n == name && *a == caller.is_admin);
            if !known {
                state
                    .store
                    .upsert_user(&caller, &name)
                    .await
                    .map_err(|e| ApiError::from(crate::store::StoreError::Db(e)))?;
                state
                    .seen_users
                    .lock()
                    .expect("seen users lock")
                    .insert(caller.user_id.clone(), (name, caller.is_admin));
            }
            Ok(CurrentUser(caller))
        })
    }
}
