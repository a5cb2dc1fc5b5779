//! Typed option structs from keyword arguments (the Python faces pass a mapping of keys):
//! unset keys keep the struct's `#[serde(default)]` values, and every error names the key
//! as `section.key`, so the Python side neither repeats defaults nor writes error texts.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// Deserialize `keys` (a JSON object) into `T`; `T` must deserialize from any subset of
/// its keys (`#[serde(default)]`), and should deny unknown ones.
pub fn from_keys<T: DeserializeOwned>(section: &str, keys: Value) -> Result<T> {
    let Value::Object(map) = keys else {
        return Err(Error::Config(format!(
            "{section}: expected a mapping of keys, got {keys}"
        )));
    };
    // Each key alone first: serde's message names the type, not the key it is about.
    for (key, value) in &map {
        let one = Map::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = serde_json::from_value::<T>(Value::Object(one)) {
            return Err(Error::Config(format!("{section}.{key}: {e}")));
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| Error::Config(format!("{section}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Opts {
        size: u32,
        name: String,
    }

    impl Default for Opts {
        fn default() -> Self {
            Opts {
                size: 7,
                name: "x".into(),
            }
        }
    }

    #[test]
    fn unset_keys_keep_defaults_and_errors_name_the_key() {
        let o: Opts = from_keys("s", json!({"name": "y"})).unwrap();
        assert_eq!(
            o,
            Opts {
                size: 7,
                name: "y".into()
            }
        );
        let err = from_keys::<Opts>("s", json!({"name": "y", "size": -1})).unwrap_err();
        assert!(err.to_string().starts_with("config: s.size: "), "{err}");
        let err = from_keys::<Opts>("s", json!({"sise": 1})).unwrap_err();
        assert!(err.to_string().contains("s.sise: unknown field"), "{err}");
        let err = from_keys::<Opts>("s", json!([1])).unwrap_err();
        assert!(err.to_string().contains("expected a mapping"), "{err}");
    }
}
