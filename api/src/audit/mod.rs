//! The audit trail (docs/contract.md §7): one append-only, hash-chained log of every state change and every
//! read of a referral's personal data.
//!
//! `hash = hex(SHA-256(prev_hash ‖ JCS(event without hash)))`, where `prev_hash` is the previous
//! event's hash as 64 lowercase hex ASCII characters (64 zeros for the first event) and JCS is the RFC
//! 8785 canonical form (`serde_jcs`): keys sorted, no whitespace, UTF-8, integers as integers. `at` is
//! always RFC 3339 UTC with exactly three fractional digits. `detail` holds codes and ids only.

pub mod checkpoint;
pub mod feed;

use crate::db::rfc3339_ms;
use crate::entities::{audit_event, feed_entry};
use crate::keys::{hex, Caller, Credential};
use domain::Vocabulary;
use openapi::{ActorRole, AuditAction};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, Statement,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub use crate::db::NOTIFY_CHANNEL;

/// PostgreSQL advisory lock key serializing appends across processes ("dtr" + 213).
pub const CHAIN_LOCK: i64 = 0x0064_7472_0213;

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The key id, or `None` for the service itself and for officers.
    pub key_id: Option<String>,
    /// The person who acted on a web page, if one did: the officer in the web inbox
    /// (docs/contract.md §10, role `officer`) or the practitioner of the referral journey (§14,
    /// role `practitioner`). One column holds either; the role says which it is.
    pub officer_id: Option<String>,
    /// The key's role, `officer`, `practitioner` or `system`.
    pub role: ActorRole,
}

impl Actor {
    /// The delivery worker and other work of the service itself.
    pub fn system() -> Self {
        Actor {
            key_id: None,
            officer_id: None,
            role: ActorRole::System,
        }
    }

    /// An officer signed in to the web inbox.
    pub fn officer(officer_id: &str) -> Self {
        Actor {
            key_id: None,
            officer_id: Some(officer_id.to_owned()),
            role: ActorRole::Officer,
        }
    }
}

impl Actor {
    /// A practitioner signed in to the referral journey (docs/contract.md §14).
    pub fn practitioner(practitioner_id: &str) -> Self {
        Actor {
            key_id: None,
            officer_id: Some(practitioner_id.to_owned()),
            role: ActorRole::Practitioner,
        }
    }
}

impl From<&Caller> for Actor {
    fn from(c: &Caller) -> Self {
        match &c.credential {
            Credential::Key(id) => Actor {
                key_id: Some(id.to_string()),
                officer_id: None,
                role: c.scope.role().into(),
            },
            Credential::Officer(id) => Actor::officer(id.as_str()),
            Credential::Practitioner(id) => Actor::practitioner(id.as_str()),
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Who.
    pub actor: Actor,
    /// What happened.
    pub action: AuditAction,
    /// The referral concerned.
    pub referral_id: Option<String>,
    /// Codes and ids only: never names, contact details, dates of birth or free text.
    pub detail: Value,
}

impl NewEvent {
    /// An event about `referral_id`.
    pub fn about(actor: Actor, action: AuditAction, referral_id: &str, detail: Value) -> Self {
        NewEvent {
            actor,
            action,
            referral_id: Some(referral_id.to_owned()),
            detail,
        }
    }
}

/// The event as hashed: every member but `hash`.
struct Unhashed<'a> {
    seq: i64,
    at: &'a str,
    actor_key_id: Option<&'a str>,
    actor_officer_id: Option<&'a str>,
    actor_role: &'a str,
    action: &'a str,
    referral_id: Option<&'a str>,
    detail: &'a Value,
    prev_hash: &'a str,
}

impl Unhashed<'_> {
    /// `{key_id, role}`, with `officer_id` only for an officer's event and `practitioner_id` only
    /// for a practitioner's: events before either existed hash exactly as they did.
    fn actor(&self) -> Value {
        let mut actor = json!({ "key_id": self.actor_key_id, "role": self.actor_role });
        if let Some(person) = self.actor_officer_id {
            actor[person_member(self.actor_role)] = json!(person);
        }
        actor
    }

    fn to_value(&self) -> Value {
        json!({
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor(),
            "action": self.action,
            "referral_id": self.referral_id,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
        })
    }
}

/// The actor member naming the person of a web page's event: a practitioner's id is
/// `practitioner_id`, an officer's `officer_id`.
pub fn person_member(role: &str) -> &'static str {
    if role == ActorRole::Practitioner.term() {
        "practitioner_id"
    } else {
        "officer_id"
    }
}

/// The hash of an event given its unhashed form.
pub fn chain_hash(prev_hash: &str, event: &Value) -> String {
    let canonical = serde_jcs::to_vec(event).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(&canonical);
    hex(&h.finalize())
}

/// The hash a stored row should have.
pub fn expected_hash(row: &audit_event::Model) -> String {
    let detail: Value = serde_json::from_str(&row.detail).unwrap_or(Value::Null);
    let event = Unhashed {
        seq: row.seq,
        at: &row.at,
        actor_key_id: row.actor_key_id.as_deref(),
        actor_officer_id: row.actor_officer_id.as_deref(),
        actor_role: &row.actor_role,
        action: &row.action,
        referral_id: row.referral_id.as_deref(),
        detail: &detail,
        prev_hash: &row.prev_hash,
    };
    chain_hash(&row.prev_hash, &event.to_value())
}

/// The actions the event feed carries: what a referrer or an authority learns of a referral's
/// progress (docs/contract.md §9). The list may grow; clients accept unknown actions.
pub const FEED_ACTIONS: &[AuditAction] = &[
    AuditAction::ReferralAccepted,
    AuditAction::DeliverySucceeded,
    AuditAction::DeliveryFailed,
    AuditAction::ReferralViewed,
    AuditAction::ReferralAcknowledged,
    AuditAction::ReferralOutcomeRecorded,
    AuditAction::ReferralWithdrawn,
    AuditAction::NoteAdded,
    AuditAction::ReferralErased,
    AuditAction::NotificationSent,
];

/// The referrer scope as the feed index stores it: organisation and agency type joined by U+001F,
/// which neither may contain.
pub fn referrer_scope(organisation: &str, agency_type: &str) -> String {
    format!("{organisation}\u{1f}{agency_type}")
}

/// Appends events in order, inside the caller's transaction (so they commit with the change they
/// record, or not at all).
pub async fn append(
    txn: &impl ConnectionTrait,
    now_ms: i64,
    events: Vec<NewEvent>,
) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        // Held to the end of the transaction: one appender at a time across every process.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [CHAIN_LOCK.into()],
        ))
        .await?;
    }
    let last = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Seq)
        .limit(1)
        .one(txn)
        .await?;
    let (mut seq, mut prev) = last.map_or((0, GENESIS.to_owned()), |e| (e.seq, e.hash));
    let at = rfc3339_ms(now_ms);
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        seq += 1;
        let event = Unhashed {
            seq,
            at: &at,
            actor_key_id: e.actor.key_id.as_deref(),
            actor_officer_id: e.actor.officer_id.as_deref(),
            actor_role: e.actor.role.term(),
            action: e.action.term(),
            referral_id: e.referral_id.as_deref(),
            detail: &e.detail,
            prev_hash: &prev,
        }
        .to_value();
        let hash = chain_hash(&prev, &event);
        rows.push(audit_event::ActiveModel {
            seq: Set(seq),
            at: Set(at.clone()),
            actor_key_id: Set(e.actor.key_id),
            actor_officer_id: Set(e.actor.officer_id),
            actor_role: Set(e.actor.role.term().to_owned()),
            action: Set(e.action.term().to_owned()),
            referral_id: Set(e.referral_id),
            detail: Set(serde_jcs::to_string(&e.detail).unwrap_or_else(|_| "null".to_owned())),
            prev_hash: Set(std::mem::replace(&mut prev, hash.clone())),
            hash: Set(hash),
        });
    }
    // The feed's index: the scopes of the referrals the feed's events are about.
    let fed: Vec<(i64, String)> = rows
        .iter()
        .filter_map(|r| {
            let referral = r.referral_id.as_ref().clone()?;
            let action = AuditAction::from_term(r.action.as_ref())?;
            FEED_ACTIONS
                .contains(&action)
                .then(|| (*r.seq.as_ref(), referral))
        })
        .collect();
    // One multi-row statement per append, in chunks well under either database's parameter limit.
    for chunk in crate::db::pow2_chunks(&rows, 64) {
        audit_event::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await?;
    }
    if !fed.is_empty() {
        let mut ids: Vec<&String> = fed.iter().map(|(_, id)| id).collect();
        ids.sort();
        ids.dedup();
        let scopes: std::collections::HashMap<String, (String, String)> =
            crate::entities::referral::Entity::find()
                .select_only()
                .column(crate::entities::referral::Column::Id)
                .column(crate::entities::referral::Column::Organisation)
                .column(crate::entities::referral::Column::AgencyType)
                .column(crate::entities::referral::Column::GssCode)
                .filter(crate::entities::referral::Column::Id.is_in(ids.into_iter().cloned()))
                .into_tuple::<(String, String, String, String)>()
                .all(txn)
                .await?
                .into_iter()
                .map(|(id, organisation, agency, gss)| {
                    (id, (referrer_scope(&organisation, &agency), gss))
                })
                .collect();
        let entries: Vec<feed_entry::ActiveModel> = fed
            .into_iter()
            .filter_map(|(seq, id)| {
                let (referrer, gss_code) = scopes.get(&id)?.clone();
                Some(feed_entry::ActiveModel {
                    seq: Set(seq),
                    referrer: Set(referrer),
                    gss_code: Set(gss_code),
                })
            })
            .collect();
        for chunk in crate::db::pow2_chunks(&entries, 64) {
            feed_entry::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(txn)
                .await?;
        }
    }
    if txn.get_database_backend() == DbBackend::Postgres && !rows.is_empty() {
        // Delivered when the transaction commits, to every process LISTENing.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, '')",
            [NOTIFY_CHANNEL.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The chain's length and head as committed now: the last event's sequence number and hash
/// (0 and the genesis hash when empty). Sequence numbers run from 1 without gaps, so the last one is
/// the length.
pub async fn head(db: &impl ConnectionTrait) -> Result<(u64, String), DbErr> {
    let last = audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Seq)
        .one(db)
        .await?;
    Ok(match last {
        Some(row) => (u64::try_from(row.seq).unwrap_or(0), row.hash),
        None => (0, GENESIS.to_owned()),
    })
}

/// The hash of event `seq`, if there is one.
pub async fn hash_at(db: &impl ConnectionTrait, seq: i64) -> Result<Option<String>, DbErr> {
    Ok(audit_event::Entity::find()
        .filter(audit_event::Column::Seq.eq(seq))
        .one(db)
        .await?
        .map(|row| row.hash))
}

/// The outcome of verifying the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Events read.
    pub events: u64,
    /// Hash of the last event read (the head when intact).
    pub head: String,
    /// The first sequence number whose event, link or position is wrong.
    pub first_broken: Option<i64>,
}

/// Re-verifies the whole chain in pages of `PAGE` rows, so memory stays bounded however long it is.
/// Catches edited, deleted, inserted and reordered rows: each row must be the next `seq`, link to the
/// previous hash and hash to its own `hash`.
pub async fn verify(db: &impl ConnectionTrait) -> Result<Verification, DbErr> {
    const PAGE: u64 = 1000;
    let mut expected_seq = 1;
    let mut prev = GENESIS.to_owned();
    let mut events = 0;
    loop {
        let page = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.gte(expected_seq))
            .order_by_asc(audit_event::Column::Seq)
            .limit(PAGE)
            .all(db)
            .await?;
        let done = (page.len() as u64) < PAGE;
        for row in page {
            events += 1;
            if row.seq != expected_seq || row.prev_hash != prev || expected_hash(&row) != row.hash {
                return Ok(Verification {
                    events,
                    head: prev,
                    first_broken: Some(expected_seq.min(row.seq)),
                });
            }
            prev = row.hash;
            expected_seq += 1;
        }
        if done {
            return Ok(Verification {
                events,
                head: prev,
                first_broken: None,
            });
        }
    }
}

/// A referral's events, oldest first, after `after_seq`.
pub async fn for_referral(
    db: &impl ConnectionTrait,
    referral_id: &str,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    audit_event::Entity::find()
        .filter(audit_event::Column::ReferralId.eq(referral_id))
        .filter(audit_event::Column::Seq.gt(after_seq))
        .order_by_asc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await
}

/// A referral's latest `limit` events, oldest first (the web inbox's history of a referral).
pub async fn latest_for_referral(
    db: &impl ConnectionTrait,
    referral_id: &str,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    let mut events = audit_event::Entity::find()
        .filter(audit_event::Column::ReferralId.eq(referral_id))
        .order_by_desc(audit_event::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    events.reverse();
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_prev_hash_and_the_canonical_event() {
        let detail = json!({"b": 1, "a": [2]});
        let event = Unhashed {
            seq: 1,
            at: "2026-11-23T12:00:00.000Z",
            actor_key_id: None,
            actor_officer_id: None,
            actor_role: "system",
            action: "referral.accepted",
            referral_id: Some("r"),
            detail: &detail,
            prev_hash: GENESIS,
        }
        .to_value();
        let canonical = serde_jcs::to_string(&event).expect("jcs");
        assert_eq!(
            canonical,
            r#"{"action":"referral.accepted","actor":{"key_id":null,"role":"system"},"at":"2026-11-23T12:00:00.000Z","detail":{"a":[2],"b":1},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","referral_id":"r","seq":1}"#
        );
        let mut h = Sha256::new();
        h.update(GENESIS.as_bytes());
        h.update(canonical.as_bytes());
        assert_eq!(chain_hash(GENESIS, &event), hex(&h.finalize()));
    }

    #[test]
    fn the_readme_worked_example_hashes_as_documented() {
        let detail = json!({"key_id": "0b1c6c3e-51a4-4f0e-9d3a-2c8f1e7a9b10", "role": "admin", "bootstrap": true});
        let event = Unhashed {
            seq: 1,
            at: "2026-11-23T12:00:00.000Z",
            actor_key_id: None,
            actor_officer_id: None,
            actor_role: "system",
            action: "api_key.created",
            referral_id: None,
            detail: &detail,
            prev_hash: GENESIS,
        }
        .to_value();
        assert_eq!(
            serde_jcs::to_string(&event).expect("jcs"),
            r#"{"action":"api_key.created","actor":{"key_id":null,"role":"system"},"at":"2026-11-23T12:00:00.000Z","detail":{"bootstrap":true,"key_id":"0b1c6c3e-51a4-4f0e-9d3a-2c8f1e7a9b10","role":"admin"},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000","referral_id":null,"seq":1}"#
        );
        assert_eq!(
            chain_hash(GENESIS, &event),
            "a51e39e53333150813b38fd96305aa9ae510a4f80ab42dc336c2625951237b61"
        );
    }
}
