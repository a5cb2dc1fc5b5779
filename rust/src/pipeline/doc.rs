//! Parsing one input line into a document: valid UTF-8, a JSON object, a string
//! `text`, and an id (given, or generated as `<file stem>:<line>`).

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// The fields pass 1 needs; every other field is skipped without being built.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default)]
    id: Option<Value>,
}

pub struct ParsedDoc<'a> {
    pub text: Cow<'a, str>,
    pub id: String,
    /// The id was generated, so the output must add it.
    pub generated_id: bool,
}

/// The id rule shared by both passes.
pub fn doc_id(id: Option<&Value>, stem: &str, line: u64) -> (String, bool) {
    match id {
        Some(Value::String(s)) => (s.clone(), false),
        Some(Value::Number(n)) => (n.to_string(), false),
        Some(Value::Null) | None => (format!("{stem}:{line}"), true),
        Some(other) => (other.to_string(), false),
    }
}

/// Parse a line; the error says what is wrong with it (the caller adds file and line).
pub fn parse<'a>(bytes: &'a [u8], stem: &str, line: u64) -> Result<ParsedDoc<'a>, String> {
    let s = std::str::from_utf8(bytes)
        .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
    let first = s.trim_start().as_bytes().first().copied();
    if first != Some(b'{') {
        return Err("not a JSON object".into());
    }
    let f: Fields<'a> = serde_json::from_str(s).map_err(|e| {
        let msg = e.to_string();
        if msg.starts_with("missing field `text`") {
            "missing field `text`".to_string()
        } else if msg.starts_with("invalid type") && msg.contains("expected a string") {
            format!(
                "`text` is not a string ({})",
                msg.split(" at line").next().unwrap_or(&msg)
            )
        } else {
            format!("bad JSON: {msg}")
        }
    })?;
    let (id, generated_id) = doc_id(f.id.as_ref(), stem, line);
    Ok(ParsedDoc {
        text: f.text,
        id,
        generated_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documents_and_names_problems() {
        let d = parse(br#"{"id": 7, "text": "a\nb", "meta": {"x": [1]}}"#, "f", 1).unwrap();
        assert_eq!(
            (d.text.as_ref(), d.id.as_str(), d.generated_id),
            ("a\nb", "7", false)
        );
        let d = parse(br#"{"text": "x"}"#, "f", 4).unwrap();
        assert_eq!((d.id.as_str(), d.generated_id), ("f:4", true));
        let err = |b: &[u8]| parse(b, "f", 1).err().unwrap();
        assert_eq!(err(b"[1, 2]"), "not a JSON object");
        assert_eq!(err(b"{\"id\": 1}"), "missing field `text`");
        assert!(err(b"{\"text\": 5}").starts_with("`text` is not a string"));
        assert!(err(b"{\"text\": \"a\"").starts_with("bad JSON"));
        assert_eq!(err(b"{\"text\": \"\xff\"}"), "invalid UTF-8 at byte 10");
    }
}
