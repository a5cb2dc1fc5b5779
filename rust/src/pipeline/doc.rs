//! A record as a pipeline document: parsed once by the input layer (`crate::input::parse`),
//! plus the id rule (given, or generated as `<file stem>:<line>`).

use crate::input;
use serde_json::Value;
use std::borrow::Cow;

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

/// Parse a record, its text at `text_key`; the error says what is wrong with it (the
/// caller adds file and line).
pub fn parse<'a>(
    bytes: &'a [u8],
    text_key: &str,
    stem: &str,
    line: u64,
) -> Result<ParsedDoc<'a>, String> {
    let d = input::parse(bytes, text_key)?;
    let (id, generated_id) = doc_id(d.id.as_ref(), stem, line);
    Ok(ParsedDoc {
        text: d.text,
        id,
        generated_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_given_or_generated_from_the_line() {
        let d = parse(
            br#"{"id": 7, "text": "a\nb", "meta": {"x": [1]}}"#,
            "text",
            "f",
            1,
        )
        .unwrap();
        assert_eq!(
            (d.text.as_ref(), d.id.as_str(), d.generated_id),
            ("a\nb", "7", false)
        );
        let d = parse(br#"{"text": "x", "id": "k"}"#, "text", "f", 4).unwrap();
        assert_eq!((d.id.as_str(), d.generated_id), ("k", false));
        for line in [
            br#"{"text": "x"}"#.as_slice(),
            br#"{"text": "x", "id": null}"#,
        ] {
            let d = parse(line, "text", "f", 4).unwrap();
            assert_eq!((d.id.as_str(), d.generated_id), ("f:4", true));
        }
        let d = parse(br#"{"text": "x", "id": [1]}"#, "text", "f", 4).unwrap();
        assert_eq!((d.id.as_str(), d.generated_id), ("[1]", false));
        assert_eq!(
            parse(b"{\"id\": 1}", "text", "f", 1).err().unwrap(),
            "missing field `text`"
        );
    }
}
