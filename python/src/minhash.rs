//! `cpt._engine` near-dup functions: thin wrappers over `cpt_engine::dedup`.
//! Configs arrive as JSON text (a `MinHashConfig`), results leave as bytes / tuples / JSON.

use std::path::PathBuf;

use cpt_engine::dedup::batch::{dedup_texts, in_pool, signatures_le};
use cpt_engine::dedup::lsh::{
    optimal_params_weighted, CHECKED_FN_WEIGHT, CHECKED_FP_WEIGHT, FN_WEIGHT, FP_WEIGHT,
};
use cpt_engine::dedup::minhash::{band_hashes, Signature};
use cpt_engine::dedup::nearfile::dedup_jsonl;
use cpt_engine::dedup::{LshIndex, MinHashConfig, MinHasher, NearDup, NearDupOutcome, Shingle};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{to_py, ConfigError};

type Hit = (u64, u64, u64);

fn parse_config(config_json: &str) -> PyResult<MinHashConfig> {
    let cfg: MinHashConfig = serde_json::from_str(config_json)
        .map_err(|e| ConfigError::new_err(format!("config: minhash: {e}")))?;
    cfg.validate().map_err(to_py)?;
    Ok(cfg)
}

fn parse_shingle(shingle: &str) -> PyResult<Shingle> {
    match shingle {
        "word" => Ok(Shingle::Word),
        "char" => Ok(Shingle::Char),
        other => Err(ConfigError::new_err(format!(
            "config: minhash.shingle: expected \"word\" or \"char\", got {other:?}"
        ))),
    }
}

fn outcome_tuple(out: NearDupOutcome) -> PyResult<(Vec<Hit>, String)> {
    let hits = out
        .duplicates
        .iter()
        .map(|h| (h.ordinal, h.cluster, h.kept))
        .collect();
    let stats =
        serde_json::to_string(&out.stats).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((hits, stats))
}

/// Signatures of raw texts as little-endian bytes (n x num_perm values of hash_bits/8 bytes).
#[pyfunction]
#[pyo3(signature = (texts, num_perm, ngram, shingle, seed, hash_bits, threads))]
#[allow(clippy::too_many_arguments)]
fn minhash_signatures(
    py: Python<'_>,
    texts: Vec<String>,
    num_perm: usize,
    ngram: usize,
    shingle: &str,
    seed: u64,
    hash_bits: u32,
    threads: usize,
) -> PyResult<Py<PyBytes>> {
    let cfg = MinHashConfig {
        num_perm,
        ngram,
        shingle: parse_shingle(shingle)?,
        hash_bits,
        seed,
        ..Default::default()
    };
    cfg.validate().map_err(to_py)?;
    let hasher = MinHasher::from_config(&cfg);
    let bytes = py
        .detach(|| in_pool(threads, || signatures_le(&hasher, &texts)))
        .map_err(to_py)?;
    Ok(PyBytes::new(py, &bytes).unbind())
}

/// (bands, rows) minimising the weighted S-curve error areas; `checked` = candidates are verified later.
#[pyfunction]
fn minhash_lsh_params(threshold: f64, num_perm: usize, checked: bool) -> PyResult<(usize, usize)> {
    let cfg = MinHashConfig {
        threshold,
        num_perm,
        ..Default::default()
    };
    cfg.validate().map_err(to_py)?;
    let (fp, fnw) = if checked {
        (CHECKED_FP_WEIGHT, CHECKED_FN_WEIGHT)
    } else {
        (FP_WEIGHT, FN_WEIGHT)
    };
    Ok(optimal_params_weighted(threshold, num_perm, fp, fnw))
}

/// The plan (as JSON) and its printable form for a config and a document count.
#[pyfunction]
fn minhash_plan(config_json: &str, n_docs: u64) -> PyResult<(String, String)> {
    let nd = NearDup::new(&parse_config(config_json)?).map_err(to_py)?;
    let plan = nd.plan(n_docs);
    let json = serde_json::to_string(&plan).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((json, plan.to_string()))
}

/// Near-dup of raw texts: ([(index, cluster, kept index)], stats JSON).
#[pyfunction]
#[pyo3(signature = (texts, config_json, threads, spill_dir=None))]
fn minhash_dedup(
    py: Python<'_>,
    texts: Vec<String>,
    config_json: &str,
    threads: usize,
    spill_dir: Option<PathBuf>,
) -> PyResult<(Vec<Hit>, String)> {
    let nd = NearDup::new(&parse_config(config_json)?).map_err(to_py)?;
    let out = py
        .detach(|| in_pool(threads, || dedup_texts(&nd, &texts, spill_dir.as_deref())))
        .map_err(to_py)?
        .map_err(to_py)?;
    outcome_tuple(out)
}

/// Near-dup of a JSONL file (plain, .zst or .gz): (records, [(record, cluster, kept record)], stats JSON).
#[pyfunction]
#[pyo3(signature = (path, config_json, threads, spill_dir=None))]
fn minhash_dedup_jsonl(
    py: Python<'_>,
    path: PathBuf,
    config_json: &str,
    threads: usize,
    spill_dir: Option<PathBuf>,
) -> PyResult<(u64, Vec<Hit>, String)> {
    let nd = NearDup::new(&parse_config(config_json)?).map_err(to_py)?;
    let (n, out) = py
        .detach(|| in_pool(threads, || dedup_jsonl(&nd, &path, spill_dir.as_deref())))
        .map_err(to_py)?
        .map_err(to_py)?;
    let (hits, stats) = outcome_tuple(out)?;
    Ok((n, hits, stats))
}

/// An LSH index over signatures given as little-endian bytes; keys live on the Python side.
#[pyclass(name = "LshIndex", module = "cpt._engine")]
struct PyLshIndex {
    inner: LshIndex,
    num_perm: usize,
    hash_bits: u32,
}

impl PyLshIndex {
    fn bands_of(&self, sig: &[u8]) -> PyResult<Vec<u64>> {
        let width = self.hash_bits as usize / 8;
        if sig.len() != self.num_perm * width {
            return Err(PyValueError::new_err(format!(
                "signature has {} bytes, expected {} ({} values of {} bits)",
                sig.len(),
                self.num_perm * width,
                self.num_perm,
                self.hash_bits
            )));
        }
        let sig = if width == 4 {
            Signature::U32(
                sig.chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            )
        } else {
            Signature::U64(
                sig.chunks_exact(8)
                    .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                    .collect(),
            )
        };
        let mut out = Vec::with_capacity(self.inner.bands());
        band_hashes(&sig, self.inner.bands(), self.inner.rows(), &mut out);
        Ok(out)
    }
}

#[pymethods]
impl PyLshIndex {
    #[new]
    fn new(num_perm: usize, bands: usize, rows: usize, hash_bits: u32) -> PyResult<Self> {
        let cfg = MinHashConfig {
            num_perm,
            bands: Some(bands),
            rows: Some(rows),
            hash_bits,
            ..Default::default()
        };
        cfg.validate().map_err(to_py)?;
        Ok(PyLshIndex {
            inner: LshIndex::new(bands, rows),
            num_perm,
            hash_bits,
        })
    }

    /// Add a signature; returns its slot number.
    fn insert(&mut self, sig: &[u8]) -> PyResult<u32> {
        let bands = self.bands_of(sig)?;
        Ok(self.inner.insert(&bands))
    }

    /// Slots sharing at least one band with the signature, ascending.
    fn query(&self, sig: &[u8]) -> PyResult<Vec<u32>> {
        let bands = self.bands_of(sig)?;
        Ok(self.inner.query(&bands))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(minhash_signatures, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_lsh_params, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_plan, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_dedup, m)?)?;
    m.add_function(wrap_pyfunction!(minhash_dedup_jsonl, m)?)?;
    m.add_class::<PyLshIndex>()?;
    Ok(())
}
