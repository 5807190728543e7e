//! Mailboxes and their contact sync profiles. Mailboxes are visible to their owner and
//! administrators only; secrets are sealed before they reach the database.
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use super::entities::{
    contact_folders, contact_links, contact_sync_profiles, contact_types, folder_sync_states,
    mailboxes,
};
use super::grants::{self, RecordKind};
use super::{PageRequest, Slice, Store, StoreError, StoreResult, check_version, new_id};
use crate::crypto::SecretBox;
use crate::domain::ValidationErrors;
use crate::domain::access::{Caller, owner_for_new};
use crate::domain::mailbox::{
    AuthPublic, AuthWrite, DEFAULT_SERVER_VERSION, GraphPublic, Mailbox, MailboxStatus,
    MailboxTransport, MailboxWrite, SecretUse, secret_destination, secret_destination_changes,
    validate_basics, validate_endpoint_url, validate_ews_url,
};
use crate::domain::profile::{ContactSyncProfile, ExportScope};

/// What the transport needs to reach a mailbox: the decrypted credentials included.
#[derive(Clone)]
pub struct MailboxConnection {
    pub id: Uuid,
    pub owner_id: String,
    pub email: String,
    pub ews_url: String,
    pub server_version: String,
    pub impersonate: bool,
    pub auth: AuthPublic,
    pub transport: MailboxTransport,
    /// The Graph settings, for transport `graph`.
    pub graph: Option<GraphPublic>,
    /// After a switch of transport: the one whose folder ids the profile still holds.
    pub carry_over_from: Option<MailboxTransport>,
    /// The EWS password, token or client secret, or Graph's client secret or private key.
    pub secret: String,
}

impl MailboxConnection {
    /// The mailbox on Microsoft Graph: `graph.user`, else the mailbox's address.
    pub fn graph_user(&self) -> &str {
        self.graph
            .as_ref()
            .and_then(|g| g.user.as_deref())
            .unwrap_or(&self.email)
    }
}

impl std::fmt::Debug for MailboxConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxConnection")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("transport", &self.transport)
            .field("ews_url", &self.ews_url)
            .field("auth", &self.auth.kind)
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

fn graph_public(m: &mailboxes::Model) -> Option<GraphPublic> {
    m.graph_public
        .as_deref()
        .and_then(|g| serde_json::from_str(g).ok())
}

fn to_mailbox(m: mailboxes::Model) -> Mailbox {
    let transport = MailboxTransport::parse(&m.transport);
    let ews = transport == MailboxTransport::Ews;
    Mailbox {
        id: m.id,
        transport,
        graph: graph_public(&m).filter(|_| !ews),
        auth: ews.then(|| serde_json::from_str(&m.auth_public).unwrap_or_default()),
        ews_url: ews.then(|| m.ews_url.clone()),
        owner_id: m.owner_id,
        email: m.email,
        display_name: m.display_name,
        impersonate: m.impersonate,
        server_version: m.server_version,
        status: MailboxStatus::parse(&m.status),
        status_reason: m.status_reason,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

fn owned_by(caller: &Caller) -> Condition {
    if caller.is_admin {
        Condition::all()
    } else {
        Condition::all().add(mailboxes::Column::OwnerId.eq(caller.user_id.clone()))
    }
}

async fn find_owned(
    db: &impl ConnectionTrait,
    caller: &Caller,
    id: Uuid,
) -> StoreResult<mailboxes::Model> {
    mailboxes::Entity::find_by_id(id)
        .filter(owned_by(caller))
        .one(db)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Decrypts a mailbox row's secret into connection settings.
fn open_connection(secrets: &SecretBox, m: mailboxes::Model) -> StoreResult<MailboxConnection> {
    let secret = secrets.open(&m.auth_secret, m.id.as_bytes()).map_err(|e| {
        StoreError::Invalid(ValidationErrors::one(
            "auth",
            format!("{e}; set the credentials again"),
        ))
    })?;
    Ok(MailboxConnection {
        id: m.id,
        transport: MailboxTransport::parse(&m.transport),
        graph: graph_public(&m),
        carry_over_from: m.carry_over_from.as_deref().map(MailboxTransport::parse),
        auth: serde_json::from_str(&m.auth_public).unwrap_or_default(),
        owner_id: m.owner_id,
        email: m.email,
        ews_url: m.ews_url,
        server_version: m.server_version,
        impersonate: m.impersonate,
        secret,
    })
}

/// The EWS credentials of a new mailbox, checked: the public part and the secret.
fn ews_credentials(
    auth: Option<AuthWrite>,
    allowed_hosts: &[String],
    errors: &mut ValidationErrors,
) -> (AuthPublic, Option<String>) {
    let Some(a) = auth else {
        errors.add("auth", "required");
        return (AuthPublic::default(), None);
    };
    let (public, secret) = a.split();
    public.validate(errors);
    if secret.as_deref().is_none_or(|s| s.is_empty()) {
        errors.add(public.secret_field(), "required");
    }
    if let Some(url) = &public.token_url {
        validate_endpoint_url("auth.token_url", url, allowed_hosts, errors);
    }
    (public, secret)
}

/// EWS settings sent for a Graph mailbox: refused by name, never silently dropped.
fn refuse_ews_settings(
    ews_url: &Option<String>,
    auth: &Option<AuthWrite>,
    impersonate: Option<bool>,
    errors: &mut ValidationErrors,
) {
    if ews_url.is_some() {
        errors.add("ews_url", "only for transport `ews`");
    }
    if auth.is_some() {
        errors.add("auth", "only for transport `ews`");
    }
    if impersonate == Some(true) {
        errors.add(
            "impersonate",
            "only for transport `ews` (a Graph app acts on every mailbox it may)",
        );
    }
}

async fn email_taken(
    db: &impl ConnectionTrait,
    owner: &str,
    email: &str,
    except: Option<Uuid>,
) -> StoreResult<bool> {
    let mut q = mailboxes::Entity::find()
        .filter(mailboxes::Column::OwnerId.eq(owner))
        .filter(mailboxes::Column::Email.eq(email));
    if let Some(id) = except {
        q = q.filter(mailboxes::Column::Id.ne(id));
    }
    Ok(q.one(db).await?.is_some())
}

impl Store {
    /// Mailboxes of the caller (all of them for an administrator).
    pub async fn list_mailboxes(
        &self,
        caller: &Caller,
        page: PageRequest,
    ) -> StoreResult<Slice<Mailbox>> {
        let mut cond = owned_by(caller);
        if let Some(after) = page.after {
            cond = cond.add(mailboxes::Column::Id.gt(after));
        }
        let rows = mailboxes::Entity::find()
            .filter(cond)
            .order_by_asc(mailboxes::Column::Id)
            .limit(page.limit + 1)
            .all(&self.db)
            .await?;
        let slice = Slice::from_overfetch(rows, page.limit, |m| m.id);
        Ok(Slice {
            items: slice.items.into_iter().map(to_mailbox).collect(),
            next_after: slice.next_after,
        })
    }

    /// One mailbox of the caller.
    pub async fn get_mailbox(&self, caller: &Caller, id: Uuid) -> StoreResult<Mailbox> {
        Ok(to_mailbox(find_owned(&self.db, caller, id).await?))
    }

    /// Connects a mailbox; the secret is sealed with the mailbox id as associated data.
    pub async fn create_mailbox(
        &self,
        secrets: &SecretBox,
        caller: &Caller,
        w: MailboxWrite,
        allowed_hosts: &[String],
        quota: impl Fn(&str) -> u32,
    ) -> StoreResult<Mailbox> {
        let owner = owner_for_new(caller, w.owner_id.as_deref())?;
        let mut errors = ValidationErrors::default();
        let email = w.email.unwrap_or_default().trim().to_lowercase();
        let display_name = w.display_name.unwrap_or_default().trim().to_owned();
        let server_version = w
            .server_version
            .unwrap_or_else(|| DEFAULT_SERVER_VERSION.to_owned());
        validate_basics(&email, &display_name, &server_version, &mut errors);
        let transport = w.transport.unwrap_or_default();
        let mut ews_url = String::new();
        let mut auth = AuthPublic::default();
        let mut graph = None;
        let secret = match transport {
            MailboxTransport::Ews => {
                if w.graph.is_some() {
                    errors.add("graph", "only for transport `graph`");
                }
                ews_url = w.ews_url.unwrap_or_default().trim().to_owned();
                validate_ews_url(&ews_url, allowed_hosts, &mut errors);
                let (public, secret) = ews_credentials(w.auth, allowed_hosts, &mut errors);
                auth = public;
                secret
            }
            MailboxTransport::Graph => {
                refuse_ews_settings(&w.ews_url, &w.auth, w.impersonate, &mut errors);
                let Some(g) = w.graph else {
                    errors.add("graph", "required for transport `graph`");
                    return Err(StoreError::Invalid(errors));
                };
                let (public, secret) = g.split(None, allowed_hosts, &mut errors);
                if secret.is_none() {
                    errors.add(public.secret_field(), "required");
                }
                graph = Some(public);
                secret
            }
        };
        let secret = secret.unwrap_or_default();
        let txn = self.write_txn().await?;
        if errors.0.is_empty() && email_taken(&txn, &owner, &email, None).await? {
            errors.add("email", "this mailbox is already connected");
        }
        errors.into_result()?;
        // Counted under a lock, so two creations at once cannot both pass: SQLite's
        // IMMEDIATE transaction already holds the write lock; PostgreSQL takes one per owner.
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                [format!("mailboxes:{owner}").into()],
            ))
            .await?;
        }
        let limit = quota(&owner);
        let held = mailboxes::Entity::find()
            .filter(mailboxes::Column::OwnerId.eq(owner.as_str()))
            .count(&txn)
            .await?;
        if held >= u64::from(limit) {
            return Err(StoreError::QuotaExceeded(format!(
                "{owner} already has {held} mailboxes, the most a user may connect ({limit}; max_mailboxes_per_user)"
            )));
        }
        let id = new_id();
        let now = Utc::now();
        let row = mailboxes::ActiveModel {
            id: Set(id),
            owner_id: Set(owner),
            email: Set(email),
            display_name: Set(display_name),
            ews_url: Set(ews_url),
            auth_kind: Set(auth.kind.clone()),
            auth_public: Set(serde_json::to_string(&auth).expect("auth serializes")),
            auth_secret: Set(secrets.seal(&secret, id.as_bytes())),
            impersonate: Set(w.impersonate.unwrap_or(false)),
            server_version: Set(server_version),
            status: Set(MailboxStatus::Active.as_str().to_owned()),
            status_reason: Set(None),
            version: Set(1),
            transport: Set(transport.as_str().to_owned()),
            graph_public: Set(graph.map(|g| serde_json::to_string(&g).expect("graph serializes"))),
            carry_over_from: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        let m = mailboxes::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(to_mailbox(m))
    }

    /// Changes the fields given; credentials of the same kind keep secrets not resent.
    pub async fn update_mailbox(
        &self,
        secrets: &SecretBox,
        caller: &Caller,
        id: Uuid,
        w: MailboxWrite,
        if_match: Option<i32>,
        allowed_hosts: &[String],
    ) -> StoreResult<Mailbox> {
        let txn = self.write_txn().await?;
        let m = find_owned(&txn, caller, id).await?;
        check_version(if_match, m.version)?;
        let mut errors = ValidationErrors::default();
        if w.owner_id.as_deref().is_some_and(|o| o != m.owner_id) {
            errors.add("owner_id", "the owner of a mailbox cannot change");
        }
        let email = w
            .email
            .map(|e| e.trim().to_lowercase())
            .unwrap_or(m.email.clone());
        let display_name = w
            .display_name
            .map(|d| d.trim().to_owned())
            .unwrap_or(m.display_name.clone());
        let server_version = w.server_version.unwrap_or(m.server_version.clone());
        validate_basics(&email, &display_name, &server_version, &mut errors);
        let old_transport = MailboxTransport::parse(&m.transport);
        let transport = w.transport.unwrap_or(old_transport);
        let switched = transport != old_transport;
        let old_auth: AuthPublic = serde_json::from_str(&m.auth_public).unwrap_or_default();
        let old_graph = graph_public(&m);
        let destination_before = secret_destination(SecretUse {
            transport: old_transport,
            email: &m.email,
            ews_url: &m.ews_url,
            impersonate: m.impersonate,
            auth: &old_auth,
            graph: old_graph.as_ref(),
        });
        let mut ews_url = m.ews_url.clone();
        let impersonate;
        let mut auth = old_auth.clone();
        let mut graph = old_graph.clone();
        let (sealed, secret_field) = match transport {
            MailboxTransport::Ews => {
                if w.graph.is_some() {
                    errors.add("graph", "only for transport `graph`");
                }
                if let Some(u) = w.ews_url {
                    ews_url = u.trim().to_owned();
                }
                validate_ews_url(&ews_url, allowed_hosts, &mut errors);
                impersonate = w.impersonate.unwrap_or(m.impersonate);
                let sealed = match w.auth {
                    // The stored secret is Graph's: EWS needs its own.
                    None if switched => {
                        errors.add("auth", "required when the transport changes to `ews`");
                        String::new()
                    }
                    None => m.auth_secret.clone(),
                    Some(a) => {
                        let (public, secret) = a.split();
                        let same_kind = public.kind == old_auth.kind && !switched;
                        // Unchanged parts need not be resent: merge with the stored ones.
                        let merged = if same_kind {
                            AuthPublic {
                                kind: public.kind,
                                username: public.username.or(old_auth.username),
                                domain: public.domain.or(old_auth.domain),
                                token_url: public.token_url.or(old_auth.token_url),
                                client_id: public.client_id.or(old_auth.client_id),
                                scope: public.scope.or(old_auth.scope),
                            }
                        } else {
                            public
                        };
                        merged.validate(&mut errors);
                        let sealed = match secret.filter(|s| !s.is_empty()) {
                            Some(s) => secrets.seal(&s, id.as_bytes()),
                            None if same_kind => m.auth_secret.clone(),
                            None => {
                                errors.add(
                                    merged.secret_field(),
                                    "required when the kind of credentials or the transport changes",
                                );
                                String::new()
                            }
                        };
                        auth = merged;
                        sealed
                    }
                };
                if let Some(url) = &auth.token_url {
                    validate_endpoint_url("auth.token_url", url, allowed_hosts, &mut errors);
                }
                (sealed, auth.secret_field())
            }
            MailboxTransport::Graph => {
                refuse_ews_settings(&w.ews_url, &w.auth, w.impersonate, &mut errors);
                impersonate = false;
                let (public, secret) = w.graph.unwrap_or_default().split(
                    old_graph.as_ref(),
                    allowed_hosts,
                    &mut errors,
                );
                let same_credential = !switched
                    && old_graph
                        .as_ref()
                        .is_some_and(|g| g.credential == public.credential);
                let sealed = match secret {
                    Some(s) => secrets.seal(&s, id.as_bytes()),
                    None if same_credential => m.auth_secret.clone(),
                    None => {
                        errors.add(
                            public.secret_field(),
                            "required when the transport or the kind of credentials changes",
                        );
                        String::new()
                    }
                };
                let field = public.secret_field();
                graph = Some(public);
                (sealed, field)
            }
        };
        // The stored secret goes only where, and as whom, its owner gave it.
        let moved = secret_destination_changes(
            &destination_before,
            &secret_destination(SecretUse {
                transport,
                email: &email,
                ews_url: &ews_url,
                impersonate,
                auth: &auth,
                graph: graph.as_ref(),
            }),
        );
        if sealed == m.auth_secret && !moved.is_empty() {
            errors.add(
                secret_field,
                format!(
                    "required again when {} changes: the stored secret is only sent where it was given for",
                    moved.join(", ")
                ),
            );
        }
        // The profile's folder ids are the old transport's until the next run carries them
        // over (SPEC §7b); switching back before that run leaves nothing to carry.
        let carry_over_from = if !switched {
            m.carry_over_from.clone()
        } else {
            match m.carry_over_from.as_deref().map(MailboxTransport::parse) {
                Some(t) if t == transport => None,
                Some(t) => Some(t.as_str().to_owned()),
                None => Some(old_transport.as_str().to_owned()),
            }
        };
        if errors.0.is_empty() && email_taken(&txn, &m.owner_id, &email, Some(id)).await? {
            errors.add("email", "this mailbox is already connected");
        }
        errors.into_result()?;
        let version = m.version + 1;
        let mut am = m.into_active_model();
        am.email = Set(email);
        am.display_name = Set(display_name);
        am.ews_url = Set(ews_url);
        am.transport = Set(transport.as_str().to_owned());
        am.graph_public = Set(graph.map(|g| serde_json::to_string(&g).expect("graph serializes")));
        am.carry_over_from = Set(carry_over_from);
        am.server_version = Set(server_version);
        am.auth_kind = Set(auth.kind.clone());
        am.auth_public = Set(serde_json::to_string(&auth).expect("auth serializes"));
        am.auth_secret = Set(sealed);
        am.impersonate = Set(impersonate);
        am.version = Set(version);
        am.updated_at = Set(Utc::now());
        let m = am.update(&txn).await?;
        txn.commit().await?;
        Ok(to_mailbox(m))
    }

    /// Disconnects a mailbox: its profile (and sync state) go, CRM contacts stay.
    pub async fn delete_mailbox(
        &self,
        caller: &Caller,
        id: Uuid,
        if_match: Option<i32>,
    ) -> StoreResult<()> {
        let txn = self.write_txn().await?;
        let m = find_owned(&txn, caller, id).await?;
        check_version(if_match, m.version)?;
        contact_sync_profiles::Entity::delete_by_id(id)
            .exec(&txn)
            .await?;
        mailboxes::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The decrypted connection settings of a mailbox the caller owns (or administers).
    pub async fn mailbox_connection(
        &self,
        secrets: &SecretBox,
        caller: &Caller,
        id: Uuid,
    ) -> StoreResult<MailboxConnection> {
        open_connection(secrets, find_owned(&self.db, caller, id).await?)
    }

    /// The connection settings and profile of a mailbox, for the worker acting on it.
    pub async fn mailbox_for_sync(
        &self,
        secrets: &SecretBox,
        id: Uuid,
    ) -> StoreResult<(MailboxConnection, ContactSyncProfile)> {
        let m = mailboxes::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .ok_or(StoreError::NotFound)?;
        let profile = contact_sync_profiles::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(|r| serde_json::from_str(&r.profile).unwrap_or_default())
            .unwrap_or_default();
        Ok((open_connection(secrets, m)?, profile))
    }

    /// Checks a profile as saving it would, without saving it (a dry run previewing an
    /// unsaved profile): answers the problems found.
    pub async fn profile_problems(
        &self,
        caller: &Caller,
        mailbox_id: Uuid,
        profile: &ContactSyncProfile,
    ) -> StoreResult<ValidationErrors> {
        let mailbox = find_owned(&self.db, caller, mailbox_id).await?;
        profile_problems(&self.db, &mailbox.owner_id, profile).await
    }

    /// The contact sync profile of a mailbox and its version (0 = never saved, defaults).
    pub async fn get_profile(
        &self,
        caller: &Caller,
        mailbox_id: Uuid,
    ) -> StoreResult<(ContactSyncProfile, i32)> {
        find_owned(&self.db, caller, mailbox_id).await?;
        let row = contact_sync_profiles::Entity::find_by_id(mailbox_id)
            .one(&self.db)
            .await?;
        Ok(match row {
            Some(r) => (
                serde_json::from_str(&r.profile).unwrap_or_default(),
                r.version,
            ),
            None => (ContactSyncProfile::default(), 0),
        })
    }

    /// Replaces the profile after checking it, including that its CRM contact types exist
    /// and its CRM folders are visible to the mailbox owner.
    pub async fn put_profile(
        &self,
        caller: &Caller,
        mailbox_id: Uuid,
        profile: ContactSyncProfile,
        if_match: Option<i32>,
    ) -> StoreResult<(ContactSyncProfile, i32)> {
        let txn = self.write_txn().await?;
        let mailbox = find_owned(&txn, caller, mailbox_id).await?;
        let current = contact_sync_profiles::Entity::find_by_id(mailbox_id)
            .one(&txn)
            .await?;
        check_version(if_match, current.as_ref().map_or(0, |r| r.version))?;
        profile_problems(&txn, &mailbox.owner_id, &profile)
            .await?
            .into_result()?;
        // The owner chose the folders under the current transport: nothing to carry over.
        if mailbox.carry_over_from.is_some() {
            let mut am = mailbox.into_active_model();
            am.carry_over_from = Set(None);
            am.update(&txn).await?;
        }
        let version = save_profile(&txn, mailbox_id, &profile).await?;
        txn.commit().await?;
        Ok((profile, version))
    }

    /// Saves the profile with its folder ids carried over to the mailbox's new transport,
    /// moves the links to the new ids of their folders (`(old, new)`), drops the old
    /// protocol's feed states and the links whose item still owes its stamp, and marks the
    /// carry-over done: all in one transaction.
    pub async fn finish_carry_over(
        &self,
        mailbox_id: Uuid,
        profile: &ContactSyncProfile,
        link_folders: &[(String, String)],
    ) -> StoreResult<()> {
        use sea_orm::sea_query::Expr;
        let txn = self.write_txn().await?;
        for (old, new) in link_folders {
            contact_links::Entity::update_many()
                .col_expr(contact_links::Column::FolderId, Expr::value(new.clone()))
                .filter(contact_links::Column::MailboxId.eq(mailbox_id))
                .filter(contact_links::Column::FolderId.eq(old.as_str()))
                .exec(&txn)
                .await?;
        }
        // The new protocol relinks items by their stamps; an item whose stamp an import
        // over Graph still owed has none: its contact is matched again by its content,
        // as in a first sync, instead of staying linked to an id the protocol cannot use.
        contact_links::Entity::delete_many()
            .filter(contact_links::Column::MailboxId.eq(mailbox_id))
            .filter(contact_links::Column::StampOwed.eq(true))
            .exec(&txn)
            .await?;
        super::crm_views::forget_mark(&txn, mailbox_id).await?;
        // Feed states are per protocol: the new one reads every folder from the start.
        folder_sync_states::Entity::delete_many()
            .filter(folder_sync_states::Column::MailboxId.eq(mailbox_id))
            .exec(&txn)
            .await?;
        let m = mailboxes::Entity::find_by_id(mailbox_id)
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut am = m.into_active_model();
        am.carry_over_from = Set(None);
        am.update(&txn).await?;
        let stored = contact_sync_profiles::Entity::find_by_id(mailbox_id)
            .one(&txn)
            .await?;
        if stored.is_some() {
            save_profile(&txn, mailbox_id, profile).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Writes a mailbox's profile (a new version); answers the version.
async fn save_profile(
    txn: &impl ConnectionTrait,
    mailbox_id: Uuid,
    profile: &ContactSyncProfile,
) -> StoreResult<i32> {
    let current = contact_sync_profiles::Entity::find_by_id(mailbox_id)
        .one(txn)
        .await?;
    let json = serde_json::to_string(profile).expect("profile serializes");
    let now = Utc::now();
    // The engine's mark holds for the profile it was made with only.
    super::crm_views::forget_mark(txn, mailbox_id).await?;
    let version = match current {
        Some(r) => {
            let version = r.version + 1;
            let mut am = r.into_active_model();
            am.profile = Set(json);
            am.version = Set(version);
            am.updated_at = Set(now);
            am.update(txn).await?;
            version
        }
        None => {
            contact_sync_profiles::Entity::insert(contact_sync_profiles::ActiveModel {
                mailbox_id: Set(mailbox_id),
                profile: Set(json),
                version: Set(1),
                updated_at: Set(now),
            })
            .exec_without_returning(txn)
            .await?;
            1
        }
    };
    Ok(version)
}

/// What saving this profile would refuse: its own rules, and its CRM references (contact
/// types that exist, CRM folders the mailbox owner sees).
async fn profile_problems(
    db: &impl ConnectionTrait,
    owner_id: &str,
    profile: &ContactSyncProfile,
) -> StoreResult<ValidationErrors> {
    let mut errors = ValidationErrors::default();
    profile.validate(&mut errors);
    if profile.export.scope == ExportScope::Specific {
        check_export_references(db, owner_id, profile, &mut errors).await?;
    }
    Ok(errors)
}

async fn check_export_references(
    db: &impl ConnectionTrait,
    owner_id: &str,
    profile: &ContactSyncProfile,
    errors: &mut ValidationErrors,
) -> StoreResult<()> {
    for (i, t) in profile.export.contact_type_ids.iter().enumerate() {
        if contact_types::Entity::find_by_id(*t)
            .one(db)
            .await?
            .is_none()
        {
            errors.add(
                format!("export.contact_type_ids[{i}]"),
                "no contact type has this id",
            );
        }
    }
    // Visible to the owner: the profile exports on the owner's behalf, whoever saves it.
    let owner = super::users::acting_as(db, owner_id).await?;
    for (i, f) in profile.export.folder_ids.iter().enumerate() {
        let mut q = contact_folders::Entity::find_by_id(*f);
        if let Some(c) = grants::visible_condition(
            &owner,
            RecordKind::ContactFolder,
            contact_folders::Column::Id,
            contact_folders::Column::OwnerId,
        ) {
            q = q.filter(c);
        }
        if q.one(db).await?.is_none() {
            errors.add(
                format!("export.folder_ids[{i}]"),
                "no contact folder with this id is visible to the mailbox owner",
            );
        }
    }
    Ok(())
}
