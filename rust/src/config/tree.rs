//! The YAML tree the config is merged in: deep merge, `key.sub=value` assignments, and
//! errors that name the dotted path of an unknown key or a bad value.

use super::Config;
use crate::{Error, Result};
use serde_yaml::{Mapping, Value};

/// YAML reads `{2: 0.2}` with an integer key; config keys are always strings.
pub(super) fn string_keys(v: Value) -> Value {
    match v {
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .map(|(k, v)| (Value::String(key_name(&k)), string_keys(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Deep merge: mappings merge key by key, anything else replaces.
pub(super) fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, over) => *slot = over,
    }
}

/// Apply one `key.sub=value` assignment; the value is parsed as YAML (`50`, `true`, `[a, b]`).
pub(super) fn apply_set(tree: &mut Value, set: &str) -> Result<()> {
    let (key, raw) = set
        .split_once('=')
        .ok_or_else(|| Error::Config(format!("--set {set:?}: expected key.sub=value")))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(Error::Config(format!("--set {set:?}: bad key {key:?}")));
    }
    let value: Value =
        serde_yaml::from_str(raw).map_err(|e| Error::Config(format!("--set {key}: {e}")))?;
    let mut over = value;
    for part in key.rsplit('.') {
        let mut m = Mapping::new();
        m.insert(Value::String(part.to_string()), over);
        over = Value::Mapping(m);
    }
    merge(tree, over);
    Ok(())
}

/// serde_yaml's type errors do not say where: find the leaf that fails on its own.
pub(super) fn name_bad_value(tree: &Value, err: serde_yaml::Error) -> String {
    let mut leaves = Vec::new();
    collect_leaves(tree, &mut Vec::new(), &mut leaves);
    for (path, value) in leaves {
        let mut single = value.clone();
        for part in path.iter().rev() {
            let mut m = Mapping::new();
            m.insert(Value::String(part.clone()), single);
            single = Value::Mapping(m);
        }
        if let Err(e) = serde_yaml::from_value::<Config>(single) {
            return format!("{}: {e}", path.join("."));
        }
    }
    err.to_string()
}

pub(super) fn collect_leaves(
    v: &Value,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Value)>,
) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, sub) in m {
                prefix.push(key_name(k));
                collect_leaves(sub, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push((prefix.clone(), v.clone())),
    }
}

pub(super) fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

pub(super) fn check_known_keys(tree: &Value, known: &Value, prefix: &str) -> Result<()> {
    let (Value::Mapping(t), Value::Mapping(k)) = (tree, known) else {
        return Ok(());
    };
    for (key, value) in t {
        let name = key_name(key);
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match k.get(Value::String(name.clone())) {
            // An empty mapping by default is a map of free keys (e.g. `language.quotas`).
            Some(Value::Mapping(sub)) if sub.is_empty() => {}
            Some(sub) => check_known_keys(value, sub, &path)?,
            None => {
                let expected: Vec<String> = k.keys().map(key_name).collect();
                return Err(Error::Config(format!(
                    "unknown key `{path}` (expected one of: {})",
                    expected.join(", ")
                )));
            }
        }
    }
    Ok(())
}
