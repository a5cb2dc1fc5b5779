//! Locality-sensitive hashing over MinHash signatures: the choice of bands x
//! rows, the plan printed before a run, and a small in-memory index for
//! library users (`cpt.minhash.LSHIndex`).

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

/// Weights of the false-positive and false-negative areas when choosing bands x rows
/// for plain LSH (candidates are the answer).
pub const FP_WEIGHT: f64 = 0.5;
pub const FN_WEIGHT: f64 = 0.5;
/// Weights when every candidate is checked afterwards (signature estimate or exact
/// Jaccard): a false positive only costs a check, a false negative is lost for good.
pub const CHECKED_FP_WEIGHT: f64 = 0.05;
pub const CHECKED_FN_WEIGHT: f64 = 0.95;

/// Probability that two documents of Jaccard `s` share at least one band.
pub fn p_candidate(s: f64, bands: usize, rows: usize) -> f64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
    let (b, r) = (bands as i32, rows as i32);
    1.0 - (1.0 - s.powi(r)).powi(b)
}

/// Integrate `f` over [lo, hi] by Simpson's rule (the S-curve is smooth).
fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    const STEPS: usize = 128; // the chosen (b, r) match 512 steps for thresholds 0.5..0.95
    if hi <= lo {
        return 0.0;
    }
    let h = (hi - lo) / STEPS as f64;
    let mut sum = f(lo) + f(hi);
    for i in 1..STEPS {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        sum += w * f(lo + i as f64 * h);
    }
    sum * h / 3.0
}

/// Area under the S-curve below the threshold (pairs that should not be candidates).
pub fn false_positive_area(t: f64, bands: usize, rows: usize) -> f64 {
    integrate(|s| p_candidate(s, bands, rows), 0.0, t)
}

/// Area above the S-curve from the threshold up (pairs that should be candidates but are not).
pub fn false_negative_area(t: f64, bands: usize, rows: usize) -> f64 {
    integrate(|s| 1.0 - p_candidate(s, bands, rows), t, 1.0)
}

/// The (bands, rows) with bands x rows <= num_perm minimising the equally weighted error areas.
pub fn optimal_params(threshold: f64, num_perm: usize) -> (usize, usize) {
    optimal_params_weighted(threshold, num_perm, FP_WEIGHT, FN_WEIGHT)
}

/// The (bands, rows) with bands x rows <= num_perm minimising
/// `fp_weight * FP area + fn_weight * FN area`.
pub fn optimal_params_weighted(
    threshold: f64,
    num_perm: usize,
    fp_weight: f64,
    fn_weight: f64,
) -> (usize, usize) {
    let mut best = (1, num_perm.max(1));
    let mut best_err = f64::INFINITY;
    for b in 1..=num_perm {
        for r in 1..=num_perm / b {
            let err = fp_weight * false_positive_area(threshold, b, r)
                + fn_weight * false_negative_area(threshold, b, r);
            // Strict `<` keeps the first (fewest bands) of equal choices: deterministic.
            if err < best_err {
                best_err = err;
                best = (b, r);
            }
        }
    }
    best
}

/// What a near-dup run will do, printed before it starts.
#[derive(Debug, Clone, Serialize)]
pub struct LshPlan {
    pub num_perm: usize,
    pub threshold: f64,
    pub bands: usize,
    pub rows: usize,
    /// P(candidate) at threshold - 0.1, threshold, threshold + 0.1.
    pub p_at_minus: f64,
    pub p_at_threshold: f64,
    pub p_at_plus: f64,
    /// The weighted areas that the choice of bands x rows minimises.
    pub false_positive_area: f64,
    pub false_negative_area: f64,
    /// The weights the choice used (recall-heavy when candidates are checked).
    pub fp_weight: f64,
    pub fn_weight: f64,
    /// How candidates are confirmed: "none", "signature" (estimated Jaccard) or "exact".
    pub check: String,
    pub n_docs: u64,
    /// Band-table bytes per document (12 per band: u64 band hash + u32 doc).
    pub index_bytes_per_doc: u64,
    /// Estimated peak bytes: band tables, union-find, and shingle sets when verifying.
    pub memory_estimate: u64,
    /// Whether the band tables will be spilled to disk under `mem_limit`.
    pub will_spill: bool,
}

impl LshPlan {
    pub fn new(threshold: f64, num_perm: usize, bands: usize, rows: usize, n_docs: u64) -> Self {
        let lo = (threshold - 0.1).max(0.0);
        let hi = (threshold + 0.1).min(1.0);
        let index_bytes_per_doc = 12 * bands as u64;
        LshPlan {
            num_perm,
            threshold,
            bands,
            rows,
            p_at_minus: p_candidate(lo, bands, rows),
            p_at_threshold: p_candidate(threshold, bands, rows),
            p_at_plus: p_candidate(hi, bands, rows),
            false_positive_area: false_positive_area(threshold, bands, rows),
            false_negative_area: false_negative_area(threshold, bands, rows),
            fp_weight: FP_WEIGHT,
            fn_weight: FN_WEIGHT,
            check: "none".into(),
            n_docs,
            index_bytes_per_doc,
            memory_estimate: n_docs * (index_bytes_per_doc + 8),
            will_spill: false,
        }
    }
}

impl fmt::Display for LshPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lo = (self.threshold - 0.1).max(0.0);
        let hi = (self.threshold + 0.1).min(1.0);
        writeln!(
            f,
            "near-dup LSH: {} permutations, threshold {:.2} -> {} bands x {} rows",
            self.num_perm, self.threshold, self.bands, self.rows
        )?;
        writeln!(
            f,
            "  P(candidate): {:.3} at J={lo:.2}, {:.3} at J={:.2}, {:.3} at J={hi:.2}",
            self.p_at_minus, self.p_at_threshold, self.threshold, self.p_at_plus
        )?;
        writeln!(
            f,
            "  error areas: false positive {:.4}, false negative {:.4} (weights {} / {}); candidates checked: {}",
            self.false_positive_area, self.false_negative_area, self.fp_weight, self.fn_weight, self.check
        )?;
        write!(
            f,
            "  memory: {} docs x {} B/doc index -> about {:.1} MiB{}",
            self.n_docs,
            self.index_bytes_per_doc,
            self.memory_estimate as f64 / (1024.0 * 1024.0),
            if self.will_spill {
                " (over mem_limit: band tables spill to disk)"
            } else {
                ""
            }
        )
    }
}

/// Candidate links from one bucket (docs sorted ascending, all sharing a band hash):
/// each doc is linked to the bucket's first doc, so a bucket of k docs gives k-1
/// pairs, not k^2/2; with `chain`, each doc is also linked to its predecessor, which
/// gives verification a second chance when the first doc is the odd one out.
pub fn bucket_links(docs: &[u32], chain: bool, out: &mut Vec<(u32, u32)>) {
    if docs.len() < 2 {
        return;
    }
    let first = docs[0];
    for (i, &d) in docs.iter().enumerate().skip(1) {
        out.push((first, d));
        if chain && i >= 2 {
            out.push((docs[i - 1], d));
        }
    }
}

/// An in-memory LSH index of signatures for library use: insert, then query
/// the keys sharing at least one band with a signature.
#[derive(Debug, Clone)]
pub struct LshIndex {
    bands: usize,
    rows: usize,
    tables: Vec<HashMap<u64, Vec<u32>>>,
    len: u32,
}

impl LshIndex {
    pub fn new(bands: usize, rows: usize) -> Self {
        LshIndex {
            bands,
            rows,
            tables: vec![HashMap::new(); bands],
            len: 0,
        }
    }

    pub fn bands(&self) -> usize {
        self.bands
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add the band hashes of one signature; returns its slot number.
    pub fn insert(&mut self, band_hashes: &[u64]) -> u32 {
        let slot = self.len;
        for (table, &h) in self.tables.iter_mut().zip(band_hashes) {
            table.entry(h).or_default().push(slot);
        }
        self.len += 1;
        slot
    }

    /// Slots sharing at least one band, ascending, without repeats.
    pub fn query(&self, band_hashes: &[u64]) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for (table, h) in self.tables.iter().zip(band_hashes) {
            if let Some(v) = table.get(h) {
                out.extend_from_slice(v);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_curve_is_monotone_and_anchored() {
        assert!(p_candidate(0.0, 9, 13).abs() < 1e-12);
        assert!((p_candidate(1.0, 9, 13) - 1.0).abs() < 1e-12);
        let mut prev = 0.0;
        for i in 1..=100 {
            let p = p_candidate(f64::from(i) / 100.0, 9, 13);
            assert!(p >= prev);
            prev = p;
        }
    }

    #[test]
    fn optimal_params_fit_and_beat_neighbours() {
        let (b, r) = optimal_params(0.8, 128);
        assert!(b * r <= 128);
        let err =
            |b, r| 0.5 * false_positive_area(0.8, b, r) + 0.5 * false_negative_area(0.8, b, r);
        let best = err(b, r);
        for (b2, r2) in [
            (b + 1, r),
            (b, r + 1),
            (b.saturating_sub(1).max(1), r),
            (b, r - 1),
        ] {
            if b2 * r2 <= 128 && r2 >= 1 {
                assert!(best <= err(b2, r2) + 1e-12);
            }
        }
        // A higher threshold needs more rows per band.
        let (_, r_hi) = optimal_params(0.95, 128);
        let (_, r_lo) = optimal_params(0.5, 128);
        assert!(r_hi > r_lo);
    }

    #[test]
    fn bucket_links_star_and_chain() {
        let mut v = Vec::new();
        bucket_links(&[3, 5, 9], false, &mut v);
        assert_eq!(v, vec![(3, 5), (3, 9)]);
        v.clear();
        bucket_links(&[3, 5, 9], true, &mut v);
        assert_eq!(v, vec![(3, 5), (3, 9), (5, 9)]);
    }
}
