//! Referrals: their use cases (one function, one transaction each), their repository, the
//! group-commit writer of the hot paths, the lifecycle that decides every status, and retention.

mod actions;
pub mod assignment;
pub mod group_commit;
pub mod lifecycle;
pub mod repository;
pub mod retention;
pub mod submit;
pub mod triage;

pub use actions::*;

use crate::entities::referral;
use openapi::ValidationIssue;

/// The warnings stored with a referral, as the API and the pushed event show them.
pub fn warnings_of(row: &referral::Model) -> Vec<ValidationIssue> {
    serde_json::from_str::<Vec<serde_json::Value>>(&row.warnings)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|w| {
            Some(ValidationIssue {
                pointer: w.get("pointer")?.as_str()?.to_owned(),
                code: w.get("code")?.as_str()?.to_owned(),
                message: w.get("message")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// How urgent a stored referral is on `today` (a UK date), from the document it was accepted as;
/// `None` once erased. The one place the inbox, the e-mails and the API ask.
pub fn urgency(row: &referral::Model, today: jiff::civil::Date) -> Option<domain::Urgency> {
    if row.erased_at_ms.is_some() {
        return None;
    }
    let document: serde_json::Value = serde_json::from_str(&row.document).ok()?;
    domain::Urgency::of_normalized(&document, today)
}

/// The short reference people read out on the phone and see in subjects: the last 12 hex digits of
/// the id (a UUID v7's random part), upper case.
pub fn short_reference(id: &str) -> String {
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).collect();
    hex[hex.len().saturating_sub(12)..].to_uppercase()
}

/// The warnings of a referral's recorded outcome (`domain::outcome_warnings`), judged against how
/// the person was referred; none once erased or before an outcome.
pub fn outcome_warnings(row: &referral::Model) -> Vec<domain::Issue> {
    use domain::Vocabulary;
    let Some(reason) = row
        .outcome_reason
        .as_deref()
        .and_then(domain::OutcomeReason::from_term)
    else {
        return vec![];
    };
    let referred_as = (row.erased_at_ms.is_none())
        .then(|| serde_json::from_str::<serde_json::Value>(&row.document).ok())
        .flatten()
        .and_then(|d| {
            Some(domain::ReferredAs {
                reason: d
                    .pointer("/housing_situation/reason")?
                    .as_str()
                    .and_then(domain::HousingReason::from_term)?,
                sleeping_rough: d.pointer("/housing_situation/rough_sleeping")
                    == Some(&serde_json::json!("sleeping_rough")),
            })
        });
    domain::outcome_warnings(reason, referred_as)
}
