//! Registered apps and the token endpoint `POST /{tenant}/oauth2/v2.0/token`
//! (client credentials, by secret or by a client assertion).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::json;

use super::faults::GraphFault;
use crate::state::Sim;

/// An app registered in a tenant, allowed to use Graph on every mailbox of the simulator.
#[derive(Clone, PartialEq, Eq)]
pub struct GraphApp {
    /// Tenant id or domain.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub secret: String,
}

impl fmt::Debug for GraphApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphApp")
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why `tenant:client_id:secret` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected TENANT:CLIENT_ID:SECRET (e.g. contoso:app-1:s3cret)")]
pub struct GraphAppParseError;

impl FromStr for GraphApp {
    type Err = GraphAppParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The secret may contain ':'; tenant and client id cannot.
        let mut parts = s.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(c), Some(secret))
                if !t.trim().is_empty() && !c.trim().is_empty() && !secret.is_empty() =>
            {
                Ok(Self {
                    tenant: t.trim().to_owned(),
                    client_id: c.trim().to_owned(),
                    secret: secret.to_owned(),
                })
            }
            _ => Err(GraphAppParseError),
        }
    }
}

/// How long a token lives (Entra ID's usual value).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// Issued access tokens: token → (client id, expiry).
#[derive(Default)]
pub struct Tokens {
    issued: HashMap<String, (String, Instant)>,
}

impl Tokens {
    /// The app a valid token belongs to.
    pub fn app_of(&self, token: &str) -> Option<&str> {
        self.issued
            .get(token)
            .filter(|(_, exp)| Instant::now() < *exp)
            .map(|(app, _)| app.as_str())
    }

    /// Forgets every token (as a revocation or key rollover would).
    pub fn revoke_all(&mut self) {
        self.issued.clear();
    }

    fn issue(&mut self, client_id: &str) -> String {
        let token = format!("simgraph-{}", uuid::Uuid::new_v4().simple());
        self.issued.insert(
            token.clone(),
            (client_id.to_owned(), Instant::now() + TOKEN_LIFETIME),
        );
        token
    }
}

fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .json(json!({ "error": error, "error_description": description }))
}

/// Checks the shape of a client assertion: a JWT signed PS256/RS256 naming a certificate,
/// issued by and for the app, for this token endpoint, not expired. The simulator holds
/// no certificates, so it does not verify the signature.
fn check_assertion(jwt: &str, client_id: &str, tenant: &str) -> Result<(), &'static str> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("AADSTS50027: the client assertion is not a JWT");
    };
    let header: serde_json::Value = b64
        .decode(header)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("AADSTS50027: unreadable assertion header")?;
    let claims: serde_json::Value = b64
        .decode(claims)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("AADSTS50027: unreadable assertion claims")?;
    if !matches!(header["alg"].as_str(), Some("PS256" | "RS256")) || signature.is_empty() {
        return Err("AADSTS5002738: the assertion must be signed with PS256 or RS256");
    }
    if header["x5t#S256"].as_str().is_none() && header["x5t"].as_str().is_none() {
        return Err("AADSTS700027: the assertion names no certificate (x5t#S256 or x5t)");
    }
    if claims["iss"].as_str() != Some(client_id) || claims["sub"].as_str() != Some(client_id) {
        return Err("AADSTS700021: iss and sub must be the client id");
    }
    let aud_ok = claims["aud"]
        .as_str()
        .is_some_and(|a| a.ends_with(&format!("/{tenant}/oauth2/v2.0/token")));
    if !aud_ok {
        return Err("AADSTS700024: the assertion audience is not this token endpoint");
    }
    let now = chrono::Utc::now().timestamp();
    if claims["exp"].as_i64().is_none_or(|e| e < now) {
        return Err("AADSTS700024: the client assertion has expired");
    }
    Ok(())
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Bytes,
    sim: web::Data<Sim>,
) -> HttpResponse {
    let latency = sim.latency_ms.load(std::sync::atomic::Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let _ = req;
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let faults = sim
        .graph
        .faults
        .lock()
        .expect("faults lock")
        .take("token", None);
    for f in faults {
        match f {
            GraphFault::Delay { delay_ms } => {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await
            }
            GraphFault::Unavailable { .. } | GraphFault::Throttled { .. } => {
                return oauth_error(503, "temporarily_unavailable", "AADSTS90033: try again");
            }
            _ => return oauth_error(401, "invalid_client", "AADSTS7000215: injected failure"),
        }
    }
    if field("grant_type") != "client_credentials" {
        return oauth_error(
            400,
            "unsupported_grant_type",
            "AADSTS70003: only client_credentials is supported here",
        );
    }
    let client_id = field("client_id");
    let app = sim
        .config
        .apps
        .iter()
        .find(|a| a.tenant.eq_ignore_ascii_case(&tenant) && a.client_id == client_id);
    let Some(app) = app else {
        return oauth_error(
            400,
            "unauthorized_client",
            "AADSTS700016: application not found in the directory",
        );
    };
    if !field("scope").ends_with("/.default") {
        return oauth_error(
            400,
            "invalid_scope",
            "AADSTS1002012: client credentials need a scope ending in /.default",
        );
    }
    let proven = match (form.get("client_secret"), form.get("client_assertion")) {
        (Some(secret), None) => {
            if *secret == app.secret {
                Ok(())
            } else {
                Err("AADSTS7000215: invalid client secret")
            }
        }
        (None, Some(jwt))
            if field("client_assertion_type")
                == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" =>
        {
            check_assertion(jwt, client_id, &tenant)
        }
        _ => Err("AADSTS7000218: a client_secret or a client_assertion is required"),
    };
    if let Err(why) = proven {
        return oauth_error(401, "invalid_client", why);
    }
    let token = sim
        .graph
        .tokens
        .lock()
        .expect("tokens lock")
        .issue(client_id);
    HttpResponse::Ok().json(json!({
        "token_type": "Bearer",
        "expires_in": TOKEN_LIFETIME.as_secs(),
        "ext_expires_in": TOKEN_LIFETIME.as_secs(),
        "access_token": token,
    }))
}
