//! Python face of the tokenize stage and of the Rust shard reader.

use crate::errors::to_py;
use cpt_engine::shard::{megatron, Dataset};
use cpt_engine::tokenize::{run, TokenizeOptions};
use pyo3::prelude::*;
use pyo3::types::PyList;
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

/// Tokenize JSONL documents into token shards; returns the report as a dict.
#[pyfunction]
#[pyo3(signature = (inputs, tokenizer, output, *, threads=None, shard_tokens=None, frame_tokens=None,
    zstd_level=None, eos_token=None, text_key=None, megatron=None, config_hash=None, top_words=None,
    batch_bytes=None, progress=false))]
#[allow(clippy::too_many_arguments)]
fn tokenize(
    py: Python<'_>,
    inputs: &Bound<'_, PyAny>,
    tokenizer: PathBuf,
    output: PathBuf,
    threads: Option<usize>,
    shard_tokens: Option<u64>,
    frame_tokens: Option<u32>,
    zstd_level: Option<i32>,
    eos_token: Option<String>,
    text_key: Option<String>,
    megatron: Option<PathBuf>,
    config_hash: Option<String>,
    top_words: Option<usize>,
    batch_bytes: Option<usize>,
    progress: bool,
) -> PyResult<Py<PyAny>> {
    let d = TokenizeOptions::default();
    let opts = TokenizeOptions {
        inputs: input_list(inputs)?,
        tokenizer,
        output,
        threads,
        shard_tokens: shard_tokens.unwrap_or(d.shard_tokens),
        frame_tokens: frame_tokens.unwrap_or(d.frame_tokens),
        zstd_level: zstd_level.unwrap_or(d.zstd_level),
        eos_token,
        text_key: text_key.unwrap_or(d.text_key),
        megatron,
        config_hash,
        top_words: top_words.unwrap_or(d.top_words),
        batch_bytes: batch_bytes.unwrap_or(d.batch_bytes),
        progress,
        ..d
    };
    let report = py.detach(|| run(&opts)).map_err(to_py)?;
    let json = serde_json::to_string(&report).expect("report serializes");
    Ok(py.import("json")?.call_method1("loads", (json,))?.unbind())
}

/// The identity hash of a tokenizer.json, as recorded in manifests.
#[pyfunction]
fn tokenizer_hash(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| cpt_engine::tokenize::tokenizer_hash(&path))
        .map_err(to_py)
}

/// Write Megatron-LM PREFIX.bin / PREFIX.idx from a tokenized dataset; returns both paths.
#[pyfunction]
fn export_megatron(
    py: Python<'_>,
    manifest: PathBuf,
    prefix: PathBuf,
) -> PyResult<(String, String)> {
    py.detach(|| {
        let mut ds = Dataset::open(&manifest, None)?;
        let (bin, idx) = megatron::export(&mut ds, &prefix)?;
        Ok((
            bin.to_string_lossy().into_owned(),
            idx.to_string_lossy().into_owned(),
        ))
    })
    .map_err(to_py)
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
        .map_err(to_py)?;
    PyList::new(py, tokens)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(tokenizer_hash, m)?)?;
    m.add_function(wrap_pyfunction!(export_megatron, m)?)?;
    m.add_function(wrap_pyfunction!(read_tokens, m)?)?;
    Ok(())
}
