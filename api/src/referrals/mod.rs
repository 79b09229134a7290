//! Referrals: their use cases (one function, one transaction each), their repository, the
//! group-commit writer of the hot paths, the lifecycle that decides every status, and retention.

mod actions;
pub mod group_commit;
pub mod lifecycle;
pub mod repository;
pub mod retention;
pub mod submit;

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
