//! A mailbox reached over Microsoft Graph (Exchange Online, SPEC §7b): the `graph`
//! settings as written and as shown, and the rules on them.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validate_endpoint_url;
use crate::domain::validation::ValidationErrors;

/// Graph's global cloud (the default `graph_url`).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";
/// Microsoft Entra ID's global authority (the default `authority_url`).
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";

/// Which protocol reaches a mailbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailboxTransport {
    /// Exchange Web Services (Exchange Server on premises).
    #[default]
    Ews,
    /// Microsoft Graph (Exchange Online).
    Graph,
}

impl MailboxTransport {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxTransport::Ews => "ews",
            MailboxTransport::Graph => "graph",
        }
    }

    /// Parses the stored form (anything unknown is EWS, the original transport).
    pub fn parse(s: &str) -> Self {
        match s {
            "graph" => MailboxTransport::Graph,
            _ => MailboxTransport::Ews,
        }
    }
}

/// The `graph` settings as written: an app registered in Microsoft Entra ID with the
/// application permission `Contacts.ReadWrite`, signing in with a client secret or with a
/// certificate. On update, parts left out keep their stored values.
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GraphWrite {
    /// Directory (tenant) id or domain.
    pub tenant_id: Option<String>,
    /// Application (client) id.
    pub client_id: Option<String>,
    /// Write-only; or `certificate_pem` with `private_key_pem`.
    pub client_secret: Option<String>,
    /// The certificate registered on the app (PEM); public.
    pub certificate_pem: Option<String>,
    /// Its RSA private key (PEM); write-only.
    pub private_key_pem: Option<String>,
    /// The mailbox's UPN or object id; default: the mailbox's `email`.
    pub user: Option<String>,
    /// Default `https://graph.microsoft.com/v1.0` (national clouds have their own).
    pub graph_url: Option<String>,
    /// Default `https://login.microsoftonline.com`.
    pub authority_url: Option<String>,
}

impl std::fmt::Debug for GraphWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphWrite")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// How the app signs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GraphCredential {
    #[default]
    ClientSecret,
    Certificate,
}

/// The `graph` settings as stored and shown: everything but the secret (the client
/// secret or the certificate's private key, sealed like EWS secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GraphPublic {
    pub tenant_id: String,
    pub client_id: String,
    /// `client_secret` or `certificate`.
    pub credential: GraphCredential,
    /// The app's certificate (PEM), when it signs in with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    /// The mailbox's UPN or object id, when it is not the mailbox's `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub graph_url: String,
    pub authority_url: String,
}

fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl GraphWrite {
    /// Splits into the public part (merged over `stored`, the settings kept so far) and the
    /// secret, if one was sent; records what is missing or malformed.
    pub fn split(
        self,
        stored: Option<&GraphPublic>,
        allowed_hosts: &[String],
        errors: &mut ValidationErrors,
    ) -> (GraphPublic, Option<String>) {
        let keep = |v: Option<String>, old: Option<&str>| trimmed(v).or(old.map(str::to_owned));
        let certificate = trimmed(self.certificate_pem.clone());
        let key = self.private_key_pem.filter(|k| !k.trim().is_empty());
        let client_secret = self.client_secret.filter(|s| !s.is_empty());
        let (credential, secret) = match (&client_secret, &certificate, &key) {
            (Some(_), None, None) => (GraphCredential::ClientSecret, client_secret),
            (None, Some(_), Some(_)) => (GraphCredential::Certificate, key),
            (None, None, None) => (stored.map(|s| s.credential).unwrap_or_default(), None),
            (Some(_), _, _) => {
                errors.add(
                    "graph.client_secret",
                    "give either client_secret or certificate_pem with private_key_pem",
                );
                (GraphCredential::ClientSecret, None)
            }
            (None, Some(_), None) => {
                errors.add("graph.private_key_pem", "required with certificate_pem");
                (GraphCredential::Certificate, None)
            }
            (None, None, Some(_)) => {
                errors.add("graph.certificate_pem", "required with private_key_pem");
                (GraphCredential::Certificate, None)
            }
        };
        let public = GraphPublic {
            tenant_id: keep(self.tenant_id, stored.map(|s| s.tenant_id.as_str()))
                .unwrap_or_default(),
            client_id: keep(self.client_id, stored.map(|s| s.client_id.as_str()))
                .unwrap_or_default(),
            credential,
            certificate_pem: match credential {
                GraphCredential::ClientSecret => None,
                GraphCredential::Certificate => {
                    certificate.or(stored.and_then(|s| s.certificate_pem.clone()))
                }
            },
            user: keep(self.user, stored.and_then(|s| s.user.as_deref())),
            graph_url: keep(self.graph_url, stored.map(|s| s.graph_url.as_str()))
                .unwrap_or_else(|| DEFAULT_GRAPH_URL.to_owned()),
            authority_url: keep(self.authority_url, stored.map(|s| s.authority_url.as_str()))
                .unwrap_or_else(|| DEFAULT_AUTHORITY_URL.to_owned()),
        };
        public.validate(allowed_hosts, errors);
        if let (Some(cert), Some(key)) = (&public.certificate_pem, &secret)
            && credential == GraphCredential::Certificate
        {
            let check = graph::Credential::Certificate {
                certificate_pem: cert.clone(),
                private_key_pem: key.clone(),
            };
            if let Err(e) = check.validate() {
                errors.add("graph.certificate_pem", e.to_string());
            }
        }
        (public, secret)
    }
}

impl GraphPublic {
    /// Required parts, lengths, and the URL rules of EWS URLs for both endpoints the
    /// secret or its token goes to.
    pub fn validate(&self, allowed_hosts: &[String], errors: &mut ValidationErrors) {
        for (field, value) in [
            ("graph.tenant_id", &self.tenant_id),
            ("graph.client_id", &self.client_id),
        ] {
            if value.is_empty() {
                errors.add(field, "required");
            }
            errors.check_len(field, value, 200);
        }
        if self.tenant_id.contains(['/', '?', '#', '\\']) {
            errors.add("graph.tenant_id", "must be a directory id or domain");
        }
        if let Some(u) = &self.user {
            errors.check_len("graph.user", u, 250);
        }
        validate_endpoint_url("graph.graph_url", &self.graph_url, allowed_hosts, errors);
        validate_endpoint_url(
            "graph.authority_url",
            &self.authority_url,
            allowed_hosts,
            errors,
        );
    }

    /// The name of the secret field of this credential.
    pub fn secret_field(&self) -> &'static str {
        match self.credential {
            GraphCredential::ClientSecret => "graph.client_secret",
            GraphCredential::Certificate => "graph.private_key_pem",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(json: &str) -> GraphWrite {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_merging_with_stored_settings() {
        let mut e = ValidationErrors::default();
        let (p, secret) = write(r#"{"tenant_id":"t","client_id":"c","client_secret":"s"}"#).split(
            None,
            &[],
            &mut e,
        );
        assert!(e.0.is_empty(), "{:?}", e.0);
        assert_eq!(secret.as_deref(), Some("s"));
        assert_eq!(p.graph_url, DEFAULT_GRAPH_URL);
        assert_eq!(p.authority_url, DEFAULT_AUTHORITY_URL);
        assert_eq!(p.credential, GraphCredential::ClientSecret);
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("\"s\""), "no secret in {json}");

        let (q, secret) = write(r#"{"user":"ann@x.example"}"#).split(Some(&p), &[], &mut e);
        assert!(e.0.is_empty());
        assert_eq!(secret, None);
        assert_eq!(q.tenant_id, "t");
        assert_eq!(q.user.as_deref(), Some("ann@x.example"));
    }

    #[test]
    fn bad_settings_name_their_fields() {
        let mut e = ValidationErrors::default();
        write(r#"{"client_secret":"s","certificate_pem":"x","graph_url":"http://10.0.0.1/v1.0","authority_url":"ftp://x"}"#)
            .split(None, &[], &mut e);
        let fields: Vec<_> = e.0.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "graph.tenant_id",
            "graph.client_id",
            "graph.client_secret",
            "graph.graph_url",
            "graph.authority_url",
        ] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
    }
}
