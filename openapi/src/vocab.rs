//! The service's own closed sets of wire values: audit actions, problem types and actor roles. Each
//! is one table ([`domain::Vocabulary`]) read by the code that writes the value and by the spec that
//! lists it, so a generated client's enum is exactly what the service sends.

use domain::Vocabulary;

/// What an audit event records (docs/contract.md §7, §9–§12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A submission arrived (before it was judged).
    ReferralReceived,
    /// A submission was refused; the detail holds its error codes only.
    ReferralRejected,
    /// A referral was accepted and stored.
    ReferralAccepted,
    /// Someone read the referral's document.
    ReferralViewed,
    /// A push attempt was made (HTTP status or error kind, duration).
    DeliveryAttempted,
    /// The authority has the referral (push 2xx, or its first read of its inbox).
    DeliverySucceeded,
    /// Push delivery ended without success.
    DeliveryFailed,
    /// The authority confirmed receipt.
    ReferralAcknowledged,
    /// An admin put a failed referral back in the queue.
    ReferralRedeliveryRequested,
    /// An authority's endpoint was set or removed.
    AuthorityEndpointChanged,
    /// An API key was created.
    ApiKeyCreated,
    /// The authority recorded (or replaced) its decision.
    ReferralOutcomeRecorded,
    /// The referrer withdrew the referral.
    ReferralWithdrawn,
    /// A note was added (the text is never in the trail).
    NoteAdded,
    /// Someone read the notes.
    NotesViewed,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// A referral's personal data was erased (on request, on consent withdrawn, or by retention).
    ReferralErased,
    /// An endpoint's signing secret was rotated.
    AuthoritySecretRotated,
    /// The mailbox told about waiting referrals was set or removed.
    AuthorityNotifyChanged,
    /// An officer may now sign in to the web inbox.
    OfficerAdded,
    /// An officer was removed (their sessions ended).
    OfficerRemoved,
    /// An officer signed in with an e-mailed link.
    OfficerSignedIn,
    /// An e-mail notification was accepted by the relay.
    NotificationSent,
    /// An e-mail notification attempt failed (retried unless final).
    NotificationFailed,
    /// An officer listed the inbox; the detail holds the ids shown, nothing personal.
    ReferralsListed,
    /// An officer searched the inbox; the detail holds how many were found, never the search.
    ReferralsSearched,
    /// A referral was assigned to an officer of its authority (the detail holds the officer's id).
    ReferralAssigned,
    /// An organisation of practitioners was added (docs/contract.md §14).
    OrganisationAdded,
    /// An organisation's name, agency types or e-mail domains changed.
    OrganisationChanged,
    /// An organisation was removed (its practitioners' sessions ended).
    OrganisationRemoved,
    /// A practitioner was added individually to an organisation.
    PractitionerAdded,
    /// A practitioner was removed (their sessions ended).
    PractitionerRemoved,
    /// A practitioner signed in with an e-mailed link.
    PractitionerSignedIn,
    /// A practitioner whose e-mail domain several organisations list chose theirs.
    PractitionerOrganisationChosen,
    /// A practitioner's draft referral was erased (submitted, discarded or expired).
    DraftErased,
}

impl Vocabulary for AuditAction {
    const NAME: &'static str = "AuditAction";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("referral.received", AuditAction::ReferralReceived),
        ("referral.rejected", AuditAction::ReferralRejected),
        ("referral.accepted", AuditAction::ReferralAccepted),
        ("referral.viewed", AuditAction::ReferralViewed),
        ("delivery.attempted", AuditAction::DeliveryAttempted),
        ("delivery.succeeded", AuditAction::DeliverySucceeded),
        ("delivery.failed", AuditAction::DeliveryFailed),
        ("referral.acknowledged", AuditAction::ReferralAcknowledged),
        (
            "referral.redelivery_requested",
            AuditAction::ReferralRedeliveryRequested,
        ),
        (
            "authority.endpoint_changed",
            AuditAction::AuthorityEndpointChanged,
        ),
        ("api_key.created", AuditAction::ApiKeyCreated),
        (
            "referral.outcome_recorded",
            AuditAction::ReferralOutcomeRecorded,
        ),
        ("referral.withdrawn", AuditAction::ReferralWithdrawn),
        ("note.added", AuditAction::NoteAdded),
        ("notes.viewed", AuditAction::NotesViewed),
        ("api_key.revoked", AuditAction::ApiKeyRevoked),
        ("referral.erased", AuditAction::ReferralErased),
        (
            "authority.secret_rotated",
            AuditAction::AuthoritySecretRotated,
        ),
        (
            "authority.notify_changed",
            AuditAction::AuthorityNotifyChanged,
        ),
        ("officer.added", AuditAction::OfficerAdded),
        ("officer.removed", AuditAction::OfficerRemoved),
        ("officer.signed_in", AuditAction::OfficerSignedIn),
        ("notification.sent", AuditAction::NotificationSent),
        ("notification.failed", AuditAction::NotificationFailed),
        ("referrals.listed", AuditAction::ReferralsListed),
        ("referrals.searched", AuditAction::ReferralsSearched),
        ("referral.assigned", AuditAction::ReferralAssigned),
        ("organisation.added", AuditAction::OrganisationAdded),
        ("organisation.changed", AuditAction::OrganisationChanged),
        ("organisation.removed", AuditAction::OrganisationRemoved),
        ("practitioner.added", AuditAction::PractitionerAdded),
        ("practitioner.removed", AuditAction::PractitionerRemoved),
        ("practitioner.signed_in", AuditAction::PractitionerSignedIn),
        (
            "practitioner.organisation_chosen",
            AuditAction::PractitionerOrganisationChosen,
        ),
        ("draft.erased", AuditAction::DraftErased),
    ];
}

/// The stable `urn:dtr:problem:*` names of RFC 9457 problems a client may branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemType {
    /// The request body is not a JSON object we can read.
    RequestMalformed,
    /// The referral breaks one or more rules (`errors` lists them all).
    ReferralInvalid,
    /// The `Idempotency-Key` was already used with another body.
    IdempotencyKeyReused,
    /// The key request is invalid.
    ApiKeyInvalid,
    /// The acknowledgement is invalid.
    AcknowledgementInvalid,
    /// The endpoint request is invalid.
    EndpointInvalid,
    /// The endpoint URL is not allowed (SSRF rules).
    EndpointUrlNotAllowed,
    /// Only a failed referral can be redelivered.
    ReferralNotFailed,
    /// The authority has no endpoint.
    AuthorityNoEndpoint,
    /// The referral is not in a state that allows this (the detail names its state).
    ReferralWrongState,
    /// The outcome is invalid.
    OutcomeInvalid,
    /// The withdrawal is invalid.
    WithdrawalInvalid,
    /// The note is invalid.
    NoteInvalid,
    /// The referral's personal data was erased.
    ReferralErased,
    /// The last active admin key cannot be revoked.
    ApiKeyLastAdmin,
    /// The erasure request is invalid.
    ErasureInvalid,
    /// E-mail is not configured (`DTR_SMTP_URL`), so nobody can be told or sign in.
    SmtpNotConfigured,
    /// The notify or officer request is invalid.
    EmailInvalid,
    /// The address is already an officer's.
    OfficerExists,
    /// The organisation request is invalid (`errors` lists why).
    OrganisationInvalid,
    /// The address is already a practitioner of this organisation.
    PractitionerExists,
    /// The database cannot store anything now (a full disk, an I/O error, a lost or restarting
    /// database server): nothing was stored; try again after `Retry-After`.
    StorageUnavailable,
    /// More work is waiting to be stored than the service accepts at once: nothing was stored; try
    /// again after `Retry-After`.
    ServiceOverloaded,
    /// No `Authorization: Bearer` key was sent.
    AuthMissing,
    /// The key sent is unknown or revoked.
    AuthInvalid,
    /// The key's role may never do this.
    AuthForbidden,
    /// No such resource, or not one this key may see.
    NotFound,
    /// The resource does not answer this method (`Allow` lists those it does).
    MethodNotAllowed,
    /// The body is not `application/json`.
    ContentTypeUnsupported,
    /// A query, path or header parameter is malformed (`errors` names it as `/query/limit`, …).
    RequestInvalidParameter,
    /// The body is larger than the service accepts.
    RequestTooLarge,
    /// Too many requests: see `Retry-After`.
    RateLimited,
    /// Something failed on our side; the cause is logged, never returned.
    InternalError,
}

impl Vocabulary for ProblemType {
    const NAME: &'static str = "ProblemType";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("request.malformed", ProblemType::RequestMalformed),
        ("referral.invalid", ProblemType::ReferralInvalid),
        ("idempotency.key_reused", ProblemType::IdempotencyKeyReused),
        ("api_key.invalid", ProblemType::ApiKeyInvalid),
        (
            "acknowledgement.invalid",
            ProblemType::AcknowledgementInvalid,
        ),
        ("endpoint.invalid", ProblemType::EndpointInvalid),
        (
            "endpoint.url_not_allowed",
            ProblemType::EndpointUrlNotAllowed,
        ),
        ("referral.not_failed", ProblemType::ReferralNotFailed),
        ("authority.no_endpoint", ProblemType::AuthorityNoEndpoint),
        ("referral.wrong_state", ProblemType::ReferralWrongState),
        ("outcome.invalid", ProblemType::OutcomeInvalid),
        ("withdrawal.invalid", ProblemType::WithdrawalInvalid),
        ("note.invalid", ProblemType::NoteInvalid),
        ("referral.erased", ProblemType::ReferralErased),
        ("api_key.last_admin", ProblemType::ApiKeyLastAdmin),
        ("erasure.invalid", ProblemType::ErasureInvalid),
        ("smtp.not_configured", ProblemType::SmtpNotConfigured),
        ("email.invalid", ProblemType::EmailInvalid),
        ("officer.exists", ProblemType::OfficerExists),
        ("organisation.invalid", ProblemType::OrganisationInvalid),
        ("practitioner.exists", ProblemType::PractitionerExists),
        ("storage.unavailable", ProblemType::StorageUnavailable),
        ("service.overloaded", ProblemType::ServiceOverloaded),
        ("auth.missing", ProblemType::AuthMissing),
        ("auth.invalid", ProblemType::AuthInvalid),
        ("auth.forbidden", ProblemType::AuthForbidden),
        ("not_found", ProblemType::NotFound),
        ("method_not_allowed", ProblemType::MethodNotAllowed),
        (
            "content_type.unsupported",
            ProblemType::ContentTypeUnsupported,
        ),
        (
            "request.invalid_parameter",
            ProblemType::RequestInvalidParameter,
        ),
        ("request.too_large", ProblemType::RequestTooLarge),
        ("rate_limited", ProblemType::RateLimited),
        ("internal_error", ProblemType::InternalError),
    ];
}

impl ProblemType {
    /// The `type` member: `urn:dtr:problem:` and the term.
    pub fn uri(self) -> String {
        format!("urn:dtr:problem:{}", self.term())
    }

    /// The type of a problem that says no more than its status.
    pub fn for_status(status: u16) -> Option<ProblemType> {
        Some(match status {
            401 => ProblemType::AuthMissing,
            403 => ProblemType::AuthForbidden,
            404 => ProblemType::NotFound,
            405 => ProblemType::MethodNotAllowed,
            413 => ProblemType::RequestTooLarge,
            415 => ProblemType::ContentTypeUnsupported,
            400 => ProblemType::RequestInvalidParameter,
            429 => ProblemType::RateLimited,
            500 => ProblemType::InternalError,
            503 => ProblemType::StorageUnavailable,
            _ => return None,
        })
    }

    /// Every `type` a problem may carry: `about:blank` (the status says it all) and each name.
    pub fn all_uris() -> Vec<String> {
        std::iter::once("about:blank".to_owned())
            .chain(Self::TERMS.iter().map(|(_, t)| t.uri()))
            .collect()
    }
}

/// Who caused an audit event: a key's role, or the service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActorRole {
    /// A referrer key.
    Referrer,
    /// An authority key.
    Authority,
    /// An admin key.
    Admin,
    /// An officer signed in to the web inbox.
    Officer,
    /// A practitioner signed in to the referral journey (`/refer`).
    Practitioner,
    /// The service itself (delivery worker, start-up).
    System,
}

impl Vocabulary for ActorRole {
    const NAME: &'static str = "ActorRole";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("referrer", ActorRole::Referrer),
        ("authority", ActorRole::Authority),
        ("admin", ActorRole::Admin),
        ("officer", ActorRole::Officer),
        ("practitioner", ActorRole::Practitioner),
        ("system", ActorRole::System),
    ];
}

impl From<crate::Role> for ActorRole {
    fn from(role: crate::Role) -> Self {
        match role {
            crate::Role::Referrer => ActorRole::Referrer,
            crate::Role::Authority => ActorRole::Authority,
            crate::Role::Admin => ActorRole::Admin,
        }
    }
}
