//! In-memory batch entry points for library users (the Python `cpt.minhash`
//! module): signatures of many texts, near-dup of a list of texts or of a file, the
//! plan of a config, an LSH index over encoded signatures, and running work on a
//! thread pool of a chosen size. Each takes a validated `MinHashConfig`, so the
//! binding only converts arguments and results.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::lsh::{LshIndex, LshPlan};
use super::minhash::{MinHashConfig, MinHasher, Signature};
use super::neardup::{NearDup, NearDupOutcome, NearDupStats};
use super::nearfile::dedup_jsonl;
use crate::{Error, Result};

/// Run `f` on a rayon pool of `threads` threads (0 = one per core).
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::Config(format!("threads: cannot start {threads} threads: {e}")))?;
    Ok(pool.install(f))
}

/// Signatures of raw texts (normalized here), as one little-endian row-major
/// matrix of `texts.len()` x `num_perm` values of `hash_bits / 8` bytes.
pub fn signatures_le<S: AsRef<str> + Sync>(hasher: &MinHasher, texts: &[S]) -> Vec<u8> {
    let width = hasher.num_perm() * (hasher.hash_bits() as usize / 8);
    let mut out = vec![0u8; texts.len() * width];
    if width == 0 {
        return out;
    }
    out.par_chunks_mut(width)
        .zip(texts.par_iter())
        .with_min_len(16)
        .for_each_init(
            || (String::new(), Vec::new()),
            |(scratch, hashes), (row, text)| {
                hashes.clear();
                hasher.shingle_hashes_raw(text.as_ref(), scratch, hashes);
                match hasher.signature_of_hashes(hashes) {
                    Signature::U32(v) => {
                        for (dst, x) in row.chunks_exact_mut(4).zip(v) {
                            dst.copy_from_slice(&x.to_le_bytes());
                        }
                    }
                    Signature::U64(v) => {
                        for (dst, x) in row.chunks_exact_mut(8).zip(v) {
                            dst.copy_from_slice(&x.to_le_bytes());
                        }
                    }
                }
            },
        );
    out
}

/// Near-dup of raw texts (normalized here); ordinals in the outcome are list indices.
pub fn dedup_texts<S: AsRef<str> + Sync>(
    nd: &NearDup,
    texts: &[S],
    spill_dir: Option<&std::path::Path>,
) -> Result<NearDupOutcome> {
    let sketches: Vec<Vec<u8>> = texts
        .par_iter()
        .with_min_len(16)
        .map(|t| nd.sketch_raw(t.as_ref()))
        .collect();
    nd.cluster(
        sketches.iter().enumerate().map(|(i, s)| (i as u64, s)),
        spill_dir,
    )
}

/// Signatures of raw texts under `cfg` on `threads` threads (0 = one per core): the
/// matrix of [`signatures_le`].
pub fn signatures<S: AsRef<str> + Sync>(
    cfg: &MinHashConfig,
    texts: &[S],
    threads: usize,
) -> Result<Vec<u8>> {
    cfg.validate()?;
    let hasher = MinHasher::from_config(cfg);
    in_pool(threads, || signatures_le(&hasher, texts))
}

/// The plan for `n_docs` documents, with its printed form.
#[derive(Debug, Clone, Serialize)]
pub struct PlanSummary {
    #[serde(flatten)]
    pub plan: LshPlan,
    /// The plan as printed before a run.
    pub text: String,
}

impl PlanSummary {
    fn new(plan: LshPlan) -> Self {
        let text = plan.to_string();
        PlanSummary { plan, text }
    }
}

/// The plan of a config (bands x rows chosen as the near-dup stage chooses them).
pub fn plan(cfg: &MinHashConfig, n_docs: u64) -> Result<PlanSummary> {
    Ok(PlanSummary::new(NearDup::new(cfg)?.plan(n_docs)))
}

/// The removed documents as three columns of equal length, in input order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Removed {
    pub ordinal: Vec<u64>,
    pub cluster: Vec<u64>,
    /// The ordinal of the kept document of the cluster.
    pub kept: Vec<u64>,
}

/// A near-dup run of a library call: document count, removed documents, counters, plan text.
#[derive(Debug, Clone, Serialize)]
pub struct DedupSummary {
    pub docs: u64,
    pub removed: Removed,
    pub stats: NearDupStats,
    pub plan: String,
}

impl DedupSummary {
    fn new(nd: &NearDup, docs: u64, out: NearDupOutcome) -> Self {
        let mut removed = Removed::default();
        for h in &out.duplicates {
            removed.ordinal.push(h.ordinal);
            removed.cluster.push(h.cluster);
            removed.kept.push(h.kept);
        }
        DedupSummary {
            docs,
            removed,
            stats: out.stats,
            plan: nd.plan(docs).to_string(),
        }
    }
}

/// Near-dup of raw texts on `threads` threads; ordinals are list indices.
pub fn dedup_list<S: AsRef<str> + Sync>(
    cfg: &MinHashConfig,
    texts: &[S],
    threads: usize,
    spill_dir: Option<&Path>,
) -> Result<DedupSummary> {
    let nd = NearDup::new(cfg)?;
    let out = in_pool(threads, || dedup_texts(&nd, texts, spill_dir))??;
    Ok(DedupSummary::new(&nd, texts.len() as u64, out))
}

/// Near-dup of the `text` field of a JSONL file on `threads` threads; ordinals are
/// record numbers.
pub fn dedup_file(
    cfg: &MinHashConfig,
    path: &Path,
    threads: usize,
    spill_dir: Option<&Path>,
) -> Result<DedupSummary> {
    let nd = NearDup::new(cfg)?;
    let (docs, out) = in_pool(threads, || dedup_jsonl(&nd, path, spill_dir))??;
    Ok(DedupSummary::new(&nd, docs, out))
}

/// An LSH index over signatures given as little-endian bytes (`cpt.minhash.LSHIndex`;
/// keys live on the caller's side, slots here).
#[derive(Debug, Clone)]
pub struct SignatureIndex {
    nd: NearDup,
    index: LshIndex,
}

impl SignatureIndex {
    /// Bands x rows from `cfg` or chosen from its threshold. An index answers with
    /// unchecked candidates, so the choice weighs false positives and negatives alike.
    pub fn new(cfg: &MinHashConfig) -> Result<Self> {
        let cfg = MinHashConfig {
            verify: false,
            sample_check: false,
            ..cfg.clone()
        };
        let nd = NearDup::new(&cfg)?;
        let index = LshIndex::new(nd.bands(), nd.rows());
        Ok(SignatureIndex { nd, index })
    }

    pub fn bands(&self) -> usize {
        self.nd.bands()
    }

    pub fn rows(&self) -> usize {
        self.nd.rows()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn band_hashes(&self, sig: &[u8]) -> Result<Vec<u64>> {
        let cfg = self.nd.config();
        let sig = Signature::from_le_bytes(sig, cfg.num_perm, cfg.hash_bits)?;
        Ok(self.nd.band_hashes(&sig))
    }

    /// Add a signature; returns its slot number (0, 1, ... in insertion order).
    pub fn insert(&mut self, sig: &[u8]) -> Result<u32> {
        let bands = self.band_hashes(sig)?;
        Ok(self.index.insert(&bands))
    }

    /// Slots sharing at least one band with the signature, ascending.
    pub fn query(&self, sig: &[u8]) -> Result<Vec<u32>> {
        Ok(self.index.query(&self.band_hashes(sig)?))
    }

    /// The plan of the index at its current size.
    pub fn plan(&self) -> PlanSummary {
        PlanSummary::new(self.nd.plan(self.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::Shingle;

    #[test]
    fn signatures_match_single_calls_for_any_pool() {
        let h = MinHasher::new(16, 3, Shingle::Word, 32, 1);
        let texts = [
            "Alpha beta, gamma delta!",
            "",
            "one two",
            "Ünïcode tëxt here now",
        ];
        let one = in_pool(1, || signatures_le(&h, &texts)).unwrap();
        let two = in_pool(2, || signatures_le(&h, &texts)).unwrap();
        assert_eq!(one, two);
        let direct = h
            .signature(&crate::normalize::normalize(texts[3]))
            .as_bytes_le();
        assert_eq!(&one[3 * 64..], direct.as_slice());
    }

    #[test]
    fn index_finds_a_near_copy_and_checks_signature_length() {
        let cfg = MinHashConfig::default();
        let base: Vec<String> = (0..300).map(|i| format!("word{i}")).collect();
        let edited = base.join(" ").replace("word150", "changed");
        let other: Vec<String> = (0..300).map(|i| format!("other{i}")).collect();
        let texts = [base.join(" "), edited, other.join(" ")];
        let sigs = signatures(&cfg, &texts, 1).unwrap();
        let row = |i: usize| &sigs[i * 512..(i + 1) * 512];
        let mut index = SignatureIndex::new(&cfg).unwrap();
        assert_eq!(index.insert(row(0)).unwrap(), 0);
        assert_eq!(index.insert(row(2)).unwrap(), 1);
        assert_eq!(index.query(row(1)).unwrap(), vec![0]);
        assert!(index.query(&row(1)[..8]).is_err());
        assert_eq!(index.plan().plan.n_docs, 2);
        assert_eq!(
            (index.plan().plan.fp_weight, index.plan().plan.fn_weight),
            (0.5, 0.5)
        );
    }

    #[test]
    fn dedup_list_columns_point_at_earlier_kept_docs() {
        let t = "the quick brown fox jumps over the lazy dog again and again";
        let texts = [
            t.to_string(),
            "other words entirely here".into(),
            t.to_uppercase(),
        ];
        let out = dedup_list(&MinHashConfig::default(), &texts, 2, None).unwrap();
        assert_eq!(out.docs, 3);
        assert_eq!(
            (out.removed.ordinal.clone(), out.removed.kept.clone()),
            (vec![2], vec![0])
        );
        assert!(out.plan.contains("bands x"), "{}", out.plan);
    }
}
