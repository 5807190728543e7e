//! JWT bearer authentication (SPEC §2): verification for the API and minting for
//! `contactsync token`.
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::Settings;
use crate::domain::Caller;

/// The claims the service reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// One audience or several (RFC 7519 §4.1.3 allows both); checked by the verifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// The `aud` claim: a string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Claims {
    /// The caller these claims describe.
    pub fn caller(&self) -> Caller {
        Caller {
            user_id: self.sub.clone(),
            is_admin: self.roles.iter().any(|r| r == "admin"),
        }
    }
}

/// Why a token was refused; the text is safe to show (it never echoes the token).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Checks bearer tokens against the configured key, with one algorithm only (no switching).
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

/// The HS256 secret file in the data directory.
const SECRET_FILE: &str = "jwt-secret";

/// Reads the HS256 secret: configured, else from (or generated into) the data directory.
/// A secret file that is too short is refused, never replaced: tokens minted with it
/// would stop working, and another process may already use it.
pub fn load_or_create_secret(settings: &Settings) -> std::io::Result<String> {
    if let Some(s) = &settings.jwt_secret {
        return Ok(s.clone());
    }
    crate::private_files::create_private_dir(&settings.data_dir)?;
    let path = settings.data_dir.join(SECRET_FILE);
    // Two v4 UUIDs carry 244 random bits from the OS generator.
    let generate = || {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    };
    let text = crate::private_files::read_or_create_secret(&path, generate)?;
    let secret = text.trim();
    if secret.len() < MIN_SECRET_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} holds fewer than {MIN_SECRET_LEN} characters: set jwt_secret, or remove the file to have one generated",
                path.display()
            ),
        ));
    }
    Ok(secret.to_owned())
}

/// The shortest HS256 secret accepted from the secret file.
const MIN_SECRET_LEN: usize = 32;

impl JwtVerifier {
    /// Builds the verifier the settings ask for.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<JwtVerifier> {
        let (key, alg) = match &settings.jwt_public_key_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("jwt_public_key_file {}: {e}", path.display()))?;
                match settings.jwt_algorithm.as_deref() {
                    Some("RS256") => (DecodingKey::from_rsa_pem(&pem)?, Algorithm::RS256),
                    Some("ES256") => (DecodingKey::from_ec_pem(&pem)?, Algorithm::ES256),
                    other => anyhow::bail!("unsupported jwt_algorithm {other:?}"),
                }
            }
            None => {
                let secret = load_or_create_secret(settings)?;
                (
                    DecodingKey::from_secret(secret.as_bytes()),
                    Algorithm::HS256,
                )
            }
        };
        let mut validation = Validation::new(alg);
        validation.algorithms = vec![alg];
        let mut required = vec!["exp", "sub"];
        if settings.jwt_audience.is_some() {
            required.push("aud");
        }
        if settings.jwt_issuer.is_some() {
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        validation.leeway = 30;
        // A token is not valid before its `nbf` (a token minted for later, or a clock
        // far ahead at the issuer), within the same leeway as `exp`.
        validation.validate_nbf = true;
        match &settings.jwt_audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        if let Some(iss) = &settings.jwt_issuer {
            validation.set_issuer(&[iss]);
        }
        Ok(JwtVerifier { key, validation })
    }

    /// Verifies an `Authorization` header value.
    pub fn verify_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Missing)?
            .trim();
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| AuthError::Invalid(e.to_string()))?;
        if data.claims.sub.trim().is_empty() || data.claims.sub.len() > 200 {
            return Err(AuthError::Invalid("sub must be 1 to 200 characters".into()));
        }
        Ok(data.claims)
    }
}

/// Mints an HS256 token with the service's secret (for `contactsync token` and tests).
pub fn mint_hs256(
    secret: &str,
    sub: &str,
    admin: bool,
    ttl: std::time::Duration,
    settings: &Settings,
) -> anyhow::Result<String> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + ttl.as_secs();
    let claims = Claims {
        sub: sub.to_owned(),
        exp,
        name: None,
        roles: if admin { vec!["admin".into()] } else { vec![] },
        iss: settings.jwt_issuer.clone(),
        aud: settings.jwt_audience.clone().map(Audience::One),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}
