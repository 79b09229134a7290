//! Signing secrets at rest (docs/contract.md §11). With `DTR_SECRET_KEY` (32 random bytes, base64) every
//! endpoint's signing secret is stored sealed with XChaCha20-Poly1305, the authority's code as
//! associated data — so a sealed secret copied onto another authority's row does not open. Without
//! the key secrets are stored in clear and start-up warns. A wrong key is found at start-up (every
//! stored secret is opened then), never as a garbled signature later.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const SEALED: &str = "enc:v1:";
const NONCE: usize = 24;

/// Why the secret key or a stored secret could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// `DTR_SECRET_KEY` is not 32 bytes of base64.
    #[error("DTR_SECRET_KEY must be 32 random bytes in base64 (e.g. openssl rand -base64 32)")]
    BadKey,
    /// A sealed secret and no key to open it.
    #[error(
        "signing secrets are stored encrypted: set DTR_SECRET_KEY to the key they were sealed with"
    )]
    NoKey,
    /// The key does not open a stored secret (another key, or a secret moved between rows).
    #[error("DTR_SECRET_KEY does not open the stored signing secret of {0}: is it the key they were sealed with?")]
    WrongKey(String),
}

/// Seals and opens signing secrets.
#[derive(Clone)]
pub struct SecretBox(Option<XChaCha20Poly1305>);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "SecretBox(sealing)"
        } else {
            "SecretBox(clear)"
        })
    }
}

impl SecretBox {
    /// From `DTR_SECRET_KEY`, if set.
    pub fn new(key_base64: Option<&str>) -> Result<SecretBox, SecretError> {
        match key_base64 {
            None => Ok(SecretBox(None)),
            Some(text) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| SecretError::BadKey)?;
                if bytes.len() != 32 {
                    return Err(SecretError::BadKey);
                }
                XChaCha20Poly1305::new_from_slice(&bytes)
                    .map(|c| SecretBox(Some(c)))
                    .map_err(|_| SecretError::BadKey)
            }
        }
    }

    /// Whether secrets are sealed.
    pub fn seals(&self) -> bool {
        self.0.is_some()
    }

    /// Whether a stored value is sealed.
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(SEALED)
    }

    /// The stored form of `secret` for the endpoint of `gss_code`: sealed when there is a key.
    pub fn seal(&self, gss_code: &str, secret: &str) -> String {
        let Some(cipher) = &self.0 else {
            return secret.to_owned();
        };
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let Ok(sealed) = cipher.encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: gss_code.as_bytes(),
            },
        ) else {
            // Encryption with a valid key and nonce does not fail; never store a secret in clear
            // by accident when a key is configured.
            return String::new();
        };
        let mut out = nonce.to_vec();
        out.extend(sealed);
        format!(
            "{SEALED}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// The secret from its stored form.
    pub fn open(&self, gss_code: &str, stored: &str) -> Result<String, SecretError> {
        let Some(body) = stored.strip_prefix(SEALED) else {
            return Ok(stored.to_owned());
        };
        let cipher = self.0.as_ref().ok_or(SecretError::NoKey)?;
        let wrong = || SecretError::WrongKey(gss_code.to_owned());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| wrong())?;
        if bytes.len() < NONCE {
            return Err(wrong());
        }
        let (nonce, sealed) = bytes.split_at(NONCE);
        let clear = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: gss_code.as_bytes(),
                },
            )
            .map_err(|_| wrong())?;
        String::from_utf8(clear).map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> String {
        base64::engine::general_purpose::STANDARD.encode([7u8; 32])
    }

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_row_only() {
        let b = SecretBox::new(Some(&key())).expect("a key");
        let sealed = b.seal("E08000039", "whsec_abc");
        assert!(SecretBox::is_sealed(&sealed));
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(b.open("E08000039", &sealed), Ok("whsec_abc".to_owned()));
        assert_eq!(
            b.open("E09000033", &sealed),
            Err(SecretError::WrongKey("E09000033".to_owned())),
            "moved to another authority's row"
        );
        let other = SecretBox::new(Some(
            &base64::engine::general_purpose::STANDARD.encode([8u8; 32]),
        ))
        .expect("a key");
        assert!(matches!(
            other.open("E08000039", &sealed),
            Err(SecretError::WrongKey(_))
        ));
        assert_eq!(
            SecretBox::new(None)
                .expect("no key")
                .open("E08000039", &sealed),
            Err(SecretError::NoKey)
        );
    }

    #[test]
    fn without_a_key_secrets_stay_clear() {
        let b = SecretBox::new(None).expect("no key");
        assert_eq!(b.seal("E08000039", "whsec_abc"), "whsec_abc");
        assert_eq!(b.open("E08000039", "whsec_abc"), Ok("whsec_abc".to_owned()));
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert_eq!(
            SecretBox::new(Some("short")).err(),
            Some(SecretError::BadKey)
        );
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        assert_eq!(
            SecretBox::new(Some(&short)).err(),
            Some(SecretError::BadKey)
        );
    }
}
