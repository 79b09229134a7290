//! Referrals (CONTRACT §3–§6): validate, submit, list, read, acknowledge, redeliver. Each handler
//! reads as the story of the request: authenticate → parse → decide (domain) → persist (one
//! transaction, audit included) → answer.

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::paging::{cursor_seq, page_limit};
use super::AppState;
use crate::audit::{self, Actor, NewEvent};
use crate::batch::{NewReferral, Write, Written};
use crate::entities::referral;
use crate::keys::{self, Caller, Scope};
use crate::store;
use domain::{AsOf, Referral};
use openapi::AuditAction;
use openapi::{
    AcknowledgeRequest, JsonBody, ReferralBody, ReferralList, ReferralResource, ReferralStatus,
    Role, ValidationIssue, ValidationReport,
};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, SqlErr,
};
use serde_json::json;
use sha2::{Digest, Sha256};

/// `201 Created` with the new referral and its `Location`.
#[derive(ApiResponse)]
pub enum Submitted {
    /// The referral was accepted and stored (or this is the original answer to a repeated
    /// `Idempotency-Key`).
    #[oai(status = 201)]
    Created(Json<ReferralResource>, #[oai(header = "Location")] String),
}

/// `202 Accepted`: the referral is queued again.
#[derive(ApiResponse)]
pub enum Requeued {
    /// Queued for delivery again.
    #[oai(status = 202)]
    Accepted(Json<ReferralResource>),
}

fn issues(list: &[domain::Issue]) -> Vec<ValidationIssue> {
    list.iter().map(Into::into).collect()
}

fn codes(list: &[domain::Issue]) -> Vec<&'static str> {
    list.iter().map(|i| i.code.as_str()).collect()
}

/// SHA-256 of the canonical (RFC 8785) form of a body: the same JSON however it is spaced or ordered.
fn request_hash(body: &serde_json::Value) -> String {
    keys::hex(&Sha256::digest(serde_jcs::to_vec(body).unwrap_or_default()))
}

/// The referral operations.
pub struct ReferralsApi;

#[OpenApi]
impl ReferralsApi {
    /// Validate a referral without storing it
    ///
    /// Checks the document against every rule at once and answers **200** for any JSON object:
    /// `valid`, every error and warning with an RFC 6901 `pointer` and a stable `code`, and the
    /// `normalized` referral when valid. Nothing is stored or logged. Roles: referrer, admin.
    #[oai(
        path = "/v1/referrals/validate",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "validate_referral"
    )]
    async fn validate(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: ReferralBody,
    ) -> Result<Json<ValidationReport>, ApiError> {
        require(
            &auth.0,
            &[Role::Referrer, Role::Admin],
            "validate referrals",
        )?;
        let outcome = Referral::parse_document(&body.0, &AsOf::at(state.clock.now()));
        Ok(Json(ValidationReport::of(&outcome)))
    }

    /// Submit a referral
    ///
    /// Validates, stores and queues the referral for the chosen authority, in one transaction with its
    /// audit events. **201** with `Location`; **422** (`urn:dtr:problem:referral.invalid`) with every
    /// error when invalid — nothing personal is stored then, only the error codes in the audit trail.
    /// The organisation and agency type come from the API key. Send an `Idempotency-Key` to make
    /// retries safe: the same key and body from the same organisation answer the original referral;
    /// the same key with another body is 422 `idempotency.key_reused`. Role: referrer.
    #[oai(
        path = "/v1/referrals",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "submit_referral"
    )]
    async fn submit(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Up to 255 characters; retries with the same key and body create nothing new.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Option<String>>,
        body: ReferralBody,
    ) -> Result<Submitted, ApiError> {
        let caller = &auth.0;
        let Scope::Referrer {
            organisation,
            agency_type,
        } = &caller.scope
        else {
            return Err(ApiError::forbidden(
                "Only a referrer key may submit referrals.",
            ));
        };
        let key = idempotency_key.0.filter(|k| !k.is_empty());
        if key
            .as_ref()
            .is_some_and(|k| k.len() > 255 || k.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(
                "Idempotency-Key must be 1 to 255 printable characters.",
            ));
        }
        let document = body.0;
        let hash = request_hash(document.value());
        if let Some(key) = &key {
            if let Some(original) = Self::replay(&state, caller, organisation, key, &hash).await? {
                return Ok(original);
            }
        }
        let now = state.clock.now();
        let ms = now.as_millisecond();
        let actor = Actor::from(caller);
        let accepted = match Referral::parse_document(&document, &AsOf::at(now)) {
            Ok(accepted) => accepted,
            Err(refused) => {
                let submission = uuid::Uuid::new_v4().to_string();
                let events = vec![
                    NewEvent {
                        actor: actor.clone(),
                        action: AuditAction::ReferralReceived,
                        referral_id: None,
                        detail: json!({ "submission_id": submission }),
                    },
                    NewEvent {
                        actor,
                        action: AuditAction::ReferralRejected,
                        referral_id: None,
                        detail: json!({ "submission_id": submission, "error_codes": codes(&refused.errors) }),
                    },
                ];
                state.writer.write(Write::Events(events)).await?;
                state.metrics.rejected(&refused.errors);
                return Err(ApiError::invalid(
                    openapi::ProblemType::ReferralInvalid,
                    format!(
                        "The referral has {} error(s); see errors.",
                        refused.errors.len()
                    ),
                    issues(&refused.errors),
                ));
            }
        };

        let authority = accepted.referral.housing_authority();
        // A time-ordered UUID (v7, RFC 9562): its 74 random bits keep it unguessable, and new ids land
        // at the end of the id indexes instead of on a random page each, which keeps the WAL small.
        let id = uuid::Uuid::now_v7().to_string();
        let row = referral::Model {
            seq: 0,
            id: id.clone(),
            organisation: organisation.clone(),
            agency_type: agency_type.as_str().to_owned(),
            submitted_by: caller.key_id.clone(),
            gss_code: authority.gss_code.clone(),
            // Status, delivery mode and due time are decided by the writer, inside the transaction.
            status: String::new(),
            delivery_mode: String::new(),
            submitted_at_ms: ms,
            document: accepted.referral.to_json().to_string(),
            warnings: serde_json::to_string(&accepted.warnings).unwrap_or_else(|_| "[]".to_owned()),
            idempotency_key: key.clone(),
            request_hash: Some(hash.clone()),
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
        };
        let events = vec![
            NewEvent::about(actor.clone(), AuditAction::ReferralReceived, &id, json!({})),
            NewEvent::about(
                actor,
                AuditAction::ReferralAccepted,
                &id,
                json!({
                    "gss_code": authority.gss_code,
                    "warning_codes": codes(&accepted.warnings),
                }),
            ),
        ];
        let stored = match state
            .writer
            .write(Write::Accept(Box::new(NewReferral { row, events })))
            .await
        {
            Ok(Written::Accepted(row)) => row,
            Ok(_) => {
                return Err(sea_orm::DbErr::Custom(
                    "the writer answered a submission with another kind of result".into(),
                )
                .into())
            }
            Err(e)
                if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
                    && key.is_some() =>
            {
                // A concurrent request with the same Idempotency-Key won the race.
                let key = key.unwrap_or_default();
                return match Self::replay(&state, caller, organisation, &key, &hash).await? {
                    Some(original) => Ok(original),
                    None => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        state.metrics.accepted();
        if stored.status == ReferralStatus::Queued.as_str() {
            state.wake_worker();
        }
        tracing::info!(referral_id = %id, gss_code = %authority.gss_code, status = %stored.status, "referral accepted");
        Ok(Submitted::Created(
            Json(store::resource(&stored, false)),
            format!("/v1/referrals/{id}"),
        ))
    }

    /// List referrals
    ///
    /// Newest first. A referrer sees its organisation's referrals, an authority those addressed to it
    /// (its inbox), an admin all. Listing does not count as reading a referral: items carry no
    /// document. Filter by `status`; page with `limit` (1–100, default 50) and `cursor`.
    #[oai(
        path = "/v1/referrals",
        method = "get",
        tag = "Tag::Referrals",
        operation_id = "list_referrals"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Only referrals in this status.
        status: Query<Option<ReferralStatus>>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` from the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ReferralList>, ApiError> {
        let limit = page_limit(limit.0)?;
        let before = cursor_seq(cursor.0.as_deref())?;
        let mut rows =
            store::list_visible(state.db.conn(), &auth.0, status.0, before, limit + 1).await?;
        let next_cursor = store::trim_page(&mut rows, limit, |r| r.seq.to_string());
        Ok(Json(ReferralList {
            items: rows.iter().map(|r| store::resource(r, false)).collect(),
            next_cursor,
        }))
    }

    /// Read a referral
    ///
    /// The referral with its status, delivery state and normalized document. Every read is recorded in
    /// the audit trail (`referral.viewed`). The addressed authority's first read of a referral in its
    /// inbox (`awaiting_collection`) marks it `delivered`. A referral the key may not see is 404.
    #[oai(
        path = "/v1/referrals/:id",
        method = "get",
        tag = "Tag::Referrals",
        operation_id = "get_referral"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<ReferralResource>, ApiError> {
        let caller = &auth.0;
        let ms = state.clock.now_ms();
        let txn = state.db.begin_write().await?;
        let Some(row) = store::find_visible(&*txn, caller, &id.0).await? else {
            return Err(ApiError::not_found("referral"));
        };
        let mut events = vec![];
        let row = if matches!(caller.scope, Scope::Authority { .. })
            && row.status == ReferralStatus::AwaitingCollection.as_str()
        {
            let mut active = row.into_active_model();
            active.status = Set(ReferralStatus::Delivered.as_str().to_owned());
            active.delivered_at_ms = Set(Some(ms));
            let row = active.update(&*txn).await?;
            events.push(NewEvent::about(
                Actor::from(caller),
                AuditAction::DeliverySucceeded,
                &row.id,
                json!({ "mode": "pull" }),
            ));
            row
        } else {
            row
        };
        events.push(NewEvent::about(
            Actor::from(caller),
            AuditAction::ReferralViewed,
            &row.id,
            json!({}),
        ));
        audit::append(&*txn, ms, events).await?;
        txn.commit().await?;
        Ok(Json(store::resource(&row, true)))
    }

    /// Acknowledge receipt
    ///
    /// The addressed authority confirms it received the referral; the referrer sees `acknowledged`.
    /// Repeating it changes nothing. Role: authority.
    #[oai(
        path = "/v1/referrals/:id/acknowledge",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "acknowledge_referral"
    )]
    async fn acknowledge(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<AcknowledgeRequest>,
    ) -> Result<Json<ReferralResource>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Authority], "acknowledge referrals")?;
        let AcknowledgeRequest {
            received_by,
            local_reference,
        } = body.0;
        let ms = state.clock.now_ms();
        let txn = state.db.begin_write().await?;
        let Some(row) = store::find_visible(&*txn, caller, &id.0).await? else {
            return Err(ApiError::not_found("referral"));
        };
        if row.status == ReferralStatus::Acknowledged.as_str() {
            return Ok(Json(store::resource(&row, false)));
        }
        let mut active = row.into_active_model();
        active.status = Set(ReferralStatus::Acknowledged.as_str().to_owned());
        active.acknowledged_at_ms = Set(Some(ms));
        active.received_by = Set(Some(received_by));
        active.local_reference = Set(local_reference);
        // The authority has it: no further push attempts.
        active.next_attempt_at_ms = Set(None);
        active.lease_until_ms = Set(None);
        let row = store::update_recorded(
            &*txn,
            active,
            Actor::from(caller),
            AuditAction::ReferralAcknowledged,
            ms,
        )
        .await?;
        txn.commit().await?;
        Ok(Json(store::resource(&row, false)))
    }

    /// Redeliver a failed referral
    ///
    /// Puts a `failed` referral back in the push queue with a fresh retry schedule and the same
    /// `webhook-id` (it is the same message). 409 when it is not `failed` or the authority has no
    /// endpoint. Role: admin.
    #[oai(
        path = "/v1/referrals/:id/redeliver",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "redeliver_referral"
    )]
    async fn redeliver(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Requeued, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "redeliver referrals")?;
        let ms = state.clock.now_ms();
        let txn = state.db.begin_write().await?;
        let Some(row) = store::find_visible(&*txn, caller, &id.0).await? else {
            return Err(ApiError::not_found("referral"));
        };
        if row.status != ReferralStatus::Failed.as_str() {
            return Err(ApiError::conflict(
                openapi::ProblemType::ReferralNotFailed,
                format!(
                    "Only a failed referral can be redelivered; this one is {}.",
                    row.status
                ),
            ));
        }
        if store::endpoint(&*txn, &row.gss_code).await?.is_none() {
            return Err(ApiError::conflict(
                openapi::ProblemType::AuthorityNoEndpoint,
                "The authority has no endpoint; it collects referrals from its inbox instead.",
            ));
        }
        let mut active = row.into_active_model();
        active.status = Set(ReferralStatus::Queued.as_str().to_owned());
        active.delivery_mode = Set("push".to_owned());
        active.attempts = Set(0);
        active.next_attempt_at_ms = Set(Some(ms));
        active.lease_until_ms = Set(None);
        let row = store::update_recorded(
            &*txn,
            active,
            Actor::from(caller),
            AuditAction::ReferralRedeliveryRequested,
            ms,
        )
        .await?;
        txn.commit().await?;
        state.wake_worker();
        Ok(Requeued::Accepted(Json(store::resource(&row, false))))
    }
}

impl ReferralsApi {
    /// The answer to a repeated `Idempotency-Key`: the original referral when the body is the same
    /// and the caller may see it. Keys are unique per organisation name; a referral stored under the
    /// same name by a key of another agency type is not visible to this caller, so that case is
    /// answered as key reuse rather than disclosing it.
    async fn replay(
        state: &AppState,
        caller: &Caller,
        organisation: &str,
        key: &str,
        hash: &str,
    ) -> Result<Option<Submitted>, ApiError> {
        let existing = referral::Entity::find()
            .filter(referral::Column::Organisation.eq(organisation))
            .filter(referral::Column::IdempotencyKey.eq(key))
            .one(state.db.conn())
            .await?;
        match existing {
            None => Ok(None),
            Some(row) if row.request_hash.as_deref() == Some(hash) && store::visible(caller, &row) => Ok(Some(Submitted::Created(
                Json(store::resource(&row, false)),
                format!("/v1/referrals/{}", row.id),
            ))),
            Some(_) => Err(ApiError::unprocessable(
                openapi::ProblemType::IdempotencyKeyReused,
                "This Idempotency-Key was already used for another referral; use a new key for a new referral.",
            )),
        }
    }
}
