//! A record as a pipeline document: parsed once by the input layer (`crate::input::parse`),
//! plus the id rule (given, or generated as `<input id prefix>:<line>`, unique within a job:
//! see `crate::input::expand`), and the output line built from the input line by splicing,
//! so every field but a redacted `text` stays byte-exact.

use crate::input;
use std::borrow::Cow;

pub struct ParsedDoc<'a> {
    pub text: Cow<'a, str>,
    /// Byte range of the text's string literal in the record.
    pub text_span: (usize, usize),
    pub id: String,
    /// Byte range of an `id` value in the record (a null one when the id was generated).
    pub id_span: Option<(usize, usize)>,
    /// The id was generated, so the output must add it.
    pub generated_id: bool,
}

/// The id rule shared by both passes.
pub fn doc_id(id: Option<&str>, prefix: &str, line: u64) -> (String, bool) {
    match id {
        Some(s) => (s.to_owned(), false),
        None => (format!("{prefix}:{line}"), true),
    }
}

/// Parse a record, its text at `text_key`; the error says what is wrong with it (the
/// caller adds file and line).
pub fn parse<'a>(
    bytes: &'a [u8],
    text_key: &str,
    prefix: &str,
    line: u64,
) -> Result<ParsedDoc<'a>, String> {
    let d = input::parse(bytes, text_key)?;
    let (id, generated_id) = doc_id(d.id.as_deref(), prefix, line);
    Ok(ParsedDoc {
        text: d.text,
        text_span: d.text_span,
        id,
        id_span: d.id_span,
        generated_id,
    })
}

/// JSON text of a string value.
fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

impl ParsedDoc<'_> {
    /// The output line: the input `bytes` with the text replaced by `text` (when given), a
    /// generated id written in place of a null one or appended, and `extra` fields (already
    /// JSON values) appended before the closing brace. Nothing else changes.
    pub fn splice(&self, bytes: &[u8], text: Option<&str>, extra: &[(&str, String)]) -> Vec<u8> {
        let mut edits: Vec<((usize, usize), String)> = Vec::new();
        if let Some(t) = text {
            edits.push((self.text_span, json_str(t)));
        }
        let mut appended = String::new();
        if self.generated_id {
            match self.id_span {
                Some(span) => edits.push((span, json_str(&self.id))),
                None => appended.push_str(&format!(",\"id\":{}", json_str(&self.id))),
            }
        }
        for (k, v) in extra {
            appended.push_str(&format!(",{}:{v}", json_str(k)));
        }
        // The record is one object (checked by the parser): its last '}' closes it.
        let close = bytes
            .iter()
            .rposition(|&b| b == b'}')
            .unwrap_or(bytes.len());
        if !appended.is_empty() {
            edits.push(((close, close), appended));
        }
        edits.sort_by_key(|(span, _)| *span);
        let mut out = Vec::with_capacity(bytes.len() + 64);
        let mut at = 0;
        for ((a, b), s) in edits {
            out.extend_from_slice(&bytes[at..a]);
            out.extend_from_slice(s.as_bytes());
            at = b;
        }
        out.extend_from_slice(&bytes[at..]);
        out
    }
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

    #[test]
    fn splicing_keeps_every_other_byte() {
        let line = br#"{"n": 123456789012345678901234567890, "text": "call me", "f": 1.50e3 , "id" : null }"#;
        let d = parse(line, "text", "dir/f", 3).unwrap();
        let out = d.splice(
            line,
            Some("call <PHONE> \"now\""),
            &[("reject_reason", "\"x\"".into())],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"n": 123456789012345678901234567890, "text": "call <PHONE> \"now\"", "f": 1.50e3 , "id" : "dir/f:3" ,"reject_reason":"x"}"#
        );
        let line = br#"{"z": 0.1000, "text": "t"}"#;
        let d = parse(line, "text", "f", 9).unwrap();
        assert_eq!(
            d.splice(line, None, &[]),
            br#"{"z": 0.1000, "text": "t","id":"f:9"}"#
        );
    }
}
