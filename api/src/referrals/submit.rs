//! Submitting a referral: the one use case behind `POST /v1/referrals` and, next, the
//! practitioner's web journey. It judges the document by `domain` (the same rules as
//! `POST /v1/referrals/validate`), answers a repeated `Idempotency-Key` with the original, and hands
//! the new row to the group-commit writer, whose transaction asks `lifecycle::accept` for status,
//! mode and due time. A refusal stores nothing personal: only its error codes, in the trail.

use super::group_commit::BatchWriter;
use super::lifecycle::{self, Status, Submission};
use super::repository as store;
use crate::audit::{Actor, NewEvent};
use crate::db::Db;
use crate::entities::referral;
use crate::keys;
use domain::{AgencyType, AsOf, JsonDocument, Referral};
use openapi::AuditAction;
use sea_orm::{DbErr, SqlErr};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Who submits: the referring organisation and agency type (from the API key, or from a
/// practitioner's organisation), the credential that submitted, and how the trail names them.
#[derive(Debug, Clone)]
pub struct Referrer {
    /// The organisation's name; referrals and Idempotency-Keys are scoped to it and `agency_type`.
    pub organisation: String,
    /// Its kind of specified public authority.
    pub agency_type: AgencyType,
    /// The API key id (or practitioner id) recorded as `submitted_by`.
    pub submitted_by: String,
    /// The audit actor.
    pub actor: Actor,
}

/// What became of a submission that was not refused.
#[derive(Debug)]
pub enum Submitted {
    /// A new referral, stored with its audit events.
    Created(referral::Model),
    /// The same Idempotency-Key and body as an earlier submission: that referral, unchanged.
    Replayed(referral::Model),
}

impl Submitted {
    /// The referral either way.
    pub fn row(&self) -> &referral::Model {
        match self {
            Submitted::Created(row) | Submitted::Replayed(row) => row,
        }
    }
}

/// Why a submission stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The document breaks rules: every problem, in document order.
    #[error("the referral is invalid")]
    Invalid(Vec<domain::Issue>),
    /// The Idempotency-Key was used before for a different body.
    #[error("the Idempotency-Key was used for another referral")]
    KeyReused,
    /// The database failed (or the writer is full).
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The canonical (RFC 8785) hash of a request body: equal bodies hash alike whatever their member
/// order or spacing, so a retry with the same key is recognised.
pub fn request_hash(body: &serde_json::Value) -> String {
    keys::hex(&Sha256::digest(serde_jcs::to_vec(body).unwrap_or_default()))
}

/// Submits `document` for `referrer`, as of `now`. `idempotency_key` (already checked for length
/// and printable characters by the caller's reader) makes retries safe.
pub async fn submit(
    db: &Db,
    writer: &BatchWriter,
    referrer: &Referrer,
    document: &JsonDocument,
    idempotency_key: Option<&str>,
    now: jiff::Timestamp,
) -> Result<Submitted, SubmitError> {
    let hash = request_hash(document.value());
    if let Some(key) = idempotency_key {
        if let Some(original) = replay(db, referrer, key, &hash).await? {
            return Ok(Submitted::Replayed(original));
        }
    }
    let ms = now.as_millisecond();
    let accepted = match Referral::parse_document(
        document,
        &AsOf::at(now).referred_by(Some(referrer.agency_type)),
    ) {
        Ok(accepted) => accepted,
        Err(refused) => {
            let submission = uuid::Uuid::new_v4().to_string();
            let codes = distinct_codes(&refused.errors);
            writer
                .append(vec![
                    NewEvent {
                        actor: referrer.actor.clone(),
                        action: AuditAction::ReferralReceived,
                        referral_id: None,
                        detail: json!({ "submission_id": submission }),
                    },
                    NewEvent {
                        actor: referrer.actor.clone(),
                        action: AuditAction::ReferralRejected,
                        referral_id: None,
                        detail: json!({ "submission_id": submission, "error_codes": codes }),
                    },
                ])
                .await?;
            return Err(SubmitError::Invalid(refused.errors));
        }
    };
    let authority = accepted.referral.housing_authority();
    let submission = Submission {
        row: new_row(
            referrer,
            &authority.gss_code,
            &accepted,
            idempotency_key,
            hash.clone(),
            ms,
        ),
        actor: referrer.actor.clone(),
        warning_codes: accepted.warnings.iter().map(|i| i.code.as_str()).collect(),
    };
    match writer.accept(submission).await {
        Ok(row) => Ok(Submitted::Created(row)),
        Err(e)
            if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
                && idempotency_key.is_some() =>
        {
            // A concurrent submission with the same Idempotency-Key won the race.
            let key = idempotency_key.unwrap_or_default();
            match replay(db, referrer, key, &hash).await? {
                Some(original) => Ok(Submitted::Replayed(original)),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The earlier referral of a repeated Idempotency-Key when the body is the same. Keys are scoped to
/// the organisation *and* agency type, as visibility is (docs/contract.md §11), so two agency types
/// of one organisation never meet each other's keys.
async fn replay(
    db: &Db,
    referrer: &Referrer,
    key: &str,
    hash: &str,
) -> Result<Option<referral::Model>, SubmitError> {
    let existing = store::find_by_idempotency_key(
        db.conn(),
        &referrer.organisation,
        referrer.agency_type.as_str(),
        key,
    )
    .await?;
    match existing {
        None => Ok(None),
        Some(row) if row.request_hash.as_deref() == Some(hash) => Ok(Some(row)),
        Some(_) => Err(SubmitError::KeyReused),
    }
}

/// The most distinct error codes a rejected submission's audit event holds: the trail is
/// append-only, and a body of thousands of unknown members must not write kilobytes into it.
const MAX_AUDITED_CODES: usize = 50;

/// The distinct error codes of a refusal, in first-seen order, at most [`MAX_AUDITED_CODES`]: what
/// the trail keeps of it.
fn distinct_codes(errors: &[domain::Issue]) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = Vec::new();
    for issue in errors {
        if !codes.contains(&issue.code.as_str()) {
            codes.push(issue.code.as_str());
            if codes.len() == MAX_AUDITED_CODES {
                break;
            }
        }
    }
    codes
}

/// The new row: what the submission fixes. Status, mode and due time are placeholders that
/// `lifecycle::accept` decides inside the writer's transaction.
fn new_row(
    referrer: &Referrer,
    gss_code: &str,
    accepted: &domain::Accepted,
    idempotency_key: Option<&str>,
    request_hash: String,
    ms: i64,
) -> referral::Model {
    referral::Model {
        seq: 0,
        // A time-ordered UUID (v7, RFC 9562): its 74 random bits keep it unguessable, and new ids
        // land at the end of the id indexes instead of on a random page each (a smaller WAL).
        id: uuid::Uuid::now_v7().to_string(),
        organisation: referrer.organisation.clone(),
        agency_type: referrer.agency_type.as_str().to_owned(),
        submitted_by: referrer.submitted_by.clone(),
        gss_code: gss_code.to_owned(),
        status: Status::AwaitingCollection,
        delivery_mode: lifecycle::Mode::Pull,
        submitted_at_ms: ms,
        document: accepted.referral.to_json().to_string(),
        warnings: serde_json::to_string(&accepted.warnings).unwrap_or_else(|_| "[]".to_owned()),
        idempotency_key: idempotency_key.map(store::idempotency_hash),
        request_hash: Some(request_hash),
        webhook_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        attempts: 0,
        next_attempt_at_ms: None,
        lease_until_ms: None,
        lease_owner: None,
        last_attempt_at_ms: None,
        last_error: None,
        delivered_at_ms: None,
        acknowledged_at_ms: None,
        received_by: None,
        local_reference: None,
        outcome_decision: None,
        outcome_reason: None,
        outcome_other_gss_code: None,
        outcome_recorded_at_ms: None,
        withdrawal_reason: None,
        withdrawn_at_ms: None,
        status_changed_at_ms: None,
        erased_at_ms: None,
    }
}
