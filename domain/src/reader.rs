//! Reading a raw JSON document member by member, recording every structural problem
//! (`field.required`, `field.type`, `field.unknown`, `field.invalid_value`) at its pointer.
//!
//! The document arrives as `serde_json::Value` rather than a derived struct because serde stops at the
//! first error; docs/contract.md §5 wants all of them at once. The API reads its other request bodies (keys,
//! acknowledgements, endpoints) with the same reader, so every request fault has a pointer and a code.

use crate::issue::{escape_token, Code, Findings, Rejection};
use crate::Vocabulary;
use serde_json::{Map, Value};

/// A JSON object at a pointer whose unknown members have already been reported.
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    pointer: String,
}

/// The JSON type names used in `field.type` messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether a value says nothing: `null`, a blank string (only white space or invisible characters),
/// or an object whose members all say nothing.
pub fn is_blank_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => crate::text::is_blank(s),
        Value::Object(map) => map.values().all(is_blank_value),
        _ => false,
    }
}

/// Opens `value` as an object with exactly the members `allowed`, reporting the rest as unknown.
pub fn open<'a>(
    value: Option<&'a Value>,
    pointer: &str,
    required: bool,
    allowed: &[&str],
    f: &mut Findings,
) -> Option<Obj<'a>> {
    match value {
        None | Some(Value::Null) => {
            if required {
                f.add(pointer, Code::FieldRequired, "This object is required.");
            }
            None
        }
        Some(Value::Object(map)) => {
            for key in map.keys() {
                if !allowed.contains(&key.as_str()) {
                    f.add(
                        &format!("{pointer}/{}", escape_token(key)),
                        Code::FieldUnknown,
                        format!(
                            "This member is not part of the referral document; allowed here: {}.",
                            allowed.join(", ")
                        ),
                    );
                }
            }
            Some(Obj {
                map,
                pointer: pointer.to_owned(),
            })
        }
        Some(other) => {
            f.add(
                pointer,
                Code::FieldType,
                format!("Expected an object, found {}.", type_name(other)),
            );
            None
        }
    }
}

impl<'a> Obj<'a> {
    /// The pointer of this object itself.
    pub fn pointer(&self) -> &str {
        &self.pointer
    }

    /// The pointer of member `key`.
    pub fn at(&self, key: &str) -> String {
        format!("{}/{}", self.pointer, escape_token(key))
    }

    /// The member, treating `null` as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Whether the member is given at all (present and not `null`).
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Whether the member is given with something in it: present, not `null`, and not a blank
    /// string (`""` is how case systems send an empty form field).
    pub fn given(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(Value::String(s)) => !crate::text::is_blank(s),
            Some(_) => true,
        }
    }

    fn missing(&self, key: &str, required: bool, f: &mut Findings) {
        if required {
            f.add(
                &self.at(key),
                Code::FieldRequired,
                "This member is required.",
            );
        }
    }

    fn wrong_type(&self, key: &str, expected: &str, found: &Value, f: &mut Findings) {
        f.add(
            &self.at(key),
            Code::FieldType,
            format!("Expected {expected}, found {}.", type_name(found)),
        );
    }

    /// A nested object.
    pub fn object(
        &self,
        key: &str,
        required: bool,
        allowed: &[&str],
        f: &mut Findings,
    ) -> Option<Obj<'a>> {
        open(self.map.get(key), &self.at(key), required, allowed, f)
    }

    /// An optional sub-form (an address, a possession notice, a household, an override, risks,
    /// key medical information): absent when every member is blank or absent, exactly as `""` is
    /// for one field — case systems send a form's empty fields rather than leaving the form out,
    /// and a homeless person's blank address form is the commonest shape of all
    /// (docs/contract.md §5). A form with a member this object does not allow is read as usual,
    /// so the unknown member is reported.
    pub fn form(&self, key: &str, allowed: &[&str], f: &mut Findings) -> Option<Obj<'a>> {
        match self.map.get(key) {
            Some(Value::Object(map))
                if map.keys().all(|k| allowed.contains(&k.as_str()))
                    && map.values().all(is_blank_value) =>
            {
                None
            }
            other => open(other, &self.at(key), false, allowed, f),
        }
    }

    /// A string member, untouched.
    pub fn string(&self, key: &str, required: bool, f: &mut Findings) -> Option<&'a str> {
        match self.get(key) {
            None => {
                self.missing(key, required, f);
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(other) => {
                self.wrong_type(key, "a string", other, f);
                None
            }
        }
    }

    /// A string member parsed into `T`; the parser's rejection is placed at the member's pointer.
    pub fn parse<T>(
        &self,
        key: &str,
        required: bool,
        f: &mut Findings,
        parser: impl FnOnce(&str) -> Result<T, Rejection>,
    ) -> Option<T> {
        let raw = self.string(key, required, f)?;
        self.keep(key, parser(raw), f)
    }

    /// An optional string member where an empty or blank string means "not given": case systems
    /// commonly send `""` for an empty form field (a phone number, a date of birth, a second address
    /// line), and refusing it would help nobody.
    pub fn optional<T>(
        &self,
        key: &str,
        f: &mut Findings,
        parser: impl FnOnce(&str) -> Result<T, Rejection>,
    ) -> Option<T> {
        let raw = self.string(key, false, f)?;
        if crate::text::is_blank(raw) {
            return None;
        }
        self.keep(key, parser(raw), f)
    }

    /// The parsed value, or its rejection recorded at the member's pointer (built only then: most
    /// members are valid, and a pointer per member was about a fifth of the rules' time).
    fn keep<T>(&self, key: &str, parsed: Result<T, Rejection>, f: &mut Findings) -> Option<T> {
        parsed.map_err(|r| f.reject(&self.at(key), r)).ok()
    }

    /// A boolean member.
    pub fn boolean(&self, key: &str, required: bool, f: &mut Findings) -> Option<bool> {
        match self.get(key) {
            None => {
                self.missing(key, required, f);
                None
            }
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.wrong_type(key, "a boolean", other, f);
                None
            }
        }
    }

    /// A whole-number member within `min..=max`; an optional one sent as a blank string is not
    /// given (a form's empty number field).
    pub fn count(
        &self,
        key: &str,
        required: bool,
        min: u32,
        max: u32,
        f: &mut Findings,
    ) -> Option<u32> {
        match self.get(key) {
            None => {
                self.missing(key, required, f);
                None
            }
            Some(Value::String(s)) if !required && crate::text::is_blank(s) => None,
            Some(Value::Number(n)) => {
                // `1.0` is the whole number 1 (JSON does not tell them apart; some serializers
                // write every number with a fraction).
                let whole = n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|v| v.fract() == 0.0 && v.abs() < 1e9)
                        .map(|v| v as i64)
                });
                let in_range = whole
                    .filter(|v| *v >= i64::from(min) && *v <= i64::from(max))
                    .and_then(|v| u32::try_from(v).ok());
                if in_range.is_none() {
                    let fractional = whole.is_none();
                    let message = if fractional {
                        format!("Expected a whole number from {min} to {max}.")
                    } else {
                        format!("Must be from {min} to {max}.")
                    };
                    let code = if fractional {
                        Code::FieldType
                    } else {
                        Code::FieldInvalidValue
                    };
                    f.add(&self.at(key), code, message);
                }
                in_range
            }
            Some(other) => {
                self.wrong_type(key, "a whole number", other, f);
                None
            }
        }
    }

    /// A string member that must be a term of the vocabulary `V`.
    pub fn choice<V: Vocabulary>(&self, key: &str, required: bool, f: &mut Findings) -> Option<V> {
        let raw = self.string(key, required, f)?;
        let found = V::from_term(raw);
        if found.is_none() {
            f.add(
                &self.at(key),
                Code::FieldInvalidValue,
                format!("Must be one of: {}.", V::terms().join(", ")),
            );
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_members_are_reported_with_escaped_pointers() {
        let v = json!({"a": 1, "b/c": 2});
        let mut f = Findings::default();
        let o = open(Some(&v), "/x", true, &["a"], &mut f);
        assert!(o.is_some());
        assert_eq!(f.errors.len(), 1);
        assert_eq!(f.errors[0].pointer, "/x/b~1c");
        assert_eq!(f.errors[0].code, Code::FieldUnknown);
    }

    #[test]
    fn null_counts_as_missing() {
        let v = json!({"a": null});
        let mut f = Findings::default();
        let o = open(Some(&v), "", true, &["a"], &mut f).expect("object");
        assert_eq!(o.boolean("a", true, &mut f), None);
        assert_eq!(f.errors[0].code, Code::FieldRequired);
        assert_eq!(f.errors[0].pointer, "/a");
    }

    #[test]
    fn counts_reject_fractions_negatives_and_huge_numbers() {
        let v = json!({"a": 1.5, "b": -1, "c": 51, "d": 50, "e": 1e300, "f": 0});
        let mut f = Findings::default();
        let o = open(Some(&v), "", true, &["a", "b", "c", "d", "e", "f"], &mut f).expect("object");
        assert_eq!(o.count("a", false, 0, 50, &mut f), None);
        assert_eq!(o.count("b", false, 0, 50, &mut f), None);
        assert_eq!(o.count("c", false, 0, 50, &mut f), None);
        assert_eq!(o.count("d", false, 0, 50, &mut f), Some(50));
        assert_eq!(o.count("e", false, 0, 50, &mut f), None);
        assert_eq!(o.count("f", false, 0, 50, &mut f), Some(0));
        let codes: Vec<Code> = f.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            vec![
                Code::FieldType,
                Code::FieldInvalidValue,
                Code::FieldInvalidValue,
                Code::FieldType
            ]
        );
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_is_that_number() {
        let v = json!({"a": 1.0, "b": 51.0, "c": 0.0});
        let mut f = Findings::default();
        let o = open(Some(&v), "", true, &["a", "b", "c"], &mut f).expect("object");
        assert_eq!(o.count("a", false, 0, 50, &mut f), Some(1));
        assert_eq!(o.count("b", false, 0, 50, &mut f), None);
        assert_eq!(o.count("c", false, 0, 50, &mut f), Some(0));
        let codes: Vec<Code> = f.errors.iter().map(|e| e.code).collect();
        assert_eq!(codes, vec![Code::FieldInvalidValue]);
    }

    #[test]
    fn a_value_outside_an_enumeration_is_invalid_value() {
        let v = json!({"k": "section_99"});
        let mut f = Findings::default();
        let o = open(Some(&v), "", true, &["k"], &mut f).expect("object");
        assert_eq!(o.choice::<crate::NoticeKind>("k", true, &mut f), None);
        assert_eq!(f.errors[0].code, Code::FieldInvalidValue);
    }
}
