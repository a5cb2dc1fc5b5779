//! The two conversions every binding uses: a Python mapping of keys into a JSON value
//! for the engine's `from_keys`, and an engine result out as plain Python objects.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;

use crate::errors::ConfigError;

/// A mapping of keyword arguments as a JSON value; `what` names it in errors.
pub fn keys(what: &str, mapping: Option<&Bound<'_, PyDict>>) -> PyResult<serde_json::Value> {
    match mapping {
        None => Ok(serde_json::Value::Object(serde_json::Map::new())),
        Some(m) => pythonize::depythonize(m.as_any())
            .map_err(|e| ConfigError::new_err(format!("config: {what}: {e}"))),
    }
}

/// A serializable engine result as dicts, lists and numbers: through `serde_json::Value`,
/// so it reads exactly as the JSON the engine writes (string map keys, NaN as None).
pub fn to_py<T: Serialize>(py: Python<'_>, value: &T) -> PyResult<Py<PyAny>> {
    let json = serde_json::to_value(value).expect("engine results serialize");
    Ok(pythonize::pythonize(py, &json)?.unbind())
}
