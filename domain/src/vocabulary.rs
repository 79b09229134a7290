//! Closed sets of wire values ("vocabularies"): the one table of each enumeration's spellings, used by
//! the reader to parse a referral and by the OpenAPI spec to list the allowed values, so the two can
//! never disagree (a spec that says `section8` while the server takes `section_8` cost an integrator
//! a day).

/// A closed set of values with their wire terms.
pub trait Vocabulary: Copy + PartialEq + 'static {
    /// The name of the set in the OpenAPI spec.
    const NAME: &'static str;
    /// Every value with its wire term, in documentation order.
    const TERMS: &'static [(&'static str, Self)];

    /// The wire term of a value.
    fn term(self) -> &'static str {
        Self::TERMS
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(t, _)| t)
    }

    /// The value of a wire term, if it is one.
    fn from_term(term: &str) -> Option<Self> {
        Self::TERMS
            .iter()
            .find(|(t, _)| *t == term)
            .map(|(_, v)| *v)
    }

    /// The value in words, for people (the inbox, e-mails, the practitioner's pages). Empty for
    /// a vocabulary only machines read.
    fn label(self) -> &'static str {
        ""
    }

    /// Every wire term, in order.
    fn terms() -> Vec<&'static str> {
        Self::TERMS.iter().map(|(t, _)| *t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgencyType, AuthorityKind, ConcernFor, HousingReason, NoticeKind, RoughSleeping};

    /// Every value has one term, the one serde writes in the normalized referral.
    fn terms_match_serde<V: Vocabulary + serde::Serialize + std::fmt::Debug>() {
        let mut seen = std::collections::HashSet::new();
        for (term, value) in V::TERMS {
            assert!(seen.insert(*term), "{} repeats {term}", V::NAME);
            assert_eq!(V::from_term(term), Some(*value));
            assert_eq!(
                serde_json::to_value(value).expect("serializes"),
                serde_json::Value::from(*term),
                "{}: {value:?}",
                V::NAME
            );
        }
    }

    /// Every value a person may be shown has words of its own (the inbox never shows `section_21`).
    fn labelled<V: Vocabulary + std::fmt::Debug>() {
        for (term, value) in V::TERMS {
            let label = value.label();
            assert!(!label.is_empty(), "{}: {term} has no label", V::NAME);
            assert_ne!(
                label,
                *term,
                "{}: {term} is labelled with its term",
                V::NAME
            );
        }
    }

    #[test]
    fn every_value_of_every_vocabulary_people_read_has_a_label() {
        labelled::<crate::AgencyType>();
        labelled::<crate::AuthorityKind>();
        labelled::<crate::ConcernFor>();
        labelled::<crate::HousingReason>();
        labelled::<crate::NoticeKind>();
        labelled::<crate::RoughSleeping>();
        labelled::<crate::Decision>();
        labelled::<crate::OutcomeReason>();
        labelled::<crate::WithdrawalReason>();
        labelled::<crate::ErasureReason>();
        labelled::<crate::UrgencyFlag>();
    }

    #[test]
    fn every_vocabulary_spells_its_values_as_serde_does() {
        terms_match_serde::<ConcernFor>();
        terms_match_serde::<RoughSleeping>();
        terms_match_serde::<NoticeKind>();
        terms_match_serde::<AgencyType>();
        terms_match_serde::<AuthorityKind>();
        assert_eq!(
            HousingReason::terms(),
            ["homeless", "threatened_with_homelessness"]
        );
        assert_eq!(NoticeKind::terms(), ["section_8", "section_21"]);
        assert_eq!(AgencyType::TERMS.len(), AgencyType::ALL.len());
    }
}
