//! Near-duplicate removal: per-document sketches (computed in the parallel scan)
//! and the clustering of all sketches (the sequential decide step, parallel inside).
//! The first document (input order) of every cluster is kept.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use super::bandtable::{BandTables, ENTRY_BYTES};
use super::lsh::{
    optimal_params_weighted, LshPlan, CHECKED_FN_WEIGHT, CHECKED_FP_WEIGHT, FN_WEIGHT, FP_WEIGHT,
};
use super::minhash::{band_hashes, MinHashConfig, MinHasher, Signature};
use crate::{Error, Result};

// 0xB2: word shingles hash each word once (0xB1 sketches hashed whole shingles).
const SKETCH_MAGIC: u8 = 0xB2;
const FLAG_NONEMPTY: u8 = 1;
const FLAG_VERIFY: u8 = 2;
const FLAG_SAMPLE: u8 = 4;

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
const HEADER: usize = 4;

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

thread_local! {
    static SCRATCH: RefCell<(Vec<u64>, String)> = const { RefCell::new((Vec::new(), String::new())) };
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

    /// The compact per-document blob the scan stores: header, band hashes, and the
    /// shingle-hash set when `verify` is on. `normalized` comes from `crate::normalize`.
    pub fn sketch(&self, normalized: &str) -> Vec<u8> {
        SCRATCH.with(|cell| {
            let (hashes, _) = &mut *cell.borrow_mut();
            hashes.clear();
            self.hasher.shingle_hashes(normalized, hashes);
            self.sketch_of_hashes(hashes)
        })
    }

    /// `sketch(normalized)` from the document's word hashes (made with
    /// `hasher().word_seed()`), so the words are not scanned again.
    pub fn sketch_of_words(&self, normalized: &str, words: &[u64]) -> Vec<u8> {
        SCRATCH.with(|cell| {
            let (hashes, _) = &mut *cell.borrow_mut();
            hashes.clear();
            self.hasher
                .shingle_hashes_of_words(normalized, words, hashes);
            self.sketch_of_hashes(hashes)
        })
    }

    /// `sketch(&normalize(raw))`, without the normalized copy for ASCII text.
    pub fn sketch_raw(&self, raw: &str) -> Vec<u8> {
        SCRATCH.with(|cell| {
            let (hashes, scratch) = &mut *cell.borrow_mut();
            hashes.clear();
            self.hasher.shingle_hashes_raw(raw, scratch, hashes);
            self.sketch_of_hashes(hashes)
        })
    }

    fn sketch_of_hashes(&self, hashes: &[u64]) -> Vec<u8> {
        let verify = self.check == Check::Exact;
        let with_sample = self.check == Check::Sample;
        let extra = if verify || with_sample {
            4 + 4 * hashes.len()
        } else {
            0
        };
        let mut out = Vec::with_capacity(HEADER + 8 * self.bands + extra);
        let mut flags = if hashes.is_empty() { 0 } else { FLAG_NONEMPTY };
        if verify {
            flags |= FLAG_VERIFY;
        }
        if with_sample {
            flags |= FLAG_SAMPLE;
        }
        out.push(SKETCH_MAGIC);
        out.push(flags);
        #[allow(clippy::cast_possible_truncation)] // validate() caps bands at u16::MAX
        out.extend_from_slice(&(self.bands as u16).to_le_bytes());
        if hashes.is_empty() {
            if verify || with_sample {
                out.extend_from_slice(&0u32.to_le_bytes());
            }
            return out;
        }
        let sig = self.hasher.signature_of_hashes(hashes);
        for h in self.band_hashes(&sig) {
            out.extend_from_slice(&h.to_le_bytes());
        }
        if verify || with_sample {
            let mut set: Vec<u32> = hashes.iter().map(|&h| shingle_key(h)).collect();
            if with_sample {
                bottom_k(&mut set, self.cfg.sample_size);
            } else {
                set.sort_unstable();
                set.dedup();
            }
            #[allow(clippy::cast_possible_truncation)]
            out.extend_from_slice(&(set.len() as u32).to_le_bytes());
            for v in set {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Cluster the sketches of all documents (ordinals strictly increasing, gaps allowed)
    /// and name the near-duplicates to remove. Band tables spill into a temp dir under
    /// `spill_dir` (default: the system temp dir) when `mem_limit` would be exceeded.
    pub fn cluster<I, B>(&self, sketches: I, spill_dir: Option<&Path>) -> Result<NearDupOutcome>
    where
        I: IntoIterator<Item = (u64, B)>,
        B: AsRef<[u8]> + Sync,
    {
        let tmp = std::env::temp_dir();
        let spill_parent = spill_dir.unwrap_or(&tmp);
        let mut tables = BandTables::new(self.bands, self.cfg.mem_limit.map(|m| m.0), spill_parent);
        let sketches = sketches.into_iter();
        let mut ordinals: Vec<u64> = Vec::with_capacity(sketches.size_hint().0);
        // The shingle sets stay inside their sketches (kept, not copied) when checked.
        let mut sets = SketchSets::default();
        let mut empty_docs = 0u64;
        for (ordinal, sketch) in sketches {
            let blob = sketch.as_ref();
            if let Some(&prev) = ordinals.last() {
                if ordinal <= prev {
                    return Err(Error::Config(format!(
                        "near-dup: document ordinals must increase (got {ordinal} after {prev})"
                    )));
                }
            }
            let doc = u32::try_from(ordinals.len()).map_err(|_| {
                Error::Config(
                    "near-dup: more than 2^32 documents in one clustering run; split by shard"
                        .into(),
                )
            })?;
            let parsed = self.parse_sketch(blob, ordinal)?;
            if let Some(bands) = parsed.bands {
                tables.push(doc, bands.chunks_exact(8).map(read_u64))?;
            } else {
                empty_docs += 1;
            }
            if self.check != Check::None {
                let start = parsed.set.as_ptr() as usize - blob.as_ptr() as usize;
                let range = start..start + parsed.set.len();
                sets.push(sketch, range);
            }
            ordinals.push(ordinal);
        }
        let n = ordinals.len();
        let spilled = tables.spilled();
        let spill_runs = tables.spill_runs() as u64;
        let peak = tables.peak_bytes();
        let checked = self.check != Check::None;
        let links = tables.links(checked)?;
        let candidate_pairs = links.len() as u64;

        let t = self.cfg.threshold;
        let accepted: Vec<bool> = match self.check {
            Check::Exact => links
                .par_iter()
                .map(|&(a, b)| exact_jaccard(&sets.get(a), &sets.get(b)) >= t)
                .collect(),
            Check::Sample => {
                let k = self.cfg.sample_size;
                links
                    .par_iter()
                    .map(|&(a, b)| bottom_k_jaccard(&sets.get(a), &sets.get(b), k) >= t)
                    .collect()
            }
            Check::None => vec![true; links.len()],
        };
        let verified = accepted.iter().filter(|&&x| x).count() as u64;

        // Union in the order a streaming pass would meet the pairs (by later doc, then
        // earlier), so the cluster-size guard is deterministic too.
        let mut order: Vec<usize> = (0..links.len()).filter(|&i| accepted[i]).collect();
        order.sort_unstable_by_key(|&i| (links[i].1, links[i].0));
        let mut uf = UnionFind::new(n);
        let (mut oversize, mut refused) = (0u64, 0u64);
        for i in order {
            let (a, b) = links[i];
            let (ra, rb) = (uf.find(a), uf.find(b));
            if ra == rb {
                continue;
            }
            if let Some(max) = self.cfg.max_cluster_size {
                if (uf.size[ra as usize] + uf.size[rb as usize]) as usize > max {
                    oversize += 1;
                    if self.cfg.refuse_oversize {
                        refused += 1;
                        continue;
                    }
                }
            }
            uf.union_roots(ra, rb);
        }

        let mut cluster_of_root: Vec<u64> = vec![u64::MAX; n];
        let mut next_cluster = 0u64;
        let mut duplicates = Vec::new();
        let mut cluster_sizes: BTreeMap<u64, u64> = BTreeMap::new();
        #[allow(clippy::cast_possible_truncation)]
        for doc in 0..n as u32 {
            let root = uf.find(doc);
            let size = u64::from(uf.size[root as usize]);
            if size < 2 {
                continue;
            }
            if root == doc {
                cluster_of_root[doc as usize] = next_cluster;
                next_cluster += 1;
                *cluster_sizes.entry(size).or_default() += 1;
            } else {
                duplicates.push(NearDupHit {
                    ordinal: ordinals[doc as usize],
                    cluster: cluster_of_root[root as usize],
                    kept: ordinals[root as usize],
                });
            }
        }
        let stats = NearDupStats {
            docs: n as u64,
            empty_docs,
            bands: self.bands,
            rows: self.rows,
            check: self.check.name(),
            candidate_pairs,
            verified_pairs: checked.then_some(verified),
            estimated_fp_rate: (checked && candidate_pairs > 0)
                .then(|| 1.0 - verified as f64 / candidate_pairs as f64),
            clusters: next_cluster,
            duplicates: duplicates.len() as u64,
            largest_cluster: cluster_sizes.keys().next_back().copied().unwrap_or(0),
            cluster_sizes,
            oversize_merges: oversize,
            refused_merges: refused,
            index_bytes_per_doc: if n == 0 { 0.0 } else { peak as f64 / n as f64 },
            spilled,
            spill_runs,
        };
        Ok(NearDupOutcome { duplicates, stats })
    }

    fn parse_sketch<'a>(&self, blob: &'a [u8], ordinal: u64) -> Result<ParsedSketch<'a>> {
        let bad =
            |msg: &str| Error::Config(format!("near-dup: sketch of document {ordinal}: {msg}"));
        if blob.len() < HEADER || blob[0] != SKETCH_MAGIC {
            return Err(bad("not a cpt near-dup sketch"));
        }
        let flags = blob[1];
        let bands = usize::from(u16::from_le_bytes([blob[2], blob[3]]));
        if bands != self.bands {
            return Err(bad(&format!(
                "made with {bands} bands, clustering uses {}",
                self.bands
            )));
        }
        let mut pos = HEADER;
        let band_bytes = if flags & FLAG_NONEMPTY != 0 {
            let end = pos + 8 * bands;
            let slice = blob
                .get(pos..end)
                .ok_or_else(|| bad("truncated band hashes"))?;
            pos = end;
            Some(slice)
        } else {
            None
        };
        let set = if self.check != Check::None {
            let needed = if self.check == Check::Exact {
                FLAG_VERIFY
            } else {
                FLAG_SAMPLE
            };
            if flags & needed == 0 {
                return Err(bad(
                    "sketched with another check (verify / sample_check) than clustering uses",
                ));
            }
            let count = blob
                .get(pos..pos + 4)
                .ok_or_else(|| bad("truncated shingle set"))?;
            let count = read_u32(count) as usize;
            blob.get(pos + 4..pos + 4 + 4 * count)
                .ok_or_else(|| bad("truncated shingle set"))?
        } else {
            &[][..]
        };
        Ok(ParsedSketch {
            bands: band_bytes,
            set,
        })
    }
}

/// Bytes of one band-table entry (exported for memory reporting).
pub const INDEX_ENTRY_BYTES: usize = ENTRY_BYTES;

struct ParsedSketch<'a> {
    bands: Option<&'a [u8]>,
    set: &'a [u8],
}

/// The shingle sets of the clustered documents: each a range of its own sketch.
struct SketchSets<B> {
    sketches: Vec<B>,
    ranges: Vec<std::ops::Range<usize>>,
}

impl<B> Default for SketchSets<B> {
    fn default() -> Self {
        SketchSets {
            sketches: Vec::new(),
            ranges: Vec::new(),
        }
    }
}

impl<B: AsRef<[u8]>> SketchSets<B> {
    fn push(&mut self, sketch: B, range: std::ops::Range<usize>) {
        self.sketches.push(sketch);
        self.ranges.push(range);
    }

    fn get(&self, i: u32) -> LeU32s<'_> {
        let i = i as usize;
        LeU32s(&self.sketches[i].as_ref()[self.ranges[i].clone()])
    }
}

/// A sorted set of u32 values, read as a slice or as little-endian bytes in place.
pub trait SortedU32s {
    fn len(&self) -> usize;
    fn at(&self, i: usize) -> u32;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl SortedU32s for [u32] {
    fn len(&self) -> usize {
        <[u32]>::len(self)
    }
    fn at(&self, i: usize) -> u32 {
        self[i]
    }
}

/// Little-endian u32 values stored in a byte slice.
pub struct LeU32s<'a>(&'a [u8]);

impl SortedU32s for LeU32s<'_> {
    fn len(&self) -> usize {
        self.0.len() / 4
    }
    fn at(&self, i: usize) -> u32 {
        read_u32(&self.0[4 * i..])
    }
}

/// The verification key of a shingle: 32 bits of its hash (collisions ~ 2^-32 per pair of shingles).
#[allow(clippy::cast_possible_truncation)]
fn shingle_key(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn read_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Keep the k smallest distinct values of `v`, sorted ascending (a bottom-k sketch).
fn bottom_k(v: &mut Vec<u32>, k: usize) {
    // Partition first so only about 2k values are sorted; the partition keeps every
    // value, so heavy repeats can still fall back to sorting all of them.
    if v.len() > 2 * k + 1 {
        v.select_nth_unstable(2 * k);
        let head = &mut v[..=2 * k];
        head.sort_unstable();
        let mut distinct = 1;
        for i in 1..head.len() {
            if head[i] != head[distinct - 1] {
                head[distinct] = head[i];
                distinct += 1;
            }
        }
        if distinct >= k {
            v.truncate(k);
            return;
        }
    }
    v.sort_unstable();
    v.dedup();
    v.truncate(k);
}

/// Jaccard estimated from two bottom-k sketches: among the k smallest values of their
/// union, the share present in both (exact when both sets have fewer than k values).
fn bottom_k_jaccard<S: SortedU32s + ?Sized>(a: &S, b: &S, k: usize) -> f64 {
    let (mut i, mut j, mut union, mut both) = (0, 0, 0usize, 0usize);
    while union < k && (i < a.len() || j < b.len()) {
        if i < a.len() && j < b.len() {
            let (x, y) = (a.at(i), b.at(j));
            if x == y {
                both += 1;
                i += 1;
                j += 1;
            } else if x < y {
                i += 1;
            } else {
                j += 1;
            }
        } else if i < a.len() {
            i += 1;
        } else {
            j += 1;
        }
        union += 1;
    }
    if union == 0 {
        return 1.0;
    }
    both as f64 / union as f64
}

/// |A ∩ B| / |A ∪ B| of two sorted sets without repeats.
pub fn exact_jaccard<S: SortedU32s + ?Sized>(a: &S, b: &S) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a.at(i).cmp(&b.at(j)) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// Union-find whose root is always the smallest member, so the root is the doc to keep.
struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    #[allow(clippy::cast_possible_truncation)]
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn union_roots(&mut self, ra: u32, rb: u32) {
        let (root, child) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[child as usize] = root;
        self.size[root as usize] += self.size[child as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_jaccard_of_sets() {
        assert!((exact_jaccard(&[1, 2, 3][..], &[2, 3, 4][..]) - 0.5).abs() < 1e-12);
        assert!((exact_jaccard(&[1][..], &[1][..]) - 1.0).abs() < 1e-12);
        assert!(exact_jaccard(&[1][..], &[2][..]).abs() < 1e-12);
    }

    #[test]
    fn bottom_k_sketches() {
        let mut v = vec![9, 3, 3, 7, 1, 8, 2, 2, 6];
        bottom_k(&mut v, 3);
        assert_eq!(v, vec![1, 2, 3]);
        let mut big: Vec<u32> = (0..1000).rev().chain(0..1000).collect();
        bottom_k(&mut big, 10);
        assert_eq!(big, (0..10).collect::<Vec<_>>());
        // Small sets: exact Jaccard.
        assert!((bottom_k_jaccard(&[1, 2, 3][..], &[2, 3, 4][..], 16) - 0.5).abs() < 1e-12);
        // k = 2 of the union {1,2,...}: {1,2}, of which only 2 is in both.
        assert!((bottom_k_jaccard(&[1, 2, 3][..], &[2, 3, 4][..], 2) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn union_find_keeps_smallest_root() {
        let mut uf = UnionFind::new(5);
        let (a, b) = (uf.find(4), uf.find(2));
        uf.union_roots(a, b);
        let (a, b) = (uf.find(2), uf.find(3));
        uf.union_roots(a, b);
        assert_eq!(uf.find(4), 2);
        assert_eq!(uf.find(3), 2);
        assert_eq!(uf.size[2], 3);
    }

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
