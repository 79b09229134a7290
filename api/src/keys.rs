//! API keys and who a caller is (CONTRACT §2). Keys are 256 random bits, shown once, stored only as
//! their SHA-256 and compared in constant time.

use crate::entities::api_key;
use base64::Engine;
use domain::AgencyType;
use openapi::Role;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// An authenticated caller and what binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's id (recorded in audit events; never the key itself).
    pub key_id: String,
    /// What the caller may do, and for whom.
    pub scope: Scope,
}

/// A role with its binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A referring organisation.
    Referrer {
        /// The organisation's name.
        organisation: String,
        /// Its kind of specified public authority.
        agency_type: AgencyType,
    },
    /// A housing authority.
    Authority {
        /// Its current GSS code.
        gss_code: String,
    },
    /// An operator.
    Admin,
}

impl Scope {
    /// The role.
    pub fn role(&self) -> Role {
        match self {
            Scope::Referrer { .. } => Role::Referrer,
            Scope::Authority { .. } => Role::Authority,
            Scope::Admin => Role::Admin,
        }
    }
}

/// The stored SHA-256 (lowercase hex) of a key.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A new random key: `dtr_` and 256 bits in URL-safe base64.
pub fn generate_key() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "dtr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

fn scope_of(row: &api_key::Model) -> Option<Scope> {
    match Role::from_stored(&row.role)? {
        Role::Referrer => Some(Scope::Referrer {
            organisation: row.organisation.clone()?,
            agency_type: row.agency_type.as_deref()?.parse().ok()?,
        }),
        Role::Authority => Some(Scope::Authority {
            gss_code: row.gss_code.clone()?,
        }),
        Role::Admin => Some(Scope::Admin),
    }
}

/// The caller presenting `key`, if it is a known key.
pub async fn authenticate(db: &impl ConnectionTrait, key: &str) -> Result<Option<Caller>, DbErr> {
    let digest = hash_key(key);
    let row = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(digest.clone()))
        .one(db)
        .await?;
    Ok(row.and_then(|row| {
        // The index lookup found the row; compare the full digest in constant time as well.
        let same: bool = row.key_hash.as_bytes().ct_eq(digest.as_bytes()).into();
        if !same {
            return None;
        }
        Some(Caller {
            key_id: row.id.clone(),
            scope: scope_of(&row)?,
        })
    }))
}

/// Known keys by hash, so a request does not need a database round trip to authenticate.
///
/// Safe because keys are never revoked or changed in this version; a revocation feature must clear
/// the entry it revokes. Only keys that exist are cached (random tokens cannot grow it), and the
/// cache is bounded.
#[derive(Clone, Default)]
pub struct KeyCache(std::sync::Arc<std::sync::RwLock<std::collections::HashMap<String, Caller>>>);

const KEY_CACHE_LIMIT: usize = 10_000;

impl KeyCache {
    /// The caller presenting `key`: from the cache, or from the database (then cached).
    pub async fn authenticate(
        &self,
        db: &impl ConnectionTrait,
        key: &str,
    ) -> Result<Option<Caller>, DbErr> {
        let digest = hash_key(key);
        if let Some(caller) = self.0.read().ok().and_then(|m| m.get(&digest).cloned()) {
            return Ok(Some(caller));
        }
        let caller = authenticate(db, key).await?;
        if let (Some(c), Ok(mut m)) = (&caller, self.0.write()) {
            if m.len() >= KEY_CACHE_LIMIT {
                m.clear();
            }
            m.insert(digest, c.clone());
        }
        Ok(caller)
    }
}

/// Stores a key with `scope` and returns its row. `key` is hashed here; the caller shows it once.
pub async fn store_key(
    db: &impl ConnectionTrait,
    key: &str,
    scope: &Scope,
    now_ms: i64,
) -> Result<api_key::Model, DbErr> {
    let (organisation, agency_type, gss_code) = match scope {
        Scope::Referrer {
            organisation,
            agency_type,
        } => (
            Some(organisation.clone()),
            Some(agency_type.as_str().to_owned()),
            None,
        ),
        Scope::Authority { gss_code } => (None, None, Some(gss_code.clone())),
        Scope::Admin => (None, None, None),
    };
    api_key::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        key_hash: Set(hash_key(key)),
        role: Set(scope.role().as_str().to_owned()),
        organisation: Set(organisation),
        agency_type: Set(agency_type),
        gss_code: Set(gss_code),
        created_at_ms: Set(now_ms),
    }
    .insert(db)
    .await
}

/// Whether a key with this value exists.
pub async fn exists(db: &impl ConnectionTrait, key: &str) -> Result<bool, DbErr> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash_key(key)))
        .one(db)
        .await?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_256_random_bits() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.starts_with("dtr_"));
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a[4..])
            .expect("base64");
        assert_eq!(raw.len(), 32);
    }

    #[test]
    fn the_stored_hash_is_sha256_hex() {
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
