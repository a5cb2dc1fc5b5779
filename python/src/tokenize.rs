//! Python face of the tokenize stage, the Megatron export and the Rust shard reader.

use crate::convert::{keys, to_py};
use crate::errors::map_err;
use cpt_engine::keywords::from_keys;
use cpt_engine::shard::{megatron, Dataset};
use cpt_engine::tokenize::{run, TokenizeOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;

/// One path or a list of paths / patterns, as strings for the engine.
fn input_list(inputs: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(p) = inputs.extract::<PathBuf>() {
        return Ok(vec![p.to_string_lossy().into_owned()]);
    }
    let list: Vec<PathBuf> = inputs.extract()?;
    Ok(list
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

/// Tokenize JSONL documents into token shards; `options` are `TokenizeOptions` keys
/// (unset ones keep the engine's defaults). Returns the report as a dict.
#[pyfunction]
#[pyo3(signature = (inputs, tokenizer, output, **options))]
fn tokenize(
    py: Python<'_>,
    inputs: &Bound<'_, PyAny>,
    tokenizer: PathBuf,
    output: PathBuf,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let mut opts: TokenizeOptions =
        from_keys("tokenize", keys("tokenize", options)?).map_err(map_err)?;
    opts.inputs = input_list(inputs)?;
    opts.tokenizer = tokenizer;
    opts.output = output;
    let report = py.detach(|| run(&opts)).map_err(map_err)?;
    to_py(py, &report)
}

/// The identity hash of a tokenizer.json, as recorded in manifests.
#[pyfunction]
fn tokenizer_hash(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| cpt_engine::tokenize::tokenizer_hash(&path))
        .map_err(map_err)
}

/// Write Megatron-LM PREFIX.bin / PREFIX.idx from a tokenized dataset: {bin, idx}.
#[pyfunction]
fn export_megatron(py: Python<'_>, manifest: PathBuf, prefix: PathBuf) -> PyResult<Py<PyAny>> {
    let files = py
        .detach(|| megatron::export_manifest(&manifest, &prefix))
        .map_err(map_err)?;
    to_py(py, &files)
}

/// Tokens [start, start + count) of a dataset, read by the Rust reader (checks every checksum).
#[pyfunction]
#[pyo3(signature = (manifest, start, count, expected_tokenizer_hash=None))]
fn read_tokens<'py>(
    py: Python<'py>,
    manifest: PathBuf,
    start: u64,
    count: u64,
    expected_tokenizer_hash: Option<String>,
) -> PyResult<Bound<'py, PyList>> {
    let tokens = py
        .detach(|| Dataset::open(&manifest, expected_tokenizer_hash.as_deref())?.read(start, count))
        .map_err(map_err)?;
    PyList::new(py, tokens)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(tokenizer_hash, m)?)?;
    m.add_function(wrap_pyfunction!(export_megatron, m)?)?;
    m.add_function(wrap_pyfunction!(read_tokens, m)?)?;
    Ok(())
}
