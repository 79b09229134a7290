//! API keys and who a caller is (docs/contract.md §2, §11). Keys are 256 random bits, shown once, stored only
//! as their SHA-256 (a key of 256 random bits needs no slow hash: it cannot be guessed), looked up by
//! that hash in memory, and revocable.

pub mod commands;

use crate::entities::api_key;
use crate::ids::{GssCode, KeyId, OfficerId, PractitionerId};
use base64::Engine;
use domain::AgencyType;
use openapi::Role;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Who is acting, on any surface: a case system with an API key, an officer signed in to the
/// web inbox (who acts as their authority), or a practitioner signed in to the referral journey
/// (who refers as their organisation). The one identity every use case takes: what the caller
/// may see and do comes from `scope`, how the audit trail and a note name them from `credential`
/// (`audit::Actor::from`, `referrals::repository::NoteAuthor::of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// How the caller proved who they are.
    pub credential: Credential,
    /// What the caller may do, and for whom.
    pub scope: Scope,
}

/// How a caller proved who they are: the id the audit trail records (never a key or a cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key.
    Key(KeyId),
    /// An officer's web session (docs/contract.md §10).
    Officer(OfficerId),
    /// A practitioner's web session (docs/contract.md §14).
    Practitioner(PractitionerId),
}

impl Caller {
    /// An officer of `gss_code`, signed in to the web inbox: seen by the service as that
    /// authority, named in the trail as the officer.
    pub fn officer(officer: OfficerId, gss_code: GssCode) -> Caller {
        Caller {
            credential: Credential::Officer(officer),
            scope: Scope::Authority { gss_code },
        }
    }

    /// A practitioner referring as `organisation` and `agency_type`.
    pub fn practitioner(
        practitioner: PractitionerId,
        organisation: String,
        agency_type: AgencyType,
    ) -> Caller {
        Caller {
            credential: Credential::Practitioner(practitioner),
            scope: Scope::Referrer {
                organisation,
                agency_type,
            },
        }
    }

    /// Whether the caller acts as a housing authority (a key's or an officer's).
    pub fn is_authority(&self) -> bool {
        matches!(self.scope, Scope::Authority { .. })
    }

    /// The API key's id, for a caller with a key.
    pub fn key_id(&self) -> Option<&KeyId> {
        match &self.credential {
            Credential::Key(id) => Some(id),
            _ => None,
        }
    }

    /// The id of whoever acts, whatever their credential (a key's, an officer's or a
    /// practitioner's): what a submission records as `submitted_by` and a long poll is counted
    /// under.
    pub fn id(&self) -> &str {
        match &self.credential {
            Credential::Key(id) => id.as_str(),
            Credential::Officer(id) => id.as_str(),
            Credential::Practitioner(id) => id.as_str(),
        }
    }
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
        gss_code: GssCode,
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
            gss_code: GssCode::stored(row.gss_code.clone()?),
        }),
        Role::Admin => Some(Scope::Admin),
    }
}

/// The caller a stored, unrevoked key stands for.
fn caller_of(row: &api_key::Model) -> Option<Caller> {
    if row.revoked_at_ms.is_some() {
        return None;
    }
    Some(Caller {
        credential: Credential::Key(KeyId::stored(row.id.clone())),
        scope: scope_of(row)?,
    })
}

/// How many unknown tokens a second may be looked up in the database (a key just created by another
/// process is found at once); beyond that a miss is answered from memory, so a flood of random
/// tokens costs at most this many queries a second.
const MISS_LOOKUPS_PER_SECOND: u32 = 20;

/// Every active key by the hash of its value, held in memory, so that authenticating a request
/// costs no database query — neither for a known key nor for a flood of random tokens.
///
/// The ring is reloaded from the database every second by a background task (so a key revoked by
/// another process on the same PostgreSQL is refused within a second or two) and at once when this
/// process creates or revokes one; an unknown token is looked up by its hash, at most
/// [`MISS_LOOKUPS_PER_SECOND`] a second. When each key was last used is gathered here and written to
/// the database every few seconds, not once per request.
#[derive(Clone)]
pub struct KeyRing(Arc<Ring>);

impl Default for KeyRing {
    fn default() -> Self {
        KeyRing(Arc::new(Ring {
            by_hash: RwLock::default(),
            generation: std::sync::atomic::AtomicU64::default(),
            miss_lookups: governor::RateLimiter::direct(governor::Quota::per_second(
                std::num::NonZeroU32::new(MISS_LOOKUPS_PER_SECOND)
                    .unwrap_or(std::num::NonZeroU32::MIN),
            )),
            used: std::sync::Mutex::default(),
        }))
    }
}

struct Ring {
    /// The keys, and the generation of the reload (or forget) that wrote them.
    by_hash: RwLock<(HashMap<String, Caller>, u64)>,
    /// The last generation handed out: each reload and each forget takes the next one, and a
    /// reload writes only if no later generation has written meanwhile — so a reload that read the
    /// database before a key was created or revoked cannot land after it and undo it.
    generation: std::sync::atomic::AtomicU64,
    miss_lookups: governor::DefaultDirectRateLimiter,
    used: std::sync::Mutex<HashMap<String, i64>>,
}

impl Ring {
    fn next_generation(&self) -> u64 {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1
    }
}

impl KeyRing {
    /// The caller presenting `token`, if it is an active key; `now_ms` is recorded as its last use.
    pub async fn authenticate(
        &self,
        db: &impl ConnectionTrait,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<Caller>, DbErr> {
        let digest = hash_key(token);
        let mut caller = self.lookup(&digest);
        if caller.is_none() && self.0.miss_lookups.check().is_ok() {
            let found = api_key::Entity::find()
                .filter(api_key::Column::KeyHash.eq(digest.clone()))
                .one(db)
                .await?;
            caller = found.as_ref().and_then(caller_of);
            if let (Some(c), Ok(mut ring)) = (&caller, self.0.by_hash.write()) {
                ring.0.insert(digest, c.clone());
            }
        }
        if let Some(c) = &caller {
            if let Ok(mut used) = self.0.used.lock() {
                used.insert(c.id().to_owned(), now_ms);
            }
        }
        Ok(caller)
    }

    /// The active key with this hash, from memory only.
    pub fn lookup(&self, digest: &str) -> Option<Caller> {
        self.0.by_hash.read().ok()?.0.get(digest).cloned()
    }

    /// Reloads every active key from the database.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let generation = self.0.next_generation();
        let rows = api_key::Entity::find()
            .filter(api_key::Column::RevokedAtMs.is_null())
            .all(db)
            .await?;
        let fresh: HashMap<String, Caller> = rows
            .iter()
            .filter_map(|r| Some((r.key_hash.clone(), caller_of(r)?)))
            .collect();
        if let Ok(mut ring) = self.0.by_hash.write() {
            if generation > ring.1 {
                *ring = (fresh, generation);
            }
        }
        Ok(())
    }

    /// Forgets a revoked key in this process at once.
    pub fn forget(&self, key_id: &str) {
        let generation = self.0.next_generation();
        if let Ok(mut ring) = self.0.by_hash.write() {
            ring.0
                .retain(|_, c| c.key_id().is_none_or(|id| id.as_str() != key_id));
            ring.1 = ring.1.max(generation);
        }
    }

    /// Writes when each key used since the last flush was last used.
    pub async fn flush_last_used(&self, db: &impl ConnectionTrait) -> Result<(), DbErr> {
        let used: Vec<(String, i64)> = match self.0.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return Ok(()),
        };
        for (id, at) in used {
            api_key::Entity::update_many()
                .col_expr(api_key::Column::LastUsedAtMs, Expr::value(at))
                .filter(api_key::Column::Id.eq(id))
                .filter(
                    Condition::any()
                        .add(api_key::Column::LastUsedAtMs.is_null())
                        .add(api_key::Column::LastUsedAtMs.lt(at)),
                )
                .exec(db)
                .await?;
        }
        Ok(())
    }
}

/// Stores a key with `scope` and returns its row. `key` is hashed here; the caller shows it once.
pub async fn store_key(
    db: &impl ConnectionTrait,
    key: &str,
    scope: &Scope,
    bootstrap: bool,
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
        Scope::Authority { gss_code } => (None, None, Some(gss_code.to_string())),
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
        revoked_at_ms: Set(None),
        last_used_at_ms: Set(None),
        bootstrap: Set(bootstrap),
    }
    .insert(db)
    .await
}

/// The stored key with this value, revoked or not.
pub async fn find_by_value(
    db: &impl ConnectionTrait,
    key: &str,
) -> Result<Option<api_key::Model>, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash_key(key)))
        .one(db)
        .await
}

/// A page of keys, oldest first, after the key with `after` (created_at_ms, id).
pub async fn list(
    db: &impl ConnectionTrait,
    after: Option<(i64, String)>,
    limit: u64,
) -> Result<Vec<api_key::Model>, DbErr> {
    let mut q = api_key::Entity::find();
    if let Some((at, id)) = after {
        q = q.filter(
            Condition::any()
                .add(api_key::Column::CreatedAtMs.gt(at))
                .add(
                    Condition::all()
                        .add(api_key::Column::CreatedAtMs.eq(at))
                        .add(api_key::Column::Id.gt(id)),
                ),
        );
    }
    q.order_by_asc(api_key::Column::CreatedAtMs)
        .order_by_asc(api_key::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The key with this id.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<api_key::Model>, DbErr> {
    api_key::Entity::find_by_id(id.to_owned()).one(db).await
}

/// How many active admin keys there are.
pub async fn active_admins(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    api_key::Entity::find()
        .filter(api_key::Column::Role.eq(Role::Admin.as_str()))
        .filter(api_key::Column::RevokedAtMs.is_null())
        .count(db)
        .await
}

/// Marks a key revoked (in the caller's transaction).
pub async fn mark_revoked(db: &impl ConnectionTrait, id: &str, now_ms: i64) -> Result<(), DbErr> {
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAtMs, Expr::value(now_ms))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAtMs.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The active bootstrap keys other than the one with this value (or all of them).
pub async fn other_bootstrap_keys(
    db: &impl ConnectionTrait,
    keep: Option<&str>,
) -> Result<Vec<api_key::Model>, DbErr> {
    let mut q = api_key::Entity::find()
        .filter(api_key::Column::Bootstrap.eq(true))
        .filter(api_key::Column::RevokedAtMs.is_null());
    if let Some(value) = keep {
        q = q.filter(api_key::Column::KeyHash.ne(hash_key(value)));
    }
    q.all(db).await
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
