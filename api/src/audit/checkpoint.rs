//! Signed audit checkpoints (docs/contract.md §13). The hash chain catches an edited, inserted or deleted
//! event — unless whoever edits the database also recomputes every hash after it, or simply cuts
//! off the end. A checkpoint is the service's Ed25519 signature over the chain's length and head at
//! a moment; an authority or a referrer that keeps one (say, daily) can later prove the chain they
//! are shown still contains that head at that position, or that it was rewritten.

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use std::path::Path;

/// A signed statement: the chain had `events` events and event `events` had hash `head` at `at`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// How many events the chain had.
    pub events: u64,
    /// The hash of the last of them (64 zeros for an empty chain).
    pub head: String,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// The signing key's public half (base64 of 32 bytes).
    pub public_key: String,
    /// The Ed25519 signature (base64) over [`message`].
    pub signature: String,
}

/// The exact text signed: `"dtr-audit-checkpoint/v1\n" + n + "\n" + head + "\n" + at + "\n"`.
pub fn message(events: u64, head: &str, at: &str) -> String {
    format!("dtr-audit-checkpoint/v1\n{events}\n{head}\n{at}\n")
}

/// Why a key file or a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The key file could not be read or written.
    #[error("the audit key file {path}: {source}")]
    Io {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("the audit key file {0} does not hold an Ed25519 key (32 bytes, base64)")]
    BadKeyFile(String),
    /// Not an Ed25519 public key.
    #[error("the public key is not 32 bytes of base64")]
    BadPublicKey,
    /// Signed by another key.
    #[error("it was not signed by this service's audit key")]
    OtherKey,
    /// The signature does not match its content.
    #[error("its signature does not match its content")]
    BadSignature,
}

/// The service's audit signing key.
pub struct AuditKey(SigningKey);

impl AuditKey {
    /// Loads the key from `path`; a missing file is an error (the CLI must not make a new key).
    pub fn load(path: &Path) -> Result<AuditKey, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(|source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| CheckpointError::BadKeyFile(path.display().to_string()))?;
        Ok(AuditKey(SigningKey::from_bytes(&bytes)))
    }

    /// Loads the key from `path`, or creates it there (mode 0600) when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<AuditKey, CheckpointError> {
        // (The key signs checkpoints: whoever reads it can forge them.)
        let io = |source| CheckpointError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::metadata(path) {
            Ok(meta) => {
                crate::db::warn_if_others_may_read(path, &meta);
                AuditKey::load(path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Written whole to a private temporary file, then linked into place: two processes
                // starting together never read a half-written key, and the loser of the race uses
                // the winner's key.
                let mut seed = [0u8; 32];
                rand::rng().fill_bytes(&mut seed);
                let mut suffix = [0u8; 8];
                rand::rng().fill_bytes(&mut suffix);
                let tmp = path.with_extension(format!(
                    "tmp-{}",
                    suffix
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                ));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let written = options.open(&tmp).and_then(|mut file| {
                    std::io::Write::write_all(
                        &mut file,
                        format!(
                            "{}\n",
                            base64::engine::general_purpose::STANDARD.encode(seed)
                        )
                        .as_bytes(),
                    )?;
                    file.sync_all()
                });
                let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => {
                        tracing::warn!(path = %path.display(), "created the audit signing key: keep a copy of it elsewhere");
                        Ok(AuditKey(SigningKey::from_bytes(&seed)))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => AuditKey::load(path),
                    Err(e) => Err(io(e)),
                }
            }
            Err(e) => Err(io(e)),
        }
    }

    /// The public key, base64.
    pub fn public_key(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.verifying_key().to_bytes())
    }

    /// Signs the chain's length and head at `at`.
    pub fn sign(&self, events: u64, head: &str, at: &str) -> Checkpoint {
        let signature = self.0.sign(message(events, head, at).as_bytes());
        Checkpoint {
            events,
            head: head.to_owned(),
            at: at.to_owned(),
            public_key: self.public_key(),
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        }
    }

    /// Checks a checkpoint was signed by this key and is intact.
    pub fn check(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        check_with(&self.public_key(), checkpoint)
    }
}

/// Checks a checkpoint was signed by the key whose public half is `public_key` (base64) — for
/// whoever holds the public key but not the key file — and is intact.
pub fn check_with(public_key: &str, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
    if checkpoint.public_key.trim() != public_key.trim() {
        return Err(CheckpointError::OtherKey);
    }
    let key: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(public_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(CheckpointError::BadPublicKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| CheckpointError::BadPublicKey)?;
    verify(&key, checkpoint)
}

fn verify(key: &VerifyingKey, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
    let bytes: [u8; 64] = base64::engine::general_purpose::STANDARD
        .decode(&checkpoint.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(CheckpointError::BadSignature)?;
    key.verify(
        message(checkpoint.events, &checkpoint.head, &checkpoint.at).as_bytes(),
        &Signature::from_bytes(&bytes),
    )
    .map_err(|_| CheckpointError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_and_any_change_to_it_does_not() {
        let dir = tempfile::tempdir().expect("a directory");
        let key = AuditKey::load_or_create(&dir.path().join("k")).expect("a key");
        let head = "a".repeat(64);
        let cp = key.sign(12, &head, "2026-11-29T12:00:00.000Z");
        assert!(key.check(&cp).is_ok());
        for tampered in [
            Checkpoint {
                events: 11,
                ..cp.clone()
            },
            Checkpoint {
                head: "b".repeat(64),
                ..cp.clone()
            },
            Checkpoint {
                at: "2026-11-30T12:00:00.000Z".to_owned(),
                ..cp.clone()
            },
        ] {
            assert!(matches!(
                key.check(&tampered),
                Err(CheckpointError::BadSignature)
            ));
        }
        let other = AuditKey::load_or_create(&dir.path().join("other")).expect("a key");
        assert!(matches!(other.check(&cp), Err(CheckpointError::OtherKey)));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("dtr-audit.key");
        let first = AuditKey::load_or_create(&path).expect("created");
        let again = AuditKey::load_or_create(&path).expect("read");
        assert_eq!(first.public_key(), again.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("a file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").expect("written");
        assert!(matches!(
            AuditKey::load_or_create(&path),
            Err(CheckpointError::BadKeyFile(_))
        ));
    }

    #[test]
    fn the_signed_text_is_the_contracts() {
        assert_eq!(
            message(3, "ab", "2026-11-29T12:00:00.000Z"),
            "dtr-audit-checkpoint/v1\n3\nab\n2026-11-29T12:00:00.000Z\n"
        );
    }
}
