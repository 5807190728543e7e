//! Secrets at rest: XChaCha20-Poly1305 with a key from the configuration or generated
//! into the data directory. Ciphertexts are bound to their record (associated data), so
//! a secret copied onto another row does not decrypt.
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::config::Settings;

const KEY_FILE: &str = "encryption-key";
const NONCE_LEN: usize = 24;

/// Decodes a base64 key of exactly 32 bytes.
pub fn decode_key(text: &str) -> Option<[u8; 32]> {
    STANDARD.decode(text.trim()).ok()?.try_into().ok()
}

/// Encrypts and decrypts small secrets (passwords, tokens, client secrets).
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

/// A ciphertext that does not open: wrong key, wrong record, or tampered.
#[derive(Debug, thiserror::Error)]
#[error("stored secret cannot be decrypted (was the encryption key changed?)")]
pub struct OpenError;

impl SecretBox {
    /// A box over a raw key.
    pub fn new(key: [u8; 32]) -> SecretBox {
        SecretBox {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// The configured key, else the one in the data directory, else a new one written there.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<SecretBox> {
        if let Some(k) = &settings.encryption_key {
            let key = decode_key(k)
                .ok_or_else(|| anyhow::anyhow!("encryption_key is not base64 of 32 bytes"))?;
            return Ok(SecretBox::new(key));
        }
        crate::private_files::create_private_dir(&settings.data_dir)?;
        let path = settings.data_dir.join(KEY_FILE);
        // A key file that does not hold a key is refused, never replaced: the secrets
        // sealed with the key it held would be lost.
        let generate = || {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).expect("OS randomness");
            STANDARD.encode(key)
        };
        let text = crate::private_files::read_or_create_secret(&path, generate)?;
        let key = decode_key(&text)
            .ok_or_else(|| anyhow::anyhow!("{} is not base64 of 32 bytes", path.display()))?;
        Ok(SecretBox::new(key))
    }

    /// Encrypts `plaintext` for the record `aad`; the result is base64(nonce ‖ ciphertext).
    pub fn seal(&self, plaintext: &str, aad: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("OS randomness");
        let ct = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad,
                },
            )
            .expect("encryption of a small buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend(ct);
        STANDARD.encode(out)
    }

    /// Decrypts what [`SecretBox::seal`] produced for the same record.
    pub fn open(&self, sealed: &str, aad: &[u8]) -> Result<String, OpenError> {
        let raw = STANDARD.decode(sealed).map_err(|_| OpenError)?;
        if raw.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError)?;
        let pt = self
            .cipher
            .decrypt(&nonce, Payload { msg: ct, aad })
            .map_err(|_| OpenError)?;
        String::from_utf8(pt).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_bound_to_record() {
        let b = SecretBox::new([7; 32]);
        let s = b.seal("hunter2", b"mailbox-1");
        assert!(!s.contains("hunter2"));
        assert_eq!(b.open(&s, b"mailbox-1").unwrap(), "hunter2");
        assert!(b.open(&s, b"mailbox-2").is_err());
        assert!(SecretBox::new([8; 32]).open(&s, b"mailbox-1").is_err());
        assert_ne!(s, b.seal("hunter2", b"mailbox-1"), "fresh nonce each time");
    }
}
