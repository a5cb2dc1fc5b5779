//! Parsing one record (the bytes of one JSON object) once: valid UTF-8, an object, a string
//! at `text_key` (borrowed from the record when it has no escapes) and the `id` when present,
//! with the byte spans of both values, so an output line can be the input line with only
//! those spans replaced (every other field stays byte-exact: big numbers, key order,
//! spacing). Other fields are skipped without being built, but their nesting is checked
//! against [`MAX_DEPTH`]. The error text says what is wrong; the caller adds the file and line.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of arrays and objects a record may have, its own object being level 1
/// (FORMAT.md). A deeper record is refused (a counted `malformed` skip in lenient mode):
/// it would break downstream readers with recursion limits.
pub const MAX_DEPTH: usize = 100;

/// The fields every stage needs from a record.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub text: Cow<'a, str>,
    /// Byte range of the text's JSON string literal (quotes included) in the record.
    pub text_span: (usize, usize),
    /// The `id` field rendered as a string: a string as itself, a number exactly as written,
    /// anything else as compact JSON; `None` when absent or null.
    pub id: Option<String>,
    /// Byte range of the `id` value in the record, when the field is present (also when null).
    pub id_span: Option<(usize, usize)>,
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
    let (text, raw_text) = fields
        .text
        .ok_or_else(|| format!("missing field `{text_key}`"))?;
    let span = |raw: &str| {
        let a = raw.as_ptr() as usize - s.as_ptr() as usize;
        (a, a + raw.len())
    };
    Ok(Parsed {
        text,
        text_span: span(raw_text),
        id: fields.id,
        id_span: fields.raw_id.map(span),
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
    } else if msg.starts_with(TOO_DEEP) || msg.starts_with("recursion limit exceeded") {
        format!(
            "nested deeper than {MAX_DEPTH} levels of arrays/objects ({})",
            msg.split(" at line")
                .nth(1)
                .map_or(String::new(), |at| format!("at line{at}"))
        )
    } else {
        format!("bad JSON: {msg}")
    }
}

const TOO_DEEP: &str = "too deeply nested";

/// What a record yields before the text is required.
struct Found<'a> {
    text: Option<(Cow<'a, str>, &'a str)>,
    id: Option<String>,
    raw_id: Option<&'a str>,
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

/// The `id` value as a string (see [`Parsed::id`]).
fn render_id(raw: &str) -> Result<Option<String>, String> {
    match raw.as_bytes().first() {
        Some(b'n') => Ok(None),
        Some(b'"') => serde_json::from_str::<String>(raw)
            .map(Some)
            .map_err(|e| e.to_string()),
        Some(b'-' | b'0'..=b'9') => Ok(Some(raw.to_owned())),
        _ => {
            if depth_of(raw) + 1 > MAX_DEPTH {
                return Err(TOO_DEEP.into());
            }
            serde_json::from_str::<Value>(raw)
                .map(|v| Some(v.to_string()))
                .map_err(|e| e.to_string())
        }
    }
}

/// Nesting depth of a JSON value's text (0 for a scalar), strings skipped.
fn depth_of(raw: &str) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in raw.as_bytes() {
        if in_str {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
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
            raw_id: None,
        };
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
                    let raw: &'de RawValue = map.next_value()?;
                    let raw = raw.get();
                    let text = if raw.starts_with('"') && !raw.contains('\\') {
                        Cow::Borrowed(&raw[1..raw.len() - 1])
                    } else {
                        let mut de = serde_json::Deserializer::from_str(raw);
                        Cow::Owned(
                            CowStr
                                .deserialize(&mut de)
                                .map_err(A::Error::custom)?
                                .into_owned(),
                        )
                    };
                    found.text = Some((text, raw));
                }
                Key::Id => {
                    if found.raw_id.is_some() {
                        return Err(A::Error::custom("duplicate field `id`"));
                    }
                    let raw: &'de RawValue = map.next_value()?;
                    let raw = raw.get();
                    found.id = render_id(raw).map_err(A::Error::custom)?;
                    found.raw_id = Some(raw);
                }
                Key::Other => {
                    // Raw, so numbers are not converted (`1e400` stays valid) and the
                    // nesting is measured on the bytes.
                    let raw: &'de RawValue = map.next_value()?;
                    if 1 + depth_of(raw.get()) > MAX_DEPTH {
                        return Err(A::Error::custom(TOO_DEEP));
                    }
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
        assert_eq!(d.id.as_deref(), Some("7"));
        assert_eq!(d.text_span, (18, 23));
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
    fn ids_keep_their_digits_and_spans_point_into_the_record() {
        let line = br#"{"id": 123456789012345678901234567890, "text": "a\"b", "n": 1.50}"#;
        let d = parse(line, "text").unwrap();
        assert_eq!(d.id.as_deref(), Some("123456789012345678901234567890"));
        let (a, b) = d.text_span;
        assert_eq!(&line[a..b], br#""a\"b""#);
        let (a, b) = d.id_span.unwrap();
        assert_eq!(&line[a..b], b"123456789012345678901234567890");
        let d = parse(br#"{"text": "x", "id": null}"#, "text").unwrap();
        assert_eq!((d.id, d.id_span), (None, Some((20, 24))));
        let d = parse(br#"{"text": "x", "id": {"a": [1, 2]}}"#, "text").unwrap();
        assert_eq!(d.id.as_deref(), Some(r#"{"a":[1,2]}"#));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let nested = |levels: usize| {
            // The record's object is level 1; `meta` holds levels 2..=levels.
            let inner = levels - 1;
            format!(
                r#"{{"text": "a", "meta": {}1{}}}"#,
                "[".repeat(inner),
                "]".repeat(inner)
            )
        };
        assert!(parse(nested(MAX_DEPTH).as_bytes(), "text").is_ok());
        let e = err(nested(MAX_DEPTH + 1).as_bytes());
        assert!(e.starts_with("nested deeper than 100 levels"), "{e}");
        let e = err(nested(100_000).as_bytes());
        assert!(e.starts_with("nested deeper than 100 levels"), "{e}");
        let deep_id = format!(
            r#"{{"text": "a", "id": {}{}}}"#,
            "[".repeat(150),
            "]".repeat(150)
        );
        assert!(err(deep_id.as_bytes()).starts_with("nested deeper"));
        let deep_text = format!(
            r#"{{"text": {}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(err(deep_text.as_bytes()).starts_with("`text` is not a string"));
    }

    #[test]
    fn objects_keep_every_field_in_order() {
        let m = parse_object(br#"{"z": 1, "text": "a", "a": [true]}"#).unwrap();
        assert_eq!(m.keys().collect::<Vec<_>>(), ["z", "text", "a"]);
        assert!(parse_object(b"{").unwrap_err().starts_with("bad JSON"));
    }
}
