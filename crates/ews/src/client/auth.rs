//! Credentials (never printed), the OAuth2 token cache and the NTLM handshake.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use base64::prelude::{BASE64_STANDARD, Engine};
use client_sharing::CacheRegistry;
use serde::Deserialize;

use crate::error::Error;

/// How the client authenticates. `Debug` shows the kind and user, never a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP Basic.
    Basic {
        /// User name (UPN or SMTP address).
        username: String,
        /// Password.
        password: String,
    },
    /// A bearer token obtained elsewhere.
    Bearer {
        /// The token.
        token: String,
    },
    /// NTLMv2 (on-premises Exchange); binds one HTTP/1.1 connection.
    Ntlm {
        /// User name.
        username: String,
        /// Password.
        password: String,
        /// Windows domain.
        domain: String,
    },
    /// OAuth2 client credentials (app-only, Exchange Online); the token is cached.
    OAuth2ClientCredentials {
        /// Token endpoint, e.g. `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`.
        token_url: String,
        /// Application id.
        client_id: String,
        /// Application secret.
        client_secret: String,
        /// Scope, e.g. `https://outlook.office365.com/.default`.
        scope: String,
    },
}

impl Auth {
    /// The kind, for logs and Debug.
    pub fn kind(&self) -> &'static str {
        match self {
            Auth::Basic { .. } => "basic",
            Auth::Bearer { .. } => "bearer",
            Auth::Ntlm { .. } => "ntlm",
            Auth::OAuth2ClientCredentials { .. } => "oauth2_client_credentials",
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HIDDEN: &str = "<redacted>";
        match self {
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &HIDDEN)
                .finish(),
            Auth::Bearer { .. } => f.debug_struct("Bearer").field("token", &HIDDEN).finish(),
            Auth::Ntlm {
                username, domain, ..
            } => f
                .debug_struct("Ntlm")
                .field("username", username)
                .field("password", &HIDDEN)
                .field("domain", domain)
                .finish(),
            Auth::OAuth2ClientCredentials {
                token_url,
                client_id,
                scope,
                ..
            } => f
                .debug_struct("OAuth2ClientCredentials")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .field("client_secret", &HIDDEN)
                .field("scope", scope)
                .finish(),
        }
    }
}

/// Most OAuth2 token caches kept at once; beyond it, those no client holds are dropped.
const MAX_SHARED_CACHES: usize = 4096;

/// The token cache of OAuth2 client credentials reached through `pins`: shared by every
/// client of the same token endpoint, app, secret and scope, so that a run per mailbox
/// every few minutes does not fetch a token each time (an app-only token is the app's,
/// not the mailbox's). Keyed by a digest, so the map holds no secret; a changed secret is
/// another key, and so are other checked addresses. `None` for other kinds of auth.
pub(crate) fn shared_tokens(auth: &Auth, pins: &client_sharing::Pins) -> Option<Arc<TokenCache>> {
    use sha2::Digest;
    static CACHES: LazyLock<CacheRegistry<TokenCache>> =
        LazyLock::new(|| CacheRegistry::new(MAX_SHARED_CACHES));
    let Auth::OAuth2ClientCredentials {
        token_url,
        client_id,
        client_secret,
        scope,
    } = auth
    else {
        return None;
    };
    let mut digest = sha2::Sha256::new();
    for part in [token_url, client_id, client_secret, scope] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    digest.update(client_sharing::pins_text(pins).as_bytes());
    Some(CACHES.cache(digest.finalize().to_vec()))
}

/// A cached OAuth2 access token.
#[derive(Default)]
pub(crate) struct TokenCache {
    slot: tokio::sync::Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl TokenCache {
    /// A valid token: the cached one until shortly before it expires, else a new one.
    pub(crate) async fn token(&self, http: &reqwest::Client, auth: &Auth) -> Result<String, Error> {
        let Auth::OAuth2ClientCredentials {
            token_url,
            client_id,
            client_secret,
            scope,
        } = auth
        else {
            return Err(Error::Config(
                "token cache used without OAuth2 credentials".into(),
            ));
        };
        // Held across the fetch so that concurrent callers wait for one refresh.
        let mut slot = self.slot.lock().await;
        if let Some((token, refresh_at)) = slot.as_ref()
            && Instant::now() < *refresh_at
        {
            return Ok(token.clone());
        }
        let resp = http
            .post(token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("scope", scope),
            ])
            .send()
            .await
            .map_err(|e| super::transport_error("token endpoint", &e))?;
        let status = resp.status();
        let body =
            super::read_limited_bytes(resp, super::MAX_AUTH_BODY_BYTES, "token endpoint").await?;
        if status.is_server_error() {
            return Err(Error::Transient {
                code: None,
                message: format!("token endpoint answered HTTP {status}"),
            });
        }
        if !status.is_success() {
            // The body names the OAuth error (invalid_client, ...) and holds no secret.
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            return Err(Error::Auth {
                code: None,
                message: format!("token endpoint answered HTTP {status} {detail}"),
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
            .unwrap_or(3600);
        *slot = Some((
            parsed.access_token.clone(),
            refresh_at(Instant::now(), lifetime),
        ));
        Ok(parsed.access_token)
    }

    /// Forgets the token (after a 401: it was revoked or the clock lied).
    pub(crate) async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }
}

/// The longest a token is kept, whatever `expires_in` the server claims.
const MAX_TOKEN_LIFETIME_SECS: u64 = 24 * 3600;

/// When to fetch a new token: a minute early (or at 90% of a short lifetime) so that no
/// request carries a dying token. The server's lifetime is capped: a huge `expires_in`
/// would overflow the clock (and a token kept for years outlives its revocation).
fn refresh_at(now: Instant, lifetime_secs: u64) -> Instant {
    let lifetime = lifetime_secs.min(MAX_TOKEN_LIFETIME_SECS);
    let margin = (lifetime / 10).min(60);
    now + Duration::from_secs(lifetime - margin)
}

/// The workstation name sent in NTLM messages.
const NTLM_WORKSTATION: &str = "CONTACTSYNC";

/// `NTLM <base64>` of the NEGOTIATE message.
pub(crate) fn ntlm_negotiate() -> Result<String, Error> {
    let flags = ntlmclient::Flags::NEGOTIATE_UNICODE
        | ntlmclient::Flags::REQUEST_TARGET
        | ntlmclient::Flags::NEGOTIATE_NTLM
        | ntlmclient::Flags::NEGOTIATE_WORKSTATION_SUPPLIED;
    let msg = ntlmclient::Message::Negotiate(ntlmclient::NegotiateMessage {
        flags,
        supplied_domain: String::new(),
        supplied_workstation: NTLM_WORKSTATION.to_owned(),
        os_version: Default::default(),
    });
    let bytes = msg.to_bytes().map_err(|e| Error::Auth {
        code: None,
        message: format!("NTLM negotiate: {e:?}"),
    })?;
    Ok(format!("NTLM {}", BASE64_STANDARD.encode(bytes)))
}

/// `NTLM <base64>` of the AUTHENTICATE message answering the server's challenge header.
pub(crate) fn ntlm_authenticate(challenge_header: &str, auth: &Auth) -> Result<String, Error> {
    let Auth::Ntlm {
        username,
        password,
        domain,
    } = auth
    else {
        return Err(Error::Config(
            "NTLM handshake without NTLM credentials".into(),
        ));
    };
    let bad = |what: &str| Error::Auth {
        code: None,
        message: format!("NTLM challenge unusable: {what}"),
    };
    let b64 = challenge_header
        .trim()
        .strip_prefix("NTLM ")
        .ok_or_else(|| bad("not NTLM"))?;
    let bytes = BASE64_STANDARD
        .decode(b64.trim())
        .map_err(|_| bad("not base64"))?;
    let challenge = match ntlmclient::Message::try_from(bytes.as_slice()) {
        Ok(ntlmclient::Message::Challenge(c)) => c,
        _ => return Err(bad("not a CHALLENGE message")),
    };
    let target_info: Vec<u8> = challenge
        .target_information
        .iter()
        .flat_map(|ie| ie.to_bytes())
        .collect();
    let creds = ntlmclient::Credentials {
        username: username.clone(),
        password: password.clone(),
        domain: domain.clone(),
    };
    let response = ntlmclient::respond_challenge_ntlm_v2(
        challenge.challenge,
        &target_info,
        ntlmclient::get_ntlm_time(),
        &creds,
    );
    let flags = ntlmclient::Flags::NEGOTIATE_UNICODE | ntlmclient::Flags::NEGOTIATE_NTLM;
    let msg = response.to_message(&creds, NTLM_WORKSTATION, flags);
    let bytes = msg.to_bytes().map_err(|e| Error::Auth {
        code: None,
        message: format!("NTLM authenticate: {e:?}"),
    })?;
    Ok(format!("NTLM {}", BASE64_STANDARD.encode(bytes)))
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
