//! `cpt._engine` near-dup functions: thin wrappers over `cpt_engine::dedup::batch`.
//! Configs arrive as mappings of `minhash` keys (unset keys keep the engine's defaults),
//! results leave as dicts; signatures travel as little-endian bytes for numpy.

use std::path::PathBuf;

use cpt_engine::dedup::batch::{self, SignatureIndex};
use cpt_engine::dedup::MinHashConfig;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::convert::{keys, to_py};
use crate::errors::map_err;

fn config(mapping: Option<&Bound<'_, PyDict>>) -> PyResult<MinHashConfig> {
    MinHashConfig::from_keys(keys("minhash", mapping)?).map_err(map_err)
}

/// The engine's default `minhash` config.
#[pyfunction]
fn minhash_defaults(py: Python<'_>) -> PyResult<Py<PyAny>> {
    to_py(py, &MinHashConfig::default())
}

/// Signatures of raw texts as little-endian bytes (n x num_perm values of hash_bits/8 bytes).
#[pyfunction]
#[pyo3(signature = (texts, config=None, threads=0))]
fn minhash_signatures(
    py: Python<'_>,
    texts: Vec<String>,
    config: Option<&Bound<'_, PyDict>>,
    threads: usize,
) -> PyResult<Py<PyBytes>> {
    let cfg = self::config(config)?;
    let bytes = py
        .detach(|| batch::signatures(&cfg, &texts, threads))
        .map_err(map_err)?;
    Ok(PyBytes::new(py, &bytes).unbind())
}

/// The LSH plan of a config for `n_docs` documents: its fields and its printed `text`.
#[pyfunction]
#[pyo3(signature = (config=None, n_docs=0))]
fn minhash_plan(
    py: Python<'_>,
    config: Option<&Bound<'_, PyDict>>,
    n_docs: u64,
) -> PyResult<Py<PyAny>> {
    let cfg = self::config(config)?;
    // The band choice scans every bands x rows pair: milliseconds, without the GIL.
    let plan = py.detach(|| batch::plan(&cfg, n_docs)).map_err(map_err)?;
    to_py(py, &plan)
}

/// Near-dup of raw texts: {docs, removed: {ordinal, cluster, kept}, stats, plan}.
#[pyfunction]
#[pyo3(signature = (texts, config=None, threads=0, spill_dir=None))]
fn minhash_dedup(
    py: Python<'_>,
    texts: Vec<String>,
    config: Option<&Bound<'_, PyDict>>,
    threads: usize,
    spill_dir: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let cfg = self::config(config)?;
    let out = py
        .detach(|| batch::dedup_list(&cfg, &texts, threads, spill_dir.as_deref()))
        .map_err(map_err)?;
    to_py(py, &out)
}

/// Near-dup of a JSONL file (plain, .zst or .gz): as `minhash_dedup`, ordinals are records.
#[pyfunction]
#[pyo3(signature = (path, config=None, threads=0, spill_dir=None))]
fn minhash_dedup_jsonl(
    py: Python<'_>,
    path: PathBuf,
    config: Option<&Bound<'_, PyDict>>,
    threads: usize,
    spill_dir: Option<PathBuf>,
) -> PyResult<Py<PyAny>> {
    let cfg = self::config(config)?;
    let out = py
        .detach(|| batch::dedup_file(&cfg, &path, threads, spill_dir.as_deref()))
        .map_err(map_err)?;
    to_py(py, &out)
}

/// An LSH index over signatures given as little-endian bytes; keys live on the Python side.
#[pyclass(name = "LshIndex", module = "cpt._engine")]
struct PyLshIndex {
    inner: SignatureIndex,
}

#[pymethods]
impl PyLshIndex {
    #[new]
    #[pyo3(signature = (config=None))]
    fn new(py: Python<'_>, config: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let cfg = self::config(config)?;
        let inner = py.detach(|| SignatureIndex::new(&cfg)).map_err(map_err)?;
        Ok(PyLshIndex { inner })
    }

    #[getter]
    fn bands(&self) -> usize {
        self.inner.bands()
    }

    #[getter]
    fn rows(&self) -> usize {
        self.inner.rows()
    }

    /// Add a signature; returns its slot number.
    fn insert(&mut self, sig: &[u8]) -> PyResult<u32> {
        self.inner.insert(sig).map_err(map_err)
    }

    /// Slots sharing at least one band with the signature, ascending.
    fn query(&self, sig: &[u8]) -> PyResult<Vec<u32>> {
        self.inner.query(sig).map_err(map_err)
    }

    /// The plan of the index at its current size (fields and printed `text`).
    fn plan(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.inner.plan())
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(minhash_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_signatures, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_plan, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_dedup, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_dedup_jsonl, m)?)?;
    m.add_class::<PyLshIndex>()?;
    Ok(())
}
