//! The answer of `POST /v1/referrals/validate` and `dtr validate` (docs/contract.md §5): one shape for both,
//! built in one place from the domain's verdict.

use domain::{Accepted, Issue, Refused};
use poem_openapi::Object;
use serde::Serialize;

/// One finding about a referral.
#[derive(Debug, Clone, PartialEq, Eq, Object, Serialize)]
pub struct ValidationIssue {
    /// RFC 6901 JSON pointer into the submitted document (`""` is the whole document).
    pub pointer: String,
    /// Stable machine code, e.g. `consent.override_required` (see the API description for the list).
    pub code: String,
    /// Explanation for the practitioner; never echoes the submitted value.
    pub message: String,
}

impl From<&Issue> for ValidationIssue {
    fn from(i: &Issue) -> Self {
        ValidationIssue {
            pointer: i.pointer.clone(),
            code: i.code.as_str().to_owned(),
            message: i.message.clone(),
        }
    }
}

/// The verdict on a referral: every error and warning at once, and the normalized referral when valid.
#[derive(Debug, Clone, PartialEq, Object, Serialize)]
pub struct ValidationReport {
    /// Whether the referral may be submitted.
    pub valid: bool,
    /// Every reason it may not; empty when valid.
    pub errors: Vec<ValidationIssue>,
    /// Facts the housing authority should notice; they do not stop the referral.
    pub warnings: Vec<ValidationIssue>,
    /// The referral as it would be stored and forwarded: phone numbers in E.164, postcodes upper
    /// case with one space, text trimmed, the authority's current code. Present only when valid.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub normalized: Option<serde_json::Value>,
}

impl ValidationReport {
    /// The report of a domain verdict.
    pub fn of(outcome: &Result<Accepted, Refused>) -> Self {
        match outcome {
            Ok(a) => ValidationReport {
                valid: true,
                errors: vec![],
                warnings: a.warnings.iter().map(Into::into).collect(),
                normalized: Some(a.referral.to_json()),
            },
            Err(r) => ValidationReport {
                valid: false,
                errors: r.errors.iter().map(Into::into).collect(),
                warnings: r.warnings.iter().map(Into::into).collect(),
                normalized: None,
            },
        }
    }

    /// The report for input that is not a JSON document we read (offline validation only: the API
    /// answers 400).
    pub fn not_json(error: &domain::JsonError) -> Self {
        ValidationReport {
            valid: false,
            errors: vec![ValidationIssue {
                pointer: String::new(),
                code: domain::Code::FieldType.as_str().to_owned(),
                message: format!("The input is {error}."),
            }],
            warnings: vec![],
            normalized: None,
        }
    }
}
