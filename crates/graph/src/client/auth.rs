//! App credentials (never printed), the signed client assertion, and the token cache.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::prelude::{BASE64_STANDARD, BASE64_URL_SAFE_NO_PAD};
use client_sharing::CacheRegistry;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::Error;

/// How the app proves itself to Microsoft Entra ID. `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A client secret.
    Secret(String),
    /// A certificate registered on the app, and its private key (PEM): the client signs
    /// a JWT assertion with the key (PS256, certificate thumbprint in `x5t#S256`).
    Certificate {
        /// The certificate, PEM.
        certificate_pem: String,
        /// Its RSA private key, PEM (PKCS#1 or PKCS#8).
        private_key_pem: String,
    },
}

impl Credential {
    /// `secret` or `certificate`, for logs and diagnostics.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Secret(_) => "secret",
            Credential::Certificate { .. } => "certificate",
        }
    }

    /// Checks that a certificate and key can be used (a PEM certificate, an RSA key).
    pub fn validate(&self) -> Result<(), Error> {
        if let Credential::Certificate {
            certificate_pem,
            private_key_pem,
        } = self
        {
            certificate_der(certificate_pem)?;
            jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
                .map_err(|_| Error::Config("private_key_pem is not an RSA private key".into()))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credential::Certificate { .. } => f
                .debug_struct("Certificate")
                .field("private_key_pem", &"<redacted>")
                .finish_non_exhaustive(),
        }
    }
}

/// The DER bytes of the first certificate of a PEM text.
pub(crate) fn certificate_der(pem: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::Config("certificate_pem is not a PEM certificate".into());
    let start = pem.find("-----BEGIN CERTIFICATE-----").ok_or_else(bad)?;
    let rest = &pem[start + "-----BEGIN CERTIFICATE-----".len()..];
    let end = rest.find("-----END CERTIFICATE-----").ok_or_else(bad)?;
    let b64: String = rest[..end].split_whitespace().collect();
    BASE64_STANDARD.decode(b64).map_err(|_| bad())
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// A client assertion for the token endpoint: a JWT signed with the app's key, valid
/// ten minutes, naming the certificate by its SHA-256 thumbprint.
pub(crate) fn client_assertion(
    token_url: &str,
    client_id: &str,
    certificate_pem: &str,
    private_key_pem: &str,
) -> Result<String, Error> {
    let der = certificate_der(certificate_pem)?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
        .map_err(|_| Error::Config("private_key_pem is not an RSA private key".into()))?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    header.x5t_s256 = Some(BASE64_URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(&der)));
    header.x5t = Some(BASE64_URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(&der)));
    let now = chrono::Utc::now().timestamp();
    let claims = AssertionClaims {
        aud: token_url,
        iss: client_id,
        sub: client_id,
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: now - 60,
        iat: now,
        exp: now + 600,
    };
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| Error::Config(format!("cannot sign the client assertion: {e}")))
}

/// What the token endpoint needs, and where it is.
#[derive(Clone)]
pub(crate) struct TokenRequest {
    pub token_url: String,
    pub client_id: String,
    pub scope: String,
    pub credential: Credential,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The longest a token is kept, whatever `expires_in` the server claims.
const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

/// When to fetch a new token: five minutes early (a tenth of a short lifetime) so that no
/// request leaves with a token about to die. The server's lifetime is capped: a huge
/// `expires_in` would overflow the clock.
fn refresh_at(now: Instant, lifetime_secs: u64) -> Instant {
    let lifetime = lifetime_secs.min(MAX_TOKEN_LIFETIME_SECS);
    let margin = (lifetime / 10).min(300);
    now + Duration::from_secs(lifetime - margin)
}

/// Most app token caches kept at once; beyond it, those no client holds are dropped.
const MAX_SHARED_CACHES: usize = 4096;

/// The token cache of an app as `req` names it, reached through `pins`: shared by every
/// client of the same token endpoint, app, scope and credential, so that a run per
/// mailbox every few minutes does not fetch a token each time (a token is the app's, not
/// the mailbox's). Keyed by a digest, so the map holds no secret; a changed secret or
/// certificate is another key, and so are other checked addresses.
pub(crate) fn shared_tokens(req: &TokenRequest, pins: &client_sharing::Pins) -> Arc<TokenCache> {
    static CACHES: LazyLock<CacheRegistry<TokenCache>> =
        LazyLock::new(|| CacheRegistry::new(MAX_SHARED_CACHES));
    let mut digest = sha2::Sha256::new();
    for part in [&req.token_url, &req.client_id, &req.scope] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    match &req.credential {
        Credential::Secret(secret) => digest.update(secret.as_bytes()),
        Credential::Certificate {
            certificate_pem,
            private_key_pem,
        } => {
            digest.update(certificate_pem.as_bytes());
            digest.update([0]);
            digest.update(private_key_pem.as_bytes());
        }
    }
    digest.update([0]);
    digest.update(client_sharing::pins_text(pins).as_bytes());
    CACHES.cache(digest.finalize().to_vec())
}

/// A cached access token, refreshed shortly before it expires.
#[derive(Default)]
pub(crate) struct TokenCache {
    slot: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl TokenCache {
    /// A valid token: the cached one until its refresh time, else a new one.
    pub(crate) async fn token(
        &self,
        http: &reqwest::Client,
        req: &TokenRequest,
    ) -> Result<String, Error> {
        // Held across the fetch so that concurrent callers wait for one refresh.
        let mut slot = self.slot.lock().await;
        if let Some((token, refresh_at)) = slot.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = fetch(http, req).await?;
        *slot = Some((token.clone(), refresh_at(Instant::now(), lifetime)));
        Ok(token)
    }

    /// Forgets the token (a 401: revoked, or the clock lied).
    pub(crate) async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }
}

async fn fetch(http: &reqwest::Client, req: &TokenRequest) -> Result<(String, u64), Error> {
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", req.client_id.clone()),
        ("scope", req.scope.clone()),
    ];
    match &req.credential {
        Credential::Secret(secret) => form.push(("client_secret", secret.clone())),
        Credential::Certificate {
            certificate_pem,
            private_key_pem,
        } => {
            form.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push((
                "client_assertion",
                client_assertion(
                    &req.token_url,
                    &req.client_id,
                    certificate_pem,
                    private_key_pem,
                )?,
            ));
        }
    }
    let resp = http
        .post(&req.token_url)
        .form(&form)
        .send()
        .await
        .map_err(|e| super::transport_error("token endpoint", &e))?;
    let status = resp.status();
    let body = super::read_limited(resp, 1024 * 1024).await?;
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(Error::Transient {
            code: Some(format!("HTTP {}", status.as_u16())),
            message: format!("token endpoint answered HTTP {status}"),
        });
    }
    if !status.is_success() {
        // The body names the OAuth error (invalid_client, AADSTS codes); it holds no secret.
        let v = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
        let code = v.get("error").and_then(|e| e.as_str()).map(str::to_owned);
        let description = v
            .get("error_description")
            .and_then(|e| e.as_str())
            .and_then(|d| d.lines().next())
            .unwrap_or_default()
            .to_owned();
        return Err(Error::Auth {
            code: code.clone(),
            message: format!(
                "token endpoint answered HTTP {} {} {description}",
                status.as_u16(),
                code.unwrap_or_default()
            )
            .trim_end()
            .to_owned(),
        });
    }
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| Error::Auth {
        code: None,
        message: format!("unreadable token response: {e}"),
    })?;
    let lifetime = parsed
        .expires_in
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .unwrap_or(3599);
    Ok((parsed.access_token, lifetime))
}

#[cfg(test)]
mod refresh_tests {
    use super::*;

    #[test]
    fn a_huge_token_lifetime_is_capped_instead_of_overflowing_the_clock() {
        let now = Instant::now();
        assert_eq!(
            refresh_at(now, u64::MAX),
            refresh_at(now, MAX_TOKEN_LIFETIME_SECS)
        );
        assert!(refresh_at(now, 3600) < now + Duration::from_secs(3600));
        assert!(refresh_at(now, 0) >= now);
    }
}
