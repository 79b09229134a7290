//! Findings about a referral: errors that refuse it and warnings that travel with it.
//!
//! Every finding carries a stable machine code (docs/contract.md §5) and an RFC 6901 JSON pointer so that a
//! referring case system can highlight the exact field, and a message for people. Messages never echo
//! the submitted value: they are logged and returned, and the value may be personal data.

use serde::{Serialize, Serializer};
use std::fmt;

/// The stable codes of docs/contract.md §5. Case systems branch on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// A required member is missing or `null`.
    FieldRequired,
    /// A member the document does not define.
    FieldUnknown,
    /// A member of the wrong JSON type.
    FieldType,
    /// Text longer than its limit (in characters, not bytes).
    FieldTooLong,
    /// Text shorter than its minimum after trimming.
    FieldTooShort,
    /// Text with control characters where they are not allowed.
    FieldControlChars,
    /// A value outside an enumeration or a numeric range.
    FieldInvalidValue,
    /// The same member twice in one object (RFC 7493 forbids it; a parser would keep one silently).
    FieldDuplicate,
    /// Not an e-mail address.
    EmailInvalid,
    /// Not a UK national or E.164 international telephone number.
    PhoneInvalid,
    /// Not a UK postcode.
    PostcodeInvalid,
    /// Not a `YYYY-MM-DD` date (or an RFC 3339 instant where one is expected).
    DateInvalid,
    /// No way at all to contact the person.
    ContactNone,
    /// A consent was refused and no safeguarding override was recorded.
    ConsentOverrideRequired,
    /// A safeguarding override lacks a member or has one that is too short.
    ConsentOverrideIncomplete,
    /// Consent recorded more than five minutes in the future.
    ConsentRecordedInFuture,
    /// Not a code of any current English housing authority.
    HousingAuthorityUnknown,
    /// A county council: not a housing authority.
    HousingAuthorityNotHousingAuthority,
    /// A Welsh, Scottish or Northern Irish authority.
    HousingAuthorityNotInEngland,
    /// The person did not choose the authority and there is no override.
    HousingAuthorityNotChosen,
    /// Threatened with homelessness but no date given.
    ThreatDateRequired,
    /// A date given although the person is already homeless.
    ThreatDateNotAllowed,
    /// The likely date of homelessness is before today.
    ThreatDateInPast,
    /// The likely date is beyond the 56-day window and no possession notice brings it inside.
    ThreatOutside56Days,
    /// A date of birth after today.
    PersonDateOfBirthInFuture,
    /// The person is under 16.
    PersonUnder16,
    /// Threatened with homelessness while sleeping rough: a person sleeping rough is homeless now.
    ThreatAlreadyHomeless,
    /// Warning: the person is 16 or 17.
    PersonAged16Or17,
    /// Warning: an override was given although both consents were.
    ConsentOverrideUnnecessary,
    /// Warning: consent recorded more than 30 days ago.
    ConsentStale,
    /// Warning: rough sleeping is imminent.
    RoughSleepingImminent,
    /// Warning: a possession notice expiring inside the window makes the person threatened.
    ThreatPossessionNotice,
    /// Warning: a former code of a re-coded authority was used.
    HousingAuthorityCodeChanged,
    /// Warning: a telephone number of valid shape and length in a range the numbering metadata does
    /// not list as allocated (Ofcom's drama ranges among them).
    PhoneUnrecognisedRange,
    /// Warning: the person is sleeping rough now — the most urgent case.
    RoughSleepingNow,
    /// Warning: the safeguarding override was authorised by the referrer themself.
    ConsentOverrideSelfAuthorised,
    /// The person's own contact details are given although they did not agree to share them and
    /// no safeguarding override covers it.
    ConsentContactNotShared,
    /// Warning: an override for an "adult at risk" of a person under 18, who is a child.
    ConsentOverrideConcernMismatch,
    /// Warning: a possession notice that, on its date, cannot bring the person within s.175(5).
    ThreatNoticeNotInForce,
    /// Warning on an outcome: "referred to another authority" (s.198, local connection) recorded on
    /// a referral made as threatened with homelessness, where no such referral exists (s.198(A1)).
    OutcomeReferredAtPreventionStage,
    /// Warning on an outcome: the prevention duty (s.195, for a person threatened with
    /// homelessness) recorded for a person referred as sleeping rough, who is homeless.
    OutcomePreventionForRoughSleeper,
    /// Warning: a British Forces Post Office postcode (BF1), a mail route rather than a place.
    PostcodeBfpo,
    /// Warning: rough sleeping marked imminent while the likely date of homelessness is weeks away.
    RoughSleepingImminentDateDistant,
}

impl Code {
    /// Every code, for documentation and for tests that prove each one is produced somewhere.
    pub const ALL: [Code; 43] = [
        Code::FieldRequired,
        Code::FieldUnknown,
        Code::FieldType,
        Code::FieldTooLong,
        Code::FieldTooShort,
        Code::FieldControlChars,
        Code::FieldInvalidValue,
        Code::FieldDuplicate,
        Code::EmailInvalid,
        Code::PhoneInvalid,
        Code::PostcodeInvalid,
        Code::DateInvalid,
        Code::ContactNone,
        Code::ConsentOverrideRequired,
        Code::ConsentOverrideIncomplete,
        Code::ConsentRecordedInFuture,
        Code::HousingAuthorityUnknown,
        Code::HousingAuthorityNotHousingAuthority,
        Code::HousingAuthorityNotInEngland,
        Code::HousingAuthorityNotChosen,
        Code::ThreatDateRequired,
        Code::ThreatDateNotAllowed,
        Code::ThreatDateInPast,
        Code::ThreatOutside56Days,
        Code::PersonDateOfBirthInFuture,
        Code::PersonUnder16,
        Code::ThreatAlreadyHomeless,
        Code::PersonAged16Or17,
        Code::ConsentOverrideUnnecessary,
        Code::ConsentStale,
        Code::RoughSleepingImminent,
        Code::ThreatPossessionNotice,
        Code::HousingAuthorityCodeChanged,
        Code::PhoneUnrecognisedRange,
        Code::RoughSleepingNow,
        Code::ConsentOverrideSelfAuthorised,
        Code::ConsentContactNotShared,
        Code::ConsentOverrideConcernMismatch,
        Code::ThreatNoticeNotInForce,
        Code::OutcomeReferredAtPreventionStage,
        Code::OutcomePreventionForRoughSleeper,
        Code::PostcodeBfpo,
        Code::RoughSleepingImminentDateDistant,
    ];

    /// The wire spelling of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::FieldRequired => "field.required",
            Code::FieldUnknown => "field.unknown",
            Code::FieldType => "field.type",
            Code::FieldTooLong => "field.too_long",
            Code::FieldTooShort => "field.too_short",
            Code::FieldControlChars => "field.control_chars",
            Code::FieldInvalidValue => "field.invalid_value",
            Code::FieldDuplicate => "field.duplicate",
            Code::EmailInvalid => "email.invalid",
            Code::PhoneInvalid => "phone.invalid",
            Code::PostcodeInvalid => "postcode.invalid",
            Code::DateInvalid => "date.invalid",
            Code::ContactNone => "contact.none",
            Code::ConsentOverrideRequired => "consent.override_required",
            Code::ConsentOverrideIncomplete => "consent.override_incomplete",
            Code::ConsentRecordedInFuture => "consent.recorded_in_future",
            Code::HousingAuthorityUnknown => "housing_authority.unknown",
            Code::HousingAuthorityNotHousingAuthority => "housing_authority.not_housing_authority",
            Code::HousingAuthorityNotInEngland => "housing_authority.not_in_england",
            Code::HousingAuthorityNotChosen => "housing_authority.not_chosen",
            Code::ThreatDateRequired => "threat.date_required",
            Code::ThreatDateNotAllowed => "threat.date_not_allowed",
            Code::ThreatDateInPast => "threat.date_in_past",
            Code::ThreatOutside56Days => "threat.outside_56_days",
            Code::PersonDateOfBirthInFuture => "person.date_of_birth_in_future",
            Code::PersonUnder16 => "person.under_16",
            Code::ThreatAlreadyHomeless => "threat.already_homeless",
            Code::PersonAged16Or17 => "person.aged_16_or_17",
            Code::ConsentOverrideUnnecessary => "consent.override_unnecessary",
            Code::ConsentStale => "consent.stale",
            Code::RoughSleepingImminent => "rough_sleeping.imminent",
            Code::ThreatPossessionNotice => "threat.possession_notice",
            Code::HousingAuthorityCodeChanged => "housing_authority.code_changed",
            Code::PhoneUnrecognisedRange => "phone.unrecognised_range",
            Code::RoughSleepingNow => "rough_sleeping.now",
            Code::ConsentOverrideSelfAuthorised => "consent.override_self_authorised",
            Code::ConsentContactNotShared => "consent.contact_not_shared",
            Code::ConsentOverrideConcernMismatch => "consent.override_concern_mismatch",
            Code::ThreatNoticeNotInForce => "threat.notice_not_in_force",
            Code::OutcomeReferredAtPreventionStage => "outcome.referred_at_prevention_stage",
            Code::OutcomePreventionForRoughSleeper => "outcome.prevention_for_rough_sleeper",
            Code::PostcodeBfpo => "postcode.bfpo",
            Code::RoughSleepingImminentDateDistant => "rough_sleeping.imminent_date_distant",
        }
    }

    /// How urgent a warning makes the referral for the housing officer who opens it, most urgent
    /// first (rank 0), in words without personal data — for e-mails, the inbox list and the top
    /// of a referral. `None` for codes that do not make a referral more urgent.
    pub fn urgency(self) -> Option<(u8, &'static str)> {
        match self {
            Code::RoughSleepingNow => Some((0, "Sleeping rough now")),
            Code::RoughSleepingImminent => Some((1, "At imminent risk of sleeping rough")),
            Code::PersonAged16Or17 => Some((2, "Aged 16 or 17")),
            _ => None,
        }
    }

    /// The code of a wire spelling.
    pub fn from_str_code(raw: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == raw)
    }

    /// Whether the code is a warning (the referral stays valid) rather than an error.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Code::PersonAged16Or17
                | Code::ConsentOverrideUnnecessary
                | Code::ConsentStale
                | Code::RoughSleepingImminent
                | Code::ThreatPossessionNotice
                | Code::HousingAuthorityCodeChanged
                | Code::PhoneUnrecognisedRange
                | Code::RoughSleepingNow
                | Code::ConsentOverrideConcernMismatch
                | Code::ThreatNoticeNotInForce
                | Code::ConsentOverrideSelfAuthorised
                | Code::OutcomeReferredAtPreventionStage
                | Code::OutcomePreventionForRoughSleeper
                | Code::PostcodeBfpo
                | Code::RoughSleepingImminentDateDistant
        )
    }

    /// Whether the code judges an outcome an authority recorded (`outcome.*`), not a referral
    /// document: no referral example produces it.
    pub fn is_about_outcome(self) -> bool {
        matches!(
            self,
            Code::OutcomeReferredAtPreventionStage | Code::OutcomePreventionForRoughSleeper
        )
    }

    /// The code for a wire spelling, if it is one of ours.
    pub fn from_wire(s: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One finding: where, what (stable code) and why (for people).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// RFC 6901 pointer into the submitted document; `""` is the whole document.
    pub pointer: String,
    /// The stable machine code.
    pub code: Code,
    /// A sentence for the practitioner. Never contains the submitted value.
    pub message: String,
}

/// Why a single value was refused, before it is placed at a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The stable machine code.
    pub code: Code,
    /// A sentence for people.
    pub message: String,
}

impl Rejection {
    /// A rejection with its code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

/// Escapes one reference token per RFC 6901 §3 (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Collects every error and warning of one parse, so that nothing stops at the first problem.
#[derive(Debug, Default)]
pub struct Findings {
    /// Errors: the input is refused.
    pub errors: Vec<Issue>,
    /// Warnings: the input stands.
    pub warnings: Vec<Issue>,
}

impl Findings {
    /// Records a finding; its code decides whether it is an error or a warning.
    pub fn add(&mut self, pointer: &str, code: Code, message: impl Into<String>) {
        let issue = Issue {
            pointer: pointer.to_owned(),
            code,
            message: message.into(),
        };
        if code.is_warning() {
            self.warnings.push(issue);
        } else {
            self.errors.push(issue);
        }
    }

    /// Records a value's rejection at `pointer`.
    pub fn reject(&mut self, pointer: &str, rejection: Rejection) {
        self.add(pointer, rejection.code, rejection.message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_spelling() {
        for code in Code::ALL {
            assert_eq!(Code::from_wire(code.as_str()), Some(code));
        }
        let mut spellings: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        spellings.sort();
        spellings.dedup();
        assert_eq!(spellings.len(), Code::ALL.len());
    }

    #[test]
    fn pointer_tokens_are_escaped_per_rfc_6901() {
        assert_eq!(escape_token("a/b~c"), "a~1b~0c");
    }

    #[test]
    fn warnings_and_errors_are_kept_apart() {
        let mut f = Findings::default();
        f.add("/x", Code::ConsentStale, "old");
        f.add("/y", Code::FieldRequired, "missing");
        assert_eq!(f.warnings.len(), 1);
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].pointer, "/y");
    }
}
