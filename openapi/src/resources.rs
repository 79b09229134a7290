//! Response and request objects other than the referral document (docs/contract.md §3, §6, §7).

use crate::{RawReferral, ReadBody, ValidationIssue};
use domain::reader::Obj;
use domain::{Findings, ShortText, Text, Vocabulary};
use poem_openapi::{Enum, Object};

/// Where a referral is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReferralStatus {
    /// Waiting for push delivery or a retry.
    Queued,
    /// The authority has no endpoint: the referral is in its pull inbox.
    AwaitingCollection,
    /// The authority's endpoint answered 2xx, or the authority read it from its inbox.
    Delivered,
    /// The authority confirmed receipt.
    Acknowledged,
    /// Delivery attempts exhausted or permanently refused; an admin may redeliver.
    Failed,
    /// The referrer withdrew it: final.
    Withdrawn,
}

impl ReferralStatus {
    /// Every status.
    pub const ALL: [ReferralStatus; 6] = [
        ReferralStatus::Queued,
        ReferralStatus::AwaitingCollection,
        ReferralStatus::Delivered,
        ReferralStatus::Acknowledged,
        ReferralStatus::Failed,
        ReferralStatus::Withdrawn,
    ];

    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralStatus::Queued => "queued",
            ReferralStatus::AwaitingCollection => "awaiting_collection",
            ReferralStatus::Delivered => "delivered",
            ReferralStatus::Acknowledged => "acknowledged",
            ReferralStatus::Failed => "failed",
            ReferralStatus::Withdrawn => "withdrawn",
        }
    }

    /// The status of a stored spelling.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How an authority receives referrals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum DeliveryMode {
    /// Signed webhook to the authority's endpoint.
    Push,
    /// The authority collects from `GET /v1/referrals`.
    Pull,
}

/// The housing authority a referral is addressed to.
#[derive(Debug, Clone, Object)]
pub struct AuthorityRef {
    /// Current ONS GSS code.
    pub gss_code: String,
    /// Name.
    pub name: String,
}

/// Delivery state of a referral.
#[derive(Debug, Clone, Object)]
pub struct Delivery {
    /// Push or pull.
    pub mode: DeliveryMode,
    /// Push attempts made in the current delivery round (reset by a redelivery).
    pub attempts: u32,
    /// When the last attempt started (RFC 3339).
    #[oai(nullable)]
    pub last_attempt_at: Option<String>,
    /// Why the last attempt failed: an HTTP status (`http_503`) or an error kind (`timeout`, `connect`).
    #[oai(nullable)]
    pub last_error: Option<String>,
    /// When the next attempt is due.
    #[oai(nullable)]
    pub next_attempt_at: Option<String>,
    /// When it was delivered (push 2xx, or the authority's first read of a pull referral).
    #[oai(nullable)]
    pub delivered_at: Option<String>,
}

/// The authority's confirmation of receipt.
#[derive(Debug, Clone, Object)]
pub struct Acknowledgement {
    /// When.
    pub acknowledged_at: String,
    /// Who at the authority (name or team); empty once the referral's personal data is erased.
    pub received_by: String,
    /// The authority's own reference.
    #[oai(nullable)]
    pub local_reference: Option<String>,
}

/// A referral with its status and delivery state. `referral` (the normalized document) is present
/// only on `GET /v1/referrals/{id}`, which is recorded in the audit trail as a read.
#[derive(Debug, Clone, Object)]
pub struct ReferralResource {
    /// UUID.
    pub id: String,
    /// Status.
    pub status: ReferralStatus,
    /// When it was accepted (RFC 3339).
    pub submitted_at: String,
    /// The addressed authority.
    pub housing_authority: AuthorityRef,
    /// Referring organisation (from the API key).
    pub organisation: String,
    /// Agency type (from the API key).
    pub agency_type: String,
    /// Warnings found on validation.
    pub warnings: Vec<ValidationIssue>,
    /// Delivery state.
    pub delivery: Delivery,
    /// Present once the authority acknowledged receipt.
    #[oai(skip_serializing_if_is_none)]
    pub acknowledgement: Option<Acknowledgement>,
    /// The authority's decision; `null` until recorded.
    #[oai(nullable)]
    pub outcome: Option<OutcomeView>,
    /// The referrer's withdrawal; `null` unless withdrawn.
    #[oai(nullable)]
    pub withdrawal: Option<WithdrawalView>,
    /// When the personal data was erased; `null` unless erased (the document is then absent).
    #[oai(nullable)]
    pub erased_at: Option<String>,
    /// How urgent the referral is today (the date in England); `null` once erased.
    #[oai(nullable)]
    pub urgency: Option<UrgencyView>,
    /// The normalized referral document.
    #[oai(skip_serializing_if_is_none)]
    pub referral: Option<RawReferral>,
}

/// How urgent a referral is on the day it is read (docs/contract.md §10b), judged from the
/// referral as it was accepted and today's date in England. The inbox orders by it: homeless now
/// first (sleeping rough now first among them), then by `days_until_homeless`, then the oldest.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct UrgencyView {
    /// Homeless today: referred as homeless, or the likely date has come.
    pub homeless_now: bool,
    /// Whole days until the likely date of homelessness; `null` when homeless now.
    #[oai(nullable)]
    pub days_until_homeless: Option<i64>,
    /// `rough_sleeping_now`, `rough_sleeping_imminent`, `aged_16_or_17`,
    /// `shared_without_consent`. This list may grow: ignore a flag you do not know.
    pub flags: Vec<String>,
}

impl From<&domain::Urgency> for UrgencyView {
    fn from(u: &domain::Urgency) -> Self {
        UrgencyView {
            homeless_now: u.homeless_now,
            days_until_homeless: u.days_until_homeless,
            flags: u.flags.iter().map(|f| f.term().to_owned()).collect(),
        }
    }
}

/// A page of referrals, newest first.
#[derive(Debug, Clone, Object)]
pub struct ReferralList {
    /// The referrals (without their documents).
    pub items: Vec<ReferralResource>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// An English housing authority.
#[derive(Debug, Clone, Object)]
pub struct Authority {
    /// Current ONS GSS code.
    pub gss_code: String,
    /// ONS name.
    pub name: String,
    /// `unitary`, `isles_of_scilly`, `non_metropolitan_district`, `metropolitan_borough`,
    /// `london_borough` or `city_of_london`.
    pub kind: String,
    /// `push` when the authority has an endpoint, else `pull`.
    pub delivery_mode: DeliveryMode,
}

/// A page of authorities, in GSS code order.
#[derive(Debug, Clone, Object)]
pub struct AuthorityList {
    /// The authorities.
    pub items: Vec<Authority>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// Where to push an authority's referrals.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct EndpointRequest {
    /// An `https://` URL on the public internet.
    #[oai(validator(max_length = 2000))]
    pub url: String,
}

impl ReadBody for EndpointRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::EndpointInvalid;
    const MEMBERS: &'static [&'static str] = &["url"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let url = body.parse("url", true, f, Text::<1, 2000, false>::parse)?;
        Some(EndpointRequest {
            url: url.as_str().to_owned(),
        })
    }
}

/// An e-mail address: the mailbox told about waiting referrals, or an officer's.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct EmailRequest {
    /// An e-mail address (at most 254 characters).
    #[oai(validator(max_length = 254))]
    pub email: String,
}

impl ReadBody for EmailRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::EmailInvalid;
    const MEMBERS: &'static [&'static str] = &["email"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let email = body.parse("email", true, f, domain::EmailAddress::parse)?;
        Some(EmailRequest {
            email: email.as_str().to_owned(),
        })
    }
}

/// Where an authority is told that a referral waits in its inbox.
#[derive(Debug, Clone, Object)]
pub struct NotifyView {
    /// The authority.
    pub gss_code: String,
    /// The mailbox.
    pub email: String,
}

/// A person who may sign in to an authority's web inbox.
#[derive(Debug, Clone, Object)]
pub struct OfficerView {
    /// UUID.
    pub id: String,
    /// Their address (where sign-in links go), lower-cased.
    pub email: String,
    /// Their authority.
    pub gss_code: String,
}

/// An authority's officers.
#[derive(Debug, Clone, Object)]
pub struct OfficerList {
    /// Oldest first.
    pub items: Vec<OfficerView>,
}

/// The endpoint and its signing secret, shown once.
#[derive(Debug, Clone, Object)]
pub struct EndpointCreated {
    /// The authority.
    pub gss_code: String,
    /// The endpoint.
    pub url: String,
    /// `whsec_…`: verify `webhook-signature` with it (Standard Webhooks). Shown only now.
    pub secret: String,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Role {
    /// A referring organisation's case system.
    Referrer,
    /// A housing authority.
    Authority,
    /// An operator.
    Admin,
}

impl Vocabulary for Role {
    const NAME: &'static str = "Role";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("referrer", Role::Referrer),
        ("authority", Role::Authority),
        ("admin", Role::Admin),
    ];
}

impl Role {
    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Referrer => "referrer",
            Role::Authority => "authority",
            Role::Admin => "admin",
        }
    }

    /// The role of a stored spelling.
    pub fn from_stored(s: &str) -> Option<Self> {
        [Role::Referrer, Role::Authority, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A new API key's role and binding.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ApiKeyRequest {
    /// The role.
    pub role: Role,
    /// Referrer only: the organisation's name, 1–200 characters.
    pub organisation: Option<String>,
    /// Referrer only: the kind of specified public authority (s.213B), e.g. `probation`.
    pub agency_type: Option<String>,
    /// Authority only: the housing authority's current GSS code.
    pub gss_code: Option<String>,
}

impl ReadBody for ApiKeyRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::ApiKeyInvalid;
    const MEMBERS: &'static [&'static str] = &["role", "organisation", "agency_type", "gss_code"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let role = body.choice::<Role>("role", true, f);
        let organisation = body.string("organisation", false, f).map(str::to_owned);
        let agency_type = body.string("agency_type", false, f).map(str::to_owned);
        let gss_code = body.string("gss_code", false, f).map(str::to_owned);
        Some(ApiKeyRequest {
            role: role?,
            organisation,
            agency_type,
            gss_code,
        })
    }
}

/// A created key. `key` is shown only now; only its hash is stored.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyCreated {
    /// Key id (appears in audit events).
    pub id: String,
    /// The secret bearer token.
    pub key: String,
    /// Role.
    pub role: Role,
    /// Referrer's organisation.
    #[oai(nullable)]
    pub organisation: Option<String>,
    /// Referrer's agency type.
    #[oai(nullable)]
    pub agency_type: Option<String>,
    /// Authority's GSS code.
    #[oai(nullable)]
    pub gss_code: Option<String>,
}

/// An authority's confirmation of receipt.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// Who at the authority received it; 1–100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub received_by: String,
    /// The authority's own case reference, at most 100 characters.
    #[oai(validator(max_length = 100))]
    pub local_reference: Option<String>,
}

impl ReadBody for AcknowledgeRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::AcknowledgementInvalid;
    const MEMBERS: &'static [&'static str] = &["received_by", "local_reference"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let received_by = body.parse("received_by", true, f, ShortText::parse);
        let local_reference = body.optional("local_reference", f, ShortText::parse);
        Some(AcknowledgeRequest {
            received_by: received_by?.as_str().to_owned(),
            local_reference: local_reference.map(|r| r.as_str().to_owned()),
        })
    }
}

/// Who caused an audit event.
#[derive(Debug, Clone, Object)]
pub struct Actor {
    /// The API key id; `null` for the service itself (delivery worker), officers and
    /// practitioners.
    #[oai(nullable)]
    pub key_id: Option<String>,
    /// The officer who acted in the web inbox; present only on an officer's events.
    #[oai(skip_serializing_if_is_none)]
    pub officer_id: Option<String>,
    /// The practitioner who acted in the referral journey (`/refer`); present only on a
    /// practitioner's events.
    #[oai(skip_serializing_if_is_none)]
    pub practitioner_id: Option<String>,
    /// `referrer`, `authority`, `admin`, `officer`, `practitioner` or `system`.
    pub role: String,
}

/// One audit event. `hash` = SHA-256(prev_hash ‖ JCS(event without hash)).
#[derive(Debug, Clone, Object)]
pub struct AuditEvent {
    /// Position in the single chain, from 1.
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds.
    pub at: String,
    /// Who.
    pub actor: Actor,
    /// What, e.g. `referral.accepted`.
    pub action: String,
    /// The referral concerned, if any.
    #[oai(nullable)]
    pub referral_id: Option<String>,
    /// Codes and ids only; never personal data.
    pub detail: serde_json::Value,
    /// The previous event's hash (64 zeros for the first).
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
}

/// A page of audit events, oldest first.
#[derive(Debug, Clone, Object)]
pub struct AuditList {
    /// The events.
    pub items: Vec<AuditEvent>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// The result of re-verifying the whole chain.
#[derive(Debug, Clone, Object)]
pub struct ChainVerification {
    /// Whether every event's hash and link is intact.
    pub valid: bool,
    /// Events checked.
    pub events: u64,
    /// The last event's hash (64 zeros for an empty log).
    pub head: String,
    /// The first broken sequence number, if any.
    #[oai(nullable)]
    pub first_broken: Option<i64>,
}

/// The audit head signed by the service (docs/contract.md §13). Keep it (say, daily): `dtr audit verify
/// --checkpoint FILE` later proves the chain still holds this head at this position, or was
/// rewritten or cut short.
#[derive(Debug, Clone, Object)]
pub struct AuditCheckpoint {
    /// How many events the chain had.
    pub events: u64,
    /// The hash of event number `events` (64 zeros when there were none).
    pub head: String,
    /// When the checkpoint was taken (RFC 3339, UTC).
    pub at: String,
    /// The service's Ed25519 public key (base64 of 32 bytes); also printed by `dtr audit public-key`.
    pub public_key: String,
    /// Ed25519 signature (base64) over the UTF-8 text `"dtr-audit-checkpoint/v1\n" + events + "\n"
    /// + head + "\n" + at + "\n"`.
    pub signature: String,
}

/// Liveness or readiness.
#[derive(Debug, Clone, Object)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// The authority's decision (docs/contract.md §9; docs/rules.md §4b).
#[derive(Debug, Clone, Object)]
pub struct OutcomeView {
    /// `accepted` or `not_accepted`.
    pub decision: String,
    /// Why: a reason of the decision.
    pub reason: String,
    /// When referred to another authority: which.
    #[oai(nullable)]
    pub other_authority: Option<AuthorityRef>,
    /// When it was (last) recorded.
    pub recorded_at: String,
    /// What the decision's reason does not fit: `outcome.referred_at_prevention_stage` when a
    /// person referred as threatened with homelessness was referred to another authority (a
    /// local connection referral exists only at the relief stage). Empty once the referral's
    /// personal data is erased.
    pub warnings: Vec<crate::ValidationIssue>,
}

/// The referrer's withdrawal.
#[derive(Debug, Clone, Object)]
pub struct WithdrawalView {
    /// Why.
    pub reason: String,
    /// When.
    pub withdrawn_at: String,
}

/// An outcome to record: `decision`, a `reason` of that decision, and `other_authority.gss_code`
/// when the reason is `referred_to_another_authority`.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct OutcomeRequest {
    /// `accepted` or `not_accepted`.
    pub decision: String,
    /// `prevention_duty`, `relief_duty` or `relief_duty_and_interim_accommodation` (accepted);
    /// `not_eligible`, `not_homeless_or_threatened`, `referred_to_another_authority`, `no_contact`,
    /// `declined_by_person` or `other` (not accepted).
    pub reason: String,
    /// Required with `referred_to_another_authority`.
    pub other_authority: Option<OtherAuthorityDoc>,
}

/// The authority the person was referred to.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct OtherAuthorityDoc {
    /// Its current GSS code: an English housing authority other than this one.
    pub gss_code: String,
}

/// A withdrawal.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct WithdrawRequest {
    /// Why the referral is withdrawn. `consent_withdrawn` also erases its personal data.
    pub reason: String,
}

impl ReadBody for WithdrawRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::WithdrawalInvalid;
    const MEMBERS: &'static [&'static str] = &["reason"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let reason = body.choice::<domain::WithdrawalReason>("reason", true, f)?;
        Some(WithdrawRequest {
            reason: reason.term().to_owned(),
        })
    }
}

/// An erasure on request.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct EraseRequest {
    /// Why the personal data is erased now rather than by retention.
    pub reason: String,
}

impl ReadBody for EraseRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::ErasureInvalid;
    const MEMBERS: &'static [&'static str] = &["reason"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let reason = body.choice::<domain::ErasureReason>("reason", true, f)?;
        Some(EraseRequest {
            reason: reason.term().to_owned(),
        })
    }
}

/// A note to add.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1–4000 characters.
    #[oai(validator(min_length = 1, max_length = 4000))]
    pub text: String,
}

impl ReadBody for NoteRequest {
    const PROBLEM: crate::ProblemType = crate::ProblemType::NoteInvalid;
    const MEMBERS: &'static [&'static str] = &["text"];

    fn read(body: &Obj<'_>, f: &mut Findings) -> Option<Self> {
        let text = body.parse("text", true, f, domain::FreeText::parse)?;
        Some(NoteRequest {
            text: text.as_str().to_owned(),
        })
    }
}

/// Who wrote a note.
#[derive(Debug, Clone, Object)]
pub struct NoteAuthorView {
    /// `referrer`, `authority` or `officer`.
    pub role: String,
    /// The referrer's organisation.
    #[oai(skip_serializing_if_is_none)]
    pub organisation: Option<String>,
    /// The referrer's agency type.
    #[oai(skip_serializing_if_is_none)]
    pub agency_type: Option<String>,
    /// The authority's GSS code.
    #[oai(skip_serializing_if_is_none)]
    pub gss_code: Option<String>,
    /// The e-mail address of the authority's officer who wrote it in the web inbox (absent for a
    /// note written through the API, or once that officer is removed).
    #[oai(skip_serializing_if_is_none)]
    pub officer_email: Option<String>,
}

/// A note between the referrer and the authority.
#[derive(Debug, Clone, Object)]
pub struct NoteView {
    /// UUID.
    pub id: String,
    /// When it was added.
    pub at: String,
    /// Who wrote it.
    pub author: NoteAuthorView,
    /// The note.
    pub text: String,
}

/// A page of notes, oldest first.
#[derive(Debug, Clone, Object)]
pub struct NoteList {
    /// The notes.
    pub items: Vec<NoteView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// One event of the feed: an audit event of a referral the key may see, without its hashes.
#[derive(Debug, Clone, Object)]
pub struct FeedEvent {
    /// The event's position in the audit chain.
    pub seq: i64,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// What happened.
    pub action: String,
    /// The referral.
    pub referral_id: String,
    /// Codes and ids only; never personal data.
    pub detail: serde_json::Value,
}

/// A page of the event feed, oldest first.
#[derive(Debug, Clone, Object)]
pub struct EventFeed {
    /// The events after the cursor.
    pub items: Vec<FeedEvent>,
    /// Pass back as `after` for the next page; never `null` (an empty page repeats the cursor).
    pub next_cursor: String,
}

/// An API key as an admin lists it: never the key itself.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyView {
    /// Key id (appears in audit events).
    pub id: String,
    /// Role.
    pub role: Role,
    /// Referrer's organisation.
    #[oai(nullable)]
    pub organisation: Option<String>,
    /// Referrer's agency type.
    #[oai(nullable)]
    pub agency_type: Option<String>,
    /// Authority's GSS code.
    #[oai(nullable)]
    pub gss_code: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it was last used (to within a few seconds); `null` if never.
    #[oai(nullable)]
    pub last_used_at: Option<String>,
    /// When it was revoked; `null` while active.
    #[oai(nullable)]
    pub revoked_at: Option<String>,
}

/// A page of API keys, oldest first.
#[derive(Debug, Clone, Object)]
pub struct ApiKeyList {
    /// The keys.
    pub items: Vec<ApiKeyView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}
