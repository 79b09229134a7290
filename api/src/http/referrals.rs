//! Referrals (docs/contract.md §3–§6, §9): validate, submit, list, read, acknowledge, redeliver, record an
//! outcome, withdraw, and the notes between referrer and authority. Each handler reads as the story
//! of the request: authenticate → parse → decide (domain, lifecycle) → persist (one transaction,
//! audit included) → answer.

use super::auth::{require, BearerAuth, Tag};
use super::error::ApiError;
use super::paging::{cursor_seq, page_limit, trim_page};
use super::views::{note_view, resource};
use super::AppState;
use crate::audit::Actor;
use crate::ids::ReferralId;
use crate::keys::{Caller, Scope};
use crate::people;
use crate::referrals::lifecycle::{self, NoteAuthor, Status};
use crate::referrals::{self, submit, ActionError};
use domain::{AsOf, Referral, Vocabulary};
use openapi::{
    AcknowledgeRequest, EraseRequest, JsonBody, NoteList, NoteRequest, NoteView, OutcomeRequest,
    ProblemType, RawBody, ReferralBody, ReferralList, ReferralResource, ReferralStatus, Role,
    ValidationIssue, ValidationReport, WithdrawRequest,
};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

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

/// `201 Created`: the note.
#[derive(ApiResponse)]
pub enum NoteAdded {
    /// The note was added.
    #[oai(status = 201)]
    Created(Json<NoteView>),
}

fn issues(list: &[domain::Issue]) -> Vec<ValidationIssue> {
    list.iter().map(Into::into).collect()
}

/// A referral id from the path: anything that is no UUID is no referral's (404, as an unknown
/// id is).
pub(super) fn referral_id(raw: &str) -> Result<ReferralId, ApiError> {
    ReferralId::parse(raw).ok_or_else(|| ApiError::not_found("referral"))
}

/// The most errors one answer lists; `more_errors` counts the rest.
const MAX_LISTED_ERRORS: usize = 200;

/// The "who may act" rule of the transitions that only the referral's own parties take: the
/// referrer organisation and the addressed authority (visibility already enforced by the lookup).
fn may_add_notes(caller: &Caller) -> Result<(), ApiError> {
    NoteAuthor::of(caller).map(|_| ()).ok_or_else(|| {
        ApiError::forbidden(
            "Notes are between the referrer and the authority; an admin key may read them but not add one.",
        )
    })
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
        let agency = match &auth.0.scope {
            Scope::Referrer { agency_type, .. } => Some(*agency_type),
            _ => None,
        };
        let as_of = AsOf::at(state.clock.now()).referred_by(agency);
        let outcome = Referral::parse_document(&body.0, &as_of);
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
        let referrer = submit::Referrer {
            organisation: organisation.clone(),
            agency_type: *agency_type,
            submitted_by: caller.id().to_owned(),
            actor: Actor::from(caller),
        };
        let submitted = submit::submit(
            &state.db,
            &state.writer,
            &referrer,
            &body.0,
            key.as_deref(),
            state.clock.now(),
        )
        .await;
        let stored = match submitted {
            Ok(submit::Submitted::Created(row)) => row,
            Ok(submit::Submitted::Replayed(row)) => {
                return Ok(Submitted::Created(
                    Json(resource(&row, false, state.today())),
                    format!("/v1/referrals/{}", row.id),
                ))
            }
            Err(submit::SubmitError::Invalid(errors)) => {
                state.metrics.rejected(&errors);
                let listed = errors.len().min(MAX_LISTED_ERRORS);
                return Err(ApiError::invalid_truncated(
                    ProblemType::ReferralInvalid,
                    format!("The referral has {} error(s); see errors.", errors.len()),
                    issues(&errors[..listed]),
                    errors.len() - listed,
                ));
            }
            Err(submit::SubmitError::KeyReused) => {
                return Err(ApiError::unprocessable(
                    ProblemType::IdempotencyKeyReused,
                    "This Idempotency-Key was already used for another referral; use a new key for a new referral.",
                ))
            }
            Err(submit::SubmitError::Db(e)) => return Err(e.into()),
        };
        state.metrics.accepted();
        if stored.status == Status::Queued {
            state.wake_worker();
        }
        tracing::info!(referral_id = %stored.id, gss_code = %stored.gss_code, status = %stored.status.as_str(), "referral accepted");
        Ok(Submitted::Created(
            Json(resource(&stored, false, state.today())),
            format!("/v1/referrals/{}", stored.id),
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
        let mut rows = referrals::list(
            &state.db,
            &auth.0,
            status.0.map(Status::from),
            before,
            limit + 1,
        )
        .await?;
        let next_cursor = trim_page(&mut rows, limit, |r| r.seq.to_string());
        Ok(Json(ReferralList {
            items: rows
                .iter()
                .map(|r| resource(r, false, state.today()))
                .collect(),
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
        // A read of the document is audited; an authority never sees one withdrawn before it
        // received it, and nobody sees an erased one (then nothing personal is read).
        let read = referrals::read(
            &state.db,
            &auth.0,
            &referral_id(&id.0)?,
            state.clock.now_ms(),
        )
        .await?;
        Ok(Json(resource(&read.row, read.disclosed, state.today())))
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
        let row = referrals::acknowledge(
            &state.db,
            caller,
            &referral_id(&id.0)?,
            received_by,
            local_reference,
            state.clock.now_ms(),
        )
        .await?;
        Ok(Json(resource(&row, false, state.today())))
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
        let row = referrals::redeliver(
            &state.db,
            caller,
            &referral_id(&id.0)?,
            state.clock.now_ms(),
        )
        .await
        .map_err(|e| match e {
            ActionError::Refused(lifecycle::Refusal::WrongState(status)) => ApiError::conflict(
                ProblemType::ReferralNotFailed,
                format!(
                    "Only a failed referral can be redelivered; this one is {}.",
                    status.as_str()
                ),
            ),
            other => other.into(),
        })?;
        state.wake_worker();
        Ok(Requeued::Accepted(Json(resource(
            &row,
            false,
            state.today(),
        ))))
    }

    /// Record the authority's decision
    ///
    /// The addressed authority records (or replaces) its decision: `accepted` with
    /// `prevention_duty` (s.195), `relief_duty` (s.189B) or `relief_duty_and_interim_accommodation`
    /// (s.189B with s.188); `not_accepted` with `not_eligible`, `not_homeless_or_threatened`,
    /// `referred_to_another_authority` (with `other_authority.gss_code`), `no_contact`,
    /// `declined_by_person` or `other`. Allowed on `delivered` (it then also acknowledges, with
    /// `received_by` "outcome") and `acknowledged` referrals; otherwise 409
    /// `urn:dtr:problem:referral.wrong_state`. Each recording is one audit event. Role: authority.
    #[oai(
        path = "/v1/referrals/:id/outcome",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "record_referral_outcome"
    )]
    async fn outcome(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: RawBody<OutcomeRequest>,
    ) -> Result<Json<ReferralResource>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Authority], "record outcomes")?;
        let document = body.0;
        let duplicates = document.duplicates().iter().map(|p| duplicate(p)).collect();
        let (row, outcome) = referrals::record_outcome(
            &state.db,
            caller,
            &referral_id(&id.0)?,
            document.value(),
            duplicates,
            state.clock.now_ms(),
        )
        .await
        .map_err(|e| match e {
            ActionError::Invalid(errors) => ApiError::invalid(
                ProblemType::OutcomeInvalid,
                "The outcome is invalid; see errors.",
                issues(&errors),
            ),
            other => other.into(),
        })?;
        tracing::info!(referral_id = %row.id, decision = outcome.decision().term(), reason = outcome.reason().term(), "outcome recorded");
        Ok(Json(resource(&row, false, state.today())))
    }

    /// Withdraw a referral
    ///
    /// The referrer withdraws its referral, with a `reason`: `new_referral`, `incorrect_authority`,
    /// `consent_withdrawn`, `disengaged`, `housing_need_resolved`, `not_eligible` or `other`.
    /// `withdrawn` is final: a queued push is never sent afterwards (an attempt already in flight
    /// may finish); an authority that never received the referral is never shown it afterwards;
    /// one that did is sent `referral.withdrawn` when it has an endpoint. Withdrawing again answers
    /// 200 unchanged. Role: referrer.
    #[oai(
        path = "/v1/referrals/:id/withdraw",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "withdraw_referral"
    )]
    async fn withdraw(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<WithdrawRequest>,
    ) -> Result<Json<ReferralResource>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Referrer], "withdraw referrals")?;
        let reason = domain::WithdrawalReason::from_term(&body.0.reason)
            .ok_or_else(|| ApiError::bad_request("Unknown withdrawal reason."))?;
        let row = referrals::withdraw(
            &state.db,
            caller,
            &referral_id(&id.0)?,
            reason,
            state.clock.now_ms(),
        )
        .await?;
        state.wake_worker();
        tracing::info!(referral_id = %row.id, reason = reason.term(), "referral withdrawn");
        Ok(Json(resource(&row, false, state.today())))
    }

    /// Erase a referral's personal data
    ///
    /// At once, rather than `DTR_RETENTION` after it was acknowledged, withdrawn or failed:
    /// `reason` is `subject_request` (UK GDPR art. 17), `sent_in_error` or `consent_withdrawn`. The
    /// document, `received_by`, `local_reference`, the notes' text and the Idempotency-Key are
    /// erased; the id, statuses, codes, authority, organisation, agency type, times and the whole
    /// audit trail stay, and the trail still verifies. A referral not yet delivered is then never
    /// delivered. Erasing again answers 200 unchanged. Audit: `referral.erased`. Role: admin.
    #[oai(
        path = "/v1/referrals/:id/erase",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "erase_referral"
    )]
    async fn erase(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<EraseRequest>,
    ) -> Result<Json<ReferralResource>, ApiError> {
        let caller = &auth.0;
        require(caller, &[Role::Admin], "erase referrals")?;
        let reason = domain::ErasureReason::from_term(&body.0.reason)
            .ok_or_else(|| ApiError::bad_request("Unknown erasure reason."))?;
        let row = referrals::erase(
            &state.db,
            caller,
            &referral_id(&id.0)?,
            reason,
            state.clock.now_ms(),
        )
        .await?;
        tracing::info!(referral_id = %row.id, reason = reason.term(), "personal data erased");
        Ok(Json(resource(&row, false, state.today())))
    }

    /// Add a note
    ///
    /// A note between the referrer (its own referrals) and the addressed authority (once the
    /// referral is `delivered` or `acknowledged`; 409 before). 1–4000 characters. Adding it is
    /// audited (`note.added`, without the text); a referrer's note to an authority that has the
    /// referral and an endpoint is followed by a `referral.note_added` push (without the text).
    /// Roles: referrer, authority.
    #[oai(
        path = "/v1/referrals/:id/notes",
        method = "post",
        tag = "Tag::Referrals",
        operation_id = "add_referral_note"
    )]
    async fn add_note(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<NoteRequest>,
    ) -> Result<NoteAdded, ApiError> {
        let caller = &auth.0;
        may_add_notes(caller)?;
        let note = referrals::add_note(
            &state.db,
            caller,
            &referral_id(&id.0)?,
            &body.0.text,
            state.clock.now_ms(),
        )
        .await?;
        state.wake_worker();
        let officers = people::officer_emails(&state.db, std::slice::from_ref(&note)).await?;
        Ok(NoteAdded::Created(Json(note_view(&note, &officers))))
    }

    /// A referral's notes
    ///
    /// Oldest first. Notes carry personal data: reading them is audited (`notes.viewed`) like a read
    /// of the document. Roles: referrer (own referrals), authority (addressed; not a referral
    /// withdrawn before it received it), admin.
    #[oai(
        path = "/v1/referrals/:id/notes",
        method = "get",
        tag = "Tag::Referrals",
        operation_id = "list_referral_notes"
    )]
    async fn notes(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` from the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<NoteList>, ApiError> {
        let limit = page_limit(limit.0)?;
        let after = cursor_seq(cursor.0.as_deref())?.unwrap_or(0);
        let mut notes = referrals::notes(
            &state.db,
            &auth.0,
            &referral_id(&id.0)?,
            after,
            limit,
            state.clock.now_ms(),
        )
        .await?;
        let next_cursor = trim_page(&mut notes, limit, |n| n.seq.to_string());
        let officers = people::officer_emails(&state.db, &notes).await?;
        Ok(Json(NoteList {
            items: notes.iter().map(|n| note_view(n, &officers)).collect(),
            next_cursor,
        }))
    }
}

fn duplicate(pointer: &str) -> domain::Issue {
    domain::Issue {
        pointer: pointer.to_owned(),
        code: domain::Code::FieldDuplicate,
        message: "This member is given more than once in its object; send it once.".to_owned(),
    }
}
