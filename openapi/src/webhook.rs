//! What is pushed to an authority's endpoint (docs/contract.md §6, §9): one JSON object per event, signed
//! per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The delivery worker
//! builds its bodies from these types and the spec describes them as a callback of
//! `PUT /v1/authorities/{gss_code}/endpoint`, so a receiver can generate its types from the spec.

use crate::{RawReferral, ValidationIssue};
use poem_openapi::Object;

/// `referral.created`: a referral for this authority, with the warnings it should act on (urgency
/// first: `rough_sleeping.now`, `rough_sleeping.imminent`, `person.aged_16_or_17`, …).
#[derive(Debug, Clone, Object)]
pub struct ReferralCreatedEvent {
    /// Always `referral.created`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The referral's id (UUID); read it again with `GET /v1/referrals/{id}`.
    pub id: String,
    /// When it was accepted (RFC 3339).
    pub submitted_at: String,
    /// The referring organisation.
    pub organisation: String,
    /// Its kind of specified public authority (s.213B).
    pub agency_type: String,
    /// The referral's warnings: codes, pointers and messages.
    pub warnings: Vec<ValidationIssue>,
    /// The normalized referral document.
    pub referral: RawReferral,
}

impl ReferralCreatedEvent {
    /// The `type` of this event.
    pub const TYPE: &'static str = "referral.created";
}

/// `referral.withdrawn`: the referrer withdrew a referral this authority received. Stop work on it;
/// if the reason is `consent_withdrawn`, erase what you hold of it.
#[derive(Debug, Clone, Object)]
pub struct ReferralWithdrawnEvent {
    /// Always `referral.withdrawn`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The referral's id.
    pub id: String,
    /// Why (a withdrawal reason code).
    pub reason: String,
}

impl ReferralWithdrawnEvent {
    /// The `type` of this event.
    pub const TYPE: &'static str = "referral.withdrawn";
}

/// `referral.note_added`: the referrer added a note. The text is not pushed: fetch it with
/// `GET /v1/referrals/{id}/notes` (the read is audited).
#[derive(Debug, Clone, Object)]
pub struct ReferralNoteAddedEvent {
    /// Always `referral.note_added`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The referral's id.
    pub id: String,
    /// The new note's id.
    pub note_id: String,
}

impl ReferralNoteAddedEvent {
    /// The `type` of this event.
    pub const TYPE: &'static str = "referral.note_added";
}

/// `referral.erased`: this service erased its copy of a referral the authority received (on the
/// person's request, because it was sent in error, their consent was withdrawn, or retention).
/// UK GDPR art. 19: the erasure is told to every recipient. Consider whether the copy you hold
/// must be erased too; a duty you already owe continues.
#[derive(Debug, Clone, Object)]
pub struct ReferralErasedEvent {
    /// Always `referral.erased`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The referral's id.
    pub id: String,
    /// Why: `subject_request`, `sent_in_error`, `consent_withdrawn` or `retention`.
    pub reason: String,
}

impl ReferralErasedEvent {
    /// The `type` of this event.
    pub const TYPE: &'static str = "referral.erased";
}

/// Every event type a receiver may be sent, with its schema's name, for the spec's union.
pub const WEBHOOK_EVENTS: &[(&str, &str)] = &[
    (ReferralCreatedEvent::TYPE, "ReferralCreatedEvent"),
    (ReferralWithdrawnEvent::TYPE, "ReferralWithdrawnEvent"),
    (ReferralNoteAddedEvent::TYPE, "ReferralNoteAddedEvent"),
    (ReferralErasedEvent::TYPE, "ReferralErasedEvent"),
];

/// Every event type a receiver may be sent.
pub const WEBHOOK_EVENT_TYPES: &[&str] = &[
    ReferralCreatedEvent::TYPE,
    ReferralWithdrawnEvent::TYPE,
    ReferralNoteAddedEvent::TYPE,
    ReferralErasedEvent::TYPE,
];
