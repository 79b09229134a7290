//! The referral's lifecycle (docs/contract.md §6, §9): one module decides every status.
//!
//! Each transition — accept, collect, acknowledge, record an outcome, withdraw, add a note,
//! redeliver, a push attempt's result, a change of delivery mode — is a pure function of the
//! referral as stored and the facts of the request: it returns the row's changes, the audit events
//! and the follow-up events to push, or why it is refused. Handlers, the delivery worker and the
//! batch writer apply what it returns; none of them decides a status itself.
//!
//! ```text
//!  accept ──push──▶ queued ──2xx──▶ delivered ──ack/outcome──▶ acknowledged
//!     │               │  ▲  └─4xx/exhausted─▶ failed ─redeliver─┘
//!     │               │  └──── endpoint set ────┐
//!     └──pull──▶ awaiting_collection ──authority reads──▶ delivered
//!  any status but withdrawn ──withdraw──▶ withdrawn (final)
//! ```

use crate::audit::{Actor, NewEvent};
use crate::entities::outbox::{self, Channel, OutboxStatus};
use crate::entities::referral;
use domain::{Outcome, Vocabulary, WithdrawalReason};
use openapi::AuditAction;
use sea_orm::{IntoActiveModel, Set};
use serde_json::json;
use std::time::Duration;

pub use crate::entities::referral::{Mode, Status};

/// Why a transition is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not allowed from the referral's current status.
    #[error("the referral is {}", .0.as_str())]
    WrongState(Status),
    /// The referral's personal data was erased.
    #[error("the referral's personal data was erased")]
    Erased,
    /// A push was asked for but the authority has no endpoint.
    #[error("the authority has no endpoint")]
    NoEndpoint,
    /// The authority accepted a duty: a withdrawal (other than consent withdrawn) does not end it.
    #[error("the authority accepted a duty, which a withdrawal does not end")]
    DutyAccepted,
}

/// An event to send the authority after a transition: a push to its endpoint (its own
/// `webhook-id`) or an e-mail to its mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUp {
    /// How it travels.
    pub channel: Channel,
    /// `referral.withdrawn` or `referral.note_added` (pushes); [`EMAIL_WAITING`] or
    /// [`EMAIL_WITHDRAWN`] (e-mails).
    pub event_type: &'static str,
    /// The body: ids and codes only, never personal data.
    pub payload: serde_json::Value,
}

/// What a transition does: the row's changes, its audit events, and the events to push.
#[derive(Debug, Clone)]
pub struct Transition {
    /// The changed columns (the rest `Unchanged`).
    pub changes: referral::ActiveModel,
    /// Audit events, in order.
    pub events: Vec<NewEvent>,
    /// Events to push to the authority's endpoint.
    pub follow_ups: Vec<FollowUp>,
}

impl Transition {
    fn of(row: &referral::Model) -> Self {
        Transition {
            changes: row.clone().into_active_model(),
            events: vec![],
            follow_ups: vec![],
        }
    }

    fn status(mut self, status: Status, now_ms: i64) -> Self {
        self.changes.status = Set(status);
        self.changes.status_changed_at_ms = Set(Some(now_ms));
        self
    }

    /// No further push attempts, and no worker's lease.
    fn stop_pushing(mut self) -> Self {
        self.changes.next_attempt_at_ms = Set(None);
        self.changes.lease_until_ms = Set(None);
        self.changes.lease_owner = Set(None);
        self
    }

    fn event(
        mut self,
        actor: &Actor,
        action: AuditAction,
        id: &str,
        detail: serde_json::Value,
    ) -> Self {
        self.events
            .push(NewEvent::about(actor.clone(), action, id, detail));
        self
    }
}

/// The facts of a new, valid referral; its status is decided in [`accept`].
#[derive(Debug, Clone)]
pub struct Submission {
    /// The stored row with everything but the lifecycle decided.
    pub row: referral::Model,
    /// Who submitted it.
    pub actor: Actor,
    /// Its warnings' codes, for the audit trail.
    pub warning_codes: Vec<&'static str>,
}

/// Accepts a new referral: queued for push when its authority has an endpoint (`push`), otherwise
/// into the authority's inbox. Decided inside the transaction that stores it, from the endpoints as
/// they are then.
pub fn accept(
    submission: Submission,
    push: bool,
    mailbox: bool,
    now_ms: i64,
) -> (referral::Model, Vec<NewEvent>, Vec<FollowUp>) {
    let Submission {
        mut row,
        actor,
        warning_codes,
    } = submission;
    let status = if push {
        Status::Queued
    } else {
        Status::AwaitingCollection
    };
    row.status = status;
    row.delivery_mode = if push { Mode::Push } else { Mode::Pull };
    row.next_attempt_at_ms = push.then_some(row.submitted_at_ms);
    row.status_changed_at_ms = Some(now_ms);
    let events = vec![
        NewEvent::about(
            actor.clone(),
            AuditAction::ReferralReceived,
            &row.id,
            json!({}),
        ),
        NewEvent::about(
            actor,
            AuditAction::ReferralAccepted,
            &row.id,
            json!({
                "gss_code": row.gss_code,
                "warning_codes": warning_codes,
                "status": status.as_str(),
            }),
        ),
    ];
    let follow_ups = waiting_notice(&row.id, status, mailbox)
        .into_iter()
        .collect();
    (row, events, follow_ups)
}

/// The e-mail telling an authority's mailbox that a referral waits in its inbox.
pub const EMAIL_WAITING: &str = "referral.waiting";

/// The e-mail telling an authority's mailbox that a referral it was told about was withdrawn.
pub const EMAIL_WITHDRAWN: &str = "referral.withdrawn";

/// The e-mail telling an authority's mailbox that this service erased a referral it was told
/// about (UK GDPR art. 19).
pub const EMAIL_ERASED: &str = "referral.erased";

/// The e-mail telling an authority's mailbox that the referrer added a note to a referral it has
/// (docs/contract.md §10b: the reference and a link, never the text).
pub const EMAIL_NOTE_ADDED: &str = "referral.note_added";

/// The e-mails to the practitioner who made a referral on the web (docs/contract.md §14): the
/// authority acknowledged it, recorded its outcome, or added a note. Reference and link only.
pub const EMAIL_TO_PRACTITIONER_ACKNOWLEDGED: &str = "practitioner.acknowledged";
/// See [`EMAIL_TO_PRACTITIONER_ACKNOWLEDGED`].
pub const EMAIL_TO_PRACTITIONER_OUTCOME: &str = "practitioner.outcome_recorded";
/// See [`EMAIL_TO_PRACTITIONER_ACKNOWLEDGED`].
pub const EMAIL_TO_PRACTITIONER_NOTE: &str = "practitioner.note_added";

/// The e-mail telling the practitioner who made `row` on the web what the authority did; `None`
/// for a referral a case system made (it learns from the feed).
fn to_practitioner(row: &referral::Model, event_type: &'static str) -> Option<FollowUp> {
    crate::practitioners::repository::is_practitioner_id(&row.submitted_by).then(|| {
        let mut e = email(event_type, &row.id);
        e.payload["practitioner_id"] = json!(row.submitted_by);
        e
    })
}

fn email(event_type: &'static str, id: &str) -> FollowUp {
    FollowUp {
        channel: Channel::Email,
        event_type,
        payload: json!({ "type": event_type, "id": id }),
    }
}

/// A referral that enters `awaiting_collection` for an authority with a notify address is told
/// to that mailbox, once per entry (docs/contract.md §10).
pub fn waiting_notice(id: &str, status: Status, mailbox: bool) -> Option<FollowUp> {
    (status == Status::AwaitingCollection && mailbox).then(|| email(EMAIL_WAITING, id))
}

/// The addressed authority reads the referral: the first read of one in its inbox delivers it.
/// `None` when the read changes nothing.
pub fn collect(row: &referral::Model, actor: &Actor, now_ms: i64) -> Option<Transition> {
    if row.status != Status::AwaitingCollection {
        return None;
    }
    let mut t = Transition::of(row).status(Status::Delivered, now_ms);
    t.changes.delivered_at_ms = Set(Some(now_ms));
    Some(t.event(
        actor,
        AuditAction::DeliverySucceeded,
        &row.id,
        json!({ "mode": "pull" }),
    ))
}

/// Whether a reader may see the referral's document: never once it is erased, and an authority
/// never sees one withdrawn before it received it.
pub fn discloses_document(row: &referral::Model, reader_is_the_authority: bool) -> bool {
    row.erased_at_ms.is_none()
        && !(reader_is_the_authority
            && row.status == Status::Withdrawn
            && row.delivered_at_ms.is_none())
}

/// The authority confirms receipt. `Ok(None)`: already acknowledged, nothing changes.
pub fn acknowledge(
    row: &referral::Model,
    received_by: String,
    local_reference: Option<String>,
    actor: &Actor,
    now_ms: i64,
) -> Result<Option<Transition>, Refusal> {
    match row.status {
        Status::Acknowledged => Ok(None),
        // Who received it is personal data: an erased referral takes none back.
        _ if row.erased_at_ms.is_some() => Err(Refusal::Erased),
        // It must have reached the authority, pushed (even if our record of the 2xx was lost) or
        // read from the inbox.
        Status::Queued | Status::Delivered | Status::Failed => {
            let mut t = Transition::of(row)
                .status(Status::Acknowledged, now_ms)
                .stop_pushing();
            t.changes.acknowledged_at_ms = Set(Some(now_ms));
            t.changes.received_by = Set(Some(received_by));
            t.changes.local_reference = Set(local_reference);
            t.follow_ups
                .extend(to_practitioner(row, EMAIL_TO_PRACTITIONER_ACKNOWLEDGED));
            Ok(Some(t.event(
                actor,
                AuditAction::ReferralAcknowledged,
                &row.id,
                json!({}),
            )))
        }
        other => Err(Refusal::WrongState(other)),
    }
}

/// The addressed authority records (or replaces) its decision. On a `delivered` referral it also
/// acknowledges it, with `received_by` "outcome".
pub fn record_outcome(
    row: &referral::Model,
    outcome: &Outcome,
    actor: &Actor,
    now_ms: i64,
) -> Result<Transition, Refusal> {
    let mut t = match row.status {
        Status::Acknowledged => Transition::of(row),
        // The addressed authority may record or correct its decision after any withdrawal of a
        // referral it received: the person may have applied by then, and the duty is its own.
        Status::Withdrawn if row.delivered_at_ms.is_some() => Transition::of(row),
        Status::Delivered => {
            let mut t = Transition::of(row)
                .status(Status::Acknowledged, now_ms)
                .stop_pushing();
            t.changes.acknowledged_at_ms = Set(Some(now_ms));
            t.changes.received_by = Set(Some("outcome".to_owned()));
            t.event(
                actor,
                AuditAction::ReferralAcknowledged,
                &row.id,
                json!({ "by": "outcome" }),
            )
        }
        other => return Err(Refusal::WrongState(other)),
    };
    let other = outcome.other_authority().map(|a| a.gss_code.clone());
    t.changes.outcome_decision = Set(Some(outcome.decision().term().to_owned()));
    t.changes.outcome_reason = Set(Some(outcome.reason().term().to_owned()));
    t.changes.outcome_other_gss_code = Set(other.clone());
    t.changes.outcome_recorded_at_ms = Set(Some(now_ms));
    t.follow_ups
        .extend(to_practitioner(row, EMAIL_TO_PRACTITIONER_OUTCOME));
    Ok(t.event(
        actor,
        AuditAction::ReferralOutcomeRecorded,
        &row.id,
        json!({
            "decision": outcome.decision().term(),
            "reason": outcome.reason().term(),
            "other_gss_code": other,
        }),
    ))
}

/// The referrer withdraws the referral: final. A queued push stops for good; an authority that
/// received it is told (`referral.withdrawn`) when it has an endpoint, and a mailbox that was
/// e-mailed about it is e-mailed again (`emailed`: a waiting e-mail was sent, or is being sent).
/// `Ok(None)`: already withdrawn.
pub fn withdraw(
    row: &referral::Model,
    reason: WithdrawalReason,
    authority_has_endpoint: bool,
    emailed: bool,
    actor: &Actor,
    now_ms: i64,
) -> Result<Option<Transition>, Refusal> {
    if row.status == Status::Withdrawn {
        return Ok(None);
    }
    // A duty under ss.188, 189B or 195 ends only as the Act provides, not because the referrer
    // withdraws (docs/rules.md §4b): once the authority accepted one, only the person's withdrawn
    // consent — which erases the service's copy — may still be recorded.
    if row.outcome_decision.as_deref() == Some("accepted")
        && reason != WithdrawalReason::ConsentWithdrawn
    {
        return Err(Refusal::DutyAccepted);
    }
    let mut t = Transition::of(row)
        .status(Status::Withdrawn, now_ms)
        .stop_pushing();
    t.changes.withdrawal_reason = Set(Some(reason.term().to_owned()));
    t.changes.withdrawn_at_ms = Set(Some(now_ms));
    if row.delivered_at_ms.is_some() && authority_has_endpoint {
        let mut withdrawn = row.clone();
        withdrawn.withdrawal_reason = Some(reason.term().to_owned());
        t.follow_ups.push(withdrawn_follow_up(&withdrawn));
    }
    if emailed {
        t.follow_ups.push(email(EMAIL_WITHDRAWN, &row.id));
    }
    Ok(Some(t.event(
        actor,
        AuditAction::ReferralWithdrawn,
        &row.id,
        json!({ "reason": reason.term() }),
    )))
}

/// An attempt in flight when the referral was withdrawn reached the authority (2xx): it holds the
/// document after all, so it is told of the withdrawal, as if it had received it first. `None` when
/// there is nothing to tell (not withdrawn, already known to have it, or no endpoint).
pub fn delivered_after_withdrawal(
    row: &referral::Model,
    authority_has_endpoint: bool,
) -> Option<FollowUp> {
    if row.status != Status::Withdrawn || row.delivered_at_ms.is_some() || !authority_has_endpoint {
        return None;
    }
    Some(withdrawn_follow_up(row))
}

fn withdrawn_follow_up(row: &referral::Model) -> FollowUp {
    FollowUp {
        channel: Channel::Webhook,
        event_type: openapi::ReferralWithdrawnEvent::TYPE,
        payload: json!({
            "type": openapi::ReferralWithdrawnEvent::TYPE,
            "id": row.id,
            "reason": row.withdrawal_reason,
        }),
    }
}

/// Why a referral's personal data is erased (docs/contract.md §12): an administrator's request, or
/// retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Erasure {
    /// On request (or on a withdrawal with `consent_withdrawn`).
    Requested(domain::ErasureReason),
    /// `DTR_RETENTION` after it was acknowledged, withdrawn or failed.
    Retention,
}

impl Erasure {
    /// The `reason` recorded in the `referral.erased` event.
    pub fn term(self) -> &'static str {
        match self {
            Erasure::Requested(r) => r.term(),
            Erasure::Retention => "retention",
        }
    }
}

/// The statuses whose referrals retention erases: the service's copy has done its job (docs/rules.md
/// §7) once the authority acknowledged it, or it was withdrawn or could not be delivered.
pub const RETAINED_UNTIL_ERASED: [Status; 3] =
    [Status::Acknowledged, Status::Withdrawn, Status::Failed];

/// Erases a referral's personal data: the document, who received it and the authority's reference,
/// the Idempotency-Key and the hash of the body (both derived from personal data). What stays is
/// what the audit trail needs: ids, statuses, codes, the authority, the organisation, times.
/// (The notes' text is erased by the caller, in the same transaction.) `Ok(None)`: already erased.
/// Who received the referral, so that they are told of its erasure (UK GDPR art. 19: an erasure
/// is communicated to each recipient): whether the authority has an endpoint (a push, if it
/// received the referral) and whether its mailbox was told of it (an e-mail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recipients {
    /// The authority has an endpoint.
    pub endpoint: bool,
    /// Its mailbox was told the referral was waiting.
    pub mailbox: bool,
}

pub fn erase(
    row: &referral::Model,
    reason: Erasure,
    told: Recipients,
    actor: &Actor,
    now_ms: i64,
) -> Option<Transition> {
    if row.erased_at_ms.is_some() {
        return None;
    }
    // Nothing is pushed after erasure: a queued referral keeps its status but is never sent.
    let mut t = Transition::of(row).stop_pushing();
    t.changes.document = Set(String::new());
    t.changes.received_by = Set(None);
    t.changes.local_reference = Set(None);
    t.changes.idempotency_key = Set(None);
    t.changes.request_hash = Set(None);
    t.changes.erased_at_ms = Set(Some(now_ms));
    if row.delivered_at_ms.is_some() && told.endpoint {
        t.follow_ups.push(FollowUp {
            channel: Channel::Webhook,
            event_type: openapi::ReferralErasedEvent::TYPE,
            payload: json!({
                "type": openapi::ReferralErasedEvent::TYPE,
                "id": row.id,
                "reason": reason.term(),
            }),
        });
    }
    // A withdrawal for withdrawn consent erases at once, and its own e-mail says so: one e-mail
    // for the one event (a push carries each fact for machines).
    let withdrawal_said_so = row.withdrawal_reason.as_deref() == Some("consent_withdrawn");
    if told.mailbox && !withdrawal_said_so {
        t.follow_ups.push(email(EMAIL_ERASED, &row.id));
    }
    Some(t.event(
        actor,
        AuditAction::ReferralErased,
        &row.id,
        json!({ "reason": reason.term() }),
    ))
}

/// Which side of the referral writes a note: what the rules of notes turn on. (How the note is
/// signed — key, officer, organisation — is `repository::NoteAuthor`, from the same caller.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteAuthor {
    /// The referring organisation (by key or a practitioner on the web).
    Referrer,
    /// The addressed authority (by key or an officer in the web inbox).
    Authority,
}

impl NoteAuthor {
    /// The side `caller` writes on; `None` for an admin, who may read notes but not add one.
    pub fn of(caller: &crate::keys::Caller) -> Option<NoteAuthor> {
        match caller.scope {
            crate::keys::Scope::Referrer { .. } => Some(NoteAuthor::Referrer),
            crate::keys::Scope::Authority { .. } => Some(NoteAuthor::Authority),
            crate::keys::Scope::Admin => None,
        }
    }
}

/// A note is added: the audit event (no text) and, for a referrer's note to an authority that has
/// the referral and an endpoint, a `referral.note_added` push.
pub fn add_note(
    row: &referral::Model,
    author: NoteAuthor,
    note_id: &str,
    authority_has_endpoint: bool,
    authority_has_mailbox: bool,
    note_watchers: &[String],
    actor: &Actor,
) -> Result<Transition, Refusal> {
    if row.erased_at_ms.is_some() {
        return Err(Refusal::Erased);
    }
    match (author, row.status) {
        (_, Status::Withdrawn) => return Err(Refusal::WrongState(Status::Withdrawn)),
        (NoteAuthor::Authority, Status::Delivered | Status::Acknowledged) => {}
        (NoteAuthor::Authority, other) => return Err(Refusal::WrongState(other)),
        (NoteAuthor::Referrer, _) => {}
    }
    let mut t = Transition::of(row);
    if author == NoteAuthor::Referrer && row.delivered_at_ms.is_some() && authority_has_endpoint {
        t.follow_ups.push(FollowUp {
            channel: Channel::Webhook,
            event_type: openapi::ReferralNoteAddedEvent::TYPE,
            payload: json!({
                "type": openapi::ReferralNoteAddedEvent::TYPE,
                "id": row.id,
                "note_id": note_id,
            }),
        });
    }
    if author == NoteAuthor::Authority {
        t.follow_ups
            .extend(to_practitioner(row, EMAIL_TO_PRACTITIONER_NOTE));
    }
    if author == NoteAuthor::Referrer && row.delivered_at_ms.is_some() {
        if authority_has_mailbox {
            t.follow_ups.push(email(EMAIL_NOTE_ADDED, &row.id));
        }
        // Each officer who asked is told separately: one message, one recipient, one outcome.
        for officer_id in note_watchers {
            let mut e = email(EMAIL_NOTE_ADDED, &row.id);
            e.payload["officer_id"] = json!(officer_id);
            t.follow_ups.push(e);
        }
    }
    Ok(t.event(
        actor,
        AuditAction::NoteAdded,
        &row.id,
        json!({ "note_id": note_id, "author_role": actor.role.term() }),
    ))
}

/// An admin puts a failed referral back in the push queue: a fresh schedule, the same `webhook-id`.
pub fn redeliver(
    row: &referral::Model,
    authority_has_endpoint: bool,
    actor: &Actor,
    now_ms: i64,
) -> Result<Transition, Refusal> {
    if row.status != Status::Failed {
        return Err(Refusal::WrongState(row.status));
    }
    if row.erased_at_ms.is_some() {
        // Nothing is left to send.
        return Err(Refusal::Erased);
    }
    if !authority_has_endpoint {
        return Err(Refusal::NoEndpoint);
    }
    let mut t = Transition::of(row).status(Status::Queued, now_ms);
    t.changes.delivery_mode = Set(Mode::Push);
    t.changes.attempts = Set(0);
    t.changes.next_attempt_at_ms = Set(Some(now_ms));
    t.changes.lease_until_ms = Set(None);
    t.changes.lease_owner = Set(None);
    Ok(t.event(
        actor,
        AuditAction::ReferralRedeliveryRequested,
        &row.id,
        json!({}),
    ))
}

/// The statuses that move, and where to, when an authority's endpoint is set (`push`) or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeSwitch {
    /// Referrals in these statuses move.
    pub from: &'static [Status],
    /// To this status.
    pub to: Status,
    /// And this delivery mode.
    pub mode: Mode,
    /// Whether they are due for a push at once.
    pub due_now: bool,
}

/// Setting an endpoint pushes the inbox; removing it moves queued *and* failed referrals to the
/// inbox, so none is stranded without a way to reach the authority.
pub fn mode_switch(push: bool) -> ModeSwitch {
    if push {
        ModeSwitch {
            from: &[Status::AwaitingCollection],
            to: Status::Queued,
            mode: Mode::Push,
            due_now: true,
        }
    } else {
        ModeSwitch {
            from: &[Status::Queued, Status::Failed],
            to: Status::AwaitingCollection,
            mode: Mode::Pull,
            due_now: false,
        }
    }
}

/// How one push attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// 2xx.
    Delivered(u16),
    /// Worth another attempt: 408, 429, 3xx, 5xx, a timeout or connection error (and 401/403
    /// while a secret is new).
    Retry {
        /// `http_503`, `timeout`, `connect`, ….
        error: String,
        /// The HTTP status, if there was a response.
        status: Option<u16>,
        /// The receiver's `Retry-After`, capped.
        retry_after: Option<Duration>,
    },
    /// Refused for good (any other 4xx).
    Refused(u16),
    /// Not sent: the endpoint breaks the rules for endpoints as they are now (docs/contract.md §11), e.g.
    /// one stored under insecure mode after that was switched off.
    EndpointNotAllowed,
}

/// `last_error` of an attempt not made because the endpoint is not allowed.
pub const ENDPOINT_NOT_ALLOWED: &str = "endpoint_not_allowed";

/// When to try again after the `attempts`-th attempt failed: the schedule's next delay, or the
/// receiver's `Retry-After` when that is longer; `None` when the schedule is exhausted.
pub fn plan_retry(
    attempts: i32,
    schedule: &[Duration],
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let delay = *schedule.get(index)?;
    Some(retry_after.map_or(delay, |r| r.max(delay)))
}

/// Where one attempt leaves its message — a referral's push, an event's push or an e-mail alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Delivered (or sent).
    Done,
    /// Another attempt is due at this time.
    RetryAt(i64),
    /// Failed for good.
    Failed,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// After the `attempts`-th attempt failed in a way worth retrying: when the next is due, or failed
/// for good once the schedule is exhausted.
fn retry_or_fail(
    attempts: i32,
    schedule: &[Duration],
    retry_after: Option<Duration>,
    now_ms: i64,
) -> Next {
    match plan_retry(attempts, schedule, retry_after) {
        Some(wait) => Next::RetryAt(now_ms.saturating_add(millis(wait))),
        None => Next::Failed,
    }
}

/// The one decision about a push's outcome, whatever was pushed (docs/contract.md §6), and its
/// `last_error`.
fn judge_push(
    outcome: &AttemptOutcome,
    attempts: i32,
    schedule: &[Duration],
    now_ms: i64,
) -> (Next, Option<String>) {
    match outcome {
        AttemptOutcome::Delivered(_) => (Next::Done, None),
        AttemptOutcome::Refused(code) => (Next::Failed, Some(format!("http_{code}"))),
        AttemptOutcome::EndpointNotAllowed => (Next::Failed, Some(ENDPOINT_NOT_ALLOWED.to_owned())),
        AttemptOutcome::Retry {
            error, retry_after, ..
        } => (
            retry_or_fail(attempts, schedule, *retry_after, now_ms),
            Some(error.clone()),
        ),
    }
}

/// A push attempt's audit detail: `head` (what was pushed, which attempt, how long it took), then
/// the HTTP status or the error.
fn push_detail(mut detail: serde_json::Value, outcome: &AttemptOutcome) -> serde_json::Value {
    match outcome {
        AttemptOutcome::Delivered(code) | AttemptOutcome::Refused(code) => {
            detail["http_status"] = json!(code)
        }
        AttemptOutcome::Retry { error, status, .. } => {
            detail["error"] = json!(error);
            if let Some(code) = status {
                detail["http_status"] = json!(code);
            }
        }
        AttemptOutcome::EndpointNotAllowed => detail["error"] = json!(ENDPOINT_NOT_ALLOWED),
    }
    detail
}

/// How one e-mail attempt ended (docs/contract.md §10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The relay accepted it (its reply code).
    Sent(u16),
    /// Worth another attempt: a 4xx reply, a timeout or a connection or TLS failure.
    Transient {
        /// The reply code, if the relay answered.
        code: Option<u16>,
        /// `smtp_451`, `timeout`, `connect`, `tls`.
        error: String,
    },
    /// Refused for good: a 5xx reply (or an address the message cannot carry).
    Permanent {
        /// The reply code, if the relay answered.
        code: Option<u16>,
        /// `smtp_550`, ….
        error: String,
    },
}

/// What an attempt does to an outbox message (an event push or an e-mail): it never changes the
/// referral, only the message and the referral's trail.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxResult {
    /// Sent, queued again or failed.
    pub status: OutboxStatus,
    /// When the next attempt is due, if one is.
    pub next_attempt_at_ms: Option<i64>,
    /// Why it failed, if it did.
    pub last_error: Option<String>,
    /// `delivery.attempted` for a push, `notification.sent` or `notification.failed` for an e-mail.
    pub action: AuditAction,
    /// The audit event's detail.
    pub detail: serde_json::Value,
}

fn outbox_status(next: Next) -> (OutboxStatus, Option<i64>) {
    match next {
        Next::Done => (OutboxStatus::Sent, None),
        Next::RetryAt(at) => (OutboxStatus::Queued, Some(at)),
        Next::Failed => (OutboxStatus::Failed, None),
    }
}

/// Decides what a push attempt's outcome does to an outbox event (`referral.withdrawn`, a note, …),
/// by the same rule as a referral's push.
pub fn event_attempted(
    event: &outbox::Model,
    outcome: &AttemptOutcome,
    schedule: &[Duration],
    now_ms: i64,
    took: Duration,
) -> OutboxResult {
    let attempts = event.attempts + 1;
    let (next, last_error) = judge_push(outcome, attempts, schedule, now_ms);
    let (status, next_attempt_at_ms) = outbox_status(next);
    let detail = push_detail(
        json!({
            "event_type": event.event_type,
            "webhook_id": event.webhook_id,
            "attempt": attempts,
            "duration_ms": millis(took),
        }),
        outcome,
    );
    OutboxResult {
        status,
        next_attempt_at_ms,
        last_error,
        action: AuditAction::DeliveryAttempted,
        detail,
    }
}

/// Decides what an e-mail attempt's outcome does to its outbox message: a 4xx reply or a
/// connection failure is retried on the schedule, a 5xx is final.
pub fn email_attempted(
    event: &outbox::Model,
    outcome: &SendOutcome,
    schedule: &[Duration],
    now_ms: i64,
    took: Duration,
) -> OutboxResult {
    let attempts = event.attempts + 1;
    let (next, last_error, code) = match outcome {
        SendOutcome::Sent(code) => (Next::Done, None, Some(*code)),
        SendOutcome::Permanent { code, error } => (Next::Failed, Some(error.clone()), *code),
        SendOutcome::Transient { code, error } => (
            retry_or_fail(attempts, schedule, None, now_ms),
            Some(error.clone()),
            *code,
        ),
    };
    let (status, next_attempt_at_ms) = outbox_status(next);
    let mut detail = json!({
        "event_type": event.event_type,
        "message_id": event.webhook_id,
        "attempt": attempts,
        "duration_ms": millis(took),
        "smtp_code": code,
    });
    if let Some(error) = &last_error {
        detail["error"] = json!(error);
        detail["final"] = json!(status == OutboxStatus::Failed);
    }
    OutboxResult {
        status,
        next_attempt_at_ms,
        last_error,
        action: if status == OutboxStatus::Sent {
            AuditAction::NotificationSent
        } else {
            AuditAction::NotificationFailed
        },
        detail,
    }
}

/// An attempt's result, to record if the worker still holds the job.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptResult {
    /// The new status: queued (retry), delivered or failed.
    pub status: Status,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// When the next attempt is due, if one is.
    pub next_attempt_at_ms: Option<i64>,
    /// Why it failed, if it did.
    pub last_error: Option<String>,
    /// When delivered.
    pub delivered_at_ms: Option<i64>,
    /// When the status last changed (now, unless the referral stays queued).
    pub status_changed_at_ms: Option<i64>,
    /// `delivered`, `retry` or `failed` (the metric's label).
    pub metric: &'static str,
    /// `delivery.attempted` and, when it ended the delivery, `delivery.succeeded`/`delivery.failed`.
    pub events: Vec<NewEvent>,
    /// `delivery.attempted` marked superseded: recorded instead when the referral moved on meanwhile.
    pub superseded: NewEvent,
}

/// Decides what a push attempt's outcome does to a queued referral (docs/contract.md §6).
pub fn attempted(
    row: &referral::Model,
    outcome: &AttemptOutcome,
    schedule: &[Duration],
    now_ms: i64,
    took: Duration,
) -> AttemptResult {
    let attempts = row.attempts + 1;
    let (next, last_error) = judge_push(outcome, attempts, schedule, now_ms);
    let (status, next, metric) = match next {
        Next::Done => (Status::Delivered, None, "delivered"),
        Next::RetryAt(at) => (Status::Queued, Some(at), "retry"),
        Next::Failed => (Status::Failed, None, "failed"),
    };
    let detail = push_detail(
        json!({ "attempt": attempts, "duration_ms": millis(took), "webhook_id": row.webhook_id }),
        outcome,
    );
    let system = Actor::system();
    let attempted = NewEvent::about(
        system.clone(),
        AuditAction::DeliveryAttempted,
        &row.id,
        detail,
    );
    let mut superseded = attempted.clone();
    superseded.detail["superseded"] = json!(true);
    let mut events = vec![attempted];
    match status {
        Status::Delivered => events.push(NewEvent::about(
            system,
            AuditAction::DeliverySucceeded,
            &row.id,
            json!({ "mode": "push", "attempts": attempts }),
        )),
        Status::Failed => events.push(NewEvent::about(
            system,
            AuditAction::DeliveryFailed,
            &row.id,
            json!({ "attempts": attempts, "reason": last_error }),
        )),
        _ => {}
    }
    AttemptResult {
        status,
        attempts,
        next_attempt_at_ms: next,
        last_error,
        delivered_at_ms: if status == Status::Delivered {
            Some(now_ms)
        } else {
            row.delivered_at_ms
        },
        status_changed_at_ms: if status == Status::Queued {
            row.status_changed_at_ms
        } else {
            Some(now_ms)
        },
        metric,
        events,
        superseded,
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
pub(crate) mod tests;
