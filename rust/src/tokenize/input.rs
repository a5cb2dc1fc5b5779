//! Input documents for tokenization: expand files, directories and globs (in argument order),
//! read each JSONL file through `crate::io::open` (plain, zstd or gzip by magic bytes), and pull
//! the text field of each line. A bad line is an error naming file and line.

use crate::{Error, Result};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

const JSONL_SUFFIXES: [&str; 4] = [".jsonl", ".jsonl.zst", ".jsonl.gz", ".jsonl.zstd"];

/// Expand inputs (files, directories searched recursively for JSONL files, glob patterns) into
/// a sorted, duplicate-free file list in argument order.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        let mut found = Vec::new();
        if path.is_dir() {
            walk(path, &mut found)?;
            if found.is_empty() {
                return Err(Error::Config(format!(
                    "input directory {input} holds no .jsonl/.jsonl.zst/.jsonl.gz files"
                )));
            }
        } else if path.exists() {
            found.push(path.to_path_buf());
        } else if input.contains(['*', '?', '[']) {
            let paths = glob::glob(input)
                .map_err(|e| Error::Config(format!("bad input pattern {input}: {e}")))?;
            for p in paths {
                found.push(p.map_err(|e| Error::io(e.path().to_path_buf(), e.into()))?);
            }
            if found.is_empty() {
                return Err(Error::Config(format!(
                    "input pattern {input} matches no file"
                )));
            }
        } else {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "input not found"),
            ));
        }
        found.sort();
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Config("no input files given".into()));
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| JSONL_SUFFIXES.iter().any(|s| n.ends_with(s)))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Calls `f(line_number, text)` for every document of a JSONL file, in order. Blank lines are
/// skipped; anything else that is not an object with a string `text_key` is an error.
pub fn for_each_doc(
    path: &Path,
    text_key: &str,
    mut f: impl FnMut(u64, String) -> Result<()>,
) -> Result<()> {
    let (mut reader, _) = crate::io::open(path)?;
    let mut line = Vec::with_capacity(1 << 16);
    let mut lineno = 0u64;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                msg: format!("after line {lineno}: cannot read: {e} (truncated or corrupt file?)"),
            })?;
        if n == 0 {
            return Ok(());
        }
        lineno += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = parse_text(&line, text_key).map_err(|msg| Error::Input {
            path: path.to_path_buf(),
            line: lineno,
            msg,
        })?;
        f(lineno, text)?;
    }
}

/// The string at `text_key` of one JSON object line.
pub fn parse_text(line: &[u8], text_key: &str) -> std::result::Result<String, String> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let text = TextField { key: text_key }
        .deserialize(&mut de)
        .map_err(|e| format!("bad JSON: {e}"))?;
    de.end().map_err(|e| format!("bad JSON: {e}"))?;
    text.ok_or_else(|| format!("no string field \"{text_key}\""))
}

/// Deserializes an object keeping only the string under `key` (other fields are skipped unparsed).
struct TextField<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for TextField<'_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TextField<'_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object with a string field \"{}\"", self.key)
    }
    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut text = None;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == self.key {
                text = Some(map.next_value::<String>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_and_rejects_bad_lines() {
        assert_eq!(
            parse_text(br#"{"id":1,"text":"a\nb","meta":{"x":[1]}}"#, "text").unwrap(),
            "a\nb"
        );
        assert!(parse_text(br#"{"id":1}"#, "text")
            .unwrap_err()
            .contains("no string field"));
        assert!(parse_text(br#"{"text":5}"#, "text").is_err());
        assert!(parse_text(br#"[1,2]"#, "text").is_err());
        assert!(parse_text(b"{\"text\":\"a\"", "text").is_err());
        assert!(parse_text(b"{\"text\":\"\xff\"}", "text").is_err());
        assert!(parse_text(br#"{"text":"a"} x"#, "text").is_err());
    }
}
