//! The near-duplicate stage: cluster the sketches of the documents that survived exact
//! dedup and the filters (in input order), keep the first of each cluster and turn the
//! others into `near_duplicate` rejections naming their cluster and the kept document.

use super::decide::{Decided, Decision};
use super::state::ScanFile;
use crate::dedup::{LshPlan, NearDup, NearDupStats};
use crate::stage::{Phase, StageSpec};
use crate::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// MinHash LSH near-dup removal: sketches made by the scan (from the shared analysis'
/// word hashes), clustered here over the survivors of exact dedup and the filters.
pub const STAGE: StageSpec = StageSpec {
    name: "near_dedup",
    phase: Phase::Decide,
    section: "minhash",
    keys: &[
        ("enabled", "near-duplicate removal (MinHash LSH)"),
        ("num_perm", "hash permutations (signature length)"),
        ("ngram", "shingle length, in words or characters"),
        ("shingle", "word or char shingles"),
        (
            "hash_bits",
            "32 (fast affine permutations) or 64 (mod 2^61-1)",
        ),
        ("threshold", "Jaccard similarity of near-duplicates"),
        (
            "bands",
            "band count (null = chosen from threshold; give rows too)",
        ),
        ("rows", "rows per band (null = chosen from threshold)"),
        (
            "verify",
            "check candidates by the exact Jaccard of their shingle sets",
        ),
        (
            "sample_check",
            "check candidates by a bottom-k sample's Jaccard",
        ),
        ("sample_size", "k of the bottom-k sample"),
        (
            "max_cluster_size",
            "largest cluster expected (null = no limit)",
        ),
        ("refuse_oversize", "refuse merges past max_cluster_size"),
        (
            "mem_limit",
            "band table memory (bytes or 2GiB; spills to .state/); null = no limit",
        ),
        ("seed", "seed of the permutations and band hashes"),
    ],
    enabled: |c| c.minhash.enabled,
    plan: |c| {
        let p = NearDup::new(&c.minhash)?.plan(0);
        Ok(format!(
            "{} permutations, threshold {} -> {} bands x {} rows, P(candidate) {:.3} / {:.3} / {:.3} at J = threshold -0.1 / +0 / +0.1, candidates checked: {}",
            p.num_perm, p.threshold, p.bands, p.rows, p.p_at_minus, p.p_at_threshold, p.p_at_plus, p.check
        ))
    },
    build: None,
    resume: "sketches in the scan records; band tables spill to .state/ and are rebuilt",
};

/// The `near_dedup` section of report.json: the LSH plan and what clustering found.
#[derive(Debug, Clone, Serialize)]
pub struct NearDedupReport {
    pub plan: LshPlan,
    pub stats: NearDupStats,
}

/// Cluster `decided.survivors` and reject every near-duplicate but the first of its
/// cluster. Sketches are moved out of `scans` (they are not needed afterwards), so
/// their memory is released as the band tables fill. Band tables spill under `spill_dir`.
pub fn apply(
    nd: &NearDup,
    scans: &mut [ScanFile],
    decided: &mut Decided,
    spill_dir: &Path,
    quiet: bool,
) -> Result<NearDedupReport> {
    // Global input ordinal of each file's first record: ordinals increase in input order.
    let mut offsets = Vec::with_capacity(scans.len());
    let mut total = 0u64;
    for s in scans.iter() {
        offsets.push(total);
        total += s.records.len() as u64;
    }
    let survivors = &decided.survivors;
    let ordinals: Vec<u64> = survivors
        .iter()
        .map(|&(f, r)| offsets[f] + r as u64)
        .collect();
    let plan = nd.plan(survivors.len() as u64);
    if !quiet {
        eprintln!("{plan}");
    }
    let mut missing = None;
    let sketches = survivors.iter().zip(&ordinals).map(|(&(f, r), &ordinal)| {
        let rec = &mut scans[f].records[r];
        let sketch = rec.sketch.take().unwrap_or_else(|| {
            missing.get_or_insert(f);
            Vec::new()
        });
        (ordinal, sketch)
    });
    // A missing sketch would fail to parse inside `cluster`; name the state file instead.
    let outcome = nd.cluster(sketches, Some(spill_dir));
    if let Some(f) = missing {
        return Err(Error::Corrupt {
            path: spill_dir.join(format!("scan-{f:05}.bin")),
            msg: "scan records lack near-dup sketches; pass --overwrite to start over".into(),
        });
    }
    let outcome = outcome?;
    let locate = |ordinal: u64| -> (usize, usize) {
        let i = ordinals
            .binary_search(&ordinal)
            .expect("clustering returns the ordinals it was given");
        survivors[i]
    };
    for hit in &outcome.duplicates {
        let (kf, kr) = locate(hit.kept);
        let kept_id = scans[kf].records[kr].id.clone();
        let (f, r) = locate(hit.ordinal);
        decided.decisions[f][r] = Decision::Reject {
            reason: "near_duplicate".into(),
            detail: None,
            duplicate_of: Some(kept_id),
            cluster_id: Some(hit.cluster),
        };
    }
    let removed: std::collections::HashSet<(usize, usize)> = outcome
        .duplicates
        .iter()
        .map(|h| locate(h.ordinal))
        .collect();
    decided.survivors.retain(|s| !removed.contains(s));
    Ok(NearDedupReport {
        plan,
        stats: outcome.stats,
    })
}
