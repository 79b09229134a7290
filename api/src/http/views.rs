//! The wire objects of stored rows, built in one place.

use crate::db::rfc3339_ms;
use crate::entities::{audit_event, note, referral};
use crate::referrals::lifecycle;
use openapi::{
    Acknowledgement, AuthorityRef, Delivery, FeedEvent, NoteAuthorView, NoteView, OutcomeView,
    RawReferral, ReferralResource, WithdrawalView,
};

pub use crate::referrals::warnings_of;

fn authority_ref(gss_code: &str) -> AuthorityRef {
    AuthorityRef {
        gss_code: gss_code.to_owned(),
        name: domain::register()
            .get(gss_code)
            .map(|a| a.name.clone())
            .unwrap_or_default(),
    }
}

/// The wire resource of a stored referral; the document only when `with_document` (and only while
/// the referral holds one: never after erasure).
/// The wire form of a referral on `today` (its urgency is judged on that UK date).
pub fn resource(
    row: &referral::Model,
    with_document: bool,
    today: jiff::civil::Date,
) -> ReferralResource {
    let acknowledgement = row.acknowledged_at_ms.map(|at| Acknowledgement {
        acknowledged_at: rfc3339_ms(at),
        received_by: row.received_by.clone().unwrap_or_default(),
        local_reference: row.local_reference.clone(),
    });
    let outcome = match (
        &row.outcome_decision,
        &row.outcome_reason,
        row.outcome_recorded_at_ms,
    ) {
        (Some(decision), Some(reason), Some(at)) => Some(OutcomeView {
            decision: decision.clone(),
            reason: reason.clone(),
            other_authority: row.outcome_other_gss_code.as_deref().map(authority_ref),
            recorded_at: rfc3339_ms(at),
            warnings: crate::referrals::outcome_warnings(row)
                .into_iter()
                .map(|i| openapi::ValidationIssue {
                    pointer: i.pointer,
                    code: i.code.as_str().to_owned(),
                    message: i.message,
                })
                .collect(),
        }),
        _ => None,
    };
    let withdrawal = match (&row.withdrawal_reason, row.withdrawn_at_ms) {
        (Some(reason), Some(at)) => Some(WithdrawalView {
            reason: reason.clone(),
            withdrawn_at: rfc3339_ms(at),
        }),
        _ => None,
    };
    ReferralResource {
        id: row.id.clone(),
        status: row.status.into(),
        submitted_at: rfc3339_ms(row.submitted_at_ms),
        housing_authority: authority_ref(&row.gss_code),
        organisation: row.organisation.clone(),
        agency_type: row.agency_type.clone(),
        warnings: warnings_of(row),
        delivery: Delivery {
            mode: row.delivery_mode.into(),
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            last_attempt_at: row.last_attempt_at_ms.map(rfc3339_ms),
            last_error: row.last_error.clone(),
            next_attempt_at: row.next_attempt_at_ms.map(rfc3339_ms),
            delivered_at: row.delivered_at_ms.map(rfc3339_ms),
        },
        acknowledgement,
        outcome,
        withdrawal,
        erased_at: row.erased_at_ms.map(rfc3339_ms),
        urgency: crate::referrals::urgency(row, today)
            .as_ref()
            .map(openapi::UrgencyView::from),
        referral: (with_document && lifecycle::discloses_document(row, false))
            .then(|| serde_json::from_str(&row.document).ok().map(RawReferral))
            .flatten(),
    }
}

/// The wire form of a note.
/// The wire form of a note; `officers` names the officers who wrote in the inbox, by id.
pub fn note_view(
    n: &note::Model,
    officers: &std::collections::HashMap<String, String>,
) -> NoteView {
    NoteView {
        id: n.id.clone(),
        at: rfc3339_ms(n.created_at_ms),
        author: NoteAuthorView {
            role: n.author_role.clone(),
            organisation: n.author_organisation.clone(),
            agency_type: n.author_agency_type.clone(),
            gss_code: n.author_gss_code.clone(),
            officer_email: n
                .author_officer_id
                .as_ref()
                .and_then(|id| officers.get(id))
                .cloned(),
        },
        text: n.text.clone().unwrap_or_default(),
    }
}

/// The wire form of an audit event in the event feed (no hashes, no actor). The feed speaks the
/// resources' vocabulary (docs/contract.md §9b): the trail's `other_gss_code` is
/// `other_authority: { gss_code }`, its `author_role` is `author: { role }`, and a read says whose
/// it was (`by_role`). The trail itself is hashed as it was written and is not rewritten.
pub fn feed_event(row: audit_event::Model) -> FeedEvent {
    let mut detail: serde_json::Value =
        serde_json::from_str(&row.detail).unwrap_or(serde_json::Value::Null);
    if let Some(d) = detail.as_object_mut() {
        if let Some(other) = d.remove("other_gss_code") {
            d.insert(
                "other_authority".to_owned(),
                match other {
                    serde_json::Value::String(code) => serde_json::json!({ "gss_code": code }),
                    _ => serde_json::Value::Null,
                },
            );
        }
        if let Some(role) = d.remove("author_role") {
            d.insert("author".to_owned(), serde_json::json!({ "role": role }));
        }
        if row.action == "referral.viewed" {
            d.insert(
                "by_role".to_owned(),
                serde_json::Value::from(row.actor_role.clone()),
            );
        }
    }
    // Only the members the action's schema names leave (openapi::feed_detail).
    let detail = match openapi::feed_detail(&row.action, detail.clone()) {
        Some(typed) => typed,
        None => {
            tracing::error!(seq = row.seq, action = %row.action, "feed event detail does not match its schema");
            detail
        }
    };
    FeedEvent {
        seq: row.seq,
        at: row.at,
        action: row.action,
        referral_id: row.referral_id.unwrap_or_default(),
        detail,
    }
}
