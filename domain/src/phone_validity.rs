//! Whether a parsed telephone number is valid, by libphonenumber's metadata as the `phonenumber` crate
//! ships it, with the UK calling code's patterns compiled once.
//!
//! Why not `phonenumber::is_valid` for every number: the crate keeps the compiled patterns of its
//! metadata in one global LRU cache of 100 entries behind a mutex, looked up by the SipHash of the
//! pattern's text on each use, and matches while holding the mutex. Checking one UK number takes a
//! dozen such look-ups, 7 µs on one core and more when the service's threads queue on the mutex:
//! most of the cost of validating a referral. Here +44's patterns are compiled the first time a
//! +44 number is seen and kept, with no lock on the way to them (about 1 µs a number).
//!
//! The decision is the crate's own, step for step (`phonenumber::validator::{is_valid_with,
//! source_for, number_type}`), on the same metadata: a number is valid when the region its calling
//! code and leading digits select has a number type (fixed line, mobile, toll free, …) whose pattern
//! matches it. Tests hold the two to the same answer for every region's example numbers and for
//! generated ones.

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use regex::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// One number type's pattern (libphonenumber's `nationalNumberPattern`) and the lengths it allows.
struct Pattern {
    regex: Regex,
    lengths: Vec<u16>,
}

/// Compiles a metadata pattern to match only from the first digit.
///
/// The crate asks for the leftmost match and checks that it starts at 0; a match starting at 0
/// exists exactly when there is a leftmost one starting there, so an anchored `is_match` gives the
/// same answer without searching the rest of the number for a start. The crate compiles these
/// patterns with `ignore_whitespace` (the XML spreads them over lines), so the group is closed on
/// a line of its own.
fn anchored(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern}\n)"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// Compiles a metadata pattern to match the whole number. libphonenumber decides a number's
/// *shape* by matching its general descriptor entirely; the crate's own `is_match` finds a match
/// starting at the first digit only and relies on possible lengths, which its general descriptors
/// do not carry, so `07700 9001234` (one digit too many) would pass on its first ten digits.
fn entire(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{pattern}\n)$"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

impl Pattern {
    fn compile(descriptor: &Descriptor) -> Option<Self> {
        Some(Pattern {
            regex: anchored(descriptor.national_number().as_str())?,
            lengths: descriptor.possible_length().to_vec(),
        })
    }

    /// `phonenumber::metadata::Descriptor::is_match`: the length is allowed and the pattern matches
    /// from the first digit.
    fn matches(&self, national: &str) -> bool {
        let length = u16::try_from(national.len()).unwrap_or(u16::MAX);
        (self.lengths.is_empty() || self.lengths.contains(&length)) && self.regex.is_match(national)
    }
}

/// A region's patterns (`GB`, `JE`, or a non-geographic code's `001` entry).
struct Region {
    leading_digits: Option<Regex>,
    general: Pattern,
    /// The general descriptor matched entirely: the shape and length of the region's numbers.
    shape: Regex,
    /// Every number type `phonenumber::validator::number_type` tries; only whether one matches
    /// matters for validity, not which.
    types: Vec<Pattern>,
}

impl Region {
    fn compile(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
        .map(Pattern::compile)
        .collect::<Option<Vec<_>>>()?;
        let leading_digits = match meta.leading_digits() {
            Some(p) => Some(anchored(p.as_str())?),
            None => None,
        };
        Some(Region {
            leading_digits,
            general: Pattern::compile(d.general())?,
            shape: entire(d.general().national_number().as_str())?,
            types,
        })
    }

    /// `number_type(meta, national) != Type::Unknown`.
    fn has_type(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|t| t.matches(national))
    }
}

/// The regions that share one calling code, in the metadata's order (+44: GB, GG, IM, JE).
struct CallingCode {
    regions: Vec<Region>,
}

impl CallingCode {
    fn compile(code: u16) -> Option<Self> {
        let ids = DATABASE.region(&code)?;
        let metas: Vec<&Metadata> = if ids.len() == 1 && ids[0] == "001" {
            // A non-geographic code (+800, +979): its one entry is found by code.
            vec![*DATABASE.by_code(&code)?.first()?]
        } else {
            ids.iter()
                .map(|id| DATABASE.by_id(*id))
                .collect::<Option<_>>()?
        };
        Some(CallingCode {
            regions: metas
                .into_iter()
                .map(Region::compile)
                .collect::<Option<_>>()?,
        })
    }

    /// Whether the number has the shape and length of the code's numbers at all: the general
    /// descriptor (libphonenumber's `generalDesc`, e.g. GB's `[1-357-9]\d{9}|[18]\d{8}|8\d{6}`) of
    /// any of its regions matches, whether or not a number type lists the range as allocated.
    fn is_well_formed(&self, national: &str) -> bool {
        self.regions.iter().any(|r| r.shape.is_match(national))
    }

    /// `source_for` then `number_type`: with one region, that region decides; with several, the
    /// first whose leading digits start the number, or (for a region without leading digits, such
    /// as the main country) that has a type for it.
    fn is_valid(&self, national: &str) -> bool {
        if let [only] = self.regions.as_slice() {
            return only.has_type(national);
        }
        for region in &self.regions {
            match &region.leading_digits {
                Some(leading) => {
                    if leading.is_match(national) {
                        return region.has_type(national);
                    }
                }
                None => {
                    if region.has_type(national) {
                        return true;
                    }
                }
            }
        }
        false
    }
}

/// +44: the United Kingdom, Guernsey, the Isle of Man and Jersey, compiled on first use.
static UK: LazyLock<Option<CallingCode>> = LazyLock::new(|| CallingCode::compile(UK_CODE));

const UK_CODE: u16 = 44;

/// What the numbering metadata says of a parsed number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Judgement {
    /// Valid: a number type (fixed line, mobile, …) lists its range as allocated.
    Allocated,
    /// The shape and length of the calling code's numbers, in a range the metadata does not list
    /// (a drama range, or an allocation newer than the metadata).
    WellFormed,
    /// Not the shape or length of any number of its calling code.
    Malformed,
}

/// Ofcom's telephone numbers for TV and radio drama (Ofcom, "Telephone numbers for drama
/// purposes"), as UK national significant numbers (no leading 0): the prefix and how many digits
/// follow it, 1,000 numbers each. They are never allocated to anyone, whatever the numbering
/// metadata says of a range (libphonenumber lists London's, Leeds' and several others as
/// ordinary geographic ranges), so a referral giving one gets `phone.unrecognised_range`.
pub(crate) const DRAMA_RANGES: &[&str] = &[
    "1134960", // Leeds 0113 496 0xxx
    "1144960", // Sheffield 0114 496 0xxx
    "1154960", // Nottingham 0115 496 0xxx
    "1174960", // Bristol 0117 496 0xxx
    "1184960", // Reading 0118 496 0xxx
    "1214960", // Birmingham 0121 496 0xxx
    "1314960", // Edinburgh 0131 496 0xxx
    "1414960", // Glasgow 0141 496 0xxx
    "1514960", // Liverpool 0151 496 0xxx
    "1614960", // Manchester 0161 496 0xxx
    "1914980", // Tyneside 0191 498 0xxx
    "1632960", // no area 01632 960xxx
    "2079460", // London 020 7946 0xxx
    "2896496", // Northern Ireland 028 9649 6xxx
    "2920180", // Cardiff 029 2018 0xxx
    "3069990", // UK-wide 03069 990xxx
    "7700900", // mobile 07700 900xxx
    "8081570", // freephone 0808 157 0xxx
    "9098790", // premium rate 0909 879 0xxx
];

/// Whether a UK national significant number is one of Ofcom's drama numbers.
fn is_drama(national: &str) -> bool {
    national.len() == 10 && DRAMA_RANGES.iter().any(|p| national.starts_with(p))
}

/// Judges a parsed number: allocated, merely well formed, or malformed.
pub(crate) fn judge(number: &phonenumber::PhoneNumber) -> Judgement {
    if number.code().value() == UK_CODE && is_drama(&number.national().to_string()) {
        return Judgement::WellFormed;
    }
    if is_valid(number) {
        return Judgement::Allocated;
    }
    let national = number.national().to_string();
    let code = number.code().value();
    let well_formed = match (code, UK.as_ref()) {
        (UK_CODE, Some(uk)) => uk.is_well_formed(&national),
        _ => shapes(code).is_some_and(|shapes| shapes.iter().any(|s| s.is_match(&national))),
    };
    if well_formed {
        Judgement::WellFormed
    } else {
        Judgement::Malformed
    }
}

/// The shapes of a calling code's regions, compiled the first time a number of that code is not
/// allocated. Only the general descriptors, one small pattern per region, and at most one entry per
/// calling code (about 250): a stream of foreign numbers cannot grow it further.
fn shapes(code: u16) -> Option<Arc<Vec<Regex>>> {
    static SHAPES: LazyLock<Mutex<HashMap<u16, Arc<Vec<Regex>>>>> = LazyLock::new(Mutex::default);
    let metas = DATABASE.by_code(&code)?;
    let mut known = SHAPES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(shapes) = known.get(&code) {
        return Some(shapes.clone());
    }
    let compiled: Vec<Regex> = metas
        .iter()
        .filter_map(|m| entire(m.descriptors().general().national_number().as_str()))
        .collect();
    let shapes = Arc::new(compiled);
    known.insert(code, shapes.clone());
    Some(shapes)
}

/// libphonenumber's validity of a parsed number (`phonenumber::is_valid`).
///
/// Only +44 numbers, almost all that a referral to an English housing authority carries, use the
/// patterns compiled here: compiling every calling code's patterns takes about a second and 140 MB,
/// which a stream of numbers from every country would otherwise make the service spend. Numbers
/// of other countries keep the crate's own check and its bounded cache.
pub(crate) fn is_valid(number: &phonenumber::PhoneNumber) -> bool {
    match (number.code().value(), UK.as_ref()) {
        (UK_CODE, Some(uk)) => uk.is_valid(&number.national().to_string()),
        _ => phonenumber::is_valid(number),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The patterns compiled here for any calling code (the service compiles only +44's), kept
    /// across cases because compiling is slow.
    fn compiled_answer(number: &phonenumber::PhoneNumber) -> bool {
        static COMPILED: std::sync::Mutex<Vec<(u16, Option<CallingCode>)>> =
            std::sync::Mutex::new(Vec::new());
        let code = number.code().value();
        let mut compiled = COMPILED.lock().expect("not poisoned");
        if !compiled.iter().any(|(c, _)| *c == code) {
            compiled.push((code, CallingCode::compile(code)));
        }
        compiled
            .iter()
            .find(|(c, _)| *c == code)
            .and_then(|(_, rules)| rules.as_ref())
            .is_some_and(|rules| rules.is_valid(&number.national().to_string()))
    }

    fn same_as_the_crate(text: &str, region: Option<phonenumber::country::Id>) {
        if let Ok(number) = phonenumber::parse(region, text) {
            assert_eq!(is_valid(&number), phonenumber::is_valid(&number), "{text}");
            assert_eq!(
                compiled_answer(&number),
                phonenumber::is_valid(&number),
                "{text} ({:?})",
                number.code().value()
            );
        }
    }

    #[test]
    fn known_numbers_get_the_crates_answer() {
        for (text, valid) in [
            ("07911 123456", true),
            ("020 7946 0018", true),
            ("0114 496 0000", true),
            ("0800 123 4567", true),
            ("07911 12345", false),
            ("01481 712345", true), // Guernsey, under +44
            ("01534 712345", true), // Jersey
            ("01624 612345", true), // Isle of Man
            ("+1 650 253 0000", true),
            ("+1 253 0000", false),
            ("+39 02 3661 8300", true),
            ("+33 6 31 96 65 43", true),
            ("+800 1234 5678", true),
            ("+979 123456789", true),
            ("+64 21 387 835", true),
        ] {
            let region = (!text.starts_with('+')).then_some(phonenumber::country::Id::GB);
            let number = phonenumber::parse(region, text).expect(text);
            assert_eq!(is_valid(&number), valid, "{text}");
            same_as_the_crate(text, region);
        }
    }

    #[test]
    fn every_regions_example_numbers_get_the_crates_answer() {
        let mut checked = 0;
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let examples = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            .filter_map(Descriptor::example);
            for example in examples {
                same_as_the_crate(&format!("+{}{example}", meta.country_code()), None);
                // One digit short: mostly invalid, so both answers are exercised.
                same_as_the_crate(&format!("+{}{}", meta.country_code(), &example[1..]), None);
                checked += 1;
            }
        }
        assert!(checked > 1000, "only {checked} example numbers");
    }

    fn judged(text: &str) -> Judgement {
        let region = (!text.starts_with('+')).then_some(phonenumber::country::Id::GB);
        judge(&phonenumber::parse(region, text).expect(text))
    }

    #[test]
    fn drama_and_unlisted_uk_ranges_are_well_formed_not_malformed() {
        for text in [
            "07700 900123", // Ofcom's drama range for mobiles
            "07700 900000",
            "01632 960123",  // drama range, "Tyneside"
            "020 7946 0018", // London's drama range is listed as allocated…
            "+44 7700 900123",
        ] {
            assert_ne!(judged(text), Judgement::Malformed, "{text}");
        }
        assert_eq!(judged("07700 900123"), Judgement::WellFormed);
        assert_eq!(judged("01632 960123"), Judgement::WellFormed);
        assert_eq!(judged("07911 123456"), Judgement::Allocated);
    }

    #[test]
    fn every_range_on_ofcoms_drama_list_is_unrecognised_and_its_neighbours_are_not() {
        for (drama, neighbour) in [
            ("020 7946 0018", "020 7946 1018"),
            ("0113 496 0999", "0113 496 1000"),
            ("0114 496 0000", "0114 497 0000"),
            ("0115 496 0123", "0115 495 0123"),
            ("0117 496 0123", "0117 497 0123"),
            ("0118 496 0123", "0118 497 0123"),
            ("0121 496 0123", "0121 497 0123"),
            ("0131 496 0123", "0131 497 0123"),
            ("0141 496 0123", "0141 497 0123"),
            ("0151 496 0123", "0151 497 0123"),
            ("0161 496 0123", "0161 497 0123"),
            ("0191 498 0123", "0191 497 0123"),
            ("028 9649 6123", "028 9649 7123"),
            ("029 2018 0123", "029 2018 1123"),
            ("0808 157 0123", "0808 157 1123"),
            ("03069 990123", "03069 991123"),
            ("0909 879 0123", "0909 879 1123"),
            ("07700 900123", "07700 901123"),
            ("01632 960123", "01632 961123"),
        ] {
            assert_eq!(judged(drama), Judgement::WellFormed, "{drama}");
            assert_ne!(judged(neighbour), Judgement::Malformed, "{neighbour}");
            // The opposite: just outside the 1,000 numbers is not a drama number (whatever
            // the metadata then says of it).
            let parsed =
                phonenumber::parse(Some(phonenumber::country::Id::GB), neighbour).expect(neighbour);
            assert!(!is_drama(&parsed.national().to_string()), "{neighbour}");
        }
    }

    #[test]
    fn a_uk_number_of_the_wrong_length_is_malformed() {
        // Mobile numbers have ten digits after the 0: nine or eleven are malformed.
        assert_eq!(judged("07700 90012"), Judgement::Malformed);
        assert_eq!(judged("07700 9001234"), Judgement::Malformed);
        assert_eq!(judged("07911 12345"), Judgement::Malformed);
        // No UK number starts 04 or 06.
        assert_eq!(judged("0400 123 4567"), Judgement::Malformed);
    }

    #[test]
    fn foreign_numbers_are_judged_on_their_own_metadata() {
        assert_eq!(judged("+33 6 31 96 65 43"), Judgement::Allocated);
        assert_eq!(judged("+1 650 253 0000"), Judgement::Allocated);
        // Ten digits of the North American shape in an unlisted area code, and a French 07 00.
        assert_eq!(judged("+1 555 555 5555"), Judgement::WellFormed);
        assert_eq!(judged("+33 7 00 00 00 00"), Judgement::WellFormed);
        assert_eq!(judged("+1 253 0000"), Judgement::Malformed);
        assert_eq!(judged("+1 555 555 55555"), Judgement::Malformed);
        assert_eq!(judged("+33 7 00 00 00 0"), Judgement::Malformed);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn uk_national_numbers_get_the_crates_answer(digits in "0[1-9][0-9]{7,10}") {
            same_as_the_crate(&digits, Some(phonenumber::country::Id::GB));
        }

        #[test]
        fn international_numbers_get_the_crates_answer(
            code in prop::sample::select(vec![1u16, 7, 33, 39, 44, 49, 61, 64, 86, 91, 234, 262, 290, 358, 599, 800, 870, 979]),
            rest in "[0-9]{4,13}",
        ) {
            same_as_the_crate(&format!("+{code}{rest}"), None);
        }
    }
}
