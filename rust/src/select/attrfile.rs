//! One line of an attribute file (FORMAT.md, "Attribute files"): `{"id": "<doc id>",
//! "attributes": {"<name>": <number or string>, ...}}`, one per kept document, in the order
//! of the kept shard of the same name. Label attributes (`crate::score::label`) are written
//! as strings; a value that is not finite is written as `null`.

use crate::score::label;
use serde_json::{Map, Value};

/// The attribute line of a document (without the newline).
pub fn line(id: &str, attrs: &[(String, f64)]) -> Vec<u8> {
    let mut m = Map::new();
    for (name, v) in attrs {
        let value = if label::is_label(name) {
            label::unpack(*v).map_or(Value::Null, Value::String)
        } else {
            serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number)
        };
        m.insert(name.clone(), value);
    }
    let mut obj = Map::new();
    obj.insert("id".into(), Value::String(id.to_string()));
    obj.insert("attributes".into(), Value::Object(m));
    serde_json::to_vec(&Value::Object(obj)).expect("JSON serializes")
}

/// Parse an attribute line: the id and the attributes (labels packed, `null` as NaN); the
/// error says what is wrong (the caller names the file and line).
pub fn parse(bytes: &[u8]) -> Result<(String, Vec<(String, f64)>), String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("bad JSON: {e}"))?;
    let Value::Object(mut obj) = v else {
        return Err("not a JSON object".into());
    };
    let id = match obj.remove("id") {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => return Err(format!("`id` is not a string ({other})")),
        None => return Err("missing field `id`".into()),
    };
    let attrs = match obj.remove("attributes") {
        Some(Value::Object(m)) => m,
        Some(_) => return Err("`attributes` is not an object".into()),
        None => return Err("missing field `attributes`".into()),
    };
    let mut out = Vec::with_capacity(attrs.len());
    for (name, value) in attrs {
        let v = match &value {
            Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            Value::Null => f64::NAN,
            Value::String(s) => label::pack(s).ok_or_else(|| {
                format!("attribute `{name}`: `{s}` is neither a number nor a label of 1-6 ASCII characters")
            })?,
            other => return Err(format!("attribute `{name}`: {other} is not a number or a string")),
        };
        out.push((name, v));
    }
    Ok((id, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip() {
        let attrs = vec![
            ("lang".to_string(), label::pack("eng").unwrap()),
            ("lang_conf".to_string(), 0.981_234_567_890_123),
            ("ppl".to_string(), f64::INFINITY),
        ];
        let l = line("a:1", &attrs);
        assert_eq!(
            String::from_utf8(l.clone()).unwrap(),
            r#"{"id":"a:1","attributes":{"lang":"eng","lang_conf":0.981234567890123,"ppl":null}}"#
        );
        let (id, back) = parse(&l).unwrap();
        assert_eq!(id, "a:1");
        assert_eq!(back[..2], attrs[..2]);
        assert!(back[2].1.is_nan());
        for (bad, why) in [
            (&b"{\"attributes\":{}}"[..], "missing field `id`"),
            (b"{\"id\":\"x\"}", "missing field `attributes`"),
            (b"{\"id\":\"x\",\"attributes\":{\"k\":[1]}}", "not a number"),
            (b"[1]", "not a JSON object"),
            (
                b"{\"id\":\"x\",\"attributes\":{\"k\":\"a long label\"}}",
                "neither a number",
            ),
        ] {
            assert!(parse(bad).unwrap_err().contains(why), "{why}");
        }
    }
}
