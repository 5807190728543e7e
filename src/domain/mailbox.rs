//! An Exchange mailbox connection: its read and write shapes and the rules on them.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::address::{is_allowed, is_internal_host};
use super::validation::{ValidationErrors, looks_like_email};

pub mod graph;

pub use graph::{GraphPublic, GraphWrite, MailboxTransport};

/// Health of a mailbox connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailboxStatus {
    Active,
    /// Automatic sync stopped; `status_reason` says why.
    Suspended,
    /// Something needs the owner (e.g. credentials rejected).
    NeedsAttention,
}

impl MailboxStatus {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxStatus::Active => "active",
            MailboxStatus::Suspended => "suspended",
            MailboxStatus::NeedsAttention => "needs_attention",
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> MailboxStatus {
        match s {
            "suspended" => MailboxStatus::Suspended,
            "needs_attention" => MailboxStatus::NeedsAttention,
            _ => MailboxStatus::Active,
        }
    }
}

/// Credentials as written: secrets may be left out on update to keep the stored ones.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthWrite {
    Basic {
        username: Option<String>,
        password: Option<String>,
    },
    Ntlm {
        username: Option<String>,
        password: Option<String>,
        domain: Option<String>,
    },
    Bearer {
        token: Option<String>,
    },
    Oauth2ClientCredentials {
        token_url: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
        scope: Option<String>,
    },
}

impl std::fmt::Debug for AuthWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthWrite({})", self.kind())
    }
}

impl AuthWrite {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            AuthWrite::Basic { .. } => "basic",
            AuthWrite::Ntlm { .. } => "ntlm",
            AuthWrite::Bearer { .. } => "bearer",
            AuthWrite::Oauth2ClientCredentials { .. } => "oauth2_client_credentials",
        }
    }

    /// Splits into the public part and the secret, if one was sent.
    pub fn split(self) -> (AuthPublic, Option<String>) {
        match self {
            AuthWrite::Basic { username, password } => (
                AuthPublic {
                    kind: "basic".into(),
                    username,
                    ..Default::default()
                },
                password,
            ),
            AuthWrite::Ntlm {
                username,
                password,
                domain,
            } => (
                AuthPublic {
                    kind: "ntlm".into(),
                    username,
                    domain,
                    ..Default::default()
                },
                password,
            ),
            AuthWrite::Bearer { token } => (
                AuthPublic {
                    kind: "bearer".into(),
                    ..Default::default()
                },
                token,
            ),
            AuthWrite::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => (
                AuthPublic {
                    kind: "oauth2_client_credentials".into(),
                    token_url,
                    client_id,
                    scope,
                    ..Default::default()
                },
                client_secret,
            ),
        }
    }
}

/// The parts of the credentials that are not secret; what the API shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuthPublic {
    /// `basic`, `ntlm`, `bearer` or `oauth2_client_credentials`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl AuthPublic {
    /// Fields the kind needs besides the secret.
    pub fn validate(&self, errors: &mut ValidationErrors) {
        let required: &[(&str, &Option<String>)] = match self.kind.as_str() {
            "basic" => &[("auth.username", &self.username)],
            "ntlm" => &[
                ("auth.username", &self.username),
                ("auth.domain", &self.domain),
            ],
            "oauth2_client_credentials" => &[
                ("auth.token_url", &self.token_url),
                ("auth.client_id", &self.client_id),
                ("auth.scope", &self.scope),
            ],
            _ => &[],
        };
        for (name, value) in required {
            match value {
                Some(v) if !v.trim().is_empty() => errors.check_len(name, v, 500),
                _ => errors.add(*name, "required"),
            }
        }
    }

    /// The name of the secret field of this kind.
    pub fn secret_field(&self) -> &'static str {
        match self.kind.as_str() {
            "bearer" => "auth.token",
            "oauth2_client_credentials" => "auth.client_secret",
            _ => "auth.password",
        }
    }
}

/// Where a mailbox's secret goes and as whom it signs in, as stored.
#[derive(Debug, Clone, Copy)]
pub struct SecretUse<'a> {
    pub transport: MailboxTransport,
    pub email: &'a str,
    pub ews_url: &'a str,
    pub impersonate: bool,
    pub auth: &'a AuthPublic,
    pub graph: Option<&'a GraphPublic>,
}

/// Every setting that says where a mailbox's secret is sent, or as whom it signs in, with
/// its API field name. A stored secret is kept only while all of them stay as they were:
/// otherwise `PATCH {"ews_url": "<my server>"}` followed by a test would hand the stored
/// password (perhaps an administrator's service account) to a server of the caller's
/// choosing. Graph's endpoints and identities are listed too, and so is the transport:
/// a secret given for one protocol is never sent over the other.
pub fn secret_destination(u: SecretUse<'_>) -> [(&'static str, String); 14] {
    let text = |v: &Option<String>| v.as_deref().unwrap_or_default().trim().to_owned();
    let g = u.graph.cloned().unwrap_or_default();
    [
        ("transport", u.transport.as_str().to_owned()),
        ("email", u.email.trim().to_lowercase()),
        ("ews_url", u.ews_url.trim().to_owned()),
        ("impersonate", u.impersonate.to_string()),
        ("auth.username", text(&u.auth.username)),
        ("auth.domain", text(&u.auth.domain)),
        ("auth.token_url", text(&u.auth.token_url)),
        ("auth.client_id", text(&u.auth.client_id)),
        ("auth.scope", text(&u.auth.scope)),
        ("graph.tenant_id", g.tenant_id),
        ("graph.client_id", g.client_id),
        // The mailbox Graph acts on: `user`, else the address (the same mailbox either way).
        ("graph.user", {
            let user = text(&g.user);
            if user.is_empty() && u.transport == MailboxTransport::Graph {
                u.email.trim().to_lowercase()
            } else {
                user.to_lowercase()
            }
        }),
        ("graph.graph_url", g.graph_url),
        ("graph.authority_url", g.authority_url),
    ]
}

/// The settings of [`secret_destination`] that differ between two versions of a mailbox.
pub fn secret_destination_changes(
    before: &[(&'static str, String)],
    after: &[(&'static str, String)],
) -> Vec<&'static str> {
    before
        .iter()
        .zip(after)
        .filter(|(b, a)| b.1 != a.1)
        .map(|(b, _)| b.0)
        .collect()
}

/// A mailbox as the API returns it: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Mailbox {
    pub id: Uuid,
    pub owner_id: String,
    pub email: String,
    pub display_name: String,
    /// `ews` (Exchange Server) or `graph` (Exchange Online).
    pub transport: MailboxTransport,
    /// The EWS endpoint (transport `ews`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ews_url: Option<String>,
    /// The EWS credentials without their secret (transport `ews`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthPublic>,
    /// The Microsoft Graph settings without their secret (transport `graph`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphPublic>,
    /// The credentials are a service account acting as `email` (ExchangeImpersonation).
    pub impersonate: bool,
    pub server_version: String,
    pub status: MailboxStatus,
    pub status_reason: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /mailboxes` (email, and `ews_url` and `auth` for EWS or `graph` for
/// Microsoft Graph, required) and `PATCH` (a changed `transport` needs the other
/// protocol's settings and secret).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxWrite {
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `ews` (default) or `graph`.
    pub transport: Option<MailboxTransport>,
    /// Transport `graph`: the app and the mailbox on Microsoft Graph.
    pub graph: Option<GraphWrite>,
    pub ews_url: Option<String>,
    pub auth: Option<AuthWrite>,
    pub impersonate: Option<bool>,
    /// One of the EWS schema versions; default `Exchange2013_SP1`.
    pub server_version: Option<String>,
    /// Only an administrator may create a mailbox for another user.
    pub owner_id: Option<String>,
}

/// The default `RequestServerVersion`.
pub const DEFAULT_SERVER_VERSION: &str = "Exchange2013_SP1";

/// Checks the mailbox address and server version.
pub fn validate_basics(
    email: &str,
    display_name: &str,
    server_version: &str,
    errors: &mut ValidationErrors,
) {
    if !looks_like_email(email) {
        errors.add("email", "is not an e-mail address");
    }
    errors.check_len("email", email, 250);
    errors.check_len("display_name", display_name, 250);
    if !ews::envelope::EXCHANGE_VERSIONS.contains(&server_version) {
        errors.add(
            "server_version",
            format!(
                "must be one of {}",
                ews::envelope::EXCHANGE_VERSIONS.join(", ")
            ),
        );
    }
}

/// Checks an EWS URL: https, a host, no credentials in it; plain http, loopback, private
/// and link-local addresses only for hosts on the allow-list (tests, the simulator).
pub fn validate_ews_url(raw: &str, allowed_hosts: &[String], errors: &mut ValidationErrors) {
    validate_endpoint_url("ews_url", raw, allowed_hosts, errors);
}

/// The rules of [`validate_ews_url`] for any URL a secret is sent to (`field` names it):
/// the OAuth2 token endpoint gets the same ones.
pub fn validate_endpoint_url(
    field: &str,
    raw: &str,
    allowed_hosts: &[String],
    errors: &mut ValidationErrors,
) {
    let url = match url::Url::parse(raw.trim()) {
        Ok(u) => u,
        Err(e) => {
            errors.add(field, format!("is not a URL: {e}"));
            return;
        }
    };
    let Some(host) = url.host_str() else {
        errors.add(field, "has no host");
        return;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(0);
    let allowed = is_allowed(allowed_hosts, &host, port);
    if !url.username().is_empty() || url.password().is_some() {
        errors.add(field, "must not carry credentials; put them in `auth`");
    }
    match url.scheme() {
        "https" => {}
        "http" if allowed => {}
        "http" => errors.add(
            field,
            format!("must use https (http only for hosts in CONTACTSYNC_EWS_ALLOWED_HOSTS; `{host}` is not)"),
        ),
        other => errors.add(field, format!("scheme `{other}` is not http(s)")),
    }
    if !allowed && is_internal_host(&host) {
        errors.add(
            field,
            format!("`{host}` is a loopback, private or link-local address; allow it with CONTACTSYNC_EWS_ALLOWED_HOSTS"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, allowed: &[&str]) -> Vec<String> {
        let mut e = ValidationErrors::default();
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        validate_ews_url(url, &allowed, &mut e);
        e.0.into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn ews_url_rules() {
        assert!(check("https://mail.example.com/EWS/Exchange.asmx", &[]).is_empty());
        assert_eq!(
            check("http://mail.example.com/EWS/Exchange.asmx", &[]).len(),
            1
        );
        assert_eq!(check("https://127.0.0.1/EWS/Exchange.asmx", &[]).len(), 1);
        assert_eq!(check("https://10.1.2.3/EWS/Exchange.asmx", &[]).len(), 1);
        assert_eq!(check("https://169.254.169.254/latest", &[]).len(), 1);
        assert_eq!(check("https://[::1]/EWS", &[]).len(), 1);
        assert_eq!(check("https://[fd00::1]/EWS", &[]).len(), 1);
        assert_eq!(check("https://localhost/EWS", &[]).len(), 1);
        assert!(check("http://127.0.0.1:8081/EWS/Exchange.asmx", &["127.0.0.1"]).is_empty());
        assert!(
            check(
                "http://127.0.0.1:8081/EWS/Exchange.asmx",
                &["127.0.0.1:8081"]
            )
            .is_empty()
        );
        assert_eq!(
            check(
                "http://127.0.0.1:8082/EWS/Exchange.asmx",
                &["127.0.0.1:8081"]
            )
            .len(),
            2
        );
        assert_eq!(check("https://[64:ff9b::7f00:1]/EWS", &[]).len(), 1);
        assert_eq!(check("https://u:p@mail.example.com/EWS", &[]).len(), 1);
        assert_eq!(check("ftp://mail.example.com/EWS", &[]).len(), 1);
        assert_eq!(check("not a url", &[]).len(), 1);
    }
}
