//! Python face of the n-gram language model (`cpt_engine::score::ngram`): train a `.cptlm`
//! model, score texts with one.

use crate::convert::to_py;
use crate::errors::{map_err, ConfigError};
use cpt_engine::score::ngram::{train, LmModel, Smoothing, TrainOptions};
use pyo3::prelude::*;
use std::path::PathBuf;

/// Train a word n-gram model on JSONL documents and write it to `output`; returns the
/// training report as a dict.
#[pyfunction]
#[pyo3(signature = (inputs, output, *, order=None, smoothing=None, min_count=None, prune=None,
    alpha=None, max_ngrams=None, text_key=None, threads=None))]
#[allow(clippy::too_many_arguments)]
fn lm_train(
    py: Python<'_>,
    inputs: Vec<PathBuf>,
    output: PathBuf,
    order: Option<usize>,
    smoothing: Option<String>,
    min_count: Option<u64>,
    prune: Option<Vec<u64>>,
    alpha: Option<f64>,
    max_ngrams: Option<u64>,
    text_key: Option<String>,
    threads: Option<usize>,
) -> PyResult<Py<PyAny>> {
    let d = TrainOptions::default();
    let smoothing = match smoothing {
        None => d.smoothing,
        Some(s) => serde_json::from_value::<Smoothing>(serde_json::Value::String(s.clone()))
            .map_err(|_| {
                ConfigError::new_err(format!(
                    "config: lm train: smoothing {s:?} is not kneser-ney or stupid-backoff"
                ))
            })?,
    };
    let opts = TrainOptions {
        inputs: inputs
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect(),
        output,
        order: order.unwrap_or(d.order),
        smoothing,
        min_count: min_count.unwrap_or(d.min_count),
        prune: prune.unwrap_or_default(),
        alpha: alpha.unwrap_or(d.alpha),
        max_ngrams: max_ngrams.unwrap_or(d.max_ngrams),
        text_key: text_key.unwrap_or(d.text_key.clone()),
        threads,
        ..d
    };
    let report = py.detach(|| train(&opts)).map_err(map_err)?;
    to_py(py, &report)
}

/// Perplexity of each text under the `.cptlm` model at `model` (normalized as the engine's
/// scan stages normalize it).
#[pyfunction]
fn lm_perplexity(py: Python<'_>, model: PathBuf, texts: Vec<String>) -> PyResult<Vec<f64>> {
    py.detach(|| {
        let m = LmModel::load(&model)?;
        Ok(texts.iter().map(|t| m.score_text(t).perplexity()).collect())
    })
    .map_err(map_err)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(lm_train, m)?)?;
    m.add_function(wrap_pyfunction!(lm_perplexity, m)?)?;
    Ok(())
}
