//! The duty-to-refer domain: a s.213B Housing Act 1996 referral and the rules it must meet.
//!
//! Pure by design — no IO, no database, no HTTP, no clock. The API, the `dtr validate` command and the
//! tests all call [`Referral::parse`] with an [`AsOf`], so every rule lives in exactly one place.

mod agency;
pub mod calendar;
mod consent;
mod contact;
mod issue;
mod json;
mod outcome;
mod phone_validity;
pub mod reader;
mod referral;
mod register;
mod situation;
mod text;
mod urgency;
mod vocabulary;

pub use agency::{AgencyType, UnknownAgencyType};
pub use consent::{ConcernFor, Consent, SafeguardingOverride, CLOCK_SKEW, DUTY_BEGAN, STALE_AFTER};
pub use contact::{EmailAddress, PhoneNumber, Postcode, PostcodeDistrict};
pub use issue::{escape_token, Code, Findings, Issue, Rejection};
pub use json::{JsonDocument, JsonError, MAX_DEPTH};
pub use outcome::{
    outcome_warnings, Decision, ErasureReason, Outcome, OutcomeReason, ReferredAs,
    WithdrawalReason, OUTCOME_MEMBERS,
};
pub use referral::{
    Accepted, Address, AuthorityChoice, Contact, Household, Medical, Person, Referral, Referrer,
    Refused, Risk,
};
pub use register::{
    register, AuthorityKind, DistrictCouncils, HousingAuthority, Register, Resolution,
    SupersededCode,
};
pub use situation::{
    Circumstance, HousingReason, HousingSituation, NoticeKind, PossessionNotice, RoughSleeping,
    ThreatWindow, THREAT_DAYS,
};
pub use text::{is_blank, FreeText, OverrideReason, ShortText, Summary, Text};
pub use urgency::{Urgency, UrgencyFacts, UrgencyFlag};
pub use vocabulary::Vocabulary;

use jiff::civil::Date;
use jiff::Timestamp;

/// The moment a referral is judged at: the instant (for consent times) and its date in England
/// (for the 56-day window and ages). Passed in so the rules never read a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsOf {
    /// The instant.
    pub now: Timestamp,
    /// The UK calendar date at `now` (Europe/London).
    pub today: Date,
    /// The kind of public body referring, when the caller knows it (an API key's, a practitioner's
    /// chosen agency): a few messages speak to that body's own duties (children's services and a
    /// child under 16). `None` (as in `dtr validate` without `--agency-type`) gives the general
    /// wording; no rule's outcome depends on it.
    pub referrer_agency: Option<AgencyType>,
}

impl AsOf {
    /// The moment `now`, dated on the UK calendar.
    pub fn at(now: Timestamp) -> Self {
        AsOf {
            now,
            today: calendar::uk_date(now),
            referrer_agency: None,
        }
    }

    /// The same moment, judged for a referral made by a body of this kind.
    pub fn referred_by(self, agency: Option<AgencyType>) -> Self {
        AsOf {
            referrer_agency: agency,
            ..self
        }
    }
}

/// Serializes instants as RFC 3339 UTC with whole seconds or milliseconds as given, e.g.
/// `2026-11-23T10:00:00Z`, so normalized documents compare byte for byte.
pub(crate) fn serialize_instant<S: serde::Serializer>(
    t: &Timestamp,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.round(jiff::Unit::Millisecond).unwrap_or(*t))
}
