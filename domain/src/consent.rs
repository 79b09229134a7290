//! Consent and the safeguarding override.
//!
//! s.213B(2) Housing Act 1996: the public authority must ask the person to agree to the referral and to
//! the housing authority being told how to contact them — two separate agreements (docs/rules.md §1). Without
//! them, a referral may still be made to safeguard a child or an adult at risk in accordance with local
//! procedures (Working Together to Safeguard Children 2023, ch.2), which the service records as a
//! safeguarding override with its reason and the manager who authorised it.

use crate::issue::{Code, Findings};
use crate::reader::Obj;
use crate::text::{OverrideReason, ShortText, Text};
use crate::{calendar, AsOf};
use jiff::civil::{date, Date};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// Clock skew tolerated between the case system and us before a consent time is "in the future".
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(5 * 60);
/// Consent older than this still counts but is flagged: circumstances and wishes change.
pub const STALE_AFTER: SignedDuration = SignedDuration::from_hours(30 * 24);
/// The day the duty to refer came into force (Homelessness Reduction Act 2017 (Commencement No. 1)
/// Regulations 2018): consent to a s.213B referral cannot have been recorded before it.
pub const DUTY_BEGAN: Date = date(2018, 10, 1);

/// Whom the safeguarding concern is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcernFor {
    /// A child (Children Act 1989 s.47 / Working Together 2023).
    Child,
    /// An adult at risk (Care Act 2014 s.42).
    AdultAtRisk,
}

impl crate::Vocabulary for ConcernFor {
    const NAME: &'static str = "ConcernFor";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("child", ConcernFor::Child),
        ("adult_at_risk", ConcernFor::AdultAtRisk),
    ];

    fn label(self) -> &'static str {
        match self {
            ConcernFor::Child => "A child",
            ConcernFor::AdultAtRisk => "An adult at risk",
        }
    }
}

/// A recorded decision to refer without (full) consent, to safeguard someone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafeguardingOverride {
    concern_for: ConcernFor,
    reason: OverrideReason,
    authorised_by: ShortText,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_procedure: Option<Text<1, 200, false>>,
}

impl SafeguardingOverride {
    /// Whom the concern is for.
    pub fn concern_for(&self) -> ConcernFor {
        self.concern_for
    }
}

/// The person's consents, or the override that stands in for them.
///
/// Invariant: when either consent is refused, `safeguarding_override` is present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    referral: bool,
    share_contact_details: bool,
    #[serde(serialize_with = "crate::serialize_instant")]
    recorded_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    safeguarding_override: Option<SafeguardingOverride>,
}

impl Consent {
    /// Whether the person agreed to both the referral and sharing their contact details.
    pub fn fully_given(&self) -> bool {
        self.referral && self.share_contact_details
    }

    /// The override, when one was recorded.
    pub fn safeguarding_override(&self) -> Option<&SafeguardingOverride> {
        self.safeguarding_override.as_ref()
    }
}

/// The parsed consent, and what the referral-wide rules need to know of it: whether an override
/// object was given (it waives `housing_authority.not_chosen`, docs/contract.md §4), whether both consents
/// were given, and who authorised the override.
pub(crate) struct ConsentReading {
    pub consent: Option<Consent>,
    pub override_given: bool,
    pub both_given: bool,
    pub override_pointer: String,
    pub authorised_by: Option<ShortText>,
    pub authorised_by_pointer: String,
}

const CONSENT_MEMBERS: &[&str] = &[
    "referral",
    "share_contact_details",
    "recorded_at",
    "safeguarding_override",
];
const OVERRIDE_MEMBERS: &[&str] = &["concern_for", "reason", "authorised_by", "local_procedure"];

/// `own_details`: the pointers of the person's own contact details given in the referral.
pub(crate) fn read(
    doc: &Obj<'_>,
    as_of: &AsOf,
    date_of_birth: Option<Date>,
    own_details: &[String],
    f: &mut Findings,
) -> ConsentReading {
    let Some(c) = doc.object("consent", true, CONSENT_MEMBERS, f) else {
        return ConsentReading {
            consent: None,
            override_given: false,
            both_given: false,
            override_pointer: String::new(),
            authorised_by: None,
            authorised_by_pointer: String::new(),
        };
    };
    let referral = c.boolean("referral", true, f);
    let share = c.boolean("share_contact_details", true, f);
    let mut recorded_at = c.parse("recorded_at", true, f, calendar::parse_instant);
    if let Some(at) = recorded_at {
        let day = calendar::uk_date(at);
        let before = if day < DUTY_BEGAN {
            Some("Consent cannot have been recorded before the duty to refer began on 1 October 2018; check the date entered.")
        } else if date_of_birth.is_some_and(|born| day < born) {
            Some("Consent cannot have been recorded before the person's date of birth; check both dates.")
        } else {
            None
        };
        if let Some(message) = before {
            f.add(&c.at("recorded_at"), Code::FieldInvalidValue, message);
            recorded_at = None;
        }
    }
    if let Some(at) = recorded_at {
        // A consent "recorded" later than now is a data-entry or clock error; allow small skew.
        if at > as_of.now + CLOCK_SKEW {
            f.add(
                &c.at("recorded_at"),
                Code::ConsentRecordedInFuture,
                "Consent cannot be recorded more than 5 minutes in the future; check the case system's clock and the time entered.",
            );
        } else if at < as_of.now - STALE_AFTER {
            f.add(
                &c.at("recorded_at"),
                Code::ConsentStale,
                "Consent was recorded more than 30 days ago; confirm the person still agrees and still chooses this authority.",
            );
        }
    }

    let override_pointer = c.at("safeguarding_override");
    // A blank override form is no override (docs/contract.md §5).
    let override_given = c
        .get("safeguarding_override")
        .is_some_and(|v| !crate::reader::is_blank_value(v));
    let (safeguarding_override, authorised_by) = read_override(&c, f);
    if referral == Some(false) && !override_given {
        f.add(
            &override_pointer,
            Code::ConsentOverrideRequired,
            "The person has not agreed to the referral: record a safeguarding override (a child or an adult at risk), or do not refer.",
        );
    }
    // s.213B(2)(b): consent to share contact details is separate. A person who agreed to the
    // referral and to being reached through the referrer, but not to their own details going to
    // the authority, is referred without those details; sending them anyway needs an override.
    let details_unshared = share == Some(false)
        && referral == Some(true)
        && !override_given
        && !own_details.is_empty();
    if details_unshared {
        for pointer in own_details {
            f.add(
                pointer,
                Code::ConsentContactNotShared,
                "The person did not agree to sharing their contact details: leave this out and contact them through you (via_referrer), or record a safeguarding override.",
            );
        }
    }
    if let (Some(born), Some(o)) = (date_of_birth, &safeguarding_override) {
        // Children Act 1989 s.105(1): anyone under 18 is a child, so children's safeguarding
        // procedures apply to a 16- or 17-year-old.
        if o.concern_for == ConcernFor::AdultAtRisk && calendar::age_on(born, as_of.today) < 18 {
            f.add(
                &format!("{override_pointer}/concern_for"),
                Code::ConsentOverrideConcernMismatch,
                "The person is under 18 and so a child (Children Act 1989 s.105): follow children's safeguarding procedures and record the concern as for a child.",
            );
        }
    }

    let consent = match (referral, share, recorded_at) {
        (Some(referral), Some(share_contact_details), Some(recorded_at))
            if (referral && (share_contact_details || !details_unshared))
                || safeguarding_override.is_some() =>
        {
            Some(Consent {
                referral,
                share_contact_details,
                recorded_at,
                safeguarding_override,
            })
        }
        _ => None,
    };
    ConsentReading {
        consent,
        override_given,
        both_given: referral == Some(true) && share == Some(true),
        authorised_by_pointer: format!("{override_pointer}/authorised_by"),
        override_pointer,
        authorised_by,
    }
}

/// The override, and who authorised it whenever that was read (even if another member failed).
fn read_override(
    c: &Obj<'_>,
    f: &mut Findings,
) -> (Option<SafeguardingOverride>, Option<ShortText>) {
    let Some(o) = c.form("safeguarding_override", OVERRIDE_MEMBERS, f) else {
        return (None, None);
    };
    let incomplete = |f: &mut Findings, key: &str, why: &str| {
        f.add(&o.at(key), Code::ConsentOverrideIncomplete, why.to_owned());
    };
    let concern_for = if o.has("concern_for") {
        o.choice::<ConcernFor>("concern_for", true, f)
    } else {
        incomplete(
            f,
            "concern_for",
            "Say whom the safeguarding concern is for: child or adult_at_risk.",
        );
        None
    };
    let reason = match o.string("reason", false, f) {
        None if !o.has("reason") => {
            incomplete(
                f,
                "reason",
                "Give the reason for referring without consent (at least 20 characters).",
            );
            None
        }
        None => None,
        Some(raw) => match OverrideReason::parse(raw) {
            Ok(r) => Some(r),
            Err(r) if r.code == Code::FieldTooShort => {
                incomplete(
                    f,
                    "reason",
                    "The reason for referring without consent must be at least 20 characters.",
                );
                None
            }
            Err(r) => {
                f.reject(&o.at("reason"), r);
                None
            }
        },
    };
    let authorised_by = match o.string("authorised_by", false, f) {
        None if !o.has("authorised_by") => {
            incomplete(
                f,
                "authorised_by",
                "Name the manager who authorised the override.",
            );
            None
        }
        None => None,
        Some(raw) => match ShortText::parse(raw) {
            Ok(r) => Some(r),
            Err(r) if r.code == Code::FieldTooShort => {
                incomplete(
                    f,
                    "authorised_by",
                    "Name the manager who authorised the override.",
                );
                None
            }
            Err(r) => {
                f.reject(&o.at("authorised_by"), r);
                None
            }
        },
    };
    let local_procedure = o.optional("local_procedure", f, Text::<1, 200, false>::parse);
    let read = (|| {
        Some(SafeguardingOverride {
            concern_for: concern_for?,
            reason: reason?,
            authorised_by: authorised_by.clone()?,
            local_procedure,
        })
    })();
    (read, authorised_by)
}
