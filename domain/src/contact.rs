//! How the housing authority can reach the person (s.213B(2)(b) Housing Act 1996; Code of Guidance
//! 4.10): an e-mail address, a telephone number, a postal address, or "through the referrer".

use crate::issue::{Code, Rejection};
use serde::Serialize;
use std::fmt;
use validator::ValidateEmail;

/// An e-mail address that the `validator` crate accepts (HTML5 / RFC 5321 rules), at most 254
/// characters (RFC 5321 §4.5.3.1.3 path limit), whose domain has a dot: `alex@justice` is valid
/// syntax for a host on a local network, but no authority's reply to it would ever arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Trims and checks the address.
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let trimmed = crate::text::trim(raw);
        let domain = trimmed.rsplit_once('@').map_or("", |(_, d)| d);
        let dotted = domain.split('.').filter(|label| !label.is_empty()).count() >= 2;
        // An address at an IP literal (`name@[192.0.2.1]`) reaches no council's mail system.
        let literal = domain.starts_with('[');
        if trimmed.chars().count() > 254
            || literal
            || trimmed.chars().any(char::is_control)
            || !dotted
            || !trimmed.validate_email()
        {
            return Err(Rejection::new(
                Code::EmailInvalid,
                "Expected an e-mail address such as name@example.org.",
            ));
        }
        Ok(EmailAddress(trimmed.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A telephone number in E.164 form (`+447911123456`), parsed with Google's libphonenumber rules
/// (the `phonenumber` crate): a UK national number (`07911 123456`, `020 7946 0018`) or an international
/// one starting with `+`.
///
/// A number of valid shape and length is accepted even when the numbering metadata does not list
/// its range as allocated (Ofcom's drama range 07700 900xxx, a newly allocated range the metadata
/// has not caught up with): refusing a homeless person's referral over an optional contact number
/// helps no one. [`PhoneNumber::in_allocated_range`] tells the caller to warn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber {
    e164: String,
    #[serde(skip)]
    allocated: bool,
}

impl PhoneNumber {
    /// Parses and normalizes to E.164. Only a malformed number is refused (`phone.invalid`).
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let invalid = || {
            Rejection::new(
                Code::PhoneInvalid,
                "Expected a UK telephone number (e.g. 020 7946 0018) or an international one starting with + (E.164).",
            )
        };
        let (trimmed, extension) = split_extension(crate::text::trim(raw)).ok_or_else(invalid)?;
        // Only the characters people write in numbers: libphonenumber is lenient with letters,
        // which a case system should not send.
        let plain = trimmed.chars().enumerate().all(|(i, c)| {
            c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.') || (c == '+' && i == 0)
        });
        if !plain || trimmed.len() > 32 || !trimmed.chars().any(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        let region = if trimmed.starts_with('+') {
            None
        } else {
            Some(phonenumber::country::Id::GB)
        };
        let number = phonenumber::parse(region, trimmed).map_err(|_| invalid())?;
        let allocated = match crate::phone_validity::judge(&number) {
            crate::phone_validity::Judgement::Allocated => true,
            crate::phone_validity::Judgement::WellFormed => false,
            crate::phone_validity::Judgement::Malformed => return Err(invalid()),
        };
        // E.164 is "+", the calling code and the national significant number: what the crate's
        // `Mode::E164` writes, without the national-format pattern matching its formatter does first.
        let mut e164 = format!("+{}{}", number.code().value(), number.national());
        if let Some(ext) = extension {
            // RFC 3966's form of an extension, after the E.164 number.
            e164.push_str(";ext=");
            e164.push_str(ext);
        }
        Ok(PhoneNumber { e164, allocated })
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.e164
    }

    /// Whether the numbering metadata lists the number's range as allocated.
    pub fn in_allocated_range(&self) -> bool {
        self.allocated
    }
}

/// Splits a written extension from a number: `0113 243 3144 ext 65432`, `… extn. 65432`,
/// `… x65432`, `… #65432`, `… extension 65432`, or RFC 3966's `;ext=65432` — how hospital wards
/// and prisons are reached through a switchboard. Answers the number and the extension's digits
/// (1 to 7); `None` when a marker is followed by anything but digits.
fn split_extension(raw: &str) -> Option<(&str, Option<&str>)> {
    let lower = raw.to_ascii_lowercase();
    // The last marker wins: "x" also ends "ext" and "extn", so the longest spelling is tried first.
    for marker in [";ext=", "extension", "extn", "ext", "x", "#"] {
        if let Some(at) = lower.rfind(marker) {
            let number = raw[..at].trim_end();
            let digits = raw[at + marker.len()..]
                .trim_start_matches(['.', ':', ' '])
                .trim();
            let ok = !number.is_empty()
                && (1..=7).contains(&digits.len())
                && digits.chars().all(|c| c.is_ascii_digit());
            return ok.then_some((number, Some(digits)));
        }
    }
    Some((raw, None))
}

/// A postcode or district as typed, upper case without separators (white space, a hyphen between
/// the halves as in `LS1-4AP`, invisible characters), and its shape: `A` for a letter, `9` for a
/// digit, `?` for anything else (`LS14AP` → `AA99AA`).
fn compact_and_shape(raw: &str) -> (String, String) {
    let compact: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && !crate::text::is_invisible(*c))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let shape = compact
        .chars()
        .map(|c| match c {
            'A'..='Z' => 'A',
            '0'..='9' => '9',
            _ => '?',
        })
        .collect();
    (compact, shape)
}

/// A UK postcode in its normal form: upper case, one space before the inward code (`SW1A 1AA`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Postcode(String);

impl Postcode {
    /// Checks the shape of a UK postcode (outward `A9`, `A99`, `AA9`, `AA99`, `A9A` or `AA9A`, then
    /// inward `9AA`; plus the special `GIR 0AA`) and normalizes it.
    ///
    /// Any white space (a non-breaking space copied from a web page, a tab) and invisible characters
    /// are dropped before the shape is checked.
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let (compact, shape) = compact_and_shape(raw);
        let valid = compact == "GIR0AA"
            || (shape.len() >= 5
                && shape.ends_with("9AA")
                && matches!(
                    &shape[..shape.len() - 3],
                    "A9" | "A99" | "AA9" | "AA99" | "A9A" | "AA9A"
                ));
        if !valid {
            return Err(Rejection::new(
                Code::PostcodeInvalid,
                "Expected a UK postcode such as SW1A 1AA.",
            ));
        }
        let split = compact.len() - 3;
        Ok(Postcode(format!(
            "{} {}",
            &compact[..split],
            &compact[split..]
        )))
    }

    /// The normalized postcode.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a British Forces Post Office postcode (outward code `BF1`): a mail route
    /// to serving personnel, often abroad, not a place (warning `postcode.bfpo`).
    pub fn is_forces_post(&self) -> bool {
        self.0.starts_with("BF1 ")
    }
}

/// A postcode district: the outward half of a postcode (`LS1`, `SW1A`, `TR21`), what a
/// practitioner may know of where a person lives or wants to live, and how they may find the
/// council the person chose (docs/contract.md, "The journey").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PostcodeDistrict(String);

impl PostcodeDistrict {
    /// Reads a district (`ls1`, `SW1A`) or a whole postcode (`LS1 4AP`, whose district is `LS1`);
    /// `None` for anything else, such as a council's name. Spacing and case are ignored as in
    /// [`Postcode::parse`].
    pub fn parse(raw: &str) -> Option<Self> {
        if let Ok(full) = Postcode::parse(raw) {
            let outward = full.0.split(' ').next().unwrap_or_default();
            return Some(PostcodeDistrict(outward.to_owned()));
        }
        let (compact, shape) = compact_and_shape(raw);
        matches!(
            shape.as_str(),
            "A9" | "A99" | "AA9" | "AA99" | "A9A" | "AA9A"
        )
        .then_some(PostcodeDistrict(compact))
    }

    /// The district, upper case (`LS1`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostcodeDistrict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postcode_district_is_read_from_a_district_or_a_whole_postcode() {
        for (raw, district) in [
            ("LS1", "LS1"),
            (" ls1 ", "LS1"),
            ("sw1a", "SW1A"),
            ("TR21", "TR21"),
            ("W1A", "W1A"),
            ("LS1 4AP", "LS1"),
            ("ls14ap", "LS1"),
            ("EC1A 1BB", "EC1A"),
            ("M1 1AE", "M1"),
        ] {
            assert_eq!(
                PostcodeDistrict::parse(raw)
                    .as_ref()
                    .map(PostcodeDistrict::as_str),
                Some(district),
                "{raw}"
            );
        }
        // The opposite: names, codes and fragments are not districts.
        for raw in [
            "Leeds",
            "",
            "L",
            "1",
            "LS",
            "E08000035",
            "LS1 4A",
            "ABC1",
            "1LS",
        ] {
            assert_eq!(PostcodeDistrict::parse(raw), None, "{raw}");
        }
    }

    #[test]
    fn an_address_at_an_ip_literal_is_no_address_and_a_hyphenated_postcode_is_one() {
        assert_eq!(
            EmailAddress::parse("a@[192.168.0.1]").map_err(|e| e.code),
            Err(Code::EmailInvalid)
        );
        assert_eq!(
            Postcode::parse("LS1-4AP").map(|p| p.0),
            Ok("LS1 4AP".to_owned())
        );
        assert_eq!(
            Postcode::parse("LS1 4AP").map(|p| p.0),
            Ok("LS1 4AP".to_owned())
        );
        assert!(Postcode::parse("LS1-4A").is_err());
    }

    #[test]
    fn e_mail_addresses_are_checked_with_validator() {
        assert_eq!(
            EmailAddress::parse(" ann@example.org ").map(|e| e.0),
            Ok("ann@example.org".into())
        );
        for bad in [
            "ann",
            "ann@",
            "@example.org",
            "ann example@x.org",
            "ann@exa mple.org",
            "a\n@b.org",
        ] {
            assert_eq!(
                EmailAddress::parse(bad).map_err(|e| e.code),
                Err(Code::EmailInvalid),
                "{bad}"
            );
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(EmailAddress::parse(&long).is_err());
    }

    #[test]
    fn uk_national_numbers_become_e164() {
        assert_eq!(
            PhoneNumber::parse("020 7946 0018").map(|p| p.e164),
            Ok("+442079460018".into())
        );
        assert_eq!(
            PhoneNumber::parse("07911 123456").map(|p| p.e164),
            Ok("+447911123456".into())
        );
        assert_eq!(
            PhoneNumber::parse("(0114) 496 0000").map(|p| p.e164),
            Ok("+441144960000".into())
        );
    }

    #[test]
    fn international_numbers_must_start_with_plus() {
        assert_eq!(
            PhoneNumber::parse("+44 7911 123456").map(|p| p.e164),
            Ok("+447911123456".into())
        );
        assert_eq!(
            PhoneNumber::parse("+33 1 42 68 53 00").map(|p| p.e164),
            Ok("+33142685300".into())
        );
    }

    #[test]
    fn the_e164_form_is_the_one_the_crate_formats() {
        // Italian numbers keep their leading zero; +800 is non-geographic.
        for text in [
            "07911 123456",
            "01481 712345",
            "+39 02 3661 8300",
            "+800 1234 5678",
            "+1 650 253 0000",
        ] {
            let region = (!text.starts_with('+')).then_some(phonenumber::country::Id::GB);
            let crate_form = phonenumber::parse(region, text)
                .expect(text)
                .format()
                .mode(phonenumber::Mode::E164)
                .to_string();
            assert_eq!(
                PhoneNumber::parse(text).map(|p| p.e164),
                Ok(crate_form),
                "{text}"
            );
        }
    }

    #[test]
    fn nonsense_numbers_are_refused() {
        for bad in [
            "12",
            "hello",
            "0800 CALL ME",
            "+",
            "++447911123456",
            "0207946001899999",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad).map_err(|e| e.code),
                Err(Code::PhoneInvalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn postcodes_are_normalized_to_upper_case_with_one_space() {
        assert_eq!(
            Postcode::parse("sw1a1aa").map(|p| p.0),
            Ok("SW1A 1AA".into())
        );
        assert_eq!(
            Postcode::parse(" m1  1ae ").map(|p| p.0),
            Ok("M1 1AE".into())
        );
        assert_eq!(
            Postcode::parse("B33 8TH").map(|p| p.0),
            Ok("B33 8TH".into())
        );
        assert_eq!(
            Postcode::parse("cr2 6xh").map(|p| p.0),
            Ok("CR2 6XH".into())
        );
        assert_eq!(
            Postcode::parse("DN55 1PT").map(|p| p.0),
            Ok("DN55 1PT".into())
        );
        assert_eq!(
            Postcode::parse("W1A 0AX").map(|p| p.0),
            Ok("W1A 0AX".into())
        );
        assert_eq!(
            Postcode::parse("EC1A 1BB").map(|p| p.0),
            Ok("EC1A 1BB".into())
        );
        assert_eq!(
            Postcode::parse("gir 0aa").map(|p| p.0),
            Ok("GIR 0AA".into())
        );
    }

    #[test]
    fn malformed_postcodes_are_refused() {
        for bad in [
            "",
            "SW1A",
            "1AA SW1",
            "SW1A 1A",
            "SW1AA 1AA",
            "SW1A--1A",
            "ÄB1 1AA",
            "12345",
        ] {
            assert_eq!(
                Postcode::parse(bad).map_err(|e| e.code),
                Err(Code::PostcodeInvalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_switchboard_extension_is_kept_in_rfc_3966_form() {
        for raw in [
            "0113 243 3144 ext 65432",
            "0113 243 3144 ext. 65432",
            "0113 243 3144 extn 65432",
            "0113 243 3144 x65432",
            "0113 243 3144 X 65432",
            "0113 243 3144 #65432",
            "0113 243 3144 extension 65432",
            "+441132433144;ext=65432",
        ] {
            let phone = PhoneNumber::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
            assert_eq!(phone.as_str(), "+441132433144;ext=65432", "{raw}");
        }
        // The opposite: a marker without digits, or with too many, is not an extension.
        for raw in [
            "0113 243 3144 ext",
            "0113 243 3144 ext 12345678",
            "0113 243 3144 ext abc",
            "ext 65432",
        ] {
            assert!(PhoneNumber::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(
            PhoneNumber::parse("0113 243 3144").expect("plain").as_str(),
            "+441132433144"
        );
    }
}
