//! Standard Webhooks signatures (docs/contract.md §6): `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`,
//! where the key is the base64 part of the `whsec_…` secret.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a secret cannot sign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the signing secret is not whsec_ followed by base64")]
pub struct BadSecret;

/// The `webhook-signature` header value for one message.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, BadSecret> {
    let key = secret.strip_prefix("whsec_").ok_or(BadSecret)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(key)
        .map_err(|_| BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_webhooks_reference_vector_signs_as_published() {
        let sig = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            sig.as_deref(),
            Ok("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
    }

    #[test]
    fn a_secret_without_the_prefix_is_refused() {
        assert_eq!(
            sign("C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "m", 1, b""),
            Err(BadSecret)
        );
    }
}
