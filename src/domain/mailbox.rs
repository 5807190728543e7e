//! An Exchange mailbox connection: its read and write shapes and the rules on them.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::validation::{ValidationErrors, looks_like_email};

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
        if let Some(u) = &self.token_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            errors.add("auth.token_url", "must be an http(s) URL");
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

/// A mailbox as the API returns it: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Mailbox {
    pub id: Uuid,
    pub owner_id: String,
    pub email: String,
    pub display_name: String,
    pub ews_url: String,
    pub auth: AuthPublic,
    /// The credentials are a service account acting as `email` (ExchangeImpersonation).
    pub impersonate: bool,
    pub server_version: String,
    pub status: MailboxStatus,
    pub status_reason: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /mailboxes` (email, ews_url and auth required) and `PATCH`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxWrite {
    pub email: Option<String>,
    pub display_name: Option<String>,
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
    let url = match url::Url::parse(raw.trim()) {
        Ok(u) => u,
        Err(e) => {
            errors.add("ews_url", format!("is not a URL: {e}"));
            return;
        }
    };
    let Some(host) = url.host_str() else {
        errors.add("ews_url", "has no host");
        return;
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let allowed = allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host));
    if !url.username().is_empty() || url.password().is_some() {
        errors.add("ews_url", "must not carry credentials; put them in `auth`");
    }
    match url.scheme() {
        "https" => {}
        "http" if allowed => {}
        "http" => errors.add(
            "ews_url",
            format!("must use https (http only for hosts in CONTACTSYNC_EWS_ALLOWED_HOSTS; `{host}` is not)"),
        ),
        other => errors.add("ews_url", format!("scheme `{other}` is not http(s)")),
    }
    if !allowed && is_internal_host(&host) {
        errors.add(
            "ews_url",
            format!("`{host}` is a loopback, private or link-local address; allow it with CONTACTSYNC_EWS_ALLOWED_HOSTS"),
        );
    }
}

/// Whether a host name or address points inside the machine or the local network.
pub fn is_internal_host(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) => is_internal_ip(ip),
        Err(_) => false,
    }
}

/// Loopback, private, link-local, unspecified, CGNAT, unique-local and similar addresses.
pub fn is_internal_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6 == Ipv6Addr::LOCALHOST
        }
    }
}

fn is_internal_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || a == 0
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
        assert_eq!(check("https://u:p@mail.example.com/EWS", &[]).len(), 1);
        assert_eq!(check("ftp://mail.example.com/EWS", &[]).len(), 1);
        assert_eq!(check("not a url", &[]).len(), 1);
    }
}
