//! Free and short text: trimmed, measured in characters (a "Zoë" is three, a "李" is one), and free of
//! control characters, which break case systems, CSV exports and terminals downstream and are a
//! favourite of injection attempts. Newline and tab are allowed only in the long free-text fields.
//!
//! Characters that display as nothing (zero-width spaces, byte-order marks, …) are trimmed like
//! spaces, so a name made only of them is blank. In one-line fields (names, address lines) the
//! bidirectional controls and the line and paragraph separators are refused too: they reorder or
//! break how a name displays, so "Ann" could show as someone else.

use crate::issue::{Code, Rejection};
use serde::Serialize;
use std::fmt;

/// Trimmed text of `MIN..=MAX` characters; `MULTILINE` allows newline, carriage return and tab.
///
/// The bounds live in the type so that a `Text<1, 100, false>` cannot hold anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text<const MIN: usize, const MAX: usize, const MULTILINE: bool>(String);

/// A name or a short line: 1–100 characters, one line (docs/contract.md §4).
pub type ShortText = Text<1, 100, false>;
/// Long free text (risk, medical information): up to 4,000 characters, several lines.
pub type FreeText = Text<1, 4000, true>;
/// The agreed reason for the referral: 10–4,000 characters (docs/contract.md §4, Code of Guidance 4.10).
pub type Summary = Text<10, 4000, true>;
/// The reason for a safeguarding override: 20–4,000 characters, enough to be a real reason.
pub type OverrideReason = Text<20, 4000, true>;

/// Whether `c` is a Unicode Default_Ignorable_Code_Point (Unicode 15.1, DerivedCoreProperties.txt):
/// a character that renders as nothing, such as U+200B ZERO WIDTH SPACE or U+FEFF BYTE ORDER MARK.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// `raw` without leading and trailing white space and invisible characters.
pub fn trim(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace() || is_invisible(c))
}

/// Whether `raw` has nothing visible in it: case systems send `""` (or a stray zero-width space)
/// for an empty form field.
pub fn is_blank(raw: &str) -> bool {
    trim(raw).is_empty()
}

/// Characters that change how the rest of a one-line value displays: the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069; the "Trojan Source" characters) and the
/// line and paragraph separators (U+2028, U+2029).
fn spoofs_display(c: char) -> bool {
    matches!(
        c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
    )
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> Text<MIN, MAX, MULTILINE> {
    /// Trims and checks the text.
    pub fn parse(raw: &str) -> Result<Self, Rejection> {
        let allowed = |c: char| MULTILINE && matches!(c, '\n' | '\r' | '\t');
        if raw
            .chars()
            .any(|c| (c.is_control() && !allowed(c)) || (!MULTILINE && spoofs_display(c)))
        {
            let what = if MULTILINE {
                "Control characters other than newline and tab are not allowed."
            } else {
                "Control characters (including newline, tab, line separators and bidirectional controls) are not allowed in this field."
            };
            return Err(Rejection::new(Code::FieldControlChars, what));
        }
        let trimmed = trim(raw);
        let length = trimmed.chars().count();
        if length < MIN {
            return Err(Rejection::new(
                Code::FieldTooShort,
                format!(
                    "Must be at least {MIN} character{} after trimming spaces (found {length}).",
                    if MIN == 1 { "" } else { "s" }
                ),
            ));
        }
        if length > MAX {
            return Err(Rejection::new(
                Code::FieldTooLong,
                format!("Must be at most {MAX} characters (found {length})."),
            ));
        }
        Ok(Text(trimmed.to_owned()))
    }

    /// The trimmed text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MIN: usize, const MAX: usize, const MULTILINE: bool> fmt::Display
    for Text<MIN, MAX, MULTILINE>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(
            ShortText::parse("  Ann  ").map(|t| t.0),
            Ok("Ann".to_owned())
        );
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        assert!(ShortText::parse("Zoë").is_ok());
        assert!(ShortText::parse("李").is_ok());
        assert!(ShortText::parse(&"李".repeat(100)).is_ok());
        assert_eq!(
            ShortText::parse(&"李".repeat(101)).map_err(|e| e.code),
            Err(Code::FieldTooLong)
        );
        assert_eq!(
            ShortText::parse(&"ë".repeat(100)).map(|t| t.0.chars().count()),
            Ok(100)
        );
    }

    #[test]
    fn free_text_of_4000_characters_is_accepted_and_4001_is_too_long() {
        assert!(FreeText::parse(&"a".repeat(4000)).is_ok());
        assert_eq!(
            FreeText::parse(&"a".repeat(4001)).map_err(|e| e.code),
            Err(Code::FieldTooLong)
        );
        assert!(FreeText::parse(&"é".repeat(4000)).is_ok());
    }

    #[test]
    fn blank_text_is_too_short() {
        assert_eq!(
            ShortText::parse("   ").map_err(|e| e.code),
            Err(Code::FieldTooShort)
        );
        assert_eq!(
            Summary::parse("too short").map_err(|e| e.code),
            Err(Code::FieldTooShort)
        );
        assert!(Summary::parse("ten chars!").is_ok());
    }

    #[test]
    fn newline_and_tab_are_allowed_only_in_free_text() {
        assert!(FreeText::parse("line one\nline two\tend").is_ok());
        assert_eq!(
            ShortText::parse("Ann\nSmith").map_err(|e| e.code),
            Err(Code::FieldControlChars)
        );
        assert_eq!(
            ShortText::parse("Ann\tSmith").map_err(|e| e.code),
            Err(Code::FieldControlChars)
        );
    }

    #[test]
    fn text_of_only_invisible_characters_is_blank() {
        for blank in [
            "\u{200B}",
            "\u{FEFF}",
            " \u{200B}\u{2060} ",
            "\u{00AD}\u{00A0}",
        ] {
            assert!(is_blank(blank), "{blank:?}");
            assert_eq!(
                ShortText::parse(blank).map_err(|e| e.code),
                Err(Code::FieldTooShort),
                "{blank:?}"
            );
        }
        assert!(!is_blank("\u{200B}A"));
        assert_eq!(
            ShortText::parse("\u{FEFF}Ann\u{200B} ").map(|t| t.0),
            Ok("Ann".to_owned()),
            "invisible characters at the ends are trimmed like spaces"
        );
        assert_eq!(
            ShortText::parse("Jo\u{200D}e").map(|t| t.0),
            Ok("Jo\u{200D}e".to_owned()),
            "inside the text they stay (a joiner can be part of a name's script)"
        );
    }

    #[test]
    fn bidirectional_controls_and_line_separators_are_refused_in_one_line_fields() {
        for spoof in [
            "Ann\u{202E}htimS",
            "\u{202A}Ann",
            "Ann\u{2066}x\u{2069}",
            "Ann\u{2028}Smith",
            "Ann\u{2029}Smith",
        ] {
            assert_eq!(
                ShortText::parse(spoof).map_err(|e| e.code),
                Err(Code::FieldControlChars),
                "{spoof:?}"
            );
            assert!(
                FreeText::parse(spoof).is_ok(),
                "free text may carry them: {spoof:?}"
            );
        }
        // The marks a right-to-left name may legitimately carry stay allowed.
        assert!(ShortText::parse("\u{200F}שרה\u{200F} Cohen").is_ok());
    }

    #[test]
    fn other_control_characters_are_refused_everywhere() {
        for bad in ["a\u{0}b", "a\u{7}b", "a\u{1b}[31mb", "a\u{7f}b", "a\u{85}b"] {
            assert_eq!(
                FreeText::parse(bad).map_err(|e| e.code),
                Err(Code::FieldControlChars)
            );
            assert_eq!(
                ShortText::parse(bad).map_err(|e| e.code),
                Err(Code::FieldControlChars)
            );
        }
    }
}
