//! Parsing one record (the bytes of one JSON object) once: valid UTF-8, an object, a string
//! at `text_key` (borrowed from the record when it has no escapes) and the `id` when present.
//! Other fields are skipped without being built. The error text says what is wrong; the
//! caller adds the file and line.

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The fields every stage needs from a record.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub text: Cow<'a, str>,
    /// The `id` field; `None` when absent or null.
    pub id: Option<Value>,
}

/// Parse a record; the error says what is wrong with it.
pub fn parse<'a>(bytes: &'a [u8], text_key: &str) -> Result<Parsed<'a>, String> {
    let s = std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    if s.trim_start().as_bytes().first() != Some(&b'{') {
        return Err("not a JSON object".into());
    }
    let mut de = serde_json::Deserializer::from_str(s);
    let fields = Fields { text_key }
        .deserialize(&mut de)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| json_error(&e, text_key))?;
    let text = fields
        .text
        .ok_or_else(|| format!("missing field `{text_key}`"))?;
    Ok(Parsed {
        text,
        id: fields.id,
    })
}

/// The whole record as an object (for outputs that add or change fields).
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("bad JSON: {e}"))
}

fn json_error(e: &serde_json::Error, text_key: &str) -> String {
    let msg = e.to_string();
    if msg.starts_with("invalid type") && msg.contains("expected a string") {
        format!(
            "`{text_key}` is not a string ({})",
            msg.split(" at line").next().unwrap_or(&msg)
        )
    } else {
        format!("bad JSON: {msg}")
    }
}

/// What a record yields before the text is required.
struct Found<'a> {
    text: Option<Cow<'a, str>>,
    id: Option<Value>,
}

/// Deserializes an object keeping the string at `text_key` and the `id`; a repeated one of
/// these is an error (as an object with two texts is ambiguous).
struct Fields<'k> {
    text_key: &'k str,
}

impl<'de> DeserializeSeed<'de> for Fields<'_> {
    type Value = Found<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Fields<'_> {
    type Value = Found<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object with a string field `{}`", self.text_key)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Found {
            text: None,
            id: None,
        };
        let mut seen_id = false;
        while let Some(key) = map.next_key_seed(KeySeed {
            text_key: self.text_key,
        })? {
            match key {
                Key::Text => {
                    if found.text.is_some() {
                        return Err(A::Error::custom(format_args!(
                            "duplicate field `{}`",
                            self.text_key
                        )));
                    }
                    found.text = Some(map.next_value_seed(CowStr)?);
                }
                Key::Id => {
                    if seen_id {
                        return Err(A::Error::custom("duplicate field `id`"));
                    }
                    seen_id = true;
                    found.id = map.next_value::<Option<Value>>()?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

enum Key {
    Text,
    Id,
    Other,
}

/// Classifies a key without allocating it.
struct KeySeed<'k> {
    text_key: &'k str,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, k: &str) -> Result<Key, E> {
        Ok(if k == self.text_key {
            Key::Text
        } else if k == "id" {
            Key::Id
        } else {
            Key::Other
        })
    }
}

/// A string value, borrowed from the input when it needs no unescaping.
struct CowStr;

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(b: &[u8]) -> String {
        parse(b, "text").unwrap_err()
    }

    #[test]
    fn takes_text_and_id_and_borrows_plain_text() {
        let d = parse(br#"{"id": 7, "text": "a b", "meta": {"x": [1]}}"#, "text").unwrap();
        assert!(matches!(d.text, Cow::Borrowed("a b")));
        assert_eq!(d.id, Some(Value::from(7)));
        let d = parse(br#"{"body": "a\nb", "id": null}"#, "body").unwrap();
        assert!(matches!(d.text, Cow::Owned(ref s) if s == "a\nb"));
        assert_eq!(d.id, None);
        // The key can be escaped; it is still the text field.
        let d = parse(br#"{"te\u0078t": "x"}"#, "text").unwrap();
        assert_eq!(d.text, "x");
    }

    #[test]
    fn names_what_is_wrong() {
        assert_eq!(err(b"[1, 2]"), "not a JSON object");
        assert_eq!(err(b"{\"id\": 1}"), "missing field `text`");
        assert_eq!(
            parse(b"{\"text\": 1}", "body").unwrap_err(),
            "missing field `body`"
        );
        assert_eq!(
            err(b"{\"text\": 5}"),
            "`text` is not a string (invalid type: integer `5`, expected a string)"
        );
        assert!(err(b"{\"text\": null}").starts_with("`text` is not a string"));
        assert!(err(b"{\"text\": \"a\"").starts_with("bad JSON: EOF"));
        assert!(err(b"{\"text\": \"a\"} x").starts_with("bad JSON: trailing characters"));
        assert!(err(b"{\"text\": \"a\", \"text\": \"b\"}")
            .starts_with("bad JSON: duplicate field `text` at line 1"));
        assert!(err(b"{\"id\": 1, \"id\": 2, \"text\": \"b\"}")
            .starts_with("bad JSON: duplicate field `id`"));
        assert_eq!(err(b"{\"text\": \"\xff\"}"), "invalid UTF-8 at byte 10");
    }

    #[test]
    fn objects_keep_every_field_in_order() {
        let m = parse_object(br#"{"z": 1, "text": "a", "a": [true]}"#).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["z", "text", "a"]);
        assert!(parse_object(b"{").unwrap_err().starts_with("bad JSON"));
    }
}
