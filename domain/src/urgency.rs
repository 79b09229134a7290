//! How urgent a referral is on a given day (docs/contract.md §10b): the one judgement the inbox's
//! order, its tags, the e-mails and the API's `urgency` all show, so an officer at 9am on a Monday
//! sees the person sleeping rough tonight before the one whose notice ends in seven weeks.
//!
//! It is read from the *normalized* document a referral was stored as (a referral accepted
//! yesterday must not be judged again by today's rules to say how urgent it is), and from the UK
//! date passed in: no clock is read here. A possession notice is context, not urgency by itself:
//! the date the person is likely to become homeless already carries what the notice means.

use crate::calendar::age_on;
use crate::situation::RoughSleeping;
use crate::vocabulary::Vocabulary;
use jiff::civil::Date;
use serde::Serialize;

/// What makes a referral more urgent besides the date, in the order the inbox shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UrgencyFlag {
    /// Sleeping rough on the referral date.
    RoughSleepingNow,
    /// Rough sleeping was imminent on the referral date.
    RoughSleepingImminent,
    /// Aged 16 or 17 today: children's services and the authority must work together.
    AgedSixteenOrSeventeen,
    /// Referred under the safeguarding override: the person did not agree to all of it.
    SharedWithoutConsent,
}

impl Vocabulary for UrgencyFlag {
    const NAME: &'static str = "UrgencyFlag";
    const TERMS: &'static [(&'static str, Self)] = &[
        ("rough_sleeping_now", UrgencyFlag::RoughSleepingNow),
        (
            "rough_sleeping_imminent",
            UrgencyFlag::RoughSleepingImminent,
        ),
        ("aged_16_or_17", UrgencyFlag::AgedSixteenOrSeventeen),
        ("shared_without_consent", UrgencyFlag::SharedWithoutConsent),
    ];

    fn label(self) -> &'static str {
        Self::label(self)
    }
}

impl UrgencyFlag {
    /// The flag in an officer's words.
    pub fn label(self) -> &'static str {
        match self {
            UrgencyFlag::RoughSleepingNow => "Sleeping rough now",
            UrgencyFlag::RoughSleepingImminent => "Rough sleeping imminent",
            UrgencyFlag::AgedSixteenOrSeventeen => "Aged 16 or 17",
            UrgencyFlag::SharedWithoutConsent => "Shared without consent",
        }
    }
}

/// A referral's urgency on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Urgency {
    /// Homeless today: referred as homeless, or the date they were likely to become homeless has
    /// come.
    pub homeless_now: bool,
    /// Whole UK calendar days until the likely date, when that is still to come.
    pub days_until_homeless: Option<i64>,
    /// What else makes it urgent, in [`UrgencyFlag`] order.
    pub flags: Vec<UrgencyFlag>,
}

/// What urgency is judged from, read once from a stored referral: it does not change while the
/// referral lives (only the day it is judged on does), so a list may keep it and judge it again
/// each day without reading the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrgencyFacts {
    /// Referred as homeless (rather than threatened).
    homeless: bool,
    /// The date they were likely to become homeless, when threatened.
    likely_homeless_on: Option<Date>,
    /// Risk of rough sleeping on the referral date.
    rough_sleeping: Option<RoughSleeping>,
    /// Date of birth, when given.
    born: Option<Date>,
    /// Referred under the safeguarding override.
    overridden: bool,
}

impl UrgencyFacts {
    /// The facts of a stored normalized referral document; `None` when it is not one (an erased
    /// referral keeps none).
    pub fn of_normalized(document: &serde_json::Value) -> Option<UrgencyFacts> {
        let situation = document.get("housing_situation")?;
        let homeless = match situation.get("reason")?.as_str()? {
            "homeless" => true,
            "threatened_with_homelessness" => false,
            _ => return None,
        };
        let date = |v: Option<&serde_json::Value>| {
            v.and_then(serde_json::Value::as_str)
                .and_then(|d| d.parse::<Date>().ok())
        };
        let likely_homeless_on = date(situation.get("likely_homeless_on"));
        if !homeless && likely_homeless_on.is_none() {
            return None;
        }
        Some(UrgencyFacts {
            homeless,
            likely_homeless_on,
            rough_sleeping: situation
                .get("rough_sleeping")
                .and_then(serde_json::Value::as_str)
                .and_then(RoughSleeping::from_term),
            born: date(document.pointer("/person/date_of_birth")),
            overridden: document.pointer("/consent/safeguarding_override").is_some(),
        })
    }

    /// Whole days from `today` until the likely date, while it is still to come.
    fn days_until(&self, today: Date) -> Option<i64> {
        match (self.homeless, self.likely_homeless_on) {
            (false, Some(on)) => {
                let days = i64::from((on - today).get_days());
                (days > 0).then_some(days)
            }
            _ => None,
        }
    }

    /// [`Urgency::rank`] on `today` without building the urgency: what a list sorts a thousand
    /// referrals by.
    pub fn rank_on(&self, today: Date) -> (bool, bool, i64) {
        let days = self.days_until(today);
        let rough_now = self.rough_sleeping == Some(RoughSleeping::SleepingRough);
        (days.is_some(), !rough_now, days.unwrap_or(0))
    }

    /// The urgency on `today` (a UK date).
    pub fn on(&self, today: Date) -> Urgency {
        // Two civil dates differ by whole calendar days (jiff's span of dates is in days), so a
        // clock change in between counts for nothing.
        let days_until_homeless = self.days_until(today);
        let mut flags = Vec::new();
        match self.rough_sleeping {
            Some(RoughSleeping::SleepingRough) => flags.push(UrgencyFlag::RoughSleepingNow),
            Some(RoughSleeping::Imminent) => flags.push(UrgencyFlag::RoughSleepingImminent),
            _ => {}
        }
        if self
            .born
            .is_some_and(|b| (16..=17).contains(&age_on(b, today)))
        {
            flags.push(UrgencyFlag::AgedSixteenOrSeventeen);
        }
        if self.overridden {
            flags.push(UrgencyFlag::SharedWithoutConsent);
        }
        Urgency {
            homeless_now: days_until_homeless.is_none(),
            days_until_homeless,
            flags,
        }
    }
}

impl Urgency {
    /// The urgency of a stored normalized referral document on `today` (a UK date); `None` when
    /// the document is not one (an erased referral keeps none).
    pub fn of_normalized(document: &serde_json::Value, today: Date) -> Option<Urgency> {
        UrgencyFacts::of_normalized(document).map(|f| f.on(today))
    }

    /// Whether `flag` is raised.
    pub fn has(&self, flag: UrgencyFlag) -> bool {
        self.flags.contains(&flag)
    }

    /// The inbox's default order (docs/contract.md §10b): homeless now first, sleeping rough now
    /// first among them; then by days until homeless, fewest first. Ties are broken by the caller
    /// (oldest received first).
    pub fn rank(&self) -> (bool, bool, i64) {
        (
            !self.homeless_now,
            !self.has(UrgencyFlag::RoughSleepingNow),
            self.days_until_homeless.unwrap_or(0),
        )
    }

    /// The headline in an officer's words: "Homeless now", "Sleeping rough now", "Homeless in 10
    /// days", "Homeless tomorrow".
    pub fn headline(&self) -> String {
        if self.homeless_now {
            if self.has(UrgencyFlag::RoughSleepingNow) {
                "Sleeping rough now".to_owned()
            } else {
                "Homeless now".to_owned()
            }
        } else {
            match self.days_until_homeless {
                Some(1) => "Homeless tomorrow".to_owned(),
                Some(days) => format!("Homeless in {days} days"),
                None => "Homeless now".to_owned(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use serde_json::json;

    fn doc(
        situation: serde_json::Value,
        born: Option<&str>,
        overridden: bool,
    ) -> serde_json::Value {
        let mut d = json!({
            "person": { "given_name": "A", "family_name": "B" },
            "consent": { "referral": true, "share_contact_details": true },
            "housing_situation": situation,
        });
        if let Some(born) = born {
            d["person"]["date_of_birth"] = json!(born);
        }
        if overridden {
            d["consent"]["safeguarding_override"] = json!({ "reason": "x" });
        }
        d
    }

    const TODAY: Date = date(2026, 12, 4);

    #[test]
    fn homeless_is_homeless_now_with_no_days() {
        let u = Urgency::of_normalized(
            &doc(
                json!({ "reason": "homeless", "rough_sleeping": "no" }),
                None,
                false,
            ),
            TODAY,
        )
        .expect("urgency");
        assert!(u.homeless_now);
        assert_eq!(u.days_until_homeless, None);
        assert!(u.flags.is_empty());
        assert_eq!(u.headline(), "Homeless now");
    }

    #[test]
    fn a_threat_counts_calendar_days_and_becomes_homeless_now_on_its_date() {
        let on = |d: &str| {
            Urgency::of_normalized(
                &doc(
                    json!({ "reason": "threatened_with_homelessness", "likely_homeless_on": d, "rough_sleeping": "no" }),
                    None,
                    false,
                ),
                TODAY,
            )
            .expect("urgency")
        };
        assert_eq!(on("2026-12-14").days_until_homeless, Some(10));
        assert_eq!(on("2026-12-14").headline(), "Homeless in 10 days");
        assert_eq!(on("2026-12-05").headline(), "Homeless tomorrow");
        assert_eq!(on("2027-01-29").days_until_homeless, Some(56));
        let today = on("2026-12-04");
        assert!(today.homeless_now);
        assert_eq!(today.days_until_homeless, None);
        assert!(on("2026-11-30").homeless_now);
    }

    #[test]
    fn ages_16_and_17_are_flagged_and_15_and_18_are_not() {
        let flagged = |born: &str| {
            Urgency::of_normalized(
                &doc(
                    json!({ "reason": "homeless", "rough_sleeping": "no" }),
                    Some(born),
                    false,
                ),
                TODAY,
            )
            .expect("urgency")
            .has(UrgencyFlag::AgedSixteenOrSeventeen)
        };
        assert!(!flagged("2010-12-05"), "15, 16 tomorrow");
        assert!(flagged("2010-12-04"), "16 today");
        assert!(flagged("2008-12-05"), "17, 18 tomorrow");
        assert!(!flagged("2008-12-04"), "18 today");
    }

    #[test]
    fn rough_sleeping_and_the_override_raise_flags_and_a_notice_does_not() {
        let u = Urgency::of_normalized(
            &doc(
                json!({ "reason": "threatened_with_homelessness", "likely_homeless_on": "2026-12-20",
                        "rough_sleeping": "imminent",
                        "possession_notice": { "kind": "section_8", "expires_on": "2026-12-20" } }),
                None,
                true,
            ),
            TODAY,
        )
        .expect("urgency");
        assert_eq!(
            u.flags,
            vec![
                UrgencyFlag::RoughSleepingImminent,
                UrgencyFlag::SharedWithoutConsent
            ]
        );
        let now = Urgency::of_normalized(
            &doc(
                json!({ "reason": "homeless", "rough_sleeping": "sleeping_rough" }),
                None,
                false,
            ),
            TODAY,
        )
        .expect("urgency");
        assert_eq!(now.headline(), "Sleeping rough now");
    }

    #[test]
    fn the_order_is_homeless_now_rough_sleeping_first_then_fewest_days() {
        let make = |situation: serde_json::Value| {
            Urgency::of_normalized(&doc(situation, None, false), TODAY).expect("urgency")
        };
        let rough = make(json!({ "reason": "homeless", "rough_sleeping": "sleeping_rough" }));
        let homeless = make(json!({ "reason": "homeless", "rough_sleeping": "no" }));
        let ten = make(
            json!({ "reason": "threatened_with_homelessness", "likely_homeless_on": "2026-12-14", "rough_sleeping": "imminent" }),
        );
        let fifty = make(
            json!({ "reason": "threatened_with_homelessness", "likely_homeless_on": "2027-01-23", "rough_sleeping": "no" }),
        );
        let mut all = vec![&fifty, &ten, &homeless, &rough];
        all.sort_by_key(|u| u.rank());
        assert_eq!(all, vec![&rough, &homeless, &ten, &fifty]);
        // The list's shortcut ranks alike.
        for situation in [
            json!({ "reason": "homeless", "rough_sleeping": "sleeping_rough" }),
            json!({ "reason": "homeless", "rough_sleeping": "no" }),
            json!({ "reason": "threatened_with_homelessness", "likely_homeless_on": "2026-12-14", "rough_sleeping": "imminent" }),
            json!({ "reason": "threatened_with_homelessness", "likely_homeless_on": "2026-12-04", "rough_sleeping": "no" }),
        ] {
            let facts = UrgencyFacts::of_normalized(&doc(situation, None, false)).expect("facts");
            assert_eq!(facts.rank_on(TODAY), facts.on(TODAY).rank());
        }
    }

    #[test]
    fn an_erased_document_has_no_urgency() {
        assert_eq!(Urgency::of_normalized(&json!({}), TODAY), None);
        assert_eq!(
            Urgency::of_normalized(&serde_json::Value::Null, TODAY),
            None
        );
    }
}
