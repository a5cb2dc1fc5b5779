//! Near-duplicate removal: per-document sketches (computed in the parallel scan,
//! [`sketch`]) and the clustering of all sketches (the decide step, parallel inside,
//! [`cluster`]), confirmed by the set similarities of [`similarity`]. The first document
//! (input order) of every cluster is kept. This module holds the configuration, the plan
//! and the counters.

mod cluster;
mod similarity;
mod sketch;

pub use cluster::{dense_doc, link_members, Clustering, TableFacts};
pub use similarity::{exact_jaccard, LeU32s, SortedU32s};

use std::collections::BTreeMap;

use serde::Serialize;

use super::bandtable::ENTRY_BYTES;
use super::lsh::{
    optimal_params_weighted, LshPlan, CHECKED_FN_WEIGHT, CHECKED_FP_WEIGHT, FN_WEIGHT, FP_WEIGHT,
};
use super::minhash::{band_hashes, MinHashConfig, MinHasher, Signature};
use crate::Result;

/// How LSH candidates are confirmed before they are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every candidate is a near-duplicate.
    None,
    /// Jaccard estimated from bottom-k samples of the shingle hashes >= threshold.
    Sample,
    /// Exact Jaccard of the shingle-hash sets >= threshold.
    Exact,
}

impl Check {
    pub fn name(self) -> &'static str {
        match self {
            Check::None => "none",
            Check::Sample => "sample",
            Check::Exact => "exact",
        }
    }
}

/// Near-duplicate detection configured once, used by the scan (`sketch`) and the decide step (`cluster`).
#[derive(Debug, Clone)]
pub struct NearDup {
    cfg: MinHashConfig,
    hasher: MinHasher,
    bands: usize,
    rows: usize,
    check: Check,
}

/// One removed document: its ordinal, its cluster, and the ordinal of the kept document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NearDupHit {
    pub ordinal: u64,
    /// Clusters are numbered 0.. in the input order of their kept document.
    pub cluster: u64,
    pub kept: u64,
}

/// Counters for report.json.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NearDupStats {
    pub docs: u64,
    /// Docs with no shingle (empty after normalization): never near-duplicates.
    pub empty_docs: u64,
    pub bands: usize,
    pub rows: usize,
    /// How candidates were confirmed: "none", "signature" or "exact".
    pub check: &'static str,
    /// Distinct (doc, doc) pairs sharing a bucket, as linked (star, plus chain when checked).
    pub candidate_pairs: u64,
    /// Candidate pairs whose checked Jaccard reached the threshold (when checked).
    pub verified_pairs: Option<u64>,
    /// 1 - verified / candidate pairs: the share of LSH candidates the check rejected.
    pub estimated_fp_rate: Option<f64>,
    /// Clusters of two or more documents.
    pub clusters: u64,
    /// Documents removed as near-duplicates.
    pub duplicates: u64,
    /// cluster size -> number of clusters of that size.
    pub cluster_sizes: BTreeMap<u64, u64>,
    pub largest_cluster: u64,
    /// Merges that would exceed `max_cluster_size`; `refused_merges` of them were skipped.
    pub oversize_merges: u64,
    pub refused_merges: u64,
    /// Peak band-table bytes held in memory per document (12 per band when nothing spills).
    pub index_bytes_per_doc: f64,
    pub spilled: bool,
    pub spill_runs: u64,
}

/// The result of clustering: every removed document, in input order, and the counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NearDupOutcome {
    pub duplicates: Vec<NearDupHit>,
    pub stats: NearDupStats,
}

impl NearDup {
    pub fn new(cfg: &MinHashConfig) -> Result<Self> {
        cfg.validate()?;
        let check = if cfg.verify {
            Check::Exact
        } else if cfg.sample_check {
            Check::Sample
        } else {
            Check::None
        };
        let (fp_w, fn_w) = Self::weights(check);
        let (bands, rows) = match (cfg.bands, cfg.rows) {
            (Some(b), Some(r)) => (b, r),
            _ => optimal_params_weighted(cfg.threshold, cfg.num_perm, fp_w, fn_w),
        };
        Ok(NearDup {
            cfg: cfg.clone(),
            hasher: MinHasher::from_config(cfg),
            bands,
            rows,
            check,
        })
    }

    fn weights(check: Check) -> (f64, f64) {
        if check == Check::None {
            (FP_WEIGHT, FN_WEIGHT)
        } else {
            (CHECKED_FP_WEIGHT, CHECKED_FN_WEIGHT)
        }
    }

    pub fn check(&self) -> Check {
        self.check
    }

    pub fn config(&self) -> &MinHashConfig {
        &self.cfg
    }

    pub fn bands(&self) -> usize {
        self.bands
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn hasher(&self) -> &MinHasher {
        &self.hasher
    }

    /// What clustering `n_docs` documents will do and cost.
    pub fn plan(&self, n_docs: u64) -> LshPlan {
        let mut plan = LshPlan::new(
            self.cfg.threshold,
            self.cfg.num_perm,
            self.bands,
            self.rows,
            n_docs,
        );
        (plan.fp_weight, plan.fn_weight) = Self::weights(self.check);
        plan.check = self.check.name().into();
        if self.check == Check::Sample {
            plan.memory_estimate += n_docs * 4 * self.cfg.sample_size as u64;
        }
        if self.cfg.verify {
            // Shingle-hash sets: about 4 bytes per word of a typical document; count 2 KiB.
            plan.memory_estimate += n_docs * 2048;
        }
        if let Some(limit) = self.cfg.mem_limit {
            plan.will_spill = n_docs * plan.index_bytes_per_doc > limit.0;
        }
        plan
    }

    /// Band hashes of a signature under this configuration.
    pub fn band_hashes(&self, sig: &Signature) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.bands);
        band_hashes(sig, self.bands, self.rows, &mut out);
        out
    }
}

/// Bytes of one band-table entry (exported for memory reporting).
pub const INDEX_ENTRY_BYTES: usize = ENTRY_BYTES;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sketches_are_errors_not_panics() {
        let nd = NearDup::new(&MinHashConfig::default()).unwrap();
        let err = nd
            .cluster([(0u64, vec![1u8, 2, 3])], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("document 0"), "{err}");
        let s = nd.sketch("some words here and there again");
        let err = nd
            .cluster([(5u64, s.clone()), (5u64, s)], None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("increase"), "{err}");
    }

    #[test]
    fn identical_and_empty_documents() {
        let nd = NearDup::new(&MinHashConfig::default()).unwrap();
        let text = "the quick brown fox jumps over the lazy dog again and again";
        let sketches = vec![
            (10u64, nd.sketch("")),
            (11, nd.sketch(text)),
            (12, nd.sketch("")),
            (14, nd.sketch(text)),
        ];
        let out = nd.cluster(sketches, None).unwrap();
        assert_eq!(
            out.duplicates,
            vec![NearDupHit {
                ordinal: 14,
                cluster: 0,
                kept: 11
            }]
        );
        assert_eq!(out.stats.empty_docs, 2);
        assert_eq!(out.stats.cluster_sizes.get(&2), Some(&1));
    }
}
