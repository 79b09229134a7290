//! Reading a referral's JSON text while keeping what `serde_json::Value` forgets: a member given
//! twice in one object.
//!
//! RFC 8259 §4 leaves duplicate names undefined and RFC 7493 (I-JSON) forbids them; `serde_json`
//! silently keeps the last. A consent sent as `{"referral": false, "referral": true}` must not be
//! settled by whichever value a parser happens to keep, so every repeated member is reported
//! (`field.duplicate`) with the rest of the referral's errors. The nesting limit is enforced here too,
//! before any rule runs.

use crate::issue::escape_token;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The deepest nesting a referral needs is 4 levels; anything far deeper is an attack on the
/// parser, refused before any rule runs.
pub const MAX_DEPTH: usize = 16;

/// A JSON text read into a value, with the pointers of the members that were repeated (the value
/// holds the last of each, as `serde_json` would).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonDocument {
    value: Value,
    duplicates: Vec<String>,
}

/// Why a text is not a JSON document we read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Not JSON at all (the position, never the text: it may be personal data).
    #[error("not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

const TOO_DEEP: &str = "dtr:json-too-deep";

impl JsonDocument {
    /// Reads a JSON text.
    pub fn parse(text: &[u8]) -> Result<JsonDocument, JsonError> {
        // A leading UTF-8 byte order mark (Windows editors write one) is not part of the JSON.
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        let mut duplicates = vec![];
        let mut de = serde_json::Deserializer::from_slice(text);
        let value = Node {
            path: None,
            depth: 0,
            duplicates: &mut duplicates,
        }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            if e.to_string().starts_with(TOO_DEEP) {
                JsonError::TooDeep
            } else {
                JsonError::Syntax {
                    line: e.line(),
                    column: e.column(),
                }
            }
        })?;
        Ok(JsonDocument { value, duplicates })
    }

    /// A document read from an already-parsed value (which cannot have kept a repeated member).
    pub fn from_value(value: Value) -> JsonDocument {
        JsonDocument {
            value,
            duplicates: vec![],
        }
    }

    /// The value (the last of each repeated member).
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// Takes the value.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// RFC 6901 pointers of the members given more than once, in document order.
    pub fn duplicates(&self) -> &[String] {
        &self.duplicates
    }
}

/// Where a value sits: its parent and its own token. Pointers are built from this only for the
/// rare repeated member, not for every member read.
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    token: Token<'p>,
}

enum Token<'p> {
    Member(&'p str),
    Index(usize),
}

fn pointer(path: Option<&Path<'_>>) -> String {
    let mut tokens = vec![];
    let mut at = path;
    while let Some(p) = at {
        tokens.push(match p.token {
            Token::Member(name) => escape_token(name),
            Token::Index(i) => i.to_string(),
        });
        at = p.parent;
    }
    tokens.iter().rev().fold(String::new(), |mut out, t| {
        out.push('/');
        out.push_str(t);
        out
    })
}

/// Reads one value at `path`, recording repeated members into `duplicates`.
struct Node<'a> {
    path: Option<&'a Path<'a>>,
    depth: usize,
    duplicates: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(A::Error::custom(TOO_DEEP));
        }
        let mut items = vec![];
        loop {
            let here = Path {
                parent: self.path,
                token: Token::Index(items.len()),
            };
            let child = Node {
                path: Some(&here),
                depth: self.depth + 1,
                duplicates: &mut *self.duplicates,
            };
            match seq.next_element_seed(child)? {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(A::Error::custom(TOO_DEEP));
        }
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = {
                let here = Path {
                    parent: self.path,
                    token: Token::Member(&name),
                };
                map.next_value_seed(Node {
                    path: Some(&here),
                    depth: self.depth + 1,
                    duplicates: &mut *self.duplicates,
                })?
            };
            if members.contains_key(&name) {
                let here = Path {
                    parent: self.path,
                    token: Token::Member(&name),
                };
                self.duplicates.push(pointer(Some(&here)));
            }
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_leading_byte_order_mark_is_not_part_of_the_document() {
        let doc = JsonDocument::parse(b"\xEF\xBB\xBF{\"a\": 1}").expect("JSON after a BOM");
        assert_eq!(doc.value(), &json!({"a": 1}));
        // Only at the start: elsewhere it is what it is (here, not JSON).
        assert!(JsonDocument::parse(b"{\"a\": 1}\xEF\xBB\xBF").is_err());
    }

    #[test]
    fn a_repeated_member_is_reported_at_its_pointer_and_the_last_value_kept() {
        let doc = JsonDocument::parse(br#"{"consent": {"referral": false, "referral": true}}"#)
            .expect("JSON");
        assert_eq!(doc.duplicates(), ["/consent/referral"]);
        assert_eq!(doc.value(), &json!({"consent": {"referral": true}}));
    }

    #[test]
    fn a_document_without_repeats_reads_as_serde_json_reads_it() {
        let text = br#"{"a": [1, 2.5, {"b~/c": null}], "d": "e", "f": true, "g": -3}"#;
        let doc = JsonDocument::parse(text).expect("JSON");
        assert!(doc.duplicates().is_empty());
        let plain: Value = serde_json::from_slice(text).expect("JSON");
        assert_eq!(doc.value(), &plain);
    }

    #[test]
    fn repeats_inside_arrays_and_escaped_names_get_exact_pointers() {
        let doc = JsonDocument::parse(br#"{"x": [{}, {"a/b": 1, "a/b": 2}], "x": 3, "x": 4}"#)
            .expect("JSON");
        assert_eq!(doc.duplicates(), ["/x/1/a~1b", "/x", "/x"]);
    }

    #[test]
    fn the_same_name_in_two_objects_is_not_a_repeat() {
        let doc = JsonDocument::parse(br#"{"a": {"n": 1}, "b": {"n": 1}}"#).expect("JSON");
        assert!(doc.duplicates().is_empty());
    }

    #[test]
    fn nesting_is_limited_to_16_levels() {
        let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
        assert!(JsonDocument::parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert!(matches!(
            JsonDocument::parse(nested(MAX_DEPTH + 1).as_bytes()),
            Err(JsonError::TooDeep)
        ));
    }

    #[test]
    fn a_syntax_error_names_its_position_not_its_text() {
        let e = JsonDocument::parse(b"{\"name\": \"Zephyrine\",,}").expect_err("not JSON");
        assert!(matches!(e, JsonError::Syntax { line: 1, .. }));
        assert!(!e.to_string().contains("Zephyrine"));
        assert!(JsonDocument::parse(b"{} trailing").is_err());
    }
}
