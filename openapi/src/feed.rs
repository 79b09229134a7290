//! The `detail` of each action the event feed carries (docs/contract.md §9, §9b): one schema per
//! action, so that a generated client reads `detail.decision` of an outcome as a typed member
//! instead of digging in an untyped map. The spec makes the feed event a union discriminated by
//! `action` whose variants carry these details.
//!
//! The feed builds every detail it serves through these types ([`feed_detail`]), so a member the
//! trail holds and the schema does not name never reaches a client, and the schema cannot drift
//! from what is sent. Details hold codes and ids only: never personal data.

use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use poem_openapi::Object;

/// `referral.accepted`: the referral was accepted and stored.
#[derive(Debug, Clone, Object)]
pub struct FeedAcceptedDetail {
    /// The addressed authority's current GSS code.
    pub gss_code: String,
    /// The codes of the referral's warnings (the `IssueCode` list).
    pub warning_codes: Vec<String>,
    /// Its status once stored: `queued` (its endpoint will be pushed to) or
    /// `awaiting_collection` (an authority without an endpoint collects it).
    pub status: crate::ReferralStatus,
}

/// `delivery.succeeded`: the authority has the referral.
#[derive(Debug, Clone, Object)]
pub struct FeedDeliverySucceededDetail {
    /// `push` (its endpoint answered 2xx) or `pull` (it first read the referral itself).
    pub mode: crate::DeliveryMode,
    /// Push attempts it took; absent for `pull`.
    #[oai(skip_serializing_if_is_none)]
    pub attempts: Option<u32>,
}

/// `delivery.failed`: push delivery ended without success (an admin may redeliver).
#[derive(Debug, Clone, Object)]
pub struct FeedDeliveryFailedDetail {
    /// Push attempts made.
    pub attempts: u32,
    /// The last attempt's error: an HTTP status or an error kind, never a response body.
    #[oai(nullable)]
    pub reason: Option<String>,
}

/// `referral.viewed`: someone read the referral's document.
#[derive(Debug, Clone, Object)]
pub struct FeedViewedDetail {
    /// Whose read it was: `referrer`, `authority`, `admin`, `officer` or `practitioner` (the
    /// `ActorRole` list), so a referrer can tell its own reads from the authority's.
    pub by_role: String,
}

/// `referral.acknowledged`: the authority confirmed receipt.
#[derive(Debug, Clone, Object)]
pub struct FeedAcknowledgedDetail {
    /// `outcome` when the acknowledgement came with the authority's first outcome rather than on
    /// its own; absent otherwise.
    #[oai(skip_serializing_if_is_none)]
    pub by: Option<String>,
}

/// The authority a referral was passed on to, by code.
#[derive(Debug, Clone, Object)]
pub struct FeedAuthorityCode {
    /// Its current GSS code.
    pub gss_code: String,
}

/// `referral.outcome_recorded`: the authority recorded (or corrected) its decision.
#[derive(Debug, Clone, Object)]
pub struct FeedOutcomeDetail {
    /// The decision (the `Decision` list).
    pub decision: String,
    /// Why (the `OutcomeReason` list).
    pub reason: String,
    /// The other authority, when referred on (s.198); `null` otherwise.
    #[oai(nullable)]
    pub other_authority: Option<FeedAuthorityCode>,
}

/// `referral.withdrawn`: the referrer withdrew the referral.
#[derive(Debug, Clone, Object)]
pub struct FeedWithdrawnDetail {
    /// Why (the `WithdrawalReason` list).
    pub reason: String,
}

/// Who wrote a note, by role.
#[derive(Debug, Clone, Object)]
pub struct FeedNoteAuthor {
    /// `referrer`, `authority`, `officer` or `practitioner` (the `ActorRole` list).
    pub role: String,
}

/// `note.added`: a note was added (read it with `GET /v1/referrals/{id}/notes`; its text is
/// never in the feed).
#[derive(Debug, Clone, Object)]
pub struct FeedNoteDetail {
    /// The note's id.
    pub note_id: String,
    /// Who wrote it.
    pub author: FeedNoteAuthor,
}

/// `referral.erased`: the service erased its copy of the referral's personal data.
#[derive(Debug, Clone, Object)]
pub struct FeedErasedDetail {
    /// Why: `subject_request`, `sent_in_error`, `consent_withdrawn` or `retention`.
    pub reason: String,
}

/// `notification.sent`: an e-mail about the referral was accepted by the relay.
#[derive(Debug, Clone, Object)]
pub struct FeedNotificationDetail {
    /// What the e-mail was about: `referral.waiting`, `referral.withdrawn`, `referral.erased`,
    /// `referral.note_added`, or one to the practitioner who referred (`practitioner.*`); the
    /// list may grow.
    pub event_type: String,
    /// The message's id, stable across its retries.
    pub message_id: String,
    /// Which attempt succeeded, from 1.
    pub attempt: u32,
    /// How long the relay took, in milliseconds.
    pub duration_ms: u64,
    /// The relay's reply code; `null` if it gave none.
    #[oai(nullable)]
    pub smtp_code: Option<u16>,
}

/// Every action of the feed with its detail's schema name, for the spec's union.
pub const FEED_DETAILS: &[(&str, &str)] = &[
    ("referral.accepted", "FeedAcceptedDetail"),
    ("delivery.succeeded", "FeedDeliverySucceededDetail"),
    ("delivery.failed", "FeedDeliveryFailedDetail"),
    ("referral.viewed", "FeedViewedDetail"),
    ("referral.acknowledged", "FeedAcknowledgedDetail"),
    ("referral.outcome_recorded", "FeedOutcomeDetail"),
    ("referral.withdrawn", "FeedWithdrawnDetail"),
    ("note.added", "FeedNoteDetail"),
    ("referral.erased", "FeedErasedDetail"),
    ("notification.sent", "FeedNotificationDetail"),
];

/// Registers the detail schemas (no operation names them directly: the spec's union does).
pub fn register_feed_details(registry: &mut poem_openapi::registry::Registry) {
    FeedAcceptedDetail::register(registry);
    FeedDeliverySucceededDetail::register(registry);
    FeedDeliveryFailedDetail::register(registry);
    FeedViewedDetail::register(registry);
    FeedAcknowledgedDetail::register(registry);
    FeedOutcomeDetail::register(registry);
    FeedWithdrawnDetail::register(registry);
    FeedNoteDetail::register(registry);
    FeedErasedDetail::register(registry);
    FeedNotificationDetail::register(registry);
}

fn through<T: ParseFromJSON + ToJSON>(detail: serde_json::Value) -> Option<serde_json::Value> {
    T::parse_from_json(Some(detail)).ok()?.to_json()
}

/// The detail of a feed event as its action's schema says it: read through that schema's type
/// and written back, so only named members leave. `None` when the action is not one of the
/// feed's or the stored detail does not have the schema's shape (the caller decides what to do;
/// the feed serves `{}` then and logs the sequence number).
pub fn feed_detail(action: &str, detail: serde_json::Value) -> Option<serde_json::Value> {
    match action {
        "referral.accepted" => through::<FeedAcceptedDetail>(detail),
        "delivery.succeeded" => through::<FeedDeliverySucceededDetail>(detail),
        "delivery.failed" => through::<FeedDeliveryFailedDetail>(detail),
        "referral.viewed" => through::<FeedViewedDetail>(detail),
        "referral.acknowledged" => through::<FeedAcknowledgedDetail>(detail),
        "referral.outcome_recorded" => through::<FeedOutcomeDetail>(detail),
        "referral.withdrawn" => through::<FeedWithdrawnDetail>(detail),
        "note.added" => through::<FeedNoteDetail>(detail),
        "referral.erased" => through::<FeedErasedDetail>(detail),
        "notification.sent" => through::<FeedNotificationDetail>(detail),
        _ => None,
    }
}
