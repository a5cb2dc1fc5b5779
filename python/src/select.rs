//! `detect_languages`, `classifier_train`, `classifier_eval` and `select_apply`: language
//! id, the domain classifier's model and re-applied selection, with the GIL released.

use crate::convert::to_py;
use crate::errors::map_err;
use cpt_engine::score::classifier::{evaluate, train, FeatureConfig, Model, TrainOptions};
use cpt_engine::score::langid;
use cpt_engine::select::reapply::{reapply, ReapplyOptions};
use pyo3::prelude::*;
use std::path::PathBuf;

/// (language code, confidence) of each text, on the calling thread (no pool).
#[pyfunction]
#[pyo3(signature = (texts, sample_chars=4096))]
fn detect_languages(py: Python<'_>, texts: Vec<String>, sample_chars: usize) -> Vec<(String, f64)> {
    py.detach(move || {
        texts
            .iter()
            .map(|t| {
                let (l, c) = langid::detect(t, sample_chars);
                (l.to_string(), c)
            })
            .collect()
    })
}

/// Train the domain classifier, write it to `output`, and return the training report.
#[pyfunction]
#[pyo3(signature = (positive, negative, output, bits=20, ngrams=2, epochs=10, lr=0.5, l2=1e-6, seed=1, threads=0))]
#[allow(clippy::too_many_arguments)]
fn classifier_train(
    py: Python<'_>,
    positive: Vec<String>,
    negative: Vec<String>,
    output: PathBuf,
    bits: u32,
    ngrams: u32,
    epochs: u32,
    lr: f64,
    l2: f64,
    seed: u64,
    threads: usize,
) -> PyResult<Py<PyAny>> {
    let o = TrainOptions {
        features: FeatureConfig {
            bits,
            ngrams,
            ..FeatureConfig::default()
        },
        epochs,
        learning_rate: lr,
        l2,
        seed,
        threads,
    };
    let report = py
        .detach(move || {
            let (m, r) = train(&positive, &negative, &o)?;
            m.save(&output)?;
            Ok::<_, cpt_engine::Error>(r)
        })
        .map_err(map_err)?;
    to_py(py, &report)
}

/// Precision, recall and AUC of a model on held-out positive and negative documents.
#[pyfunction]
#[pyo3(signature = (model, positive, negative, threshold=0.5))]
fn classifier_eval(
    py: Python<'_>,
    model: PathBuf,
    positive: Vec<String>,
    negative: Vec<String>,
    threshold: f64,
) -> PyResult<Py<PyAny>> {
    let r = py
        .detach(move || evaluate(&Model::load(&model)?, &positive, &negative, threshold))
        .map_err(map_err)?;
    to_py(py, &r)
}

/// `cpt-curate select`: re-apply policies to a run's kept documents and attributes.
#[pyfunction]
#[pyo3(signature = (attributes, policies, output, kept=None, threads=0, overwrite=false, zstd_level=3))]
#[allow(clippy::too_many_arguments)]
fn select_apply(
    py: Python<'_>,
    attributes: PathBuf,
    policies: Vec<String>,
    output: PathBuf,
    kept: Option<PathBuf>,
    threads: usize,
    overwrite: bool,
    zstd_level: i32,
) -> PyResult<Py<PyAny>> {
    let o = ReapplyOptions {
        attributes,
        kept,
        policies,
        output,
        threads,
        overwrite,
        zstd_level,
    };
    let r = py.detach(move || reapply(&o)).map_err(map_err)?;
    to_py(py, &r)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(detect_languages, m)?)?;
    m.add_function(wrap_pyfunction!(classifier_train, m)?)?;
    m.add_function(wrap_pyfunction!(classifier_eval, m)?)?;
    m.add_function(wrap_pyfunction!(select_apply, m)?)?;
    Ok(())
}
