//! Homeless or threatened with homelessness, and the 56-day window (s.175 Housing Act 1996 as amended
//! by the Homelessness Reduction Act 2017 and the Renters' Rights Act 2025; docs/rules.md §3).

use crate::issue::{Code, Findings};
use crate::reader::Obj;
use crate::text::Summary;
use crate::{calendar, AsOf};
use jiff::civil::Date;
use jiff::ToSpan;
use serde::Serialize;

/// The days of s.175(4): a person is threatened with homelessness if it is likely they will become
/// homeless within 56 days.
pub const THREAT_DAYS: i32 = 56;

/// The dates that count as "within 56 days" of a referral made on `first` (its UK date):
/// `first ..= first + 56` (docs/rules.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreatWindow {
    first: Date,
    last: Date,
}

impl ThreatWindow {
    /// The window of a referral made on `today` (a UK date).
    pub fn starting(today: Date) -> Self {
        let last = today.checked_add(THREAT_DAYS.days()).unwrap_or(Date::MAX);
        ThreatWindow { first: today, last }
    }

    /// The first day (today).
    pub fn first(&self) -> Date {
        self.first
    }

    /// The last day inside the window (today + 56).
    pub fn last(&self) -> Date {
        self.last
    }

    /// Whether `date` is inside the window.
    pub fn contains(&self, date: Date) -> bool {
        self.first <= date && date <= self.last
    }
}

/// The person's situation on the referral date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Circumstance {
    /// s.175(1)–(3): no accommodation they are entitled and able to occupy, or it is not reasonable to stay.
    Homeless,
    /// s.175(4)–(5): likely to become homeless within 56 days.
    ThreatenedWithHomelessness {
        /// The date they are likely to become homeless.
        likely_homeless_on: Date,
    },
}

/// The Housing Act 1988 notice a landlord served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// Notice of proceedings for possession (s.8 Housing Act 1988): the s.175(5) notice since 1 May 2026.
    #[serde(rename = "section_8")]
    Section8,
    /// "No-fault" notice (s.21 Housing Act 1988): abolished for private tenancies from 1 May 2026, may
    /// linger for some social-landlord tenancies during transition.
    #[serde(rename = "section_21")]
    Section21,
}

/// A possession notice and when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PossessionNotice {
    kind: NoticeKind,
    expires_on: Date,
}

/// Risk of rough sleeping on the referral date (Code of Guidance 4.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoughSleeping {
    /// No risk known.
    No,
    /// At risk of sleeping rough.
    AtRisk,
    /// Rough sleeping is imminent: flagged to the authority.
    Imminent,
    /// Sleeping rough now.
    SleepingRough,
}

/// The housing situation and the agreed reason for the referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HousingSituation {
    #[serde(flatten)]
    circumstance: Circumstance,
    #[serde(skip_serializing_if = "Option::is_none")]
    possession_notice: Option<PossessionNotice>,
    rough_sleeping: RoughSleeping,
    summary: Summary,
}

impl HousingSituation {
    /// Homeless or threatened, with the date.
    pub fn circumstance(&self) -> Circumstance {
        self.circumstance
    }

    /// Risk of rough sleeping.
    pub fn rough_sleeping(&self) -> RoughSleeping {
        self.rough_sleeping
    }
}

const SITUATION_MEMBERS: &[&str] = &[
    "reason",
    "likely_homeless_on",
    "possession_notice",
    "rough_sleeping",
    "summary",
];

/// The agreed reason for the referral: homeless now, or threatened within 56 days (s.175).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HousingReason {
    /// s.175(1)–(3).
    Homeless,
    /// s.175(4)–(5).
    ThreatenedWithHomelessness,
}

impl crate::Vocabulary for HousingReason {
    const NAME: &'static str = "HousingReason";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("homeless", HousingReason::Homeless),
        (
            "threatened_with_homelessness",
            HousingReason::ThreatenedWithHomelessness,
        ),
    ];

    fn label(self) -> &'static str {
        match self {
            HousingReason::Homeless => "Homeless now",
            HousingReason::ThreatenedWithHomelessness => {
                "Threatened with homelessness within 56 days"
            }
        }
    }
}

impl crate::Vocabulary for RoughSleeping {
    const NAME: &'static str = "RoughSleeping";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("no", RoughSleeping::No),
        ("at_risk", RoughSleeping::AtRisk),
        ("imminent", RoughSleeping::Imminent),
        ("sleeping_rough", RoughSleeping::SleepingRough),
    ];

    fn label(self) -> &'static str {
        match self {
            RoughSleeping::No => "No known risk",
            RoughSleeping::AtRisk => "At risk of sleeping rough",
            RoughSleeping::Imminent => "Rough sleeping is imminent",
            RoughSleeping::SleepingRough => "Sleeping rough now",
        }
    }
}

impl crate::Vocabulary for NoticeKind {
    const NAME: &'static str = "NoticeKind";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("section_8", NoticeKind::Section8),
        ("section_21", NoticeKind::Section21),
    ];

    fn label(self) -> &'static str {
        match self {
            NoticeKind::Section8 => "Section 8 notice (possession proceedings)",
            NoticeKind::Section21 => "Section 21 notice (no-fault)",
        }
    }
}

pub(crate) fn read(doc: &Obj<'_>, as_of: &AsOf, f: &mut Findings) -> Option<HousingSituation> {
    let s = doc.object("housing_situation", true, SITUATION_MEMBERS, f)?;
    let window = ThreatWindow::starting(as_of.today);
    let reason = s.choice::<HousingReason>("reason", true, f);
    // `""` is "not given", as for every optional field: on a homeless referral it is no date, on a
    // threatened one a missing date.
    let date_given = s.given("likely_homeless_on");
    let likely = s.optional("likely_homeless_on", f, calendar::parse_date);
    let notice = read_notice(&s, f);
    // s.175(5): a valid possession notice expiring within 56 days makes the person threatened —
    // if, on its date, the law then in force lets that kind of notice do so.
    let in_force = notice.map(|n| (n, notice_in_force(n.kind, n.expires_on)));
    if let Some((_, Err(why))) = in_force {
        f.add(
            &s.at("possession_notice"),
            Code::ThreatNoticeNotInForce,
            why,
        );
    }
    let notice_in_window =
        in_force.is_some_and(|(n, ok)| ok.is_ok() && window.contains(n.expires_on));
    if notice_in_window {
        f.add(
            &s.at("possession_notice"),
            Code::ThreatPossessionNotice,
            "A possession notice expiring within 56 days was given (s.175(5)): the authority should check it is valid; for a person not already homeless it alone makes them threatened with homelessness.",
        );
    }

    let circumstance = reason
        .and_then(|reason| decide(reason, date_given, likely, notice_in_window, &window, &s, f));
    let rough_sleeping = s.choice::<RoughSleeping>("rough_sleeping", true, f);
    match rough_sleeping {
        Some(RoughSleeping::Imminent) => {
            f.add(
                &s.at("rough_sleeping"),
                Code::RoughSleepingImminent,
                "Rough sleeping is imminent: the authority is asked to act on this referral urgently.",
            );
            let distant = reason == Some(HousingReason::ThreatenedWithHomelessness)
                && likely.is_some_and(|on| imminence_is_doubtful(as_of.today, on));
            if distant {
                f.add(
                    &s.at("rough_sleeping"),
                    Code::RoughSleepingImminentDateDistant,
                    "Rough sleeping is marked imminent, but the person is not likely to be homeless for more than 14 days: check the likely date, or whether rough sleeping is really imminent.",
                );
            }
        }
        Some(RoughSleeping::SleepingRough) => f.add(
            &s.at("rough_sleeping"),
            Code::RoughSleepingNow,
            "The person is sleeping rough now: the most urgent case; the authority is asked to act on this referral at once.",
        ),
        _ => {}
    }
    // s.175(1): a person with no accommodation is homeless now, not threatened with it.
    let circumstance = if reason == Some(HousingReason::ThreatenedWithHomelessness)
        && rough_sleeping == Some(RoughSleeping::SleepingRough)
    {
        f.add(
            &s.at("reason"),
            Code::ThreatAlreadyHomeless,
            "The person is sleeping rough, so they are homeless now (s.175(1)), not threatened with homelessness: use reason homeless.",
        );
        None
    } else {
        circumstance
    };
    let summary = s.parse("summary", true, f, Summary::parse);
    Some(HousingSituation {
        circumstance: circumstance?,
        possession_notice: notice,
        rough_sleeping: rough_sleeping?,
        summary: summary?,
    })
}

/// How many days ahead "imminent" rough sleeping can reasonably be. The sources give no number;
/// two weeks is our reading of "imminent" (docs/rules.md §4), used only to ask the referrer to check.
pub const IMMINENT_WITHIN_DAYS: i32 = 14;

/// Whether a likely date of homelessness `on` is too far from `today` for rough sleeping to be
/// imminent (warning `rough_sleeping.imminent_date_distant`).
fn imminence_is_doubtful(today: Date, on: Date) -> bool {
    today
        .checked_add(IMMINENT_WITHIN_DAYS.days())
        .is_ok_and(|last| on > last)
}

/// The day the Renters' Rights Act 2025 abolished section 21 for assured tenancies (its
/// commencement of Chapter 1 of Part 1; docs/rules.md §3): from it, s.175(5) turns on a section 8
/// notice.
const SECTION_21_ABOLISHED: Date = jiff::civil::date(2026, 5, 1);

/// The last day proceedings may be begun on a section 21 notice served before the abolition (the
/// Act's transitional provisions): a notice whose date is later cannot bring possession.
const SECTION_21_LAST_PROCEEDINGS: Date = jiff::civil::date(2026, 7, 31);

/// Whether a possession notice of `kind` whose date is `on` can bring a person within s.175(5)
/// under the law in force on that date; if not, what to check (warning
/// `threat.notice_not_in_force`, and the 56 days then look at `likely_homeless_on` alone).
///
/// Before 1 May 2026 s.175(5) named a section 21 notice only. From then it names a section 8
/// notice; a section 21 notice served before then stays usable only within its own period and for
/// proceedings begun by 31 July 2026 — except a private registered provider's (a housing
/// association's), whose tenancies come under the new regime later by the government's
/// guidance, which the referral does not say. These readings rest partly on secondary sources
/// (docs/rules.md §3); the warning asks the authority to check, it refuses nothing.
pub fn notice_in_force(kind: NoticeKind, on: Date) -> Result<(), &'static str> {
    match kind {
        NoticeKind::Section8 if on < SECTION_21_ABOLISHED => Err(
            "Before 1 May 2026 only a section 21 notice brought a person within s.175(5); this section 8 notice does not by itself make them threatened with homelessness: check the possession proceedings and the likely date.",
        ),
        NoticeKind::Section21 if on > SECTION_21_LAST_PROCEEDINGS => Err(
            "Section 21 was abolished for assured tenancies on 1 May 2026 and proceedings on an earlier notice had to begin by 31 July 2026; this notice counts only if the landlord is a private registered provider (housing association) still under the old rules: check who the landlord is.",
        ),
        _ => Ok(()),
    }
}

/// Homeless or threatened, and the s.175(4) window for the likely date.
fn decide(
    reason: HousingReason,
    date_given: bool,
    likely: Option<Date>,
    notice_in_window: bool,
    window: &ThreatWindow,
    s: &Obj<'_>,
    f: &mut Findings,
) -> Option<Circumstance> {
    match reason {
        HousingReason::Homeless if date_given => {
            f.add(
                &s.at("likely_homeless_on"),
                Code::ThreatDateNotAllowed,
                "The person is already homeless: leave likely_homeless_on out, or use reason threatened_with_homelessness.",
            );
            None
        }
        HousingReason::Homeless => Some(Circumstance::Homeless),
        HousingReason::ThreatenedWithHomelessness if !date_given => {
            f.add(
                &s.at("likely_homeless_on"),
                Code::ThreatDateRequired,
                "Give the date the person is likely to become homeless (YYYY-MM-DD).",
            );
            None
        }
        HousingReason::ThreatenedWithHomelessness => {
            let date = likely?;
            // s.175(4): "within 56 days" — today to today + 56 inclusive, on the UK calendar.
            if date < window.first() {
                f.add(
                    &s.at("likely_homeless_on"),
                    Code::ThreatDateInPast,
                    format!(
                        "The date is before today ({}): if the person has already lost their home, use reason homeless.",
                        window.first()
                    ),
                );
                None
            } else if date > window.last() && !notice_in_window {
                f.add(
                    &s.at("likely_homeless_on"),
                    Code::ThreatOutside56Days,
                    format!(
                        "The date is more than 56 days away (the last day inside the window is {}); a person is threatened with homelessness only within 56 days (s.175(4)), unless a possession notice expires within them (s.175(5)).",
                        window.last()
                    ),
                );
                None
            } else {
                Some(Circumstance::ThreatenedWithHomelessness {
                    likely_homeless_on: date,
                })
            }
        }
    }
}

fn read_notice(s: &Obj<'_>, f: &mut Findings) -> Option<PossessionNotice> {
    let n = s.form("possession_notice", &["kind", "expires_on"], f)?;
    let before = f.errors.len();
    let kind = n.choice::<NoticeKind>("kind", true, f);
    // Another kind of notice (a rent increase under section 13, a notice to quit) cannot bring the
    // person within s.175(5): only the Housing Act 1988's possession notices count.
    for e in f.errors.iter_mut().skip(before) {
        if e.code == Code::FieldInvalidValue && e.pointer.ends_with("/kind") {
            e.message = "Only a Housing Act 1988 possession notice counts here: section_8 or section_21. Another notice (a rent increase, a notice to quit) does not bring the person within 56 days by itself; give the likely date instead.".to_owned();
        }
    }
    let expires_on = n.parse("expires_on", true, f, calendar::parse_date);
    Some(PossessionNotice {
        kind: kind?,
        expires_on: expires_on?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn the_window_runs_from_today_to_today_plus_56() {
        let w = ThreatWindow::starting(date(2026, 11, 23));
        assert_eq!(w.last(), date(2027, 1, 18));
        assert!(w.contains(date(2026, 11, 23)));
        assert!(w.contains(date(2027, 1, 18)));
        assert!(!w.contains(date(2027, 1, 19)));
        assert!(!w.contains(date(2026, 11, 22)));
    }

    #[test]
    fn a_notice_counts_only_where_the_law_on_its_date_lets_it() {
        // Section 21: up to the last day proceedings may be begun on one, and not after.
        assert!(notice_in_force(NoticeKind::Section21, date(2026, 4, 30)).is_ok());
        assert!(notice_in_force(NoticeKind::Section21, date(2026, 7, 31)).is_ok());
        assert!(notice_in_force(NoticeKind::Section21, date(2026, 8, 1)).is_err());
        // Section 8: from the day section 21 was abolished, and not before.
        assert!(notice_in_force(NoticeKind::Section8, date(2026, 4, 30)).is_err());
        assert!(notice_in_force(NoticeKind::Section8, date(2026, 5, 1)).is_ok());
    }

    #[test]
    fn the_window_crosses_a_leap_day() {
        let w = ThreatWindow::starting(date(2028, 1, 15));
        assert_eq!(w.last(), date(2028, 3, 11));
    }
}
