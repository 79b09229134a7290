//! What the housing authority decided, and why a referrer withdraws a referral (docs/rules.md §4b).
//!
//! A referral is not a homelessness application, but it usually starts one, and the referrer needs
//! the decision back: the prevention duty (s.195 Housing Act 1996), the relief duty (s.189B), with
//! interim accommodation where priority need is likely (s.188) — what a prison or hospital most
//! needs to know — or why not. "Intentionally homeless" does not bar the prevention or relief duty,
//! so it is not an outcome here.

use crate::issue::{Code, Findings, Issue};
use crate::reader::{self, Obj};
use crate::register::{register, HousingAuthority};
use crate::Vocabulary;

/// The authority's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A duty was accepted.
    Accepted,
    /// No duty was accepted.
    NotAccepted,
}

impl Vocabulary for Decision {
    const NAME: &'static str = "Decision";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("accepted", Decision::Accepted),
        ("not_accepted", Decision::NotAccepted),
    ];

    fn label(self) -> &'static str {
        match self {
            Decision::Accepted => "Duty accepted",
            Decision::NotAccepted => "No duty accepted",
        }
    }
}

/// Why the authority decided as it did; each reason belongs to one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeReason {
    /// s.195: threatened with homelessness within 56 days and eligible.
    PreventionDuty,
    /// s.189B: homeless and eligible; 56 days of help to secure accommodation.
    ReliefDuty,
    /// s.189B with interim accommodation under s.188 (reason to believe priority need).
    ReliefDutyAndInterimAccommodation,
    /// Not eligible for assistance (immigration status, ss.185–186).
    NotEligible,
    /// Neither homeless nor threatened with homelessness.
    NotHomelessOrThreatened,
    /// Referred to another housing authority (no local connection, s.198).
    ReferredToAnotherAuthority,
    /// The person could not be reached or did not engage.
    NoContact,
    /// The person declined help.
    DeclinedByPerson,
    /// Another reason.
    Other,
}

impl Vocabulary for OutcomeReason {
    const NAME: &'static str = "OutcomeReason";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("prevention_duty", OutcomeReason::PreventionDuty),
        ("relief_duty", OutcomeReason::ReliefDuty),
        (
            "relief_duty_and_interim_accommodation",
            OutcomeReason::ReliefDutyAndInterimAccommodation,
        ),
        ("not_eligible", OutcomeReason::NotEligible),
        (
            "not_homeless_or_threatened",
            OutcomeReason::NotHomelessOrThreatened,
        ),
        (
            "referred_to_another_authority",
            OutcomeReason::ReferredToAnotherAuthority,
        ),
        ("no_contact", OutcomeReason::NoContact),
        ("declined_by_person", OutcomeReason::DeclinedByPerson),
        ("other", OutcomeReason::Other),
    ];

    fn label(self) -> &'static str {
        Self::label(self)
    }
}

impl OutcomeReason {
    /// In words, for the officer choosing it in the web inbox (with the section of the Act).
    pub fn label(self) -> &'static str {
        match self {
            OutcomeReason::PreventionDuty => "Accepted: prevention duty owed (section 195)",
            OutcomeReason::ReliefDuty => "Accepted: relief duty owed (section 189B)",
            OutcomeReason::ReliefDutyAndInterimAccommodation => {
                "Accepted: relief duty owed and interim accommodation provided (sections 189B and 188)"
            }
            OutcomeReason::NotEligible => "Not accepted: not eligible for assistance",
            OutcomeReason::NotHomelessOrThreatened => {
                "Not accepted: neither homeless nor threatened with homelessness"
            }
            OutcomeReason::ReferredToAnotherAuthority => {
                "Referred to another housing authority for local connection (section 198): until it accepts, interim accommodation may still be owed here (section 199A)"
            }
            OutcomeReason::NoContact => "Not accepted: the person could not be contacted",
            OutcomeReason::DeclinedByPerson => "Not accepted: the person declined help",
            OutcomeReason::Other => "Not accepted: another reason",
        }
    }

    /// The decision this reason belongs to.
    pub fn decision(self) -> Decision {
        match self {
            OutcomeReason::PreventionDuty
            | OutcomeReason::ReliefDuty
            | OutcomeReason::ReliefDutyAndInterimAccommodation => Decision::Accepted,
            _ => Decision::NotAccepted,
        }
    }
}

/// Why a referrer withdrew a referral (the Ministry of Justice's accommodation services' reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WithdrawalReason {
    /// Replaced by a new referral (Code of Guidance 4.17: repeat referrals).
    NewReferral,
    /// Sent to the wrong authority.
    IncorrectAuthority,
    /// The person withdrew consent: the referral stops and what was shared is erased.
    ConsentWithdrawn,
    /// The person disengaged.
    Disengaged,
    /// The housing need was resolved.
    HousingNeedResolved,
    /// The person is not eligible.
    NotEligible,
    /// Another reason.
    Other,
}

impl Vocabulary for WithdrawalReason {
    const NAME: &'static str = "WithdrawalReason";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("new_referral", WithdrawalReason::NewReferral),
        ("incorrect_authority", WithdrawalReason::IncorrectAuthority),
        ("consent_withdrawn", WithdrawalReason::ConsentWithdrawn),
        ("disengaged", WithdrawalReason::Disengaged),
        (
            "housing_need_resolved",
            WithdrawalReason::HousingNeedResolved,
        ),
        ("not_eligible", WithdrawalReason::NotEligible),
        ("other", WithdrawalReason::Other),
    ];

    fn label(self) -> &'static str {
        match self {
            WithdrawalReason::NewReferral => "Replaced by a new referral",
            WithdrawalReason::IncorrectAuthority => "Sent to the wrong council",
            WithdrawalReason::ConsentWithdrawn => "The person withdrew their consent",
            WithdrawalReason::Disengaged => "The person stopped engaging",
            WithdrawalReason::HousingNeedResolved => "The housing need was resolved",
            WithdrawalReason::NotEligible => "The person is not eligible",
            WithdrawalReason::Other => "Another reason",
        }
    }
}

/// Why an administrator erases a referral's personal data before retention would (UK GDPR
/// art. 17). Retention's own erasures are not asked for, so `retention` is not one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErasureReason {
    /// The person asked for erasure.
    SubjectRequest,
    /// The referral was sent in error (wrong person, wrong authority, no duty).
    SentInError,
    /// The person withdrew consent to the referral.
    ConsentWithdrawn,
}

impl Vocabulary for ErasureReason {
    const NAME: &'static str = "ErasureReason";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("subject_request", ErasureReason::SubjectRequest),
        ("sent_in_error", ErasureReason::SentInError),
        ("consent_withdrawn", ErasureReason::ConsentWithdrawn),
    ];

    fn label(self) -> &'static str {
        match self {
            ErasureReason::SubjectRequest => "The person asked for their data to be erased",
            ErasureReason::SentInError => "Sent in error",
            ErasureReason::ConsentWithdrawn => "The person withdrew their consent",
        }
    }
}

/// A decision with a reason that belongs to it, and — when referred on — the other authority. Only
/// [`Outcome::parse`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    reason: OutcomeReason,
    other_authority: Option<&'static HousingAuthority>,
}

/// How the person was referred, as far as an outcome's warnings ask: the housing reason and
/// whether they were sleeping rough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferredAs {
    /// Homeless, or threatened with homelessness.
    pub reason: crate::HousingReason,
    /// Sleeping rough at the time of the referral.
    pub sleeping_rough: bool,
}

/// The warnings of an outcome recorded with `reason` on a referral made as `referred_as`
/// (docs/rules.md §4b), pointed at `/reason`:
/// - a local connection referral (s.198) exists only at the relief stage (s.198(A1)), so
///   recording one for a person threatened with homelessness is flagged — the prevention duty
///   (s.195) is not passed on that way;
/// - the prevention duty is for a person threatened with homelessness: one referred as sleeping
///   rough is homeless, and is owed the relief duty (s.189B).
///
/// `None` (erased, or never known) judges nothing.
pub fn outcome_warnings(reason: OutcomeReason, referred_as: Option<ReferredAs>) -> Vec<Issue> {
    let mut f = Findings::default();
    let Some(referred) = referred_as else {
        return vec![];
    };
    if reason == OutcomeReason::ReferredToAnotherAuthority
        && referred.reason == crate::HousingReason::ThreatenedWithHomelessness
    {
        f.add(
            "/reason",
            Code::OutcomeReferredAtPreventionStage,
            "The person was referred as threatened with homelessness. A referral to another authority for local connection (section 198) is made at the relief stage, once they are homeless; at the prevention stage the prevention duty (section 195) stays with this authority. While a local connection referral is pending, this authority may still owe interim accommodation (section 199A).",
        );
    }
    if reason == OutcomeReason::PreventionDuty && referred.sleeping_rough {
        f.add(
            "/reason",
            Code::OutcomePreventionForRoughSleeper,
            "The person was referred as sleeping rough, so homeless: the duty owed is the relief duty (section 189B), with interim accommodation if they may be in priority need (section 188), not the prevention duty (section 195).",
        );
    }
    f.warnings
}

/// The members of an outcome body.
pub const OUTCOME_MEMBERS: &[&str] = &["decision", "reason", "other_authority"];

impl Outcome {
    /// Reads `{ decision, reason, other_authority?: { gss_code } }` recorded by the authority
    /// `addressed` (the referral's own), reporting every fault at its pointer.
    pub fn parse(document: &serde_json::Value, addressed: &str) -> Result<Outcome, Vec<Issue>> {
        let mut f = Findings::default();
        let outcome = reader::open(Some(document), "", true, OUTCOME_MEMBERS, &mut f)
            .and_then(|o| Self::read(&o, addressed, &mut f));
        match outcome {
            Some(outcome) if f.errors.is_empty() => Ok(outcome),
            _ => Err(f.errors),
        }
    }

    fn read(o: &Obj<'_>, addressed: &str, f: &mut Findings) -> Option<Outcome> {
        let decision = o.choice::<Decision>("decision", true, f);
        let reason = o.choice::<OutcomeReason>("reason", true, f);
        if let (Some(decision), Some(reason)) = (decision, reason) {
            if reason.decision() != decision {
                f.add(
                    &o.at("reason"),
                    Code::FieldInvalidValue,
                    format!(
                        "This reason belongs to the decision {}; for {} use one of: {}.",
                        reason.decision().term(),
                        decision.term(),
                        OutcomeReason::TERMS
                            .iter()
                            .filter(|(_, r)| r.decision() == decision)
                            .map(|(t, _)| *t)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                return None;
            }
        }
        let referred_on = reason == Some(OutcomeReason::ReferredToAnotherAuthority);
        let other = o.object("other_authority", referred_on, &["gss_code"], f);
        let other_authority = match (referred_on, other) {
            (true, Some(other)) => {
                let pointer = other.at("gss_code");
                match other.parse("gss_code", true, f, |raw| register().resolve(raw)) {
                    Some(r) if r.authority.gss_code == addressed => {
                        f.add(
                            &pointer,
                            Code::HousingAuthorityUnknown,
                            "This is the authority the referral is already addressed to; name the other authority it was referred to.",
                        );
                        None
                    }
                    found => found.map(|r| r.authority),
                }
            }
            (false, Some(_)) => {
                f.add(
                    &o.at("other_authority"),
                    Code::FieldInvalidValue,
                    "Give other_authority only with the reason referred_to_another_authority.",
                );
                None
            }
            _ => None,
        };
        let reason = reason?;
        if referred_on && other_authority.is_none() {
            return None;
        }
        Some(Outcome {
            reason,
            other_authority,
        })
    }

    /// The decision.
    pub fn decision(&self) -> Decision {
        self.reason.decision()
    }

    /// The reason.
    pub fn reason(&self) -> OutcomeReason {
        self.reason
    }

    /// The authority the person was referred to, when referred on.
    pub fn other_authority(&self) -> Option<&'static HousingAuthority> {
        self.other_authority
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHEFFIELD: &str = "E08000039";

    fn errors(body: serde_json::Value) -> Vec<(String, &'static str)> {
        match Outcome::parse(&body, SHEFFIELD) {
            Ok(_) => vec![],
            Err(e) => e
                .into_iter()
                .map(|i| (i.pointer, i.code.as_str()))
                .collect(),
        }
    }

    #[test]
    fn referred_to_another_authority_at_the_prevention_stage_is_warned_and_at_relief_is_not() {
        use crate::HousingReason::{Homeless, ThreatenedWithHomelessness};
        let as_ = |reason, sleeping_rough| {
            Some(ReferredAs {
                reason,
                sleeping_rough,
            })
        };
        let codes = |reason, referred| {
            outcome_warnings(reason, referred)
                .into_iter()
                .map(|i| (i.pointer, i.code))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(
                OutcomeReason::ReferredToAnotherAuthority,
                as_(ThreatenedWithHomelessness, false)
            ),
            vec![("/reason".to_owned(), Code::OutcomeReferredAtPreventionStage)]
        );
        assert_eq!(
            codes(
                OutcomeReason::ReferredToAnotherAuthority,
                as_(Homeless, false)
            ),
            vec![]
        );
        assert_eq!(
            codes(
                OutcomeReason::PreventionDuty,
                as_(ThreatenedWithHomelessness, false)
            ),
            vec![]
        );
        // An erased referral's reason is unknown: nothing to judge.
        assert_eq!(
            codes(OutcomeReason::ReferredToAnotherAuthority, None),
            vec![]
        );
        assert!(!OutcomeReason::ReferredToAnotherAuthority
            .label()
            .starts_with("Not accepted"));
    }

    #[test]
    fn the_prevention_duty_for_a_person_sleeping_rough_is_warned_and_relief_is_not() {
        use crate::HousingReason::Homeless;
        let rough = Some(ReferredAs {
            reason: Homeless,
            sleeping_rough: true,
        });
        let codes = |reason| {
            outcome_warnings(reason, rough)
                .into_iter()
                .map(|i| i.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            codes(OutcomeReason::PreventionDuty),
            vec![Code::OutcomePreventionForRoughSleeper]
        );
        assert_eq!(codes(OutcomeReason::ReliefDuty), vec![]);
        assert_eq!(
            codes(OutcomeReason::ReliefDutyAndInterimAccommodation),
            vec![]
        );
        let not_rough = Some(ReferredAs {
            reason: Homeless,
            sleeping_rough: false,
        });
        assert_eq!(
            outcome_warnings(OutcomeReason::PreventionDuty, not_rough),
            vec![]
        );
    }

    #[test]
    fn every_reason_is_accepted_with_its_own_decision() {
        for (term, reason) in OutcomeReason::TERMS {
            let mut body = json!({"decision": reason.decision().term(), "reason": term});
            if *reason == OutcomeReason::ReferredToAnotherAuthority {
                body["other_authority"] = json!({"gss_code": "E08000016"});
            }
            let outcome = Outcome::parse(&body, SHEFFIELD).expect(term);
            assert_eq!(outcome.reason(), *reason);
        }
    }

    #[test]
    fn a_reason_of_the_other_decision_is_invalid_at_reason() {
        assert_eq!(
            errors(json!({"decision": "accepted", "reason": "no_contact"})),
            vec![("/reason".to_owned(), "field.invalid_value")]
        );
        assert_eq!(
            errors(json!({"decision": "not_accepted", "reason": "relief_duty"})),
            vec![("/reason".to_owned(), "field.invalid_value")]
        );
    }

    #[test]
    fn values_outside_the_lists_are_invalid_at_their_pointers() {
        assert_eq!(
            errors(json!({"decision": "maybe", "reason": "intentionally_homeless"})),
            vec![
                ("/decision".to_owned(), "field.invalid_value"),
                ("/reason".to_owned(), "field.invalid_value")
            ]
        );
    }

    #[test]
    fn referred_on_needs_the_other_authoritys_code() {
        let body = json!({"decision": "not_accepted", "reason": "referred_to_another_authority"});
        assert_eq!(
            errors(body.clone()),
            vec![("/other_authority".to_owned(), "field.required")]
        );
        let mut missing = body.clone();
        missing["other_authority"] = json!({});
        assert_eq!(
            errors(missing),
            vec![("/other_authority/gss_code".to_owned(), "field.required")]
        );
        for (code, expected) in [
            ("W06000015", "housing_authority.not_in_england"),
            ("E10000016", "housing_authority.not_housing_authority"),
            ("E99999999", "housing_authority.unknown"),
            (SHEFFIELD, "housing_authority.unknown"),
        ] {
            let mut bad = body.clone();
            bad["other_authority"] = json!({ "gss_code": code });
            assert_eq!(
                errors(bad),
                vec![("/other_authority/gss_code".to_owned(), expected)],
                "{code}"
            );
        }
        let mut barnsley = body;
        barnsley["other_authority"] = json!({"gss_code": "E08000016"});
        let outcome = Outcome::parse(&barnsley, SHEFFIELD).expect("Barnsley's former code");
        assert_eq!(
            outcome.other_authority().map(|a| a.gss_code.as_str()),
            Some("E08000038")
        );
    }

    #[test]
    fn another_authority_with_another_reason_is_invalid() {
        assert_eq!(
            errors(
                json!({"decision": "not_accepted", "reason": "no_contact", "other_authority": {"gss_code": "E08000016"}})
            ),
            vec![("/other_authority".to_owned(), "field.invalid_value")]
        );
    }

    #[test]
    fn withdrawal_reasons_are_the_seven_of_the_contract() {
        assert_eq!(
            WithdrawalReason::terms(),
            [
                "new_referral",
                "incorrect_authority",
                "consent_withdrawn",
                "disengaged",
                "housing_need_resolved",
                "not_eligible",
                "other"
            ]
        );
    }
}
