//! Python face of vocabulary extension (`cpt_engine::vocab`).

use crate::convert::to_py;
use crate::errors::map_err;
use cpt_engine::vocab::{extend, ExtendOptions};
use pyo3::prelude::*;
use std::path::PathBuf;

/// Learn `new_tokens` BPE merges from JSONL documents on top of a byte-level BPE tokenizer.json;
/// writes `output/tokenizer.json` and `output/extend_report.json`, returns the report as a dict.
#[pyfunction]
#[pyo3(signature = (tokenizer, inputs, output, new_tokens, *, min_frequency=None, min_word_docs=None, eval_domain=None,
    eval_general=None, protect=None, protect_exact=false, text_key=None, threads=None, allow_fewer=false))]
#[allow(clippy::too_many_arguments)]
fn extend_tokenizer(
    py: Python<'_>,
    tokenizer: PathBuf,
    inputs: Vec<PathBuf>,
    output: PathBuf,
    new_tokens: usize,
    min_frequency: Option<u64>,
    min_word_docs: Option<u64>,
    eval_domain: Option<Vec<PathBuf>>,
    eval_general: Option<Vec<PathBuf>>,
    protect: Option<Vec<PathBuf>>,
    protect_exact: bool,
    text_key: Option<String>,
    threads: Option<usize>,
    allow_fewer: bool,
) -> PyResult<Py<PyAny>> {
    let strings = |v: Vec<PathBuf>| -> Vec<String> {
        v.into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    };
    let d = ExtendOptions::default();
    let opts = ExtendOptions {
        tokenizer,
        inputs: strings(inputs),
        output,
        new_tokens,
        min_frequency: min_frequency.unwrap_or(d.min_frequency),
        min_word_docs: min_word_docs.unwrap_or(d.min_word_docs),
        eval_domain: strings(eval_domain.unwrap_or_default()),
        eval_general: strings(eval_general.unwrap_or_default()),
        protect: strings(protect.unwrap_or_default()),
        protect_exact,
        text_key: text_key.unwrap_or(d.text_key.clone()),
        threads,
        allow_fewer,
        ..d
    };
    let report = py.detach(|| extend(&opts)).map_err(map_err)?;
    to_py(py, &report)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(extend_tokenizer, m)?)?;
    Ok(())
}
